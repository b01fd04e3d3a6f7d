/* The fast paths give the same bits as the plain one: every optimizer and
 * every flag variant, in f32, f64 and bf16, on each SIMD path the CPU runs and
 * with 1, 2 and 3 threads, against the portable single-threaded step;
 * per-step scalars shared between tensors only when they are equal; state
 * memory exactly what each algorithm needs; and `descent bench --json`
 * prints the keys it promises. */
#include "internal.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Sizes: a single element, a vector remainder, several full vectors plus a
 * remainder, and one tensor of several chunks so threads share work. */
static const size_t sizes[] = {1, 7, 1037, 150001, 33};
#define NT ((int)(sizeof sizes / sizeof sizes[0]))
#define STEPS 7 /* RAdam rectifies from step 6 */

static const char *const variants[] = {
    "SGD(lr=0.1)",
    "SGD(lr=0.1, weight_decay=0.1, maximize=True)",
    "SGD(lr=0.1, momentum=0.9)",
    "SGD(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.01)",
    "SGD(lr=0.1, momentum=0.9, nesterov=True)",
    "SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)",
    "SGD(lr=0.1, momentum=0.9, momentum_form='ewma')",
    "SGD(lr=0.1, momentum=0.9, momentum_form='direct')",
    "Adagrad(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.1)",
    "RMSprop(lr=0.01, weight_decay=0.1)",
    "RMSprop(lr=0.01, centered=True)",
    "RMSprop(lr=0.01, momentum=0.9)",
    "RMSprop(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1, eps_root=1e-6)",
    "Adadelta(weight_decay=0.1)",
    "Adam(lr=0.01, weight_decay=0.1)",
    "Adam(lr=0.01, amsgrad=True, maximize=True)",
    "Adam(lr=0.01, amsgrad=True, weight_decay=0.1, eps_root=1e-8)",
    "AdamW(lr=0.01, amsgrad=True)",
    "AdamW(lr=0.01, weight_decay=0)",
    "NAdam(lr=0.01, weight_decay=0.1)",
    "Adamax(lr=0.01, weight_decay=0.1)",
    "RAdam(lr=0.01, weight_decay=0.1)",
};

typedef struct run {
    void *p[NT], *g[NT];
    unsigned char *image; /* the checkpoint: every state buffer and scalar */
    size_t image_len;
} run;

static size_t elem(descent_dtype t) { return t == DESCENT_F64 ? 8 : t == DESCENT_F32 ? 4 : 2; }

static uint16_t to_bf16(float f)
{
    uint16_t h;
    descent_bf16_narrow(&h, &f, 1);
    return h;
}

static float from_bf16(uint16_t h)
{
    float f;
    descent_bf16_widen(&f, &h, 1);
    return f;
}

/* A gradient that changes sign, size and sparsity with the step. */
static double grad_value(size_t i, int step, int tensor)
{
    unsigned h = (unsigned)(i * 2654435761u) ^ (unsigned)(step * 40503 + tensor * 977);
    if (h % 11 == 0)
        return 0.0;
    return ((double)(h % 2001) - 1000.0) * 1e-3 * (1.0 + step);
}

static void set(void *x, descent_dtype t, size_t i, double v)
{
    if (t == DESCENT_F64)
        ((double *)x)[i] = v;
    else if (t == DESCENT_F32)
        ((float *)x)[i] = (float)v;
    else
        ((uint16_t *)x)[i] = to_bf16((float)v);
}

static void free_run(run *r)
{
    for (int k = 0; k < NT; k++) {
        free(r->p[k]);
        free(r->g[k]);
    }
    free(r->image);
}

/* STEPS steps of spec on every tensor, at the given ISA cap and threads. */
static int do_run(const char *spec, descent_dtype t, int isa, int threads, run *r)
{
    memset(r, 0, sizeof *r);
    descent_optimizer *opt;
    descent_error err;
    if (descent_create_from_spec(&opt, spec, NULL, &err) < 0) {
        fprintf(stderr, "%s: %s\n", spec, err.message);
        return -1;
    }
    descent_set_isa(opt, isa);
    descent_set_threads(opt, threads);
    int grp = descent_add_group(opt, NULL);
    for (int k = 0; k < NT; k++) {
        r->p[k] = malloc(sizes[k] * elem(t));
        r->g[k] = malloc(sizes[k] * elem(t));
        for (size_t i = 0; i < sizes[k]; i++)
            set(r->p[k], t, i, 0.5 - (double)(i % 17) * 0.0625);
        descent_add_tensor(opt, grp, r->p[k], r->g[k], sizes[k], t);
    }
    for (int s = 0; s < STEPS; s++) {
        for (int k = 0; k < NT; k++)
            for (size_t i = 0; i < sizes[k]; i++)
                set(r->g[k], t, i, grad_value(i, s, k));
        descent_step(opt);
    }
    descent_save_mem(opt, NULL, 0, &r->image_len);
    r->image = malloc(r->image_len);
    descent_save_mem(opt, r->image, r->image_len, &r->image_len);
    descent_destroy(opt);
    return 0;
}

