/* Checkpoints: a versioned, self-describing little-endian image of an
 * optimizer, protected by a CRC-32.
 *
 *   "DESCENT\x1a"  u32 version  u32 flags  u64 payload_len
 *   payload:
 *     str optimizer name
 *     u32 groups; per group: f64 initial_lr, u32 fields, per field:
 *         str name, u8 count, f64 value[count]
 *     u32 tensors; per tensor: u32 group, u8 dtype, u64 n, i64 step,
 *         f64 mu_product, f64 eta, f64 mu, u8 states, per state: str name,
 *         [u64 elements, for optimizers whose state sizes depend on the
 *         shape (Adafactor)], raw values (state_bits=8: n code bytes, then
 *         one f32 absmax per block of DESCENT_Q8_BLOCK elements; see q8state.c)
 *     u64 schedule_len, schedule bytes (see schedule/driver.c)
 *     with flag 1 (DESCENT_CKPT_FLAG_UTILS): the training utilities'
 *         section (see utils.c); flags 0 is the original version-1 image
 *   u32 crc32 of everything before it
 * str = u16 length + bytes. Loading checks everything before changing the
 * optimizer, so a rejected file leaves it untouched. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __unix__
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

#define CKPT_MAGIC "DESCENT\x1a"
#define CKPT_VERSION 1u
#define CKPT_HEADER 24

typedef descent_writer writer;

static void put_bytes(writer *w, const void *p, size_t n)
{
    if (w->buf && w->pos + n <= w->cap)
        memcpy(w->buf + w->pos, p, n);
    w->pos += n;
}

void descent_put_u(descent_writer *w, uint64_t v, int bytes)
{
    unsigned char b[8];
    for (int i = 0; i < bytes; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    put_bytes(w, b, (size_t)bytes);
}

static void put_f64(writer *w, double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    descent_put_u(w, u, 8);
}

static void put_str(writer *w, const char *s)
{
    size_t n = strlen(s);
    descent_put_u(w, n, 2);
    put_bytes(w, s, n);
}

/* State buffers are written element by element in little-endian order. */
static void put_array(writer *w, const void *data, size_t n, descent_dtype dtype)
{
    if (dtype == DESCENT_F64) {
        const double *d = data;
        for (size_t i = 0; i < n; i++)
            put_f64(w, d[i]);
    } else {
        const float *f = data;
        for (size_t i = 0; i < n; i++) {
            uint32_t u;
            memcpy(&u, &f[i], sizeof u);
            descent_put_u(w, u, 4);
        }
    }
}

int descent_save_mem(const descent_optimizer *opt, void *buf, size_t cap, size_t *len)
{
    if (!opt || !len)
        return DESCENT_ERR_INVALID;
    writer w = {buf, cap, 0};
    put_bytes(&w, CKPT_MAGIC, 8);
    descent_put_u(&w, CKPT_VERSION, 4);
    descent_put_u(&w, descent_utils_active(opt) ? DESCENT_CKPT_FLAG_UTILS : 0, 4);
    descent_put_u(&w, 0, 8); /* payload length, patched below */
    put_str(&w, opt->algo->name);
    descent_put_u(&w, (uint64_t)opt->ngroups, 4);
    for (int g = 0; g < opt->ngroups; g++) {
        const descent_hparams *hp = &opt->groups[g].hp;
        put_f64(&w, opt->groups[g].initial_lr);
        uint32_t fields = 0;
        for (const hp_desc *d = opt->algo->hparams; d->name; d++)
            fields++;
        descent_put_u(&w, fields, 4);
        for (const hp_desc *d = opt->algo->hparams; d->name; d++) {
            int count = d->type == HP_PAIR ? 2 : 1;
            put_str(&w, d->name);
            descent_put_u(&w, (uint64_t)count, 1);
            for (int k = 0; k < count; k++)
                put_f64(&w, descent_hp_read(hp, d, k));
        }
    }
    descent_put_u(&w, (uint64_t)opt->ntensors, 4);
    for (int i = 0; i < opt->ntensors; i++) {
        const descent_tensor *t = &opt->tensors[i];
        descent_put_u(&w, (uint64_t)t->group, 4);
        descent_put_u(&w, (uint64_t)t->dtype, 1);
        descent_put_u(&w, (uint64_t)t->n, 8);
        descent_put_u(&w, (uint64_t)t->scalars.step, 8);
        put_f64(&w, t->scalars.mu_product);
        put_f64(&w, t->scalars.eta);
        put_f64(&w, t->scalars.mu);
        descent_put_u(&w, (uint64_t)t->nstate, 1);
        for (int k = 0; k < t->nstate; k++) {
            put_str(&w, opt->algo->state_names[k]);
            if (opt->algo->state_size) /* shape-dependent sizes: stored, and checked on load */
                descent_put_u(&w, (uint64_t)t->state_n[k], 8);
            if (t->state_bits == 8)
                descent_q8_put(&w, t->state[k], t->n);
            else
                put_array(&w, t->state[k], t->state_n[k], t->dtype);
        }
    }
    size_t sched_len = descent_schedule_save(opt, NULL, 0);
    descent_put_u(&w, sched_len, 8);
    if (w.buf && w.pos + sched_len <= w.cap)
        descent_schedule_save(opt, w.buf + w.pos, sched_len);
    w.pos += sched_len;
    if (descent_utils_active(opt))
        descent_utils_save(opt, &w);
    size_t total = w.pos + 4;
    *len = total;
    if (!buf)
        return 0;
    if (cap < total)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "checkpoint needs %zu bytes, buffer has %zu", total, cap);
    writer patch = {buf, cap, 16};
    descent_put_u(&patch, (uint64_t)(w.pos - CKPT_HEADER), 8);
    uint32_t crc = descent_crc32(0, buf, w.pos);
    descent_put_u(&w, crc, 4);
    return 0;
}

