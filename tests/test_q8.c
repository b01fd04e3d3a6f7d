/* 8-bit block-quantized optimizer state (state_bits=8, src/q8state.c):
 * the maps against their formula, quantization error per block, the state
 * memory, checkpoints, thread and instruction-set invariance, errors, and
 * training the shipped digits to the accuracy of f32 state. */
#include "descent.h"
#include "internal.h"
#include "testutil.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *src_dir;

/* The map from its formula (Dettmers et al. 2022, dynamic tree
 * quantization; tools/gen_q8_maps.py): value(E, k) = 10^-E (0.1 + 0.9 (k +
 * 1/2) / 2^F) for E = 0..6, F = 6 - E (signed, both signs) or 7 - E
 * (unsigned), plus 0 and 1. */
static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static void formula_map(int is_signed, float out[256])
{
    int n = 0;
    out[n++] = 0.0f;
    out[n++] = 1.0f;
    for (int e = 0; e < 7; e++) {
        int levels = 1 << (is_signed ? 6 - e : 7 - e);
        for (int k = 0; k < levels; k++) {
            double v = pow(10.0, -e) * (0.1 + 0.9 * (k + 0.5) / levels);
            out[n++] = (float)v;
            if (is_signed)
                out[n++] = (float)-v;
        }
    }
    CHECK(n == 256, "map has %d codes", n);
    qsort(out, 256, sizeof *out, cmp_float);
}

static void test_maps(void)
{
    for (int s = 0; s < 2; s++) {
        float want[256];
        formula_map(s == 0, want);
        const float *map = descent_q8_map(s == 0 ? 's' : 'u');
        int same = 1, ascending = 1;
        for (int i = 0; i < 256; i++) {
            same &= map[i] == want[i];
            ascending &= i == 0 || map[i] > map[i - 1];
        }
        CHECK(same && ascending, "%s map differs from its formula or does not ascend", s ? "unsigned" : "signed");
        CHECK(map[255] == 1.0f, "1 is a code");
    }
}

static uint64_t rng_state = 88172645463325252ull;
static double uniform(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 9007199254740992.0;
}

/* The code nearest to y, by brute force over the map. */
static double nearest_gap(const float *map, float y)
{
    double best = INFINITY;
    for (int c = 0; c < 256; c++) {
        double d = fabs((double)y - map[c]);
        best = d < best ? d : best;
    }
    return best;
}

/* (a) quantize -> dequantize, per block: absmax is max|x| exactly; every
 * element reads back as a nearest code times absmax; the error bound that
 * follows, |x - x^| <= absmax * (half the gap between the codes around
 * x/absmax), in numbers: <= 0.0071 absmax (signed) and <= 0.0036 absmax
 * (unsigned) for |x| >= 0.1 absmax, and within 1/2^(F+1) of x's decade in
 * general; identical codes on every instruction set; NaN poisons the block. */
