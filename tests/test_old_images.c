/* Checkpoint images written by an earlier build keep loading byte for byte.
 *
 * tests/data/images/ holds optimizer and population checkpoints written by
 * the library as of the serialization rewrite (before src/bytes.c existed),
 * by this program's --write mode. Each case below rebuilds the object that
 * wrote its image; the test loads the committed image into it, saves it
 * back (which must give the same bytes), and steps (or asks and tells) once
 * more, which must succeed. Regenerating the images with a newer build
 * would make the test meaningless: add new files instead. */
#include "descent.h"
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#define NT 3000 /* two 8-bit quantization blocks */

typedef struct opt_case {
    const char *file;
    const char *spec;
    const char *schedule; /* or NULL */
    int utilities;        /* accumulation 2, EMA, SWA, Lookahead */
    int shaped;           /* a 50 x 60 tensor (Adafactor factors it) */
    int steps;
} opt_case;

/* Images whose format has grown since they were written: the Adam and
 * NAdam groups now also save decoupled_weight_decay (and NAdam's
 * legacy_mu_product), hyperparameters added for torch 2.x; population
 * images are version 2 (CMA-ES's termination records), the same bytes
 * but for the version field for the other methods. They load (missing values
 * take their defaults), and what they save back is a fixed point: it loads
 * and saves back byte for byte. */
static int format_grew(const char *file)
{
    return strcmp(file, "adam_cosine_warm_restarts.ckpt") == 0 || strcmp(file, "nadam_sequential.ckpt") == 0 ||
           strstr(file, ".pop") != NULL;
}

/* What was loaded from want saves back as exactly want's bytes. */
static void check_saves_back(const char *file, const void *want, size_t want_len, const void *got, size_t got_len)
{
    CHECK(got && got_len == want_len && memcmp(got, want, want_len) == 0, "%s does not save back byte for byte", file);
}

static const opt_case opt_cases[] = {
    {"adam_cosine_warm_restarts.ckpt", "Adam(lr=0.01, amsgrad=True)",
     "CosineAnnealingWarmRestarts(T_0=3, T_mult=2, eta_min=0.001)", 1, 0, 7},
    {"adamw_q8_onecycle.ckpt", "AdamW(lr=0.01, state_bits=8)", "OneCycleLR(max_lr=0.1, total_steps=100)", 0, 0, 5},
    {"adafactor_shaped.ckpt", "Adafactor(lr=0.01)", NULL, 0, 1, 4},
    {"asgd_plateau.ckpt", "ASGD(lr=0.01, t0=2)", "ReduceLROnPlateau(patience=1)", 0, 0, 6},
    {"nadam_sequential.ckpt", "NAdam(lr=0.01)",
     "SequentialLR(schedulers=[LinearLR(start_factor=0.5, total_iters=2), ExponentialLR(gamma=0.9)], milestones=[3])",
     0, 0, 5},
    {"sgd_momentum_step.ckpt", "SGD(lr=0.1, momentum=0.9, nesterov=True)", "StepLR(step_size=2, gamma=0.5)", 1, 0, 5},
};

typedef struct opt_obj {
    descent_optimizer *opt;
    float *p1, *g1;
    double *p2, *g2;
} opt_obj;

static void fill(opt_obj *o, int step)
{
    for (size_t i = 0; i < NT; i++)
        o->g1[i] = (float)(((int)((i * 7 + (size_t)step * 3) % 23) - 11) * 1e-2);
    for (size_t i = 0; i < 5; i++)
        o->g2[i] = ((int)((i + (size_t)step) % 5) - 2) * 0.125;
}