/* ---- reading ------------------------------------------------------------ */

typedef descent_reader reader;

uint64_t descent_get_u(descent_reader *r, int bytes)
{
    if (r->bad || r->len - r->pos < (size_t)bytes) {
        r->bad = 1;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; i++)
        v |= (uint64_t)r->buf[r->pos + (size_t)i] << (8 * i);
    r->pos += (size_t)bytes;
    return v;
}

static double get_f64(reader *r)
{
    uint64_t u = descent_get_u(r, 8);
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}

/* Returns a pointer into the buffer (not NUL-terminated) and its length. */
static const char *get_str(reader *r, size_t *n)
{
    *n = (size_t)descent_get_u(r, 2);
    if (r->bad || r->len - r->pos < *n) {
        r->bad = 1;
        *n = 0;
        return "";
    }
    const char *s = (const char *)r->buf + r->pos;
    r->pos += *n;
    return s;
}

static int str_is(const char *s, size_t n, const char *want) { return strlen(want) == n && memcmp(s, want, n) == 0; }

static void get_array(reader *r, void *out, size_t n, descent_dtype dtype)
{
    if (dtype == DESCENT_F64) {
        double *d = out;
        for (size_t i = 0; i < n; i++)
            d[i] = get_f64(r);
    } else {
        float *f = out;
        for (size_t i = 0; i < n; i++) {
            uint32_t u = (uint32_t)descent_get_u(r, 4);
            memcpy(&f[i], &u, sizeof u);
        }
    }
}

static size_t dtype_size(descent_dtype t) { return t == DESCENT_F64 ? 8 : 4; }

void descent_put_array(descent_writer *w, const void *data, size_t n, descent_dtype dtype) { put_array(w, data, n, dtype); }
void descent_get_array(descent_reader *r, void *out, size_t n, descent_dtype dtype) { get_array(r, out, n, dtype); }

/* One pass over the payload. With apply = 0 it only checks; with apply = 1
 * (run only after a successful check) it writes into the optimizer. */