static int same(const run *a, const run *b, descent_dtype t)
{
    for (int k = 0; k < NT; k++)
        if (memcmp(a->p[k], b->p[k], sizes[k] * elem(t)) != 0)
            return 0;
    return a->image_len == b->image_len && memcmp(a->image, b->image, a->image_len) == 0;
}

static const char *dtype_name(descent_dtype t) { return t == DESCENT_F64 ? "f64" : t == DESCENT_F32 ? "f32" : "bf16"; }

static void check_paths(const char *spec)
{
    static const descent_dtype dtypes[] = {DESCENT_F32, DESCENT_F64, DESCENT_BF16};
    int best = descent_isa_detect();
    for (int d = 0; d < 3; d++) {
        run ref;
        if (do_run(spec, dtypes[d], DESCENT_ISA_PORTABLE, 1, &ref) < 0) {
            CHECK(0, "%s: cannot create", spec);
            continue;
        }
        /* Each wider path on one thread, then the widest on 2 and 3. */
        for (int k = DESCENT_ISA_PORTABLE + 1; k <= best + 2; k++) {
            int isa = k <= best ? k : best, threads = k <= best ? 1 : k - best + 1;
            run r;
            do_run(spec, dtypes[d], isa, threads, &r);
            CHECK(same(&ref, &r, dtypes[d]), "%s %s: isa %d, %d threads differ from the portable path", spec,
                  dtype_name(dtypes[d]), isa, threads);
            free_run(&r);
        }
        free_run(&ref);
    }
}

/* A tensor registered after others have stepped has its own step count, so
 * it must not borrow their per-step scalars: its trajectory equals that of
 * the same tensor stepped alone. */
static void check_shared_scalars(void)
{
    const char *spec = "Adam(lr=0.01)";
    float a[5] = {1, 2, 3, 4, 5}, ga[5] = {0.1f, -0.2f, 0.3f, -0.4f, 0.5f};
    float b[5] = {1, 2, 3, 4, 5}, c[5] = {1, 2, 3, 4, 5}, gb[5] = {0.5f, 0.25f, -1, 2, -3};
    descent_optimizer *both, *alone;
    descent_error err;
    descent_create_from_spec(&both, spec, NULL, &err);
    descent_create_from_spec(&alone, spec, NULL, &err);
    int g1 = descent_add_group(both, NULL), g2 = descent_add_group(alone, NULL);
    descent_add_tensor(both, g1, a, ga, 5, DESCENT_F32);
    for (int s = 0; s < 3; s++)
        descent_step(both);
    descent_add_tensor(both, g1, b, gb, 5, DESCENT_F32);
    descent_add_tensor(alone, g2, c, gb, 5, DESCENT_F32);
    for (int s = 0; s < 4; s++) {
        descent_step(both);
        descent_step(alone);
    }
    CHECK(memcmp(b, c, sizeof b) == 0, "a late tensor follows its own step count");
    /* Two groups with different lr on equal step counts. */
    descent_optimizer *two;
    descent_create_from_spec(&two, spec, NULL, &err);
    float x[5] = {1, 2, 3, 4, 5}, y[5] = {1, 2, 3, 4, 5};
    descent_add_tensor(two, descent_add_group(two, NULL), x, gb, 5, DESCENT_F32);
    descent_add_tensor(two, descent_add_group_spec(two, "lr=0.5"), y, gb, 5, DESCENT_F32);
    descent_step(two);
    CHECK(memcmp(x, y, sizeof x) != 0, "groups keep their own lr");
    descent_destroy(both);
    descent_destroy(alone);
    descent_destroy(two);
}