static void test_roundtrip(void)
{
    enum { B = DESCENT_Q8_BLOCK };
    static float x[B], back[B];
    static unsigned char codes[3][B];
    int best = descent_isa_detect();
    for (int kind = 0; kind < 2; kind++) {
        char k = kind == 0 ? 's' : 'u';
        const float *map = descent_q8_map(k);
        double worst_top = 0, worst_rel = 0;
        for (int trial = 0; trial < 60; trial++) {
            size_t len = trial % 7 == 3 ? 1 + (size_t)(uniform() * (B - 1)) : B;
            int dist = trial % 4;
            for (size_t i = 0; i < len; i++) {
                double u = uniform();
                double mag = dist == 0 ? u                                     /* uniform */
                             : dist == 1 ? pow(10.0, -9.0 * u)                 /* log-uniform over 9 decades */
                             : dist == 2 ? (u < 0.01 ? 1e3 : u * 1e-3)         /* outliers */
                                         : (i == len / 2 ? 1.0 : 0.0);         /* one non-zero */
                double sgn = k == 's' && uniform() < 0.5 ? -1.0 : 1.0;
                x[i] = (float)(sgn * mag * 3.7);
            }
            if (trial == 59)
                memset(x, 0, sizeof x);
            float amax[3];
            for (int isa = 0; isa <= best; isa++)
                descent_q8_quantize(k, x, len, codes[isa], &amax[isa], isa);
            float want_max = 0;
            for (size_t i = 0; i < len; i++)
                want_max = fabsf(x[i]) > want_max ? fabsf(x[i]) : want_max;
            CHECK(amax[0] == want_max, "%c trial %d: absmax %g, max |x| %g", k, trial, amax[0], want_max);
            for (int isa = 1; isa <= best; isa++)
                CHECK(memcmp(codes[isa], codes[0], len) == 0 && amax[isa] == amax[0],
                      "%c trial %d: isa %d codes differ from the portable path", k, trial, isa);
            for (int isa = 0; isa <= best; isa++) {
                descent_q8_dequantize(k, back, len, codes[0], &amax[0], isa);
                int exact = 1;
                for (size_t i = 0; i < len; i++)
                    exact &= back[i] == map[codes[0][i]] * amax[0];
                CHECK(exact, "%c trial %d isa %d: dequantized values are not map[code] * absmax", k, trial, isa);
            }
            int nearest = 1;
            for (size_t i = 0; i < len && amax[0] > 0; i++) {
                float y = x[i] * (1.0f / amax[0]); /* as q8state.c normalizes */
                double got = fabs((double)y - map[codes[0][i]]);
                nearest &= got <= nearest_gap(map, y) * (1 + 1e-6) + 1e-12;
                double err = fabs((double)x[i] - back[i]) / amax[0];
                double ay = fabs((double)y);
                if (ay >= 0.1)
                    worst_top = err > worst_top ? err : worst_top;
                /* Relative to the decade of |y|: [0.1, 1] 10^-E. */
                if (ay >= 1e-7) {
                    int e = (int)floor(-log10(ay));
                    e = e < 0 ? 0 : e > 6 ? 6 : e;
                    double rel = err / pow(10.0, -e);
                    worst_rel = rel > worst_rel ? rel : worst_rel;
                }
            }
            CHECK(nearest, "%c trial %d: a code is not the nearest", k, trial);
        }
        double top_bound = k == 's' ? 0.9 / 64 / 2 : 0.9 / 128 / 2;
        CHECK(worst_top <= top_bound * (1 + 1e-5), "%c: error %g absmax for |x| >= 0.1 absmax (bound %g)", k,
              worst_top, top_bound);
        /* Within a decade the coarsest spacing is at E = 6 (1 or 2 levels),
         * and between decades the gap to the next decade's first code. */
        CHECK(worst_rel <= 0.5, "%c: error %g of the decade", k, worst_rel);
        printf("%s map: max error %.5f absmax for |x| >= 0.1 absmax (bound %.5f)\n", k == 's' ? "signed" : "unsigned",
               worst_top, top_bound);
    }
    /* A NaN makes the whole block read back as NaN. */
    for (int i = 0; i < 64; i++)
        x[i] = (float)i;
    x[17] = NAN;
    float amax;
    descent_q8_quantize('s', x, 64, codes[0], &amax, best);
    descent_q8_dequantize('s', back, 64, codes[0], &amax, best);
    int all_nan = 1;
    for (int i = 0; i < 64; i++)
        all_nan &= isnan(back[i]);
    CHECK(all_nan, "a NaN in the block makes the block NaN");
}

/* An optimizer over two f32 tensors of n0 and n1 elements (p, g). */
static descent_optimizer *make(const char *spec, float *p, float *g, size_t n0, size_t n1, int threads)
{
    descent_optimizer *opt = NULL;
    descent_error err;
    int rc = descent_create_from_spec(&opt, spec, NULL, &err);
    CHECK(rc == 0, "%s: %s", spec, err.message);
    if (rc)
        return NULL;
    int grp = descent_add_group(opt, NULL);
    CHECK(descent_add_tensor(opt, grp, p, g, n0, DESCENT_F32) == 0, "tensor 0: %s", descent_errmsg(opt));
    CHECK(descent_add_tensor(opt, grp, p + n0, g + n0, n1, DESCENT_F32) == 1, "tensor 1: %s", descent_errmsg(opt));
    descent_set_threads(opt, threads);
    return opt;
}

static void fill(float *p, float *g, size_t n, int step)
{
    for (size_t i = 0; i < n; i++) {
        if (step == 0)
            p[i] = (float)sin(0.001 * (double)i);
        g[i] = (float)(cos(0.37 * (double)i + step) * (1.0 + (double)(i % 97)) * 1e-3);
    }
}

