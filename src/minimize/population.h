/* Population methods (CMA-ES, DE, PSO, GA) behind the ask/tell API of
 * descent_population and the minimizer kind that wraps it. Each method is a
 * file with a pop_method table and a line in population.c's list. */
#ifndef DESCENT_MINIMIZE_POPULATION_H
#define DESCENT_MINIMIZE_POPULATION_H

#include "../internal.h"
#include "../rng.h"

/* What a method sees of its population object. */
typedef struct pop_ctx {
    size_t n;
    descent_rng rng;         /* seeded from the spec's seed at each (re)start */
    const double *x0;        /* n values: the starting point (default 0) */
    const double *lo, *hi;   /* NULL, or n finite bounds with lo <= hi */
    double init_range;       /* without bounds: the initial region is x0 +- init_range */
} pop_ctx;

/* The initial region of coordinate i: the bounds if set, else x0 +- init_range. */
static inline void pop_region(const pop_ctx *c, size_t i, double *a, double *b)
{
    if (c->lo) {
        *a = c->lo[i];
        *b = c->hi[i];
    } else {
        *a = c->x0[i] - c->init_range;
        *b = c->x0[i] + c->init_range;
    }
}

/* np points drawn uniformly from the initial region, row-major into pop
 * (np x n); the draws go coordinate by coordinate, point by point. */
static inline void pop_sample_uniform(pop_ctx *c, double *pop, size_t np)
{
    for (size_t k = 0; k < np; k++)
        for (size_t i = 0; i < c->n; i++) {
            double a, b;
            pop_region(c, i, &a, &b);
            pop[k * c->n + i] = a + descent_rng_uniform(&c->rng) * (b - a);
        }
}

/* Clip x into the bounds (no-op without bounds). */
static inline void pop_clip(const pop_ctx *c, double *x)
{
    if (!c->lo)
        return;
    for (size_t i = 0; i < c->n; i++)
        x[i] = x[i] < c->lo[i] ? c->lo[i] : x[i] > c->hi[i] ? c->hi[i] : x[i];
}

/* One stream for saving and loading a population (checkpoints). */
typedef struct pop_io {
    descent_writer *w;  /* saving */
    descent_reader *r;  /* loading */
    uint32_t version;   /* the image's format version (saving: the current one) */
} pop_io;

void pop_io_f64(pop_io *io, double *v, size_t count);
void pop_io_u64(pop_io *io, uint64_t *v);
void pop_io_size(pop_io *io, size_t *v);
void pop_io_bool(pop_io *io, bool *v);
/* A size the spec fixes (popsize, n): saved, and on load compared with
 * have; a mismatch is an error naming it. */
int pop_io_expect(pop_io *io, size_t have, const char *name, descent_error *err);
/* On load: whether the stream ran out (truncated section). */
int pop_io_bad(const pop_io *io);

typedef struct pop_method {
    const char *name;
    /* Argument names, NULL-terminated. "seed", "init_range", "lower" and
     * "upper" among them are handled by population.c. */
    const char *const *arg_names;
    /* Parse the method's own arguments (args[k] is for arg_names[k]). */
    int (*create)(void **state, const spec_doc *doc, const spec_node *const *args, size_t n, descent_error *err);
    void (*destroy)(void *state);
    /* Start afresh from c (x0, bounds, a freshly seeded rng). */
    int (*init)(void *state, pop_ctx *c, descent_error *err);
    /* Candidates the next ask() produces. */
    size_t (*size)(const void *state);
    /* Write size() candidates, row after row, into cand. */
    void (*ask)(void *state, pop_ctx *c, double *cand);
    /* Their values (non-finite values arrive as +INFINITY). */
    void (*tell)(void *state, pop_ctx *c, const double *cand, const double *f);
    /* Save (io->w set) or load (io->r set) the state that carries from one
     * generation to the next, in the same order both ways. Methods allocate
     * their buffers zeroed, so a checkpoint taken before a buffer is first
     * written still holds defined bytes. Loading may
     * leave the state half written on error: the caller restores it. */
    int (*io)(void *state, pop_io *io, descent_error *err);
    /* The method's own stop reason after the last tell (a descent_stop
     * such as DESCENT_STOP_TOLX or DESCENT_STOP_RHOEND), or 0; NULL: the
     * method never stops (DE, PSO, GA). The one source of
     * descent_population_stopped() (and its older name _stop), of ask's
     * reason once the run has ended, and of the minimizer kind's stop. */
    int (*stop)(const void *state);
    /* Whether a stopped run can produce no more candidates (BOBYQA): ask
     * then answers the stop reason with lambda = 0. Otherwise (CMA-ES, as
     * pycma) asking after the stop samples the last distribution. */
    bool stop_ends_asks;
} pop_method;

extern const pop_method descent_pop_cmaes, descent_pop_de, descent_pop_pso, descent_pop_ga, descent_pop_bobyqa;

/* Index of name in a NULL-terminated list, or -1. */
int descent_pop_arg_index(const char *const *names, const char *name);

/* The symmetric eigen decomposition A = V diag(w) V' of an n x n row-major
 * matrix by cyclic Jacobi rotations; A is destroyed, V's columns are the
 * eigenvectors. work: nothing extra needed. */
void descent_jacobi_eigen(double *a, double *v, double *w, size_t n);

#endif