static void check_state_bytes(void)
{
    static const struct {
        const char *spec;
        size_t per_param_f32;
    } cases[] = {
        {"SGD", 0}, {"SGD(momentum=0.9)", 4}, {"Adagrad", 4}, {"RMSprop", 4}, {"RMSprop(momentum=0.9)", 8},
        {"Adadelta", 8}, {"Adam", 8}, {"AdamW", 8}, {"AMSGrad", 12}, {"NAdam", 8}, {"Adamax", 8}, {"RAdam", 8},
    };
    float p[1000] = {0}, g[1000] = {0};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        descent_optimizer *opt;
        descent_error err;
        descent_create_from_spec(&opt, cases[k].spec, NULL, &err);
        int grp = descent_add_group(opt, NULL);
        descent_add_tensor(opt, grp, p, g, 1000, DESCENT_F32);
        descent_add_tensor(opt, grp, p, g, 24, DESCENT_F32);
        CHECK(descent_state_bytes(opt) == cases[k].per_param_f32 * 1024, "%s: %zu state bytes for 1024 f32 params",
              cases[k].spec, descent_state_bytes(opt));
        descent_destroy(opt);
    }
}

/* Rounding to nearest even, and the special values. */
static void check_bf16_rounding(void)
{
    static const struct {
        uint32_t in;
        uint16_t out;
    } cases[] = {
        {0x3F800000u, 0x3F80}, /* 1 */
        {0x3F808000u, 0x3F80}, /* a tie, kept even */
        {0x3F818000u, 0x3F82}, /* a tie, rounded up to even */
        {0x3F808001u, 0x3F81}, /* above the tie */
        {0x3F807FFFu, 0x3F80}, /* below the tie */
        {0x80000000u, 0x8000}, /* -0 */
        {0x7F800000u, 0x7F80}, /* inf */
        {0xFF800000u, 0xFF80}, /* -inf */
        {0x7F7FFFFFu, 0x7F80}, /* the largest f32 rounds to inf */
        {0x00000001u, 0x0000}, /* the smallest denormal rounds to 0 */
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        float f;
        memcpy(&f, &cases[k].in, sizeof f);
        CHECK(to_bf16(f) == cases[k].out, "bf16(0x%08x) = 0x%04x, want 0x%04x", (unsigned)cases[k].in,
              (unsigned)to_bf16(f), (unsigned)cases[k].out);
    }
    uint32_t nan_bits = 0x7FC00001u, snan_bits = 0x7F800001u;
    float qn, sn;
    memcpy(&qn, &nan_bits, sizeof qn);
    memcpy(&sn, &snan_bits, sizeof sn);
    CHECK(isnan(from_bf16(to_bf16(qn))) && isnan(from_bf16(to_bf16(sn))), "NaN stays NaN");
    /* Stochastic: 1 + ulp/4 rounds up a quarter of the time, any value
     * already in bf16 never moves, and the bits depend on the index only. */
    enum { N = 1 << 16 };
    static float src[N];
    static uint16_t dst[N], again[N];
    uint32_t quarter = 0x3F804000u;
    for (int i = 0; i < N; i++)
        memcpy(&src[i], &quarter, sizeof quarter);
    descent_bf16_narrow_stochastic(dst, src, N, 12345, 0);
    int up = 0;
    for (int i = 0; i < N; i++)
        up += dst[i] == 0x3F81;
    CHECK(fabs((double)up / N - 0.25) < 0.01, "stochastic rounding up %.4f of the time, want 0.25", (double)up / N);
    descent_bf16_narrow_stochastic(again, src, N / 2, 12345, 0);
    descent_bf16_narrow_stochastic(again + N / 2, src + N / 2, N / 2, 12345, N / 2);
    CHECK(memcmp(dst, again, sizeof dst) == 0, "stochastic bits depend on the element index, not the split");
    for (int i = 0; i < N; i++)
        src[i] = (float)(i - N / 2) * 0.5f;
    descent_bf16_narrow_stochastic(dst, src, N, 99, 7);
    int moved = 0;
    for (int i = 0; i < N; i++)
        moved += from_bf16(dst[i]) != src[i] && from_bf16(to_bf16(src[i])) == src[i];
    CHECK(moved == 0, "%d exact values moved under stochastic rounding", moved);
}

/* A bf16 step is the f32 step on the widened values, rounded: without a
 * master copy from the bf16 parameters each step, with one from the f32
 * copy. Checked against an f32 optimizer driven by hand. */