static unsigned char *image(const descent_optimizer *opt, size_t *len)
{
    descent_save_mem(opt, NULL, 0, len);
    unsigned char *buf = malloc(*len);
    CHECK(buf && descent_save_mem(opt, buf, *len, len) == 0, "save");
    return buf;
}

/* (d) 1, 2 and 3 threads and every instruction set give the same bits. */
static void test_invariance(void)
{
    const size_t n0 = 300001, n1 = 4097, n = n0 + n1;
    const char *specs[] = {"AdamW(state_bits=8)", "Adam(state_bits=8, amsgrad=True, weight_decay=0.1)",
                           "NAdam(state_bits=8)", "RAdam(state_bits=8)", "Adamax(state_bits=8)"};
    float *p = malloc(n * sizeof *p), *g = malloc(n * sizeof *g), *p0 = malloc(n * sizeof *p);
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
        unsigned char *ref = NULL;
        size_t ref_len = 0;
        int best = descent_isa_detect();
        for (int run = 0; run < 3 + best; run++) {
            int threads = run < 3 ? run + 1 : 1, isa = run < 3 ? best : run - 3;
            fill(p, g, n, 0);
            descent_optimizer *opt = make(specs[s], p, g, n0, n1, threads);
            if (!opt)
                break;
            descent_set_isa(opt, isa);
            for (int t = 0; t < 5; t++) {
                fill(p, g, n, t + 1);
                descent_step(opt);
            }
            size_t len;
            unsigned char *img = image(opt, &len);
            if (!ref) {
                ref = img;
                ref_len = len;
                memcpy(p0, p, n * sizeof *p);
            } else {
                CHECK(len == ref_len && memcmp(img, ref, len) == 0 && memcmp(p, p0, n * sizeof *p) == 0,
                      "%s: %d threads, isa %d differ from 1 thread at the widest isa", specs[s], threads, isa);
                free(img);
            }
            descent_destroy(opt);
        }
        free(ref);
    }
    free(p);
    free(g);
    free(p0);
}

/* The quantized update follows the f32 one closely: 20 steps of each
 * Adam-family method from the same start move the parameters to within 5%
 * (of the distance moved) of the f32 trajectory; measured 1.6-2.9%. */
static void test_tracks_f32(void)
{
    const size_t n0 = 5000, n1 = 1000, n = n0 + n1;
    const char *pairs[][2] = {{"AdamW(lr=1e-2)", "AdamW(lr=1e-2, state_bits=8)"},
                              {"AMSGrad(lr=1e-2)", "AMSGrad(lr=1e-2, state_bits=8)"},
                              {"NAdam(lr=1e-2)", "NAdam(lr=1e-2, state_bits=8)"},
                              {"RAdam(lr=1e-2)", "RAdam(lr=1e-2, state_bits=8)"},
                              {"Adamax(lr=1e-2)", "Adamax(lr=1e-2, state_bits=8)"}};
    float *p[2], *g = malloc(n * sizeof *g);
    for (size_t s = 0; s < sizeof pairs / sizeof pairs[0]; s++) {
        descent_optimizer *opt[2];
        for (int q = 0; q < 2; q++) {
            p[q] = malloc(n * sizeof(float));
            fill(p[q], g, n, 0);
            opt[q] = make(pairs[s][q], p[q], g, n0, n1, 1);
        }
        double moved = 0, diff = 0;
        for (int t = 0; t < 20; t++) {
            fill(p[0], g, n, t + 1);
            descent_step(opt[0]);
            descent_step(opt[1]);
        }
        float *start = malloc(n * sizeof *start);
        fill(start, g, n, 0);
        for (size_t i = 0; i < n; i++) {
            moved += fabs((double)p[0][i] - start[i]);
            diff += fabs((double)p[1][i] - p[0][i]);
        }
        CHECK(moved > 0 && diff / moved < 0.05, "%s: 8-bit parameters differ from f32 by %.4f of the distance moved",
              pairs[s][1], diff / moved);
        printf("%s: after 20 steps |p8 - p32| = %.5f of |p32 - p0|\n", pairs[s][1], diff / moved);
        free(start);
        for (int q = 0; q < 2; q++) {
            descent_destroy(opt[q]);
            free(p[q]);
        }
    }
    free(g);
}

