/* Hostile files for the loaders: memory bombs (a 6 GB sparse file, a
 * header declaring a huge payload, /dev/zero) are refused before anything
 * of their size is allocated; forged values behind a repaired CRC (step
 * counts near INT64_MAX, NaN or 1e300 schedule state, non-finite per-tensor
 * scalars and 8-bit block scales, population counts near INT64_MAX, a
 * population's outstanding candidates that do not match its size) are
 * refused with a message, and the object is left as it was. */
#include "descent.h"
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
    test_forged_population();
    return t_done();
}