static void check_bf16_step(int master)
{
    enum { N = 3001 };
    static uint16_t p16[N], g16[N], ref16[N];
    static float pf[N], gf[N];
    descent_optimizer *b, *f;
    descent_error err;
    descent_create_from_spec(&b, "AdamW(lr=0.01, weight_decay=0.1)", NULL, &err);
    descent_create_from_spec(&f, "AdamW(lr=0.01, weight_decay=0.1)", NULL, &err);
    CHECK(descent_set_bf16_options(b, master ? DESCENT_BF16_MASTER : 0, 0) == 0, "set bf16 options");
    for (int i = 0; i < N; i++) {
        p16[i] = ref16[i] = to_bf16(0.5f - (float)(i % 23) * 0.03125f);
        pf[i] = from_bf16(p16[i]);
    }
    descent_add_tensor(b, descent_add_group(b, NULL), p16, g16, N, DESCENT_BF16);
    descent_add_tensor(f, descent_add_group(f, NULL), pf, gf, N, DESCENT_F32);
    CHECK(descent_state_bytes(b) == (size_t)N * (master ? 12 : 8), "bf16 state bytes %zu", descent_state_bytes(b));
    int mismatches = 0;
    for (int s = 0; s < 5; s++) {
        for (int i = 0; i < N; i++) {
            g16[i] = to_bf16((float)grad_value((size_t)i, s, 0));
            gf[i] = from_bf16(g16[i]);
            if (!master)
                pf[i] = from_bf16(ref16[i]);
        }
        descent_step(b);
        descent_step(f);
        for (int i = 0; i < N; i++) {
            ref16[i] = to_bf16(pf[i]);
            mismatches += ref16[i] != p16[i];
        }
    }
    CHECK(mismatches == 0, "bf16 %s master: %d values differ from the rounded f32 step", master ? "with" : "without",
          mismatches);
    if (master)
        CHECK(descent_set_bf16_options(b, 0, 0) == DESCENT_ERR_STATE, "MASTER cannot change after registration");
    CHECK(descent_set_bf16_options(b, 8, 0) == DESCENT_ERR_INVALID, "unknown bf16 flags are refused");
    descent_destroy(b);
    descent_destroy(f);
}

/* Stochastic rounding gives the same bits for any thread count and ISA. */
static void check_bf16_stochastic_threads(void)
{
    enum { N = 200003 };
    uint16_t *p[3], *g = malloc(N * sizeof *g);
    for (int i = 0; i < N; i++)
        g[i] = to_bf16((float)grad_value((size_t)i, 1, 2));
    for (int k = 0; k < 3; k++) {
        descent_optimizer *opt;
        descent_error err;
        descent_create_from_spec(&opt, "SGD(lr=0.001, momentum=0.9)", NULL, &err);
        descent_set_bf16_options(opt, DESCENT_BF16_STOCHASTIC, 42);
        descent_set_threads(opt, k + 1);
        descent_set_isa(opt, k == 2 ? DESCENT_ISA_PORTABLE : descent_isa_detect());
        p[k] = malloc(N * sizeof *p[k]);
        for (int i = 0; i < N; i++)
            p[k][i] = to_bf16(1.0f + (float)(i % 7) * 0.125f);
        descent_add_tensor(opt, descent_add_group(opt, NULL), p[k], g, N, DESCENT_BF16);
        for (int s = 0; s < 3; s++)
            descent_step(opt);
        descent_destroy(opt);
    }
    CHECK(memcmp(p[0], p[1], N * sizeof *p[0]) == 0 && memcmp(p[0], p[2], N * sizeof *p[0]) == 0,
          "stochastic rounding is independent of threads and ISA");
    for (int k = 0; k < 3; k++)
        free(p[k]);
    free(g);
}

static const char *const bench_keys[] = {
    "\"opt\"", "\"n\"", "\"tensors\"", "\"threads\"", "\"dtype\"", "\"seconds_per_step\"", "\"params_per_s\"",
    "\"gbytes_per_s\"", "\"limit_gbytes_per_s\"", "\"fraction_of_limit\"", "\"state_bytes\"", "\"peak_rss_bytes\"",
};

/* The number after "key": on a line, or NAN. */
static double json_number(const char *line, const char *key)
{
    const char *k = strstr(line, key);
    if (!k)
        return NAN;
    k = strchr(k, ':');
    char *end;
    double v = strtod(k + 1, &end);
    return end == k + 1 ? NAN : v;
}