/* (c) checkpoints: save, load into a fresh optimizer, identical image and
 * identical continuation; 8-bit and f32 images do not load into each
 * other and leave the optimizer as it was. State memory. */
static void test_checkpoint_and_memory(void)
{
    const size_t n0 = 70000, n1 = 33, n = n0 + n1;
    float *p = malloc(n * sizeof *p), *g = malloc(n * sizeof *g), *p2 = malloc(n * sizeof *p);
    fill(p, g, n, 0);
    descent_optimizer *a = make("AdamW(state_bits=8)", p, g, n0, n1, 1);
    size_t blocks = (n0 + DESCENT_Q8_BLOCK - 1) / DESCENT_Q8_BLOCK + 1;
    size_t want = 2 * ((n0 + 63) / 64 * 64 + (n1 + 63) / 64 * 64) + 2 * 4 * blocks; /* codes padded to 64 bytes, one f32 per block */
    CHECK(descent_state_bytes(a) == want, "state bytes %zu, want %zu", descent_state_bytes(a), want);
    printf("AdamW(state_bits=8): %.4f state bytes per parameter at n = %zu\n",
           (double)descent_state_bytes(a) / (double)n, n);
    for (int t = 0; t < 3; t++) {
        fill(p, g, n, t + 1);
        descent_step(a);
    }
    size_t len;
    unsigned char *img = image(a, &len);
    memcpy(p2, p, n * sizeof *p);
    descent_optimizer *b = make("AdamW(state_bits=8)", p2, g, n0, n1, 1);
    CHECK(descent_load_mem(b, img, len) == 0, "load: %s", descent_errmsg(b));
    size_t len2;
    unsigned char *img2 = image(b, &len2);
    CHECK(len2 == len && memcmp(img, img2, len) == 0, "the loaded optimizer saves a different image");
    for (int t = 3; t < 6; t++) {
        fill(p, g, n, t + 1);
        descent_step(a);
        descent_step(b);
    }
    CHECK(memcmp(p, p2, n * sizeof *p) == 0, "resumed steps differ");

    /* An 8-bit image into an f32-state optimizer, and the reverse. */
    descent_optimizer *f = make("AdamW()", p2, g, n0, n1, 1);
    size_t flen;
    unsigned char *fimg = image(f, &flen);
    int rc = descent_load_mem(f, img, len);
    CHECK(rc == DESCENT_ERR_CHECKPOINT && strstr(descent_errmsg(f), "state_bits"), "8-bit into f32: %d %s", rc,
          descent_errmsg(f));
    size_t flen2;
    unsigned char *fimg2 = image(f, &flen2);
    CHECK(flen2 == flen && memcmp(fimg, fimg2, flen) == 0, "a rejected load changed the optimizer");
    rc = descent_load_mem(b, fimg, flen);
    CHECK(rc == DESCENT_ERR_CHECKPOINT && strstr(descent_errmsg(b), "state_bits"), "f32 into 8-bit: %d %s", rc,
          descent_errmsg(b));
    /* Every truncation is refused. */
    int refused = 1;
    for (size_t cut = 0; cut < len; cut += 1 + cut / 7)
        refused &= descent_load_mem(b, img, cut) < 0;
    CHECK(refused, "a truncated 8-bit checkpoint loaded");

    /* state_bits cannot change once tensors hold state; other values are refused. */
    rc = descent_set(b, 0, "state_bits", 32);
    CHECK(rc == DESCENT_ERR_STATE && strstr(descent_errmsg(b), "state_bits"), "set state_bits: %d %s", rc,
          descent_errmsg(b));
    rc = descent_set(b, 0, "state_bits", 16);
    CHECK(rc == DESCENT_ERR_INVALID && strstr(descent_errmsg(b), "8 or 32"), "state_bits=16: %d %s", rc,
          descent_errmsg(b));
    /* descent_reset zeroes the quantized state. */
    descent_reset(b);
    descent_optimizer *c = make("AdamW(state_bits=8)", p2, g, n0, n1, 1);
    size_t rl, cl;
    unsigned char *rimg = image(b, &rl), *cimg = image(c, &cl);
    CHECK(rl == cl && memcmp(rimg, cimg, rl) == 0, "reset differs from new");
    free(rimg);
    free(cimg);
    descent_destroy(c);
    free(img);
    free(img2);
    free(fimg);
    free(fimg2);
    descent_destroy(a);
    descent_destroy(b);
    descent_destroy(f);
    free(p);
    free(g);
    free(p2);
}