static int walk(descent_optimizer *opt, reader *r, int apply, unsigned flags, descent_error *err)
{
    const char *where = "header";
    size_t n;
    const char *name = get_str(r, &n);
    if (r->bad)
        goto truncated;
    if (!str_is(name, n, opt->algo->name))
        return descent_fail(err, DESCENT_ERR_CHECKPOINT, "checkpoint is for optimizer '%.*s', this one is %s",
                            (int)(n > 64 ? 64 : n), name, opt->algo->name);
    uint64_t ngroups = descent_get_u(r, 4);
    if (r->bad)
        goto truncated;
    if (ngroups != (uint64_t)opt->ngroups)
        return descent_fail(err, DESCENT_ERR_CHECKPOINT, "checkpoint has %llu parameter groups, the optimizer has %d",
                            (unsigned long long)ngroups, opt->ngroups);
    for (int g = 0; g < opt->ngroups; g++) {
        where = "group hyperparameters";
        descent_hparams hp = opt->groups[g].hp;
        double initial_lr = get_f64(r);
        uint64_t fields = descent_get_u(r, 4);
        if (r->bad)
            goto truncated;
        /* Fields are named: each must be one of the optimizer's arguments,
         * at most once. An argument the file lacks (written before it
         * existed) takes its default, which is the behaviour the file was
         * written with. */
        uint64_t expected = 0;
        for (const hp_desc *q = opt->algo->hparams; q->name; q++)
            expected++;
        if (fields > expected)
            return descent_fail(err, DESCENT_ERR_CHECKPOINT, "checkpoint group %d has %llu hyperparameters, %s has %llu",
                                g, (unsigned long long)fields, opt->algo->name, (unsigned long long)expected);
        descent_hparams defaults;
        memset(&defaults, 0, sizeof defaults);
        opt->algo->defaults(&defaults);
        unsigned char seen[64] = {0};
        for (const hp_desc *q = opt->algo->hparams; q->name && q - opt->algo->hparams < 64; q++)
            for (int k = 0; k < (q->type == HP_PAIR ? 2 : 1); k++)
                descent_hp_write(&hp, q, k, descent_hp_read(&defaults, q, k));
        for (uint64_t f = 0; f < fields; f++) {
            const char *fname = get_str(r, &n);
            int count = (int)descent_get_u(r, 1);
            if (r->bad)
                goto truncated;
            char key[64];
            if (n >= sizeof key)
                return descent_fail(err, DESCENT_ERR_CHECKPOINT, "checkpoint has a hyperparameter name of %zu bytes", n);
            memcpy(key, fname, n);
            key[n] = '\0';
            int index = -1;
            const hp_desc *d = descent_hp_find(opt->algo, key, &index);
            if (!d || d - opt->algo->hparams >= 64 || count != (d->type == HP_PAIR ? 2 : 1))
                return descent_fail(err, DESCENT_ERR_CHECKPOINT, "checkpoint group %d: %s has no hyperparameter '%s'%s", g,
                                    opt->algo->name, key, d ? " of that size" : "");
            if (seen[d - opt->algo->hparams]++)
                return descent_fail(err, DESCENT_ERR_CHECKPOINT, "checkpoint group %d: hyperparameter '%s' appears twice", g,
                                    key);
            for (int k = 0; k < count; k++) {
                double v = get_f64(r);
                if (r->bad)
                    goto truncated;
                descent_error e;
                if (descent_hp_check(d, k, v, &e) < 0)
                    return descent_fail(err, DESCENT_ERR_CHECKPOINT, "checkpoint group %d: %s", g, e.message);
                double canonical = (d->type == HP_BOOL || d->type == HP_CHOICE || d->type == HP_INT) ? (double)(int)v : v;
                if (memcmp(&canonical, &v, sizeof v) != 0)
                    return descent_fail(err, DESCENT_ERR_CHECKPOINT, "checkpoint group %d: %s is not an integer code",
                                        g, d->name);
                descent_hp_write(&hp, d, k, v);
            }
        }
        descent_error e;
        if (opt->algo->validate && opt->algo->validate(&hp, &e) < 0)
            return descent_fail(err, DESCENT_ERR_CHECKPOINT, "checkpoint group %d: %s", g, e.message);
        for (int i = 0; i < opt->ntensors; i++)
            /* The rule descent_set applies: hyperparameters may need less
             * state than was registered (momentum set to 0 after
             * registration), never more. The buffer counts are compared
             * exactly per tensor below. */
            if (opt->tensors[i].group == g && opt->algo->state_count(&hp) > opt->tensors[i].nstate)
                return descent_fail(err, DESCENT_ERR_CHECKPOINT,
                                    "checkpoint group %d needs state its tensors were registered without "
                                    "(e.g. momentum, amsgrad or centered differs)", g);
            else if (opt->tensors[i].group == g && descent_q8_wanted(opt->algo, &hp) != (opt->tensors[i].state_bits == 8))
                return descent_fail(err, DESCENT_ERR_CHECKPOINT,
                                    "checkpoint group %d has state_bits=%d, its tensors were registered with %s state",
                                    g, hp.state_bits, opt->tensors[i].state_bits == 8 ? "8-bit" : "full-precision");
        if (apply) {
            opt->groups[g].hp = hp;
            opt->groups[g].initial_lr = initial_lr;
        }
    }
    uint64_t ntensors = descent_get_u(r, 4);
    if (r->bad)
        goto truncated;
    if (ntensors != (uint64_t)opt->ntensors)
        return descent_fail(err, DESCENT_ERR_CHECKPOINT, "checkpoint has %llu tensors, the optimizer has %d",
                            (unsigned long long)ntensors, opt->ntensors);
    for (int i = 0; i < opt->ntensors; i++) {
        descent_tensor *t = &opt->tensors[i];
        where = "tensor state";
        uint64_t group = descent_get_u(r, 4), dtype = descent_get_u(r, 1), count = descent_get_u(r, 8);
        int64_t step = (int64_t)descent_get_u(r, 8);
        double mu_product = get_f64(r);
        double eta = get_f64(r), mu = get_f64(r);
        uint64_t nstate = descent_get_u(r, 1);
        if (r->bad)
            goto truncated;
        if (group != (uint64_t)t->group || dtype != (uint64_t)t->dtype || count != (uint64_t)t->n)
            return descent_fail(err, DESCENT_ERR_CHECKPOINT,
                                "checkpoint tensor %d is group %llu, %s, %llu elements; the optimizer's is group %d, "
                                "%s, %zu elements",
                                i, (unsigned long long)group, dtype == DESCENT_F64 ? "f64" : "f32",
                                (unsigned long long)count, t->group, t->dtype == DESCENT_F64 ? "f64" : "f32", t->n);
        if (nstate != (uint64_t)t->nstate)
            return descent_fail(err, DESCENT_ERR_CHECKPOINT, "checkpoint tensor %d has %llu state buffers, expected %d", i,
                                (unsigned long long)nstate, t->nstate);
        if (step < 0)
            return descent_fail(err, DESCENT_ERR_CHECKPOINT, "checkpoint tensor %d has negative step count", i);
        if (apply) {
            t->scalars.step = step;
            t->scalars.mu_product = mu_product;
            t->scalars.eta = eta;
            t->scalars.mu = mu;
        }
        for (int k = 0; k < t->nstate; k++) {
            const char *sname = get_str(r, &n);
            if (r->bad)
                goto truncated;
            if (!str_is(sname, n, opt->algo->state_names[k]))
                return descent_fail(err, DESCENT_ERR_CHECKPOINT, "checkpoint tensor %d state %d is '%.*s', expected '%s'",
                                    i, k, (int)(n > 64 ? 64 : n), sname, opt->algo->state_names[k]);
            if (opt->algo->state_size) {
                uint64_t elems = descent_get_u(r, 8);
                if (r->bad)
                    goto truncated;
                if (elems != (uint64_t)t->state_n[k])
                    return descent_fail(err, DESCENT_ERR_CHECKPOINT,
                                        "checkpoint tensor %d state '%s' has %llu elements, this tensor's shape needs %zu",
                                        i, opt->algo->state_names[k], (unsigned long long)elems, t->state_n[k]);
            }
            size_t bytes = t->state_bits == 8 ? descent_q8_image_bytes(t->n) : t->state_n[k] * dtype_size(t->dtype);
            if (r->len - r->pos < bytes)
                goto truncated;
            if (apply && t->state_bits == 8)
                descent_q8_get(r, t->state[k], t->n);
            else if (apply)
                get_array(r, t->state[k], t->state_n[k], t->dtype);
            else
                r->pos += bytes;
        }
    }
    where = "schedule";
    uint64_t sched_len = descent_get_u(r, 8);
    if (r->bad || r->len - r->pos < sched_len)
        goto truncated;
    int rc = descent_schedule_load(opt, r->buf + r->pos, (size_t)sched_len, apply, err);
    if (rc < 0)
        return rc;
    r->pos += (size_t)sched_len;
    if ((rc = descent_utils_load(opt, r, (flags & DESCENT_CKPT_FLAG_UTILS) != 0, apply, err)) < 0)
        return rc;
    if (r->pos != r->len)
        return descent_fail(err, DESCENT_ERR_CHECKPOINT, "checkpoint has %zu unexpected bytes at its end", r->len - r->pos);
    return 0;
truncated:
    return descent_fail(err, DESCENT_ERR_CHECKPOINT, "checkpoint is truncated (in the %s)", where);
}