static void check_bench(const char *cli)
{
    char cmd[4096], *out = NULL;
    snprintf(cmd, sizeof cmd, "'%s' bench --n 100000 --reps 2 --threads 1,2 --json", cli);
    int rc = t_run(cmd, &out);
    CHECK(rc == 0, "descent bench exited with %d", rc);
    int lines = 0;
    for (char *line = out ? strtok(out, "\n") : NULL; line; line = strtok(NULL, "\n")) {
        lines++;
        size_t len = strlen(line);
        CHECK(line[0] == '{' && line[len - 1] == '}', "not a JSON object: %s", line);
        for (size_t k = 0; k < sizeof bench_keys / sizeof bench_keys[0]; k++)
            CHECK(strstr(line, bench_keys[k]) != NULL, "missing %s: %s", bench_keys[k], line);
        CHECK(json_number(line, "\"n\"") == 100000, "n: %s", line);
        double s = json_number(line, "\"seconds_per_step\""), f = json_number(line, "\"fraction_of_limit\"");
        CHECK(s > 0 && isfinite(s), "seconds_per_step: %s", line);
        CHECK(f > 0 && isfinite(f), "fraction_of_limit: %s", line);
        CHECK(json_number(line, "\"params_per_s\"") > 0, "params_per_s: %s", line);
    }
    /* The standard set: every optimizer of the registry, and SGD with momentum. */
    int want = 2 * (descent_optimizer_count() + 1);
    CHECK(lines == want, "expected %d optimizers x 2 thread counts, got %d lines", want / 2, lines);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' bench --opt 'Adam' --n 1000 --tensors 10 --reps 1 --json", cli);
    rc = t_run(cmd, &out);
    CHECK(rc == 0 && out && json_number(out, "\"state_bytes\"") == 8000, "Adam f32 state: %s", out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' bench --opt 'Adam' --n 1000 --dtype bf16 --reps 1 --json", cli);
    rc = t_run(cmd, &out);
    CHECK(rc == 0 && out && json_number(out, "\"bytes_per_param\"") == 22 && strstr(out, "\"bf16\"") &&
              strstr(out, "\"bf16_options\": \"none\", \"bf16_scratch\": false"),
          "Adam bf16: %s", out ? out : "");
    free(out);
    /* The records state the bf16 choices measured; the scratch path can be. */
    snprintf(cmd, sizeof cmd,
             "'%s' bench --opt 'Adam' --n 1000 --dtype bf16 --bf16-options master,stochastic --bf16-scratch --reps 1 "
             "--json",
             cli);
    rc = t_run(cmd, &out);
    CHECK(rc == 0 && out && strstr(out, "\"bf16_options\": \"master,stochastic\", \"bf16_scratch\": true") &&
              json_number(out, "\"bytes_per_param\"") == 28,
          "Adam bf16 master, stochastic, scratch: %s", out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' bench --opt 'Adam' --n 1000 --bf16-scratch 2>/dev/null", cli);
    rc = t_run(cmd, &out);
    CHECK(rc == 2, "--bf16-scratch without --dtype bf16: exit %d", rc);
    free(out);
    /* Two-pass steps count their second pass (descent_step_bytes). */
    snprintf(cmd, sizeof cmd, "'%s' bench --opt 'LAMB()' --opt 'Adafactor()' --n 1000 --reps 1 --json", cli);
    rc = t_run(cmd, &out);
    char *second = out ? strchr(out, '\n') : NULL;
    CHECK(rc == 0 && out && json_number(out, "\"bytes_per_param\"") == 40 && second &&
              json_number(second, "\"bytes_per_param\"") == 32,
          "LAMB 40 and Adafactor 32 bytes per parameter: %s", out ? out : "");
    free(out);
    /* Passes around the step are also timed against the step alone; a bare
     * step is not. */
    snprintf(cmd, sizeof cmd, "'%s' bench --opt 'AdamW()' --n 1000 --reps 3 --ema 0.9 --clip-norm 1e30 --in-step --json",
             cli);
    rc = t_run(cmd, &out);
    double ratio = out ? json_number(out, "\"pipeline_ratio\"") : NAN;
    double alone = out ? json_number(out, "\"step_alone_seconds_per_step\"") : NAN;
    CHECK(rc == 0 && ratio > 0 && isfinite(ratio) && alone > 0 && isfinite(alone),
          "pipeline_ratio and step_alone_seconds_per_step: %s", out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' bench --opt 'AdamW()' --n 1000 --reps 1 --json", cli);
    rc = t_run(cmd, &out);
    CHECK(rc == 0 && out && !strstr(out, "pipeline_ratio"), "no pipeline_ratio without passes: %s", out ? out : "");
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' bench --opt 'Nope' --n 10 2>/dev/null", cli);
    rc = t_run(cmd, &out);
    CHECK(rc != 0, "an unknown optimizer is an error");
    free(out);
}

int main(int argc, char **argv)
{
    for (size_t k = 0; k < sizeof variants / sizeof variants[0]; k++)
        check_paths(variants[k]);
    /* Every registered optimizer in its default form, including any added
     * after this test was written. */
    for (int k = 0; k < descent_optimizer_count(); k++)
        check_paths(descent_optimizer_name(k));
    check_shared_scalars();
    check_state_bytes();
    check_bf16_rounding();
    check_bf16_step(0);
    check_bf16_step(1);
    check_bf16_stochastic_threads();
    if (argc > 2)
        check_bench(argv[2]);
    t_isa_covered(descent_isa_detect());
    return t_done();
}