static void test_errors(void)
{
    static const struct {
        const char *spec, *want;
    } bad[] = {
        {"AdamW(state_bits=16)", "state_bits must be 8 or 32, got 16"},
        {"Adam(state_bits=8.5)", "state_bits must be 8 or 32"},
        {"AdamW(state_bits=True)", "state_bits must be a number"},
        {"SGD(state_bits=8)", "SGD has no argument 'state_bits'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        descent_optimizer *opt = NULL;
        descent_error err;
        int rc = descent_create_from_spec(&opt, bad[i].spec, NULL, &err);
        CHECK(rc < 0 && !opt && strstr(err.message, bad[i].want), "%s: %d '%s'", bad[i].spec, rc,
              rc < 0 ? err.message : "");
    }
    descent_optimizer *opt = NULL;
    descent_error err;
    descent_create_from_spec(&opt, "AdamW(state_bits=8)", NULL, &err);
    int grp = descent_add_group(opt, NULL);
    double d[4] = {0}, dg[4] = {0};
    uint16_t h[4] = {0}, hg[4] = {0};
    int rc = descent_add_tensor(opt, grp, d, dg, 4, DESCENT_F64);
    CHECK(rc == DESCENT_ERR_INVALID && strstr(descent_errmsg(opt), "state_bits=8 needs DESCENT_F32"), "f64: %s",
          descent_errmsg(opt));
    rc = descent_add_tensor(opt, grp, h, hg, 4, DESCENT_BF16);
    CHECK(rc == DESCENT_ERR_INVALID && descent_num_tensors(opt) == 0, "bf16: %s", descent_errmsg(opt));
    double v = 0;
    CHECK(descent_get(opt, 0, "state_bits", &v) == 0 && v == 8, "get state_bits %g", v);
    descent_destroy(opt);
    descent_hparams hp;
    descent_hparams_init(&hp, "Adam", &err);
    CHECK(hp.state_bits == 32, "default state_bits %d", hp.state_bits);
}

/* (b) Training the shipped digits (the setup of tests/test_models.c's
 * digits test) with AdamW and 8-bit state reaches the validation accuracy of
 * f32 state within 0.015 (about 5 of the 359 validation rows), and >= 0.95. */
static void test_digits(void)
{
    char data[1024];
    snprintf(data, sizeof data, "%s/../data/digits.csv", src_dir);
    double acc[2] = {0, 0}, loss[2] = {0, 0};
    const char *opts[2] = {"AdamW(lr=3e-3, weight_decay=1e-4)", "AdamW(lr=3e-3, weight_decay=1e-4, state_bits=8)"};
    for (int q = 0; q < 2; q++) {
        descent_train_config c;
        descent_train_default_config(&c);
        c.data = data;
        c.target = "label";
        c.model = "mlp(hidden=(64, 32), activation='relu')";
        c.optimizer = opts[q];
        c.batch_size = 32;
        c.seed = 1;
        descent_trainer *t;
        descent_error err;
        int rc = descent_trainer_create(&t, &c, &err);
        CHECK(rc == 0, "digits: %s", err.message);
        if (rc)
            return;
        descent_epoch_result r = {0, NAN, NAN, NAN, NAN, 0};
        for (int e = 0; e < 10; e++)
            CHECK(descent_trainer_epoch(t, NULL, NULL, &r) == 0, "epoch: %s", descent_trainer_errmsg(t));
        acc[q] = r.val_accuracy;
        loss[q] = r.val_loss;
        if (q == 1) {
            size_t bytes = descent_state_bytes(descent_trainer_optimizer(t));
            printf("digits, 8-bit AdamW state: %zu bytes\n", bytes);
        }
        descent_trainer_destroy(t);
    }
    printf("digits, 10 epochs: val accuracy %.4f (f32 state), %.4f (8-bit state); val loss %.4f, %.4f\n", acc[0],
           acc[1], loss[0], loss[1]);
    CHECK(acc[1] >= 0.95 && fabs(acc[1] - acc[0]) <= 0.015, "8-bit state accuracy %.4f vs f32 %.4f", acc[1], acc[0]);
}

/* One huge finite gradient value (1e30 among 1024) overflows its own
 * exp_avg_sq to inf in f32 arithmetic. With f32 state only that element is
 * affected; the quantized block must not turn inf * (1/inf) into NaN for
 * all 1024 elements (issue: a block absmax of inf). Every parameter and
 * every dequantized state value stays finite, on every instruction set. */
static void test_huge_gradient(void)
{
    enum { N = 1024 };
    int best = descent_isa_detect();
    for (int isa = 0; isa <= best; isa++) {
        float p[N], g[N];
        for (int i = 0; i < N; i++) {
            p[i] = (float)(0.01 * i);
            g[i] = (float)(0.5 - 0.001 * i);
        }
        g[100] = 1e30f;
        descent_optimizer *opt = NULL;
        descent_error err;
        CHECK(descent_create_from_spec(&opt, "AdamW(state_bits=8)", NULL, &err) == 0, "%s", err.message);
        if (!opt)
            return;
        descent_set_nonfinite_policy(opt, DESCENT_NONFINITE_REPORT);
        descent_set_isa(opt, isa);
        int grp = descent_add_group(opt, NULL);
        descent_add_tensor(opt, grp, p, g, N, DESCENT_F32);
        for (int t = 0; t < 3; t++) {
            int rc = descent_step(opt);
            CHECK(rc == 0, "isa %d step %d: %d %s", isa, t, rc, descent_errmsg(opt));
        }
        int finite = 1;
        for (int i = 0; i < N; i++)
            finite &= isfinite(p[i]) != 0;
        CHECK(finite, "isa %d: a gradient of 1e30 made parameters non-finite", isa);
        /* The saved state dequantizes to finite values: absmax of every block finite. */
        size_t len;
        unsigned char *img = image(opt, &len);
        descent_optimizer *twin = NULL;
        CHECK(descent_create_from_spec(&twin, "AdamW(state_bits=8)", NULL, &err) == 0, "%s", err.message);
        float q[N];
        memcpy(q, p, sizeof q);
        descent_add_tensor(twin, descent_add_group(twin, NULL), q, g, N, DESCENT_F32);
        CHECK(descent_load_mem(twin, img, len) == 0, "reload: %s", descent_errmsg(twin));
        for (int i = 0; i < N; i++)
            g[i] = 0.25f;
        descent_step(opt);
        descent_step(twin);
        finite = 1;
        for (int i = 0; i < N; i++)
            finite &= isfinite(p[i]) && p[i] == q[i];
        CHECK(finite, "isa %d: the step after the huge gradient is not finite or not reproducible", isa);
        free(img);
        descent_destroy(twin);
        descent_destroy(opt);
    }
}

/* The vector quantizers (a bucket table and one comparison) against the
 * portable binary search, bit for bit, on the values where they could part:
 * every midpoint between two codes exactly (a tie goes up) and its float
 * neighbours, both signs, each bucket's edges, zeros, subnormals, -0, values
 * just above 1 after normalization, blocks of zeros, a NaN block and
 * absmax overflowing to inf (saturated at FLT_MAX), at block lengths with
 * vector remainders. */
static void test_vector_quant_edges(void)
{
    enum { B = DESCENT_Q8_BLOCK };
    static float x[B];
    static unsigned char codes[4][B];
    int best = descent_isa_detect();
    int cases = 0, differ = 0;
    for (int kind = 0; kind < 2; kind++) {
        char k = kind == 0 ? 's' : 'u';
        const float *map = descent_q8_map(k);
        for (int trial = 0; trial < 40; trial++) {
            size_t len = trial % 5 == 4 ? (size_t)(1 + 37 * trial) % B + 1 : B;
            float scale = trial < 8 ? ldexpf(1.0f, trial - 3) : trial < 12 ? 3.0f : 1.0f;
            size_t i = 0;
            /* each midpoint, its neighbours, and a value of every bucket edge */
            for (int j = 0; j < 255 && i + 6 <= len; j++) {
                float mid = (map[j] + map[j + 1]) / 2; /* near the stored midpoint */
                float t = trial % 2 ? mid : (float)(((double)map[j] + map[j + 1]) / 2.0);
                float sg = trial % 3 == 2 ? -1.0f : 1.0f;
                x[i++] = sg * t * scale;
                x[i++] = sg * nextafterf(t, 2.0f) * scale;
                x[i++] = sg * nextafterf(t, -2.0f) * scale;
                x[i++] = map[j] * scale;
                uint32_t edge = (uint32_t)(0x33800000u + (uint32_t)(j + 256 * trial) * 0x10000u) & 0x7FFFFFFFu;
                float e;
                memcpy(&e, &edge, sizeof e);
                x[i++] = (e <= 1.0f ? e : 0.5f) * scale * sg;
                x[i++] = (e <= 1.0f ? nextafterf(e, 0.0f) : 0.25f) * scale * -sg;
            }
            for (; i < len; i++)
                x[i] = (float)(i % 3) * 1e-45f * scale; /* zeros and subnormals */
            if (len > 7) {
                x[0] = 1.0f * scale; /* absmax exactly scale: y = x / scale exactly */
                x[1] = -0.0f;
                x[2] = k == 's' ? -1.0f * scale : 0.0f;
            }
            if (trial == 30)
                memset(x, 0, sizeof x); /* a block of zeros */
            if (trial == 31)
                x[len / 2] = INFINITY; /* absmax saturates at FLT_MAX */
            if (trial == 32) {
                x[3] = -INFINITY;
                x[4] = FLT_MAX;
            }
            if (trial == 33)
                x[len - 1] = NAN;
            if (trial == 34)
                for (size_t m = 0; m < len; m++)
                    x[m] = x[m] * 1e30f; /* overflows to inf in part */
            float amax[4];
            for (int isa = 0; isa <= best; isa++)
                descent_q8_quantize(k, x, len, codes[isa], &amax[isa], isa);
            if (best >= DESCENT_ISA_AVX512) /* the AVX-512F path, where isa 2 takes VBMI's */
                descent_q8_quantize(k, x, len, codes[3], &amax[3], DESCENT_ISA_AVX512 | DESCENT_Q8_NO_VBMI);
            for (int isa = 1; isa <= best + (best >= DESCENT_ISA_AVX512); isa++) {
                cases++;
                int same = memcmp(codes[isa], codes[0], len) == 0 &&
                           memcmp(&amax[isa], &amax[0], sizeof amax[0]) == 0;
                differ += !same;
                CHECK(same, "%c trial %d (len %zu): isa %d codes differ from the portable path", k, trial, len, isa);
            }
        }
    }
    CHECK(cases > 0 || best == 0, "no vector path compared");
    printf("vector quantizers: %d blocks of edge values compared, %d differ\n", cases, differ);
}

/* Every vector path against the portable one, bit for bit: codes and
 * absmax from quantizing, floats from dequantizing. The paths are AVX2, the
 * AVX-512F one (gathers and vpermt2ps tables, DESCENT_Q8_NO_VBMI) and, where
 * the CPU has VBMI, the byte-plane one, whose 16-bit keys tie on values
 * within a few units of the last place of a midpoint and hand those groups
 * of 64 to the binary search. Random data of several kinds: uniform,
 * log-uniform over 12 decades, exact midpoints and their float neighbours
 * (ties), zeros and -0 among subnormals, a block of subnormals only (1 /
 * absmax overflows to inf), infinities, NaNs, and values at sub-bucket edges,
 * at lengths that are not multiples of 16 or 64. */
static void test_vector_paths_random(void)
{
    enum { B = DESCENT_Q8_BLOCK };
    static float x[B], back[4][B];
    static unsigned char codes[4][B];
    int best = descent_isa_detect();
    int paths[4], npaths = 0;
    for (int isa = 0; isa <= best; isa++)
        paths[npaths++] = isa == DESCENT_ISA_AVX512 ? isa | DESCENT_Q8_NO_VBMI : isa;
    if (best >= DESCENT_ISA_AVX512 && descent_q8_has_vbmi())
        paths[npaths++] = DESCENT_ISA_AVX512;
    const size_t lens[] = {1, 15, 16, 17, 63, 64, 65, 100, 1000, 2047, 2048};
    const int nlens = (int)(sizeof lens / sizeof lens[0]);
    int compared = 0;
    for (int kind = 0; kind < 2; kind++) {
        char k = kind == 0 ? 's' : 'u';
        const float *map = descent_q8_map(k);
        for (int trial = 0; trial < 176; trial++) {
            size_t len = lens[trial % nlens];
            int dist = trial / nlens % 8;
            for (size_t i = 0; i < len; i++) {
                double u = uniform();
                float sg = uniform() < (k == 's' ? 0.5 : 0.1) ? -1.0f : 1.0f; /* the unsigned map codes y < 0 as 0 */
                uint32_t bits;
                float v;
                switch (dist) {
                case 0: v = (float)(u * 3.7); break;
                case 1: v = (float)pow(10.0, -12.0 * u); break;
                case 2: { /* a midpoint (as the maps' script rounds it) or a float next to it */
                    int j = 1 + (int)(uniform() * 255);
                    float m = (float)(((double)map[j - 1] + map[j]) / 2.0);
                    int d = (int)(uniform() * 5) - 2;
                    memcpy(&bits, &m, sizeof bits);
                    bits = m > 0 ? bits + (uint32_t)d : bits - (uint32_t)d;
                    memcpy(&v, &bits, sizeof v);
                    v = fabsf(v) > 1.0f ? 1.0f : v;
                    sg = 1.0f;
                    break;
                }
                case 3: v = u < 0.3 ? 0.0f : u < 0.4 ? -0.0f : u < 0.9 ? (float)u * 1e-39f : (float)u; break;
                case 4: v = (float)u * 1e-40f; break;
                case 5: v = u < 0.01 ? INFINITY : (float)u; break;
                case 6: v = u < 0.01 ? NAN : (float)u; break;
                default: /* a sub-bucket edge: a few fraction bits, the rest all zeros or all ones */
                    bits = (uint32_t)(96 + (int)(uniform() * 31)) << 23 | (uint32_t)(uniform() * 128) << 16;
                    bits |= uniform() < 0.5 ? 0xFFFFu >> (int)(uniform() * 8) : 0;
                    memcpy(&v, &bits, sizeof v);
                    break;
                }
                x[i] = sg * v;
            }
            if (dist == 2 && len > 1)
                x[len - 1] = trial % 2 ? 1.0f : -1.0f; /* absmax 1: y = x exactly */
            float amax[4];
            for (int p = 0; p < npaths; p++)
                descent_q8_quantize(k, x, len, codes[p], &amax[p], paths[p]);
            for (int p = 1; p < npaths; p++) {
                compared++;
                CHECK(memcmp(codes[p], codes[0], len) == 0 && memcmp(&amax[p], &amax[0], sizeof amax[0]) == 0,
                      "%c trial %d (kind %d, len %zu): path %#x codes differ from the portable path", k, trial, dist,
                      len, (unsigned)paths[p]);
            }
            /* dequantizing every code, at this length */
            for (size_t i = 0; i < len; i++)
                codes[0][i] = (unsigned char)(uniform() * 256);
            float scale = dist == 4 ? 1e-40f : (float)(uniform() * 10.0);
            for (int p = 0; p < npaths; p++)
                descent_q8_dequantize(k, back[p], len, codes[0], &scale, paths[p]);
            for (int p = 1; p < npaths; p++)
                CHECK(memcmp(back[p], back[0], len * sizeof(float)) == 0,
                      "%c trial %d (len %zu): path %#x dequantizes differently", k, trial, len, (unsigned)paths[p]);
        }
    }
    CHECK(compared > 0 || best == 0, "no vector path compared");
    printf("vector paths on random data: %d blocks compared over %d paths (VBMI %s)\n", compared, npaths,
           npaths > best + 1 ? "included" : "not on this CPU");
}

int main(int argc, char **argv)
{
    src_dir = argc > 1 ? argv[1] : "tests";
    test_maps();
    test_roundtrip();
    test_errors();
    test_checkpoint_and_memory();
    test_tracks_f32();
    test_invariance();
    test_digits();
    test_huge_gradient();
    test_vector_quant_edges();
    test_vector_paths_random();
    t_isa_covered(descent_isa_detect());
    return t_done();
}