static int build(const opt_case *c, opt_obj *o)
{
    memset(o, 0, sizeof *o);
    descent_error err;
    if (descent_create_from_spec(&o->opt, c->spec, NULL, &err) < 0) {
        fprintf(stderr, "%s: %s\n", c->file, err.message);
        return -1;
    }
    o->p1 = calloc(NT, sizeof *o->p1);
    o->g1 = calloc(NT, sizeof *o->g1);
    o->p2 = calloc(5, sizeof *o->p2);
    o->g2 = calloc(5, sizeof *o->g2);
    for (size_t i = 0; i < NT; i++)
        o->p1[i] = (float)i * 1e-3f;
    for (size_t i = 0; i < 5; i++)
        o->p2[i] = 1.0 + (double)i;
    /* The f64 tensor's group: 8-bit state is for f32 tensors only. */
    int a = descent_add_group(o->opt, NULL),
        b = descent_add_group_spec(o->opt, strstr(c->spec, "state_bits") ? "lr=0.005, state_bits=32" : "lr=0.005");
    int rc = 0;
    if (c->shaped) {
        size_t shape[2] = {50, 60};
        rc |= descent_add_tensor_shaped(o->opt, a, o->p1, o->g1, 2, shape, DESCENT_F32);
    } else
        rc |= descent_add_tensor(o->opt, a, o->p1, o->g1, NT, DESCENT_F32);
    rc |= descent_add_tensor(o->opt, b, o->p2, o->g2, 5, DESCENT_F64);
    if (c->utilities)
        rc |= descent_set_accumulation(o->opt, 2) | descent_set_ema(o->opt, 0.9) | descent_set_swa(o->opt, 1) |
              descent_set_lookahead(o->opt, 3, 0.5);
    if (c->schedule)
        rc |= descent_set_schedule(o->opt, c->schedule);
    if (rc < 0)
        fprintf(stderr, "%s: %s\n", c->file, descent_errmsg(o->opt));
    return rc < 0 ? -1 : 0;
}

static void drop(opt_obj *o)
{
    descent_destroy(o->opt);
    free(o->p1);
    free(o->g1);
    free(o->p2);
    free(o->g2);
}

static int run_step(const opt_case *c, opt_obj *o, int k)
{
    fill(o, k);
    int rc = descent_step(o->opt);
    if (rc >= 0 && c->schedule)
        rc = descent_schedule_step(o->opt, 1.0 / (1 + k % 3));
    return rc;
}

typedef struct pop_case {
    const char *file;
    const char *spec;
    int generations;
} pop_case;

static const pop_case pop_cases[] = {
    {"cmaes.pop", "CMAES(sigma0=0.5, seed=3)", 4},
    {"de.pop", "DE(popsize=8, seed=4)", 3},
    {"pso.pop", "PSO(popsize=8, seed=5)", 3},
    {"ga.pop", "GA(popsize=10, seed=6)", 3},
};

#define PN 4

static double sphere(const double *x)
{
    double s = 0;
    for (int i = 0; i < PN; i++)
        s += (x[i] - 0.25 * i) * (x[i] - 0.25 * i);
    return s;
}

static int pop_build(const pop_case *c, descent_population **p)
{
    descent_error err;
    if (descent_population_create(p, c->spec, PN, &err) < 0) {
        fprintf(stderr, "%s: %s\n", c->file, err.message);
        return -1;
    }
    double x0[PN] = {1, -1, 0.5, 2};
    return descent_population_set_x0(*p, x0);
}

/* One generation; with ask_only, stop after the ask (an outstanding ask). */
static int pop_generation(descent_population *p, int ask_only)
{
    size_t lambda = 0;
    if (descent_population_ask(p, NULL, &lambda) < 0 || lambda == 0)
        return -1;
    double *cand = malloc(sizeof *cand * lambda * PN), *f = malloc(sizeof *f * lambda);
    int rc = descent_population_ask(p, cand, &lambda);
    for (size_t i = 0; rc >= 0 && i < lambda; i++)
        f[i] = sphere(cand + i * PN);
    if (rc >= 0 && !ask_only)
        rc = descent_population_tell(p, f);
    free(cand);
    free(f);
    return rc < 0 ? -1 : 0;
}

static int write_all(const char *dir)
{
    char path[1024];
    for (size_t i = 0; i < sizeof opt_cases / sizeof *opt_cases; i++) {
        const opt_case *c = &opt_cases[i];
        opt_obj o;
        if (build(c, &o) < 0)
            return 1;
        for (int k = 0; k < c->steps; k++)
            if (run_step(c, &o, k) < 0) {
                fprintf(stderr, "%s: %s\n", c->file, descent_errmsg(o.opt));
                return 1;
            }
        snprintf(path, sizeof path, "%s/%s", dir, c->file);
        if (descent_save(o.opt, path) < 0) {
            fprintf(stderr, "%s\n", descent_errmsg(o.opt));
            return 1;
        }
        drop(&o);
    }
    for (size_t i = 0; i < sizeof pop_cases / sizeof *pop_cases; i++) {
        const pop_case *c = &pop_cases[i];
        descent_population *p;
        if (pop_build(c, &p) < 0)
            return 1;
        for (int k = 0; k < c->generations; k++)
            if (pop_generation(p, 0) < 0)
                return 1;
        if (pop_generation(p, 1) < 0) /* saved with an ask outstanding */
            return 1;
        snprintf(path, sizeof path, "%s/%s", dir, c->file);
        if (descent_population_save(p, path) < 0) {
            fprintf(stderr, "%s\n", descent_population_errmsg(p));
            return 1;
        }
        descent_population_destroy(p);
    }
    return 0;
}

