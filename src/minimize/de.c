/* Differential evolution (Storn & Price, J. Global Optimization 11, 1997):
 * a population of NP points; each generation every target x_i gets a trial
 *   rand/1: v = x_r1 + F (x_r2 - x_r3)      best/1: v = x_best + F (x_r1 - x_r2)
 * (r1, r2, r3 distinct, different from i), binomial crossover
 *   u_j = v_j if U(0,1) < CR or j = j_rand, else x_i,j
 * and the trial replaces the target when f(u) <= f(x_i). The first
 * generation is the initial population, uniform in the initial region.
 * Bounds: a trial coordinate outside the box is put at a uniform point
 * between the target's coordinate and the violated bound ("bounce-back"). */
#include "args.h"
#include "population.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct de {
    size_t n, np;
    double F, CR;
    int strategy;       /* 0 rand1bin, 1 best1bin */
    double *pop, *fit, *trial;
    bool first;
    size_t best;
} de;

static const char *const de_names[] = {"F", "CR", "popsize", "strategy", "seed", "init_range", "lower", "upper", NULL};

static void de_destroy(void *state)
{
    de *s = state;
    if (!s)
        return;
    free(s->pop);
    free(s->fit);
    free(s->trial);
    free(s);
}

static int de_create(void **state, const spec_doc *doc, const spec_node *const *a, size_t n, descent_error *err)
{
    static const char *const strategies[] = {"rand1bin", "best1bin", NULL};
    double F = 0.8, CR = 0.9;
    size_t np = 10 * n < 5 ? 5 : 10 * n;
    int strategy = 0;
    int rc = descent_args_real(doc, a[0], "F", 0, true, 2, &F, err);
    if (rc == 0)
        rc = descent_args_real(doc, a[1], "CR", 0, false, 1, &CR, err);
    if (rc == 0 && a[2] && a[2]->kind != SPEC_NONE)
        rc = descent_args_size(doc, a[2], "popsize", 4, 10000000, &np, err);
    if (rc == 0)
        rc = descent_args_choice(doc, a[3], "strategy", strategies, &strategy, err);
    if (rc < 0)
        return rc;
    de *s = calloc(1, sizeof *s);
    if (!s)
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory");
    s->n = n;
    s->np = np;
    s->F = F;
    s->CR = CR;
    s->strategy = strategy;
    s->pop = calloc(np * n, sizeof(double));
    s->fit = calloc(np, sizeof(double));
    s->trial = calloc(np * n, sizeof(double));
    if (!s->pop || !s->fit || !s->trial) {
        de_destroy(s);
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory for DE(popsize=%zu) over %zu variables", np, n);
    }
    *state = s;
    return 0;
}

static int de_init(void *state, pop_ctx *c, descent_error *err)
{
    (void)err;
    de *s = state;
    pop_sample_uniform(c, s->pop, s->np);
    s->first = true;
    s->best = 0;
    return 0;
}

static size_t de_size(const void *state) { return ((const de *)state)->np; }

static void de_ask(void *state, pop_ctx *c, double *cand)
{
    de *s = state;
    const size_t n = s->n, np = s->np;
    if (s->first) {
        memcpy(cand, s->pop, np * n * sizeof *cand);
        return;
    }
    for (size_t i = 0; i < np; i++) {
        size_t r1, r2, r3;
        do
            r1 = (size_t)descent_rng_below(&c->rng, np);
        while (r1 == i);
        do
            r2 = (size_t)descent_rng_below(&c->rng, np);
        while (r2 == i || r2 == r1);
        do
            r3 = (size_t)descent_rng_below(&c->rng, np);
        while (r3 == i || r3 == r1 || r3 == r2);
        const double *base, *d1, *d2;
        if (s->strategy == 0) {
            base = s->pop + r1 * n;
            d1 = s->pop + r2 * n;
            d2 = s->pop + r3 * n;
        } else {
            base = s->pop + s->best * n;
            d1 = s->pop + r1 * n;
            d2 = s->pop + r2 * n;
        }
        const double *x = s->pop + i * n;
        double *u = cand + i * n;
        size_t jrand = (size_t)descent_rng_below(&c->rng, n);
        for (size_t j = 0; j < n; j++) {
            bool cross = descent_rng_uniform(&c->rng) < s->CR || j == jrand;
            u[j] = cross ? base[j] + s->F * (d1[j] - d2[j]) : x[j];
            if (c->lo && (u[j] < c->lo[j] || u[j] > c->hi[j])) {
                double bound = u[j] < c->lo[j] ? c->lo[j] : c->hi[j];
                u[j] = x[j] + descent_rng_uniform(&c->rng) * (bound - x[j]);
            }
        }
    }
    memcpy(s->trial, cand, np * n * sizeof *cand);
}

static void de_tell(void *state, pop_ctx *c, const double *cand, const double *f)
{
    (void)c;
    de *s = state;
    const size_t n = s->n;
    for (size_t i = 0; i < s->np; i++)
        if (s->first || f[i] <= s->fit[i]) {
            s->fit[i] = f[i];
            memcpy(s->pop + i * n, cand + i * n, n * sizeof *cand);
        }
    s->first = false;
    s->best = 0;
    for (size_t i = 1; i < s->np; i++)
        if (s->fit[i] < s->fit[s->best])
            s->best = i;
}

static int de_io(void *state, pop_io *io, descent_error *err)
{
    de *s = state;
    int rc = pop_io_expect(io, s->np, "popsize", err);
    if (rc < 0)
        return rc;
    pop_io_f64(io, s->pop, s->np * s->n);
    pop_io_f64(io, s->fit, s->np);
    pop_io_bool(io, &s->first);
    size_t best = s->best;
    pop_io_size(io, &best);
    if (!pop_io_bad(io) && best >= s->np)
        return descent_fail(err, DESCENT_ERR_CHECKPOINT, "checkpoint has best = %zu of %zu", best, s->np);
    s->best = best;
    return 0;
}

const pop_method descent_pop_de = {
    "DE", de_names, de_create, de_destroy, de_init, de_size, de_ask, de_tell, de_io, NULL, false,
};
