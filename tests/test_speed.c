/* The fast paths give the same bits as the plain one: every optimizer and
 * every flag variant, in f32 and f64, on each SIMD path the CPU runs and
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

static size_t elem(descent_dtype t) { return t == DESCENT_F64 ? 8 : 4; }

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
    else
        ((float *)x)[i] = (float)v;
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

static void check_paths(const char *spec)
{
    static const descent_dtype dtypes[] = {DESCENT_F32, DESCENT_F64};
    int best = descent_isa_detect();
    for (int d = 0; d < 2; d++) {
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
                  dtypes[d] == DESCENT_F64 ? "f64" : "f32", isa, threads);
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
    CHECK(lines == 22, "expected 11 optimizers x 2 thread counts, got %d lines", lines);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' bench --opt 'Adam' --n 1000 --tensors 10 --reps 1 --json", cli);
    rc = t_run(cmd, &out);
    CHECK(rc == 0 && out && json_number(out, "\"state_bytes\"") == 8000, "Adam f32 state: %s", out ? out : "");
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
    if (argc > 2)
        check_bench(argv[2]);
    return t_done();
}