static void test_opt_images(const char *dir)
{
    char path[1024];
    for (size_t i = 0; i < sizeof opt_cases / sizeof *opt_cases; i++) {
        const opt_case *c = &opt_cases[i];
        snprintf(path, sizeof path, "%s/data/images/%s", dir, c->file);
        size_t len = 0;
        char *img = t_read_file(path, &len);
        CHECK(img != NULL, "cannot read %s", path);
        opt_obj o;
        if (!img || build(c, &o) < 0) {
            free(img);
            continue;
        }
        CHECK(descent_load(o.opt, path) == 0, "%s: %s", c->file, descent_errmsg(o.opt));
        size_t back_len = 0;
        descent_save_mem(o.opt, NULL, 0, &back_len);
        unsigned char *back = malloc(back_len);
        CHECK(descent_save_mem(o.opt, back, back_len, &back_len) == 0, "%s: %s", c->file, descent_errmsg(o.opt));
        if (format_grew(c->file)) {
            CHECK(descent_load_mem(o.opt, back, back_len) == 0, "%s: reload: %s", c->file, descent_errmsg(o.opt));
            size_t again_len = 0;
            descent_save_mem(o.opt, NULL, 0, &again_len);
            unsigned char *again = malloc(again_len);
            CHECK(again && descent_save_mem(o.opt, again, again_len, &again_len) == 0, "%s: save", c->file);
            check_saves_back(c->file, back, back_len, again, again_len);
            free(again);
        } else {
            check_saves_back(c->file, img, len, back, back_len);
        }
        CHECK(run_step(c, &o, c->steps) >= 0, "%s: step after load: %s", c->file, descent_errmsg(o.opt));
        free(back);
        free(img);
        drop(&o);
    }
}

static void test_pop_images(const char *dir)
{
    char path[1024];
    for (size_t i = 0; i < sizeof pop_cases / sizeof *pop_cases; i++) {
        const pop_case *c = &pop_cases[i];
        snprintf(path, sizeof path, "%s/data/images/%s", dir, c->file);
        size_t len = 0;
        char *img = t_read_file(path, &len);
        CHECK(img != NULL, "cannot read %s", path);
        descent_population *p;
        if (!img || pop_build(c, &p) < 0) {
            free(img);
            continue;
        }
        CHECK(descent_population_load(p, path) == 0, "%s: %s", c->file, descent_population_errmsg(p));
        size_t back_len = 0;
        descent_population_save_mem(p, NULL, 0, &back_len);
        unsigned char *back = malloc(back_len);
        CHECK(descent_population_save_mem(p, back, back_len, &back_len) == 0, "%s: %s", c->file,
              descent_population_errmsg(p));
        if (format_grew(c->file)) {
            CHECK(descent_population_load_mem(p, back, back_len) == 0, "%s: reload: %s", c->file,
                  descent_population_errmsg(p));
            size_t again_len = 0;
            descent_population_save_mem(p, NULL, 0, &again_len);
            unsigned char *again = malloc(again_len);
            CHECK(again && descent_population_save_mem(p, again, again_len, &again_len) == 0, "%s: save", c->file);
            check_saves_back(c->file, back, back_len, again, again_len);
            free(again);
        } else {
            check_saves_back(c->file, img, len, back, back_len);
        }
        /* The outstanding ask is told, then one more generation. */
        size_t lambda = 0;
        CHECK(descent_population_pending(p, NULL, &lambda) == 0 && lambda > 0, "%s: no pending ask", c->file);
        double *cand = malloc(sizeof *cand * (lambda ? lambda : 1) * PN), *f = malloc(sizeof *f * (lambda ? lambda : 1));
        descent_population_pending(p, cand, &lambda);
        for (size_t k = 0; k < lambda; k++)
            f[k] = sphere(cand + k * PN);
        CHECK(descent_population_tell(p, f) == 0, "%s: tell after load: %s", c->file, descent_population_errmsg(p));
        CHECK(pop_generation(p, 0) == 0, "%s: generation after load: %s", c->file, descent_population_errmsg(p));
        free(cand);
        free(f);
        free(back);
        free(img);
        descent_population_destroy(p);
    }
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write") == 0)
        return write_all(argv[2]);
    const char *dir = argc > 1 ? argv[1] : "tests";
    test_opt_images(dir);
    test_pop_images(dir);
    return t_done();
}