int descent_load_mem(descent_optimizer *opt, const void *buf, size_t len)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    if (!buf)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "checkpoint buffer is NULL");
    const unsigned char *b = buf;
    if (len < CKPT_HEADER + 4 || memcmp(b, CKPT_MAGIC, 8) != 0)
        return descent_opt_fail(opt, DESCENT_ERR_CHECKPOINT, "not a descent checkpoint (%s)",
                                len < 8 || memcmp(b, CKPT_MAGIC, 8) != 0 ? "bad magic" : "too short");
    reader h = {b, len, 8, 0};
    uint64_t version = descent_get_u(&h, 4);
    uint64_t flags = descent_get_u(&h, 4);
    uint64_t payload = descent_get_u(&h, 8);
    if (version != CKPT_VERSION)
        return descent_opt_fail(opt, DESCENT_ERR_CHECKPOINT, "checkpoint format version %llu, this library reads %u",
                                (unsigned long long)version, CKPT_VERSION);
    if (flags & ~(uint64_t)DESCENT_CKPT_FLAG_UTILS)
        return descent_opt_fail(opt, DESCENT_ERR_CHECKPOINT, "checkpoint has unknown flags 0x%llx",
                                (unsigned long long)flags);
    if (payload != len - CKPT_HEADER - 4)
        return descent_opt_fail(opt, DESCENT_ERR_CHECKPOINT, "checkpoint is truncated or padded: %zu bytes, header says %llu",
                                len, (unsigned long long)(payload + CKPT_HEADER + 4));
    uint32_t stored = (uint32_t)b[len - 4] | (uint32_t)b[len - 3] << 8 | (uint32_t)b[len - 2] << 16 |
                      (uint32_t)b[len - 1] << 24;
    if (descent_crc32(0, b, len - 4) != stored)
        return descent_opt_fail(opt, DESCENT_ERR_CHECKPOINT, "checkpoint checksum mismatch: the file is corrupt");
    descent_error e;
    reader r = {b, len - 4, CKPT_HEADER, 0};
    int rc = walk(opt, &r, 0, (unsigned)flags, &e);
    if (rc < 0)
        return descent_opt_fail(opt, rc, "%s", e.message);
    reader r2 = {b, len - 4, CKPT_HEADER, 0};
    return walk(opt, &r2, 1, (unsigned)flags, &e);
}

