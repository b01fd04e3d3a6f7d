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

#include <math.h>
#include <stdio.h>
#include <string.h>

#define CKPT_MAGIC "DESCENT\x1a"
#define CKPT_VERSION 1u
#define CKPT_WHAT "descent checkpoint"

/* The largest step count a checkpoint may carry: 2^53, beyond which a
 * double (the step's t in every bias correction) no longer counts by one;
 * far below INT64_MAX, so the next step cannot overflow. */
#define CKPT_MAX_STEP ((int64_t)1 << 53)

typedef descent_writer writer;

int descent_save_mem(const descent_optimizer *opt, void *buf, size_t cap, size_t *len)
{
    if (!opt || !len)
        return DESCENT_ERR_INVALID;
    writer w = {buf, buf ? cap : 0, 0};
    size_t start =
        descent_frame_begin(&w, CKPT_MAGIC, CKPT_VERSION, descent_utils_active(opt) ? DESCENT_CKPT_FLAG_UTILS : 0);
    descent_put_str(&w, opt->algo->name);
    descent_put_u(&w, (uint64_t)opt->ngroups, 4);
    for (int g = 0; g < opt->ngroups; g++) {
        const descent_hparams *hp = &opt->groups[g].hp;
        descent_put_f64(&w, opt->groups[g].initial_lr);
        uint32_t fields = 0;
        for (const hp_desc *d = opt->algo->hparams; d->name; d++)
            fields++;
        descent_put_u(&w, fields, 4);
        for (const hp_desc *d = opt->algo->hparams; d->name; d++) {
            int count = d->type == HP_PAIR ? 2 : 1;
            descent_put_str(&w, d->name);
            descent_put_u(&w, (uint64_t)count, 1);
            for (int k = 0; k < count; k++)
                descent_put_f64(&w, descent_hp_read(hp, d, k));
        }
    }
    descent_put_u(&w, (uint64_t)opt->ntensors, 4);
    for (int i = 0; i < opt->ntensors; i++) {
        const descent_tensor *t = &opt->tensors[i];
        descent_put_u(&w, (uint64_t)t->group, 4);
        descent_put_u(&w, (uint64_t)t->dtype, 1);
        descent_put_u(&w, (uint64_t)t->n, 8);
        descent_put_u(&w, (uint64_t)t->scalars.step, 8);
        for (int k = 0; k < DESCENT_SCALAR_SLOTS; k++)
            descent_put_f64(&w, descent_scalar_slot(&t->scalars, k));
        descent_put_u(&w, (uint64_t)t->nstate, 1);
        for (int k = 0; k < t->nstate; k++) {
            descent_put_str(&w, opt->algo->state_names[k]);
            if (opt->algo->state_size) /* shape-dependent sizes: stored, and checked on load */
                descent_put_u(&w, (uint64_t)t->state_n[k], 8);
            if (t->state_bits == 8)
                descent_q8_put(&w, t->state[k], t->n);
            else
                descent_put_array(&w, t->state[k], t->state_n[k], t->dtype);
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
    descent_frame_end(&w, start);
    return 0;
}

/* ---- reading ------------------------------------------------------------ */

typedef descent_reader reader;

static int str_is(const char *s, size_t n, const char *want) { return strlen(want) == n && memcmp(s, want, n) == 0; }

static size_t dtype_size(descent_dtype t) { return t == DESCENT_F64 ? 8 : 4; }

/* One pass over the payload. With apply = 0 it only checks; with apply = 1
 * (run only after a successful check) it writes into the optimizer. */
static int walk(descent_optimizer *opt, reader *r, int apply, unsigned flags, descent_error *err)
{
    const char *where = "header";
    size_t n;
    const char *name = descent_get_str(r, &n);
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
        double initial_lr = descent_get_f64(r);
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
            const char *fname = descent_get_str(r, &n);
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
                double v = descent_get_f64(r);
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
        double slots[DESCENT_SCALAR_SLOTS];
        for (int k = 0; k < DESCENT_SCALAR_SLOTS; k++)
            slots[k] = descent_get_f64(r);
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
        /* Forged values are refused before use: a step count a double
         * counts exactly (and whose next step cannot overflow), and the
         * scalars within the bounds the algorithm's table declares (NAdam's
         * product of momentum coefficients in [-1, 1], ASGD's averaging
         * weight mu in [0, 1] and its finite eta, schedule-free's finite
         * max_lr and weight_sum >= 0), the unused slots finite. */
        if (step > CKPT_MAX_STEP)
            return descent_fail(err, DESCENT_ERR_CHECKPOINT,
                                "checkpoint tensor %d has step count %lld, beyond 2^53", i, (long long)step);
        descent_tensor_scalars read = t->scalars;
        read.step = step;
        for (int k = 0; k < DESCENT_SCALAR_SLOTS; k++)
            descent_scalar_slot_set(&read, k, slots[k]);
        const char *bad_name = NULL;
        double bad_value = 0;
        if (descent_scalars_check(opt->algo, &read, &bad_name, &bad_value) < 0)
            return descent_fail(err, DESCENT_ERR_CHECKPOINT,
                                "checkpoint tensor %d has an impossible %s (%g) for %s", i, bad_name, bad_value,
                                opt->algo->name);
        if (apply)
            t->scalars = read;
        for (int k = 0; k < t->nstate; k++) {
            const char *sname = descent_get_str(r, &n);
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
            if (descent_reader_left(r) < bytes)
                goto truncated;
            if (t->state_bits == 8 && !descent_q8_image_ok(r->buf + r->pos, t->n))
                return descent_fail(err, DESCENT_ERR_CHECKPOINT,
                                    "checkpoint tensor %d state '%s' has a negative or non-finite block scale", i,
                                    opt->algo->state_names[k]);
            if (apply && t->state_bits == 8)
                descent_q8_get(r, t->state[k], t->n);
            else if (apply)
                descent_get_array(r, t->state[k], t->state_n[k], t->dtype);
            else
                descent_reader_skip(r, bytes);
        }
    }
    where = "schedule";
    uint64_t sched_len = descent_get_u(r, 8);
    if (r->bad || descent_reader_left(r) < sched_len)
        goto truncated;
    int rc = descent_schedule_load(opt, r->buf + r->pos, (size_t)sched_len, apply, err);
    if (rc < 0)
        return rc;
    descent_reader_skip(r, (size_t)sched_len);
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
    descent_error e;
    descent_frame_info info;
    reader r;
    int rc = descent_frame_open(&r, buf, len, CKPT_MAGIC, CKPT_VERSION, CKPT_VERSION, DESCENT_CKPT_FLAG_UTILS, &info,
                                CKPT_WHAT, &e);
    if (rc < 0)
        return descent_opt_fail(opt, rc, "%s", e.message);
    reader r2 = r;
    rc = walk(opt, &r, 0, info.flags, &e);
    if (rc < 0)
        return descent_opt_fail(opt, rc, "%s", e.message);
    return walk(opt, &r2, 1, info.flags, &e);
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
    int rc = descent_file_read_framed(&opt->mem, path, CKPT_MAGIC, CKPT_VERSION, CKPT_VERSION, DESCENT_CKPT_FLAG_UTILS,
                                      CKPT_WHAT, &buf, &len, &e);
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
