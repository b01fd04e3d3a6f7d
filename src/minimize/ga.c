/* A real-coded genetic algorithm in the manner of Deb's NSGA-II code for one
 * objective: tournament selection, simulated binary crossover (SBX; Deb &
 * Agrawal 1995) and polynomial mutation (Deb & Goyal 1996), with elitism.
 *
 * Each generation breeds popsize - elitism children from parents chosen by
 * tournaments of `tournament` individuals (the lowest f wins). A pair of
 * parents is crossed with probability crossover_prob, each variable with
 * probability 1/2, by SBX:
 *   beta = (2u)^(1/(eta_c+1)) if u <= 1/2, else (1 / (2(1-u)))^(1/(eta_c+1))
 *   c1 = ((1+beta) p1 + (1-beta) p2) / 2,  c2 = ((1-beta) p1 + (1+beta) p2) / 2
 * then each variable mutates with probability mutation_prob (default 1/n):
 *   delta = (2u)^(1/(eta_m+1)) - 1 if u < 1/2, else 1 - (2(1-u))^(1/(eta_m+1))
 *   x += delta (b - a)
 * where [a, b] is the variable's initial region (the bounds, or
 * x0 +- init_range). The `elitism` best individuals pass to the next
 * generation unchanged and are not evaluated again, so a generation after
 * the first asks for popsize - elitism candidates. Bounds: children are
 * clipped into the box. */
#include "args.h"
#include "population.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct ga {
    size_t n, np, tournament, elitism;
    double eta_c, eta_m, pc, pm;
    double *pop, *fit, *next, *nfit;
    size_t *order;
    bool first;
} ga;

static const char *const ga_names[] = {"popsize",      "tournament", "crossover_eta", "mutation_eta",
                                       "crossover_prob", "mutation_prob", "elitism",      "seed",
                                       "init_range",   "lower",      "upper",         NULL};

static void ga_destroy(void *state)
{
    ga *s = state;
    if (!s)
        return;
    free(s->pop);
    free(s->fit);
    free(s->next);
    free(s->nfit);
    free(s->order);
    free(s);
}

static int ga_create(void **state, const spec_doc *doc, const spec_node *const *a, size_t n, descent_error *err)
{
    size_t np = 100, tour = 2, elit = 1;
    double eta_c = 15, eta_m = 20, pc = 0.9, pm = 1.0 / (double)n;
    int rc = descent_args_size(doc, a[0], "popsize", 2, 10000000, &np, err);
    if (rc == 0)
        rc = descent_args_size(doc, a[1], "tournament", 1, 1000, &tour, err);
    if (rc == 0)
        rc = descent_args_real(doc, a[2], "crossover_eta", 0, false, 1000, &eta_c, err);
    if (rc == 0)
        rc = descent_args_real(doc, a[3], "mutation_eta", 0, false, 1000, &eta_m, err);
    if (rc == 0)
        rc = descent_args_real(doc, a[4], "crossover_prob", 0, false, 1, &pc, err);
    if (rc == 0 && a[5] && a[5]->kind != SPEC_NONE)
        rc = descent_args_real(doc, a[5], "mutation_prob", 0, false, 1, &pm, err);
    if (rc == 0)
        rc = descent_args_size(doc, a[6], "elitism", 0, 10000000, &elit, err);
    if (rc == 0 && elit >= np)
        rc = descent_spec_fail(doc, a[6], err, DESCENT_ERR_INVALID, "elitism must be below popsize = %zu, got %zu", np,
                               elit);
    if (rc == 0 && tour > np)
        rc = descent_spec_fail(doc, a[1], err, DESCENT_ERR_INVALID, "tournament must be at most popsize = %zu, got %zu",
                               np, tour);
    if (rc < 0)
        return rc;
    ga *s = calloc(1, sizeof *s);
    if (!s)
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory");
    s->n = n;
    s->np = np;
    s->tournament = tour;
    s->elitism = elit;
    s->eta_c = eta_c;
    s->eta_m = eta_m;
    s->pc = pc;
    s->pm = pm;
    s->pop = calloc(np * n, sizeof(double));
    s->next = calloc(np * n, sizeof(double));
    s->fit = calloc(np, sizeof(double));
    s->nfit = calloc(np, sizeof(double));
    s->order = calloc(np, sizeof(size_t));
    if (!s->pop || !s->next || !s->fit || !s->nfit || !s->order) {
        ga_destroy(s);
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory for GA(popsize=%zu) over %zu variables", np, n);
    }
    *state = s;
    return 0;
}

