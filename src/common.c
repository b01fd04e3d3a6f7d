/* Messages, memory, checksums: the small pieces every other file uses. */
#include "internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *descent_version(void) { return DESCENT_VERSION_STRING; }

const char *descent_strerror(int status)
{
    switch (status) {
    case DESCENT_OK: return "success";
    case DESCENT_ERR_INVALID: return "invalid argument";
    case DESCENT_ERR_SPEC: return "malformed spec";
    case DESCENT_ERR_NOMEM: return "out of memory";
    case DESCENT_ERR_STATE: return "invalid call for the current state";
    case DESCENT_ERR_CHECKPOINT: return "bad checkpoint";
    case DESCENT_ERR_IO: return "input/output error";
    case DESCENT_ERR_NONFINITE: return "non-finite gradient";
    default: return status >= 0 ? "success" : "unknown error";
    }
}

void descent_vformat(char *buf, size_t cap, const char *fmt, va_list ap)
{
    if (cap == 0)
        return;
    int n = vsnprintf(buf, cap, fmt, ap);
    if (n < 0)
        buf[0] = '\0';
}

int descent_fail(descent_error *err, int status, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        descent_vformat(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
        err->status = status;
    }
    return status;
}

int descent_opt_fail(const descent_optimizer *opt, int status, const char *fmt, ...)
{
    /* The message buffer is the one mutable field const calls may write:
     * failing a query still leaves its reason. */
    char *msg = ((descent_optimizer *)opt)->errmsg;
    va_list ap;
    va_start(ap, fmt);
    descent_vformat(msg, sizeof opt->errmsg, fmt, ap);
    va_end(ap);
    return status;
}

const char *descent_errmsg(const descent_optimizer *opt) { return opt ? opt->errmsg : "no optimizer"; }

/* ---- memory ------------------------------------------------------------ */

static void *default_alloc(void *ctx, size_t size)
{
    (void)ctx;
    return malloc(size);
}

static void default_free(void *ctx, void *ptr)
{
    (void)ctx;
    free(ptr);
}

void descent_mem_init(descent_mem *m, const descent_allocator *a)
{
    if (a && a->alloc && a->free) {
        m->a = *a;
    } else {
        m->a.alloc = default_alloc;
        m->a.free = default_free;
        m->a.ctx = NULL;
    }
}

/* Over-allocate by DESCENT_ALIGN and keep the raw pointer just before the
 * aligned block, so caller allocators need not align. */
void *descent_mem_alloc(const descent_mem *m, size_t size)
{
    if (size > SIZE_MAX - 2 * DESCENT_ALIGN)
        return NULL;
    unsigned char *raw = m->a.alloc(m->a.ctx, size + 2 * DESCENT_ALIGN);
    if (!raw)
        return NULL;
    uintptr_t p = ((uintptr_t)raw + sizeof(void *) + DESCENT_ALIGN - 1) & ~(uintptr_t)(DESCENT_ALIGN - 1);
    unsigned char *aligned = (unsigned char *)p;
    memcpy(aligned - sizeof(void *), &raw, sizeof raw);
    memset(aligned, 0, size);
    return aligned;
}

void descent_mem_free(const descent_mem *m, void *ptr)
{
    if (!ptr)
        return;
    void *raw;
    memcpy(&raw, (unsigned char *)ptr - sizeof(void *), sizeof raw);
    m->a.free(m->a.ctx, raw);
}

double descent_state_zero(const descent_hparams *hp, int i)
{
    (void)hp;
    (void)i;
    return 0;
}

/* ---- names ------------------------------------------------------------- */

bool descent_name_eq(const char *a, const char *b)
{
    for (;;) {
        while (*a == '_')
            a++;
        while (*b == '_')
            b++;
        if (!*a || !*b)
            return *a == *b;
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return false;
        a++;
        b++;
    }
}

/* Levenshtein distance, case-insensitive, for "did you mean" suggestions. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return (size_t)-1;
    size_t row[64];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t cost = tolower((unsigned char)a[i - 1]) == tolower((unsigned char)b[j - 1]) ? 0 : 1;
            size_t best = diag + cost;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            if (up + 1 < best)
                best = up + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *descent_closest_name(const char *word, const char *const *names, int n)
{
    const char *best = NULL;
    size_t best_d = (size_t)-1;
    for (int i = 0; i < n; i++) {
        size_t d = edit_distance(word, names[i]);
        if (d < best_d) {
            best_d = d;
            best = names[i];
        }
    }
    /* Only close calls: at most a third of the word's letters changed. */
    size_t limit = strlen(word) / 3 + 1;
    return best_d <= limit ? best : NULL;
}

int descent_struct_size_check(size_t size, size_t min_size, size_t full_size, const char *type, const char *init,
                              descent_error *err)
{
    if (size == 0)
        return descent_fail(err, DESCENT_ERR_INVALID, "%s.struct_size is 0: fill the struct with %s()", type, init);
    if (size < min_size)
        return descent_fail(err, DESCENT_ERR_INVALID, "%s.struct_size is %zu, less than the %zu bytes of any version",
                            type, size, min_size);
    if (size > full_size)
        return descent_fail(err, DESCENT_ERR_INVALID,
                            "%s.struct_size is %zu: the program was built against a newer descent.h than this "
                            "library %s (%zu bytes)",
                            type, size, descent_version(), full_size);
    return 0;
}

void descent_struct_in(void *full, size_t full_size, const void *user)
{
    size_t size;
    memcpy(&size, user, sizeof size);
    memcpy(full, user, size);
    memcpy(full, &full_size, sizeof full_size);
}

void descent_struct_out(void *user, size_t size, const void *full)
{
    memcpy(user, full, size);
    memcpy(user, &size, sizeof size);
}

void descent_struct_defaults_out(void *user, size_t size, const void *full, size_t full_size)
{
    if (!user || size < sizeof size)
        return;
    descent_struct_out(user, size < full_size ? size : full_size, full);
    if (size > full_size)
        memcpy(user, &size, sizeof size); /* refused when used, with a message */
}
