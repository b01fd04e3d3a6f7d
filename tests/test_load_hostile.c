/* Hostile files for the loaders: memory bombs (a 6 GB sparse file, a
 * header declaring a huge payload, /dev/zero) are refused before anything
 * of their size is allocated; forged values behind a repaired CRC (step
 * counts near INT64_MAX, NaN or 1e300 schedule state, non-finite per-tensor
 * scalars and 8-bit block scales, population counts near INT64_MAX, a
 * population's outstanding candidates that do not match its size) are
 * refused with a message, and the object is left as it was. */
#include "descent.h"
#include "schedule/schedule.h"
#include "testutil.h"

#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* An allocator that remembers the largest request. */
static size_t largest;

static void *count_alloc(void *ctx, size_t size)
{
    (void)ctx;
    if (size > largest)
        largest = size;
    return malloc(size);
}

static void count_free(void *ctx, void *p)
{
    (void)ctx;
    free(p);
}

static float p1[4], g1[4] = {0.1f, -0.2f, 0.3f, -0.4f};
static float q1[4096], h1[4096];

static descent_optimizer *make(const char *spec, const char *schedule, int big)
{
    descent_allocator a = {count_alloc, count_free, NULL};
    descent_optimizer *opt = NULL;
    descent_error err;
    if (descent_create_from_spec(&opt, spec, &a, &err) < 0) {
        fprintf(stderr, "%s: %s\n", spec, err.message);
        return NULL;
    }
    int g = descent_add_group(opt, NULL);
    if (big)
        descent_add_tensor(opt, g, q1, h1, 4096, DESCENT_F32);
    else
        descent_add_tensor(opt, g, p1, g1, 4, DESCENT_F32);
    if (schedule && descent_set_schedule(opt, schedule) < 0)
        fprintf(stderr, "%s: %s\n", schedule, descent_errmsg(opt));
    return opt;
}

static unsigned char *image(descent_optimizer *opt, size_t *len)
{
    descent_save_mem(opt, NULL, 0, len);
    unsigned char *buf = malloc(*len);
    descent_save_mem(opt, buf, *len, len);
    return buf;
}