static int ga_init(void *state, pop_ctx *c, descent_error *err)
{
    (void)err;
    ga *s = state;
    pop_sample_uniform(c, s->pop, s->np);
    s->first = true;
    return 0;
}

static size_t ga_size(const void *state)
{
    const ga *s = state;
    return s->first ? s->np : s->np - s->elitism;
}

static size_t tournament(ga *s, pop_ctx *c)
{
    size_t best = (size_t)descent_rng_below(&c->rng, s->np);
    for (size_t t = 1; t < s->tournament; t++) {
        size_t k = (size_t)descent_rng_below(&c->rng, s->np);
        if (s->fit[k] < s->fit[best])
            best = k;
    }
    return best;
}

static void mutate(ga *s, pop_ctx *c, double *x)
{
    for (size_t j = 0; j < s->n; j++) {
        if (!(descent_rng_uniform(&c->rng) < s->pm))
            continue;
        double a, b;
        pop_region(c, j, &a, &b);
        double u = descent_rng_uniform(&c->rng), e = 1 / (s->eta_m + 1);
        double delta = u < 0.5 ? pow(2 * u, e) - 1 : 1 - pow(2 * (1 - u), e);
        x[j] += delta * (b - a);
    }
    pop_clip(c, x);
}

static void ga_ask(void *state, pop_ctx *c, double *cand)
{
    ga *s = state;
    const size_t n = s->n;
    if (s->first) {
        memcpy(cand, s->pop, s->np * n * sizeof *cand);
        return;
    }
    const size_t children = s->np - s->elitism;
    for (size_t k = 0; k < children; k += 2) {
        const double *p1 = s->pop + tournament(s, c) * n, *p2 = s->pop + tournament(s, c) * n;
        double *c1 = cand + k * n, *c2 = k + 1 < children ? cand + (k + 1) * n : s->next;
        memcpy(c1, p1, n * sizeof *c1);
        memcpy(c2, p2, n * sizeof *c2);
        if (descent_rng_uniform(&c->rng) < s->pc)
            for (size_t j = 0; j < n; j++) {
                if (descent_rng_uniform(&c->rng) >= 0.5)
                    continue;
                double u = descent_rng_uniform(&c->rng), e = 1 / (s->eta_c + 1);
                double beta = u <= 0.5 ? pow(2 * u, e) : pow(1 / (2 * (1 - u)), e);
                c1[j] = 0.5 * ((1 + beta) * p1[j] + (1 - beta) * p2[j]);
                c2[j] = 0.5 * ((1 - beta) * p1[j] + (1 + beta) * p2[j]);
            }
        mutate(s, c, c1);
        mutate(s, c, c2);
    }
}

static void sort_order(size_t *order, const double *f, size_t l)
{
    for (size_t i = 0; i < l; i++)
        order[i] = i;
    for (size_t i = 1; i < l; i++) {
        size_t v = order[i], j = i;
        while (j > 0 && f[order[j - 1]] > f[v]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
}

static void ga_tell(void *state, pop_ctx *c, const double *cand, const double *f)
{
    (void)c;
    ga *s = state;
    const size_t n = s->n;
    if (s->first) {
        memcpy(s->fit, f, s->np * sizeof *f);
        s->first = false;
        return;
    }
    /* The elite of the old population, then the children. */
    sort_order(s->order, s->fit, s->np);
    for (size_t e = 0; e < s->elitism; e++) {
        memcpy(s->next + e * n, s->pop + s->order[e] * n, n * sizeof(double));
        s->nfit[e] = s->fit[s->order[e]];
    }
    const size_t children = s->np - s->elitism;
    memcpy(s->next + s->elitism * n, cand, children * n * sizeof *cand);
    memcpy(s->nfit + s->elitism, f, children * sizeof *f);
    double *t = s->pop;
    s->pop = s->next;
    s->next = t;
    t = s->fit;
    s->fit = s->nfit;
    s->nfit = t;
}

static int ga_io(void *state, pop_io *io, descent_error *err)
{
    ga *s = state;
    int rc = pop_io_expect(io, s->np, "popsize", err);
    if (rc == 0)
        rc = pop_io_expect(io, s->elitism, "elitism", err);
    if (rc < 0)
        return rc;
    pop_io_f64(io, s->pop, s->np * s->n);
    pop_io_f64(io, s->fit, s->np);
    pop_io_bool(io, &s->first);
    return 0;
}

const pop_method descent_pop_ga = {
    "GA", ga_names, ga_create, ga_destroy, ga_init, ga_size, ga_ask, ga_tell, ga_io, NULL, false,
};