int descent_save(const descent_optimizer *opt, const char *path)
{
    if (!opt || !path)
        return DESCENT_ERR_INVALID;
    size_t len;
    descent_save_mem(opt, NULL, 0, &len);
    void *buf = descent_mem_alloc(&opt->mem, len);
    if (!buf)
        return descent_opt_fail(opt, DESCENT_ERR_NOMEM, "out of memory for a checkpoint of %zu bytes", len);
    int rc = descent_save_mem(opt, buf, len, &len);
    descent_error e;
    if (rc == 0 && (rc = descent_file_write_atomic(&opt->mem, path, buf, len, &e)) < 0)
        descent_opt_fail(opt, rc, "%s", e.message);
    descent_mem_free(&opt->mem, buf);
    return rc;
}

int descent_load(descent_optimizer *opt, const char *path)
{
    if (!opt || !path)
        return DESCENT_ERR_INVALID;
    void *buf;
    size_t len;
    descent_error e;
    int rc = descent_file_read(&opt->mem, path, &buf, &len, &e);
    if (rc < 0)
        return descent_opt_fail(opt, rc, "%s", e.message);
    rc = descent_load_mem(opt, buf, len);
    if (rc < 0) {
        char msg[sizeof opt->errmsg];
        snprintf(msg, sizeof msg, "%s", opt->errmsg);
        descent_opt_fail(opt, rc, "%s: %s", path, msg);
    }
    descent_mem_free(&opt->mem, buf);
    return rc;
}