/* CRC-32 (IEEE), bit by bit: independent of the library's. */
static void repair_crc(unsigned char *b, size_t len)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i + 4 < len + 0 && i < len - 4; i++) {
        c ^= b[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    c = ~c;
    for (int i = 0; i < 4; i++)
        b[len - 4 + (size_t)i] = (unsigned char)(c >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void put_le(unsigned char *p, uint64_t v, int n)
{
    for (int i = 0; i < n; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_f64(unsigned char *p, double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    put_le(p, u, 8);
}

/* Offsets in an optimizer image with one group and one tensor (the format
 * in src/checkpoint.c): the tensor's step, mu_product, eta, mu, and where
 * its first state buffer's values begin. */
typedef struct layout {
    size_t step, mu_product, eta, mu, state0;
} layout;

static layout find(const unsigned char *b, int sized)
{
    size_t at = 24;
    at += 2 + get_le(b + at, 2);        /* name */
    at += 4;                            /* groups */
    at += 8;                            /* initial_lr */
    uint64_t fields = get_le(b + at, 4);
    at += 4;
    for (uint64_t f = 0; f < fields; f++) {
        at += 2 + get_le(b + at, 2);
        at += 1 + 8 * b[at];
    }
    at += 4;          /* tensors */
    at += 4 + 1 + 8;  /* group, dtype, n */
    layout L;
    L.step = at;
    L.mu_product = at + 8;
    L.eta = at + 16;
    L.mu = at + 24;
    at += 32 + 1;     /* nstate */
    at += 2 + get_le(b + at, 2);
    L.state0 = at + (sized ? 8 : 0);
    return L;
}

static int refused(descent_optimizer *opt, unsigned char *buf, size_t len, const char *want, const char *what)
{
    repair_crc(buf, len);
    size_t before_len;
    unsigned char *before = image(opt, &before_len);
    int rc = descent_load_mem(opt, buf, len);
    size_t after_len;
    unsigned char *after = image(opt, &after_len);
    int ok = rc == DESCENT_ERR_CHECKPOINT && strstr(descent_errmsg(opt), want) != NULL;
    CHECK(ok, "%s: rc %d, message '%s' (wanted '%s')", what, rc, descent_errmsg(opt), want);
    CHECK(after_len == before_len && memcmp(before, after, before_len) == 0, "%s: the refused load changed the optimizer",
          what);
    free(before);
    free(after);
    return ok;
}

static void test_forged_optimizer(void)
{
    /* Step counts. */
    descent_optimizer *opt = make("Adam(lr=0.01)", NULL, 0);
    descent_step(opt);
    size_t len;
    unsigned char *ok = image(opt, &len), *b = malloc(len);
    layout L = find(ok, 0);
    CHECK(get_le(ok + L.step, 8) == 1, "layout: step at %zu reads %llu", L.step,
          (unsigned long long)get_le(ok + L.step, 8));
    memcpy(b, ok, len);
    put_le(b + L.step, (uint64_t)INT64_MAX, 8);
    refused(opt, b, len, "beyond 2^53", "step INT64_MAX");
    memcpy(b, ok, len);
    put_le(b + L.step, ((uint64_t)1 << 53) + 1, 8);
    refused(opt, b, len, "beyond 2^53", "step 2^53 + 1");
    /* 2^53 itself loads, and the next step is fine. */
    memcpy(b, ok, len);
    put_le(b + L.step, (uint64_t)1 << 53, 8);
    repair_crc(b, len);
    CHECK(descent_load_mem(opt, b, len) == 0, "step 2^53: %s", descent_errmsg(opt));
    CHECK(descent_step(opt) == 0 && descent_step_count(opt) == ((int64_t)1 << 53) + 1, "step after 2^53: %s",
          descent_errmsg(opt));
    free(ok);
    free(b);
    descent_destroy(opt);

    /* Per-tensor scalars: NAdam's mu_product, ASGD's eta and mu,
     * schedule-free's weight_sum (in the slot of ASGD's mu), each named. */
    const char *specs[] = {"NAdam(lr=0.01)", "ASGD(lr=0.01)", "ASGD(lr=0.01)", "ASGD(lr=0.01)",
                           "ScheduleFreeAdamW(lr=0.01)"};
    const char *names[] = {"impossible mu_product", "impossible eta", "impossible mu", "impossible mu",
                           "impossible weight_sum"};
    for (int k = 0; k < 5; k++) {
        opt = make(specs[k], NULL, 0);
        descent_step(opt);
        ok = image(opt, &len);
        b = malloc(len);
        L = find(ok, 0);
        memcpy(b, ok, len);
        if (k == 0)
            put_f64(b + L.mu_product, NAN);
        else if (k == 1)
            put_f64(b + L.eta, INFINITY);
        else if (k == 2)
            put_f64(b + L.mu, 2.0);
        else
            put_f64(b + L.mu, -1e300);
        refused(opt, b, len, names[k], specs[k]);
        free(ok);
        free(b);
        descent_destroy(opt);
    }

    /* 8-bit state: a NaN or negative block scale. The scale follows the
     * tensor's 4096 code bytes (4096 < one block: one scale). */
    opt = make("AdamW(lr=0.01, state_bits=8)", NULL, 1);
    for (int i = 0; i < 4096; i++)
        h1[i] = (float)((i % 7) - 3);
    descent_step(opt);
    ok = image(opt, &len);
    b = malloc(len);
    L = find(ok, 0);
    float bad[2] = {NAN, -1.0f};
    for (int k = 0; k < 2; k++) {
        memcpy(b, ok, len);
        uint32_t u;
        memcpy(&u, &bad[k], sizeof u);
        put_le(b + L.state0 + 4096, u, 4);
        refused(opt, b, len, "block scale", k ? "q8 scale -1" : "q8 scale NaN");
    }
    free(ok);
    free(b);
    descent_destroy(opt);
}

/* Every value of a schedule's saved state, forged to NaN, +-inf or 1e300:
 * refused. The schedule section is the last part of an image without
 * training utilities: its block of doubles ends 4 bytes before the end. */
static void test_forged_schedule(void)
{
    const char *scheds[] = {"CosineAnnealingLR(T_max=10)", "CosineAnnealingWarmRestarts(T_0=3, T_mult=2)",
                            "CyclicLR(base_lr=0.001, max_lr=0.1, step_size_up=4)", "StepLR(step_size=3)"};
    for (int s = 0; s < 4; s++) {
        descent_optimizer *opt = make("SGD(lr=0.01, momentum=0.9)", scheds[s], 0);
        for (int k = 0; k < 3; k++) {
            descent_step(opt);
            descent_schedule_step(opt, 0);
        }
        size_t len;
        unsigned char *ok = image(opt, &len), *b = malloc(len);
        /* The section: ... u32 groups, u32 nblock, f64 attach[3], f64 block[nblock]. */
        size_t nvalues = 0;
        for (size_t n = 1; n < 4096 && 12 + 8 * n < len; n++) {
            size_t at = len - 4 - 8 * n - 8;
            if (get_le(ok + at, 4) == 1 && get_le(ok + at + 4, 4) == n - 3) {
                nvalues = n;
                break;
            }
        }
        CHECK(nvalues > 3, "%s: schedule section not found", scheds[s]);
        const double forged[4] = {NAN, INFINITY, -1e300, 1e300};
        int all = 1;
        for (size_t i = 0; i < nvalues; i++)
            for (int f = 0; f < 4; f++) {
                memcpy(b, ok, len);
                put_f64(b + len - 4 - 8 * nvalues + 8 * i, forged[f]);
                char what[160];
                snprintf(what, sizeof what, "%s value %zu = %g", scheds[s], i, forged[f]);
                all &= refused(opt, b, len, "schedule state", what);
            }
        CHECK(all, "%s: some forged schedule value was accepted", scheds[s]);
        CHECK(descent_load_mem(opt, ok, len) == 0, "%s: the genuine image: %s", scheds[s], descent_errmsg(opt));
        free(ok);
        free(b);
        descent_destroy(opt);
    }
}

/* Every schedule kind: each rate of its saved state (the lane's lr and
 * initial_lr, the base lrs, OneCycleLR's max_lr / min_lr keys, the values
 * at attach) forged to NaN, -1, 1e-300 and 1e39 in turn is refused with a
 * message naming that field; 1e-300 as outside the range of the group's
 * f32 tensors (on f64 tensors not for that reason), 1e39 as beyond 2^53. The fields are
 * found by forging every saved value to NaN and reading the name back. */
static const struct {
    const char *opt, *sched, *field; /* field: a rate of the kind's own state that must be found */
} kinds[] = {
    {"SGD(lr=0.01, momentum=0.9)", "StepLR(step_size=3)", "StepLR base_lrs"},
    {"SGD(lr=0.01, momentum=0.9)", "MultiStepLR(milestones=[2, 4])", "MultiStepLR base_lrs"},
    {"SGD(lr=0.01, momentum=0.9)", "ExponentialLR(gamma=0.9)", "ExponentialLR base_lrs"},
    {"SGD(lr=0.01, momentum=0.9)", "PolynomialLR(total_iters=10)", "PolynomialLR base_lrs"},
    {"SGD(lr=0.01, momentum=0.9)", "CyclicLR(base_lr=0.001, max_lr=0.1, step_size_up=4)", "CyclicLR base_lrs"},
    {"SGD(lr=0.01, momentum=0.9)", "OneCycleLR(max_lr=0.1, total_steps=20)", "optimizer's max_lr"},
    {"SGD(lr=0.01, momentum=0.9)", "CosineAnnealingLR(T_max=10)", "CosineAnnealingLR base_lrs"},
    {"SGD(lr=0.01, momentum=0.9)", "CosineAnnealingWarmRestarts(T_0=3, T_mult=2)",
     "CosineAnnealingWarmRestarts base_lrs"},
    {"SGD(lr=0.01, momentum=0.9)", "ReduceLROnPlateau(patience=0)", "optimizer's lr"},
    {"SGD(lr=0.01, momentum=0.9)", "LinearLR()", "LinearLR base_lrs"},
    {"SGD(lr=0.01, momentum=0.9)", "ConstantLR()", "ConstantLR base_lrs"},
    {"SGD(lr=0.01, momentum=0.9)", "SequentialLR(schedulers=[LinearLR(), ExponentialLR(gamma=0.9)], milestones=[2])",
     "ExponentialLR base_lrs"},
    {"SGD(lr=0.01, momentum=0.9)", "ChainedScheduler([ExponentialLR(gamma=0.9), ReduceLROnPlateau(patience=0)])",
     "ReduceLROnPlateau starting lr"},
    {"SGD(lr=0.01, momentum=0.9)", "LinearWarmup(warmup_period=5, schedule=CosineAnnealingLR(T_max=10))",
     "LinearWarmup's private lane lr"},
    {"SGD(lr=0.01, momentum=0.9)", "ExponentialWarmup(warmup_period=5)", "ExponentialWarmup's private lane lr"},
    {"Adam(lr=0.01)", "UntunedLinearWarmup()", "UntunedLinearWarmup's private lane lr"},
    {"Adam(lr=0.01)", "UntunedExponentialWarmup()", "UntunedExponentialWarmup's private lane lr"},
    {"SGD(lr=0.01, momentum=0.9)", "GradualWarmup(multiplier=2, total_epoch=3, after=CosineAnnealingLR(T_max=6))",
     "GradualWarmup base_lrs"},
    {"SGD(lr=0.01, momentum=0.9)", "ConstantWithWarmup(num_warmup_steps=2)", "ConstantWithWarmup base_lrs"},
    {"SGD(lr=0.01, momentum=0.9)", "LinearWithWarmup(num_warmup_steps=2, num_training_steps=20)",
     "LinearWithWarmup base_lrs"},
    {"SGD(lr=0.01, momentum=0.9)", "CosineWithWarmup(num_warmup_steps=2, num_training_steps=20)",
     "CosineWithWarmup base_lrs"},
    {"SGD(lr=0.01, momentum=0.9)", "CosineWithHardRestartsWithWarmup(num_warmup_steps=2, num_training_steps=20)",
     "CosineWithHardRestartsWithWarmup base_lrs"},
    {"SGD(lr=0.01, momentum=0.9)", "PolynomialDecayWithWarmup(num_warmup_steps=2, num_training_steps=20)",
     "PolynomialDecayWithWarmup base_lrs"},
    {"SGD(lr=0.01, momentum=0.9)", "InverseSqrt(num_warmup_steps=2)", "InverseSqrt base_lrs"},
    {"SGD(lr=0.01, momentum=0.9)", "WarmupStableDecay(num_warmup_steps=2, num_decay_steps=5, num_training_steps=20)",
     "WarmupStableDecay base_lrs"},
    {"SGD(lr=0.01, momentum=0.9)", "LambdaLR(lr_lambda=0)", "LambdaLR base_lrs"},
    {"SGD(lr=0.01, momentum=0.9)", "MultiplicativeLR(lr_lambda=1)", "MultiplicativeLR base_lrs"},
};

/* The callbacks of LambdaLR (1 / (1 + t)) and MultiplicativeLR (0.9). */
static double inverse_time(int64_t t, void *user_data)
{
    (void)user_data;
    return 1.0 / (1.0 + (double)t);
}

static double constant_factor(int64_t t, void *user_data)
{
    (void)t;
    return *(const double *)user_data;
}

static float pf[4] = {1, 2, 3, 4}, gf[4] = {0.1f, -0.2f, 0.3f, -0.4f};
static double pd[4] = {1, 2, 3, 4}, gd[4] = {0.1, -0.2, 0.3, -0.4};

/* The field a refusal names: between "state: " and " = " ("" if none). */
static void named_field(const char *msg, char *out, size_t cap)
{
    out[0] = '\0';
    const char *a = strstr(msg, "state: "), *b = a ? strstr(a, " = ") : NULL;
    if (a && b && (size_t)(b - a - 7) < cap) {
        memcpy(out, a + 7, (size_t)(b - a - 7));
        out[b - a - 7] = '\0';
    }
}

static void test_forged_schedule_fields(void)
{
    int ncases = (int)(sizeof kinds / sizeof *kinds);
    for (int k = 0; k < sched_kind_count; k++) {
        char call[96];
        snprintf(call, sizeof call, "%s(", sched_kinds[k]->name);
        int covered = 0;
        for (int c = 0; c < ncases; c++)
            covered |= strncmp(kinds[c].sched, call, strlen(call)) == 0 || strstr(kinds[c].sched, call) != NULL;
        CHECK(covered, "test_forged_schedule_fields has no case for %s", sched_kinds[k]->name);
    }
    for (int c = 0; c < ncases; c++)
        for (int f64 = 0; f64 <= 1; f64++) {
            descent_optimizer *opt;
            descent_error err;
            CHECK(descent_create_from_spec(&opt, kinds[c].opt, NULL, &err) == 0, "%s", err.message);
            descent_add_group(opt, NULL);
            descent_add_tensor(opt, 0, f64 ? (void *)pd : (void *)pf, f64 ? (void *)gd : (void *)gf, 4,
                               f64 ? DESCENT_F64 : DESCENT_F32);
            static double nine_tenths = 0.9;
            const descent_lr_callback cb[2] = {{inverse_time, NULL}, {constant_factor, &nine_tenths}};
            CHECK(descent_set_schedule_callbacks(opt, kinds[c].sched, cb, 2) == 0, "%s: %s", kinds[c].sched,
                  descent_errmsg(opt));
            for (int t = 0; t < 3; t++) {
                descent_step(opt);
                descent_schedule_step(opt, 1.0);
            }
            size_t len;
            unsigned char *ok = image(opt, &len), *b = malloc(len);
            size_t nvalues = 0; /* the section ends: u32 groups (1), u32 nblock, f64 attach[3], f64 block[nblock] */
            for (size_t n = 4; n < 4096 && 12 + 8 * n < len; n++)
                if (get_le(ok + len - 4 - 8 * n - 8, 4) == 1 && get_le(ok + len - 4 - 8 * n - 4, 4) == n - 3) {
                    nvalues = n;
                    break;
                }
            CHECK(nvalues > 3, "%s: schedule section not found", kinds[c].sched);
            int found = 0, rates = 0;
            for (size_t i = 0; i < nvalues; i++) {
                size_t at = len - 4 - 8 * nvalues + 8 * i;
                memcpy(b, ok, len);
                put_f64(b + at, NAN);
                char what[256], field[128];
                snprintf(what, sizeof what, "%s on %s: value %zu = NaN", kinds[c].sched, f64 ? "f64" : "f32", i);
                if (!refused(opt, b, len, "schedule state", what))
                    continue;
                named_field(descent_errmsg(opt), field, sizeof field);
                found |= strstr(field, kinds[c].field) != NULL;
                if (!strstr(field, "lr"))
                    continue; /* a counter, a momentum, a metric */
                rates++;
                const double forged[3] = {-1, 1e-300, 1e39};
                for (int v = 0; v < 3; v++) {
                    memcpy(b, ok, len);
                    put_f64(b + at, forged[v]);
                    snprintf(what, sizeof what, "%s on %s: %s = %g", kinds[c].sched, f64 ? "f64" : "f32", field,
                             forged[v]);
                    repair_crc(b, len);
                    int rc = descent_load_mem(opt, b, len);
                    char again[128];
                    named_field(descent_errmsg(opt), again, sizeof again);
                    if (f64 && v == 1) { /* in range for f64: refused, if at all, for another reason */
                        CHECK(rc == 0 || !strstr(descent_errmsg(opt), "f32"), "%s: '%s'", what, descent_errmsg(opt));
                    } else if (f64 && v == 2) { /* beyond 2^53 */
                        CHECK(rc == DESCENT_ERR_CHECKPOINT, "%s accepted", what);
                    } else {
                        CHECK(rc == DESCENT_ERR_CHECKPOINT && strcmp(again, field) == 0 &&
                                  (v != 1 || strstr(descent_errmsg(opt), "f32 tensors")),
                              "%s: rc %d, '%s'", what, rc, descent_errmsg(opt));
                    }
                }
            }
            CHECK(found && rates >= 3, "%s on %s: field '%s' not named (%d rate fields)", kinds[c].sched,
                  f64 ? "f64" : "f32", kinds[c].field, rates);
            CHECK(descent_load_mem(opt, ok, len) == 0, "%s: the genuine image: %s", kinds[c].sched, descent_errmsg(opt));
            free(ok);
            free(b);
            descent_destroy(opt);
        }
}

/* Training checkpoints ("DSCTRAIN", src/models/trainer.c): a value no run
 * can write, behind a repaired CRC, is refused with a message naming it
 * and the trainer saves the same file as before. */
static int trainer_refuses(descent_trainer *t, unsigned char *b, size_t len, const char *want, const char *what)
{
    repair_crc(b, len);
    FILE *f = fopen("tlh_forged.ckpt", "wb");
    if (f) {
        fwrite(b, 1, len, f);
        fclose(f);
    }
    descent_trainer_save(t, "tlh_before.ckpt");
    int rc = descent_trainer_load(t, "tlh_forged.ckpt");
    int ok = rc == DESCENT_ERR_CHECKPOINT && strstr(descent_trainer_errmsg(t), want) != NULL;
    CHECK(ok, "%s: rc %d, '%s' (wanted '%s')", what, rc, descent_trainer_errmsg(t), want);
    descent_trainer_save(t, "tlh_after.ckpt");
    size_t n1, n2;
    char *a = t_read_file("tlh_before.ckpt", &n1), *z = t_read_file("tlh_after.ckpt", &n2);
    CHECK(a && z && n1 == n2 && memcmp(a, z, n1) == 0, "%s: the refused load changed the trainer", what);
    free(a);
    free(z);
    return ok;
}

static void test_forged_trainer(void)
{
    FILE *f = fopen("tlh_words.csv", "w");
    CHECK(f != NULL, "writing the data");
    if (!f)
        return;
    fputs("x1,x2,animal\n", f);
    static const char *const names[] = {"cat", "dog", "eel"};
    for (int i = 0; i < 20; i++)
        fprintf(f, "%d,%d,%s\n", i % 5, i * 7 % 11, names[i % 3]);
    fclose(f);
    descent_train_config c;
    descent_train_default_config(&c);
    c.data = "tlh_words.csv";
    c.target = "animal";
    c.model = "softmax";
    c.optimizer = "SGD(lr=0.1)";
    c.batch_size = 4;
    descent_trainer *t, *u;
    descent_error err;
    CHECK(descent_trainer_create(&t, &c, &err) == 0, "%s", err.message);
    CHECK(descent_trainer_create(&u, &c, &err) == 0, "%s", err.message);
    /* Saved before the first epoch (a signal at once): it loads. */
    CHECK(descent_trainer_save(t, "tlh_ok.ckpt") == 0, "%s", descent_trainer_errmsg(t));
    CHECK(descent_trainer_load(u, "tlh_ok.ckpt") == 0, "saved before the first epoch: %s", descent_trainer_errmsg(u));
    descent_trainer_epoch(t, NULL, NULL, NULL);
    CHECK(descent_trainer_save(t, "tlh_ok.ckpt") == 0, "%s", descent_trainer_errmsg(t));
    size_t len;
    unsigned char *ok = (unsigned char *)t_read_file("tlh_ok.ckpt", &len), *b = malloc(len);
    /* Payload (at 24): u32 dtype, epochs, tensors, u64 features, classes,
     * rows, generator[4] (at 60), generator before the shuffle[4] (at 92),
     * u64 batches done, f64 loss, u64 data hash, then the strings. */
    memcpy(b, ok, len);
    memset(b + 60, 0, 32);
    trainer_refuses(u, b, len, "generator", "generator of zeros");
    /* The one before the shuffle is read back for a part-done epoch only
     * (and saved as zeros before the first epoch). */
    memcpy(b, ok, len);
    memset(b + 92, 0, 32);
    put_le(b + 124, 1, 8); /* one batch of the epoch done */
    trainer_refuses(u, b, len, "generator", "shuffle generator of zeros in a part-done epoch");
    size_t at = 148;
    for (int k = 0; k < 5; k++) /* target, model, optimizer, schedule, fitted schedule */
        at += 4 + get_le(ok + at, 4);
    at += 8 + 8 + 4 * 8 + 3 * 4; /* seed, batch size, val, clips, ema, utilities */
    CHECK(get_le(ok + at, 4) == 3 && get_le(ok + at + 4, 4) == 3 && memcmp(ok + at + 8, "cat", 3) == 0,
          "layout: class names at %zu", at);
    memcpy(b, ok, len);
    b[at + 8 + 3 + 4 + 2] = 0; /* "dog" -> "do\0" */
    trainer_refuses(u, b, len, "NUL", "class name with a NUL byte");
    memcpy(b, ok, len);
    b[at + 8 + 2] = 0; /* "cat" -> "ca\0" */
    trainer_refuses(u, b, len, "NUL", "class name with a NUL byte");
    CHECK(descent_trainer_load(u, "tlh_ok.ckpt") == 0, "the genuine file: %s", descent_trainer_errmsg(u));
    free(ok);
    free(b);
    descent_trainer_destroy(t);
    descent_trainer_destroy(u);
    /* A run of 6 epochs saved; one of 4 (another fitted schedule), one epoch
     * in, refuses it for a broken optimizer image (its own CRC) and keeps
     * its own schedule and state. */
    c.optimizer = "AdamW(lr=0.01)";
    c.schedule = "OneCycleLR(max_lr=0.5)";
    c.epochs = 6;
    CHECK(descent_trainer_create(&t, &c, &err) == 0, "%s", err.message);
    c.epochs = 4;
    CHECK(descent_trainer_create(&u, &c, &err) == 0, "%s", err.message);
    descent_trainer_epoch(t, NULL, NULL, NULL);
    descent_trainer_epoch(u, NULL, NULL, NULL);
    CHECK(strcmp(descent_trainer_schedule(t), descent_trainer_schedule(u)) != 0, "fitted alike: %s",
          descent_trainer_schedule(t));
    CHECK(descent_trainer_save(t, "tlh_ok.ckpt") == 0, "%s", descent_trainer_errmsg(t));
    ok = (unsigned char *)t_read_file("tlh_ok.ckpt", &len);
    b = malloc(len);
    memcpy(b, ok, len);
    b[len - 4 - 40] ^= 0x10; /* inside the optimizer image, whose own CRC then fails */
    trainer_refuses(u, b, len, "checksum", "a broken optimizer image with another fitted schedule");
    CHECK(strcmp(descent_trainer_schedule(u), "OneCycleLR(max_lr=0.5)") != 0 &&
              strcmp(descent_trainer_schedule(u), descent_trainer_schedule(t)) != 0,
          "the refused file's schedule stayed: %s", descent_trainer_schedule(u));
    CHECK(descent_trainer_load(u, "tlh_ok.ckpt") == 0, "the genuine file: %s", descent_trainer_errmsg(u));
    free(ok);
    free(b);
    descent_trainer_destroy(t);
    descent_trainer_destroy(u);
    const char *files[] = {"tlh_words.csv", "tlh_ok.ckpt", "tlh_forged.ckpt", "tlh_before.ckpt", "tlh_after.ckpt"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        remove(files[i]);
}

static double sphere(const double *x, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += x[i] * x[i];
    return s;
}

/* Population images: "DESCENTP" frame; payload: str name, u64 n, u64 seed,
 * u8 bounded, f64 x0[n], u8 initialized, u64 rng[4], u8 has_spare, f64
 * spare, u64 generation, u64 evaluations, f64 best_f, f64 best_x[n], u64
 * asked, ... */
static void test_forged_population(void)
{
    const char *specs[] = {"GA(popsize=10, seed=1)", "CMAES(sigma0=0.5, seed=2)", "DE(popsize=8, seed=3)",
                           "PSO(popsize=8, seed=4)"};
    for (int m = 0; m < 4; m++) {
        const size_t n = 3;
        descent_population *p;
        descent_error err;
        CHECK(descent_population_create(&p, specs[m], n, &err) == 0, "%s: %s", specs[m], err.message);
        double x0[3] = {1, 2, 3}, cand[64 * 3], f[64];
        descent_population_set_x0(p, x0);
        size_t lambda = 0;
        descent_population_ask(p, cand, &lambda);
        for (size_t i = 0; i < lambda; i++)
            f[i] = sphere(cand + i * n, n);
        descent_population_tell(p, f);
        descent_population_ask(p, cand, &lambda); /* outstanding */
        size_t len;
        descent_population_save_mem(p, NULL, 0, &len);
        unsigned char *ok = malloc(len), *b = malloc(len);
        descent_population_save_mem(p, ok, len, &len);
        size_t name = 24, at = name + 2 + get_le(ok + name, 2);
        at += 8 + 8 + 1 + 8 * n + 1 + 32 + 1 + 8; /* to generation */
        size_t gen = at, evals = at + 8, asked = at + 16 + 8 + 8 * n;
        CHECK(get_le(ok + asked, 8) == lambda, "%s: layout: asked reads %llu", specs[m],
              (unsigned long long)get_le(ok + asked, 8));
        struct {
            size_t at;
            uint64_t v;
            const char *want;
        } cases[] = {{evals, (uint64_t)INT64_MAX, "2^53"}, {gen, (uint64_t)INT64_MAX - 1, "2^53"},
                     {evals, ((uint64_t)1 << 53) + 1, "2^53"}};
        for (int c = 0; c < 3; c++) {
            memcpy(b, ok, len);
            put_le(b + cases[c].at, cases[c].v, 8);
            repair_crc(b, len);
            int rc = descent_population_load_mem(p, b, len);
            CHECK(rc == DESCENT_ERR_CHECKPOINT && strstr(descent_population_errmsg(p), cases[c].want),
                  "%s case %d: rc %d %s", specs[m], c, rc, descent_population_errmsg(p));
        }
        /* The outstanding ask: one candidate fewer than the method asks
         * for (the image shortened by its n values). */
        size_t cut = asked + 8 + 8 * n * (lambda - 1);
        memcpy(b, ok, len);
        put_le(b + asked, lambda - 1, 8);
        memmove(b + cut, ok + cut + 8 * n, len - cut - 8 * n);
        size_t blen = len - 8 * n;
        put_le(b + 16, blen - 28, 8);
        repair_crc(b, blen);
        int rc = descent_population_load_mem(p, b, blen);
        CHECK(rc == DESCENT_ERR_CHECKPOINT && strstr(descent_population_errmsg(p), "outstanding candidates"),
              "%s: %zu outstanding candidates of %zu: rc %d %s", specs[m], lambda - 1, lambda, rc,
              descent_population_errmsg(p));
        /* Still usable: the genuine pending ask is told. */
        size_t pending = 0;
        descent_population_pending(p, cand, &pending);
        for (size_t i = 0; i < pending; i++)
            f[i] = sphere(cand + i * n, n);
        CHECK(pending == lambda && descent_population_tell(p, f) == 0, "%s: tell after refused loads: %s", specs[m],
              descent_population_errmsg(p));
        free(ok);
        free(b);
        descent_population_destroy(p);
    }
}

/* Memory bombs: the header is read and checked first. */
static void test_memory_bombs(void)
{
    char dir[] = "/tmp/descent-hostile-XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp");
        return;
    }
    char path[128];
    snprintf(path, sizeof path, "%s/bomb.ckpt", dir);
    descent_optimizer *opt = make("Adam(lr=0.01)", NULL, 0);
    size_t len;
    unsigned char *ok = image(opt, &len);
    /* A genuine header, then 6 GB of holes. */
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0 && write(fd, ok, 24) == 24 && ftruncate(fd, (off_t)6 << 30) == 0, "sparse file");
    close(fd);
    largest = 0;
    int rc = descent_load(opt, path);
    CHECK(rc == DESCENT_ERR_CHECKPOINT && strstr(descent_errmsg(opt), "truncated or padded"), "6 GB file: %d %s", rc,
          descent_errmsg(opt));
    CHECK(largest < (1u << 20), "loading a 6 GB file allocated %zu bytes", largest);
    /* A header that declares a 6 GB payload in the genuine small file. */
    unsigned char *b = malloc(len);
    memcpy(b, ok, len);
    put_le(b + 16, (uint64_t)6 << 30, 8);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0 && write(fd, b, len) == (ssize_t)len, "write");
    close(fd);
    largest = 0;
    rc = descent_load(opt, path);
    CHECK(rc == DESCENT_ERR_CHECKPOINT && largest < (1u << 20), "declared 6 GB: %d %s, %zu bytes", rc,
          descent_errmsg(opt), largest);
    /* Not regular files. */
    largest = 0;
    rc = descent_load(opt, "/dev/zero");
    CHECK(rc == DESCENT_ERR_IO && strstr(descent_errmsg(opt), "not a regular file") && largest < (1u << 20),
          "/dev/zero: %d %s", rc, descent_errmsg(opt));
    descent_population *p;
    descent_error err;
    descent_population_create(&p, "CMAES(seed=1)", 2, &err);
    rc = descent_population_load(p, "/dev/zero");
    CHECK(rc == DESCENT_ERR_IO && strstr(descent_population_errmsg(p), "not a regular file"), "population /dev/zero: %s",
          descent_population_errmsg(p));
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0 && write(fd, "DESCENTP", 8) == 8 && ftruncate(fd, (off_t)6 << 30) == 0, "sparse file");
    close(fd);
    rc = descent_population_load(p, path);
    CHECK(rc == DESCENT_ERR_CHECKPOINT, "population 6 GB file: %d %s", rc, descent_population_errmsg(p));
    descent_population_destroy(p);
    unlink(path);
    rmdir(dir);
    free(ok);
    free(b);
    descent_destroy(opt);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    test_memory_bombs();
    test_forged_optimizer();
    test_forged_schedule();
    test_forged_schedule_fields();
    test_forged_trainer();
    test_forged_population();
    return t_done();
}
