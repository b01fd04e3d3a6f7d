/* Particle swarm optimization, global-best topology (Kennedy & Eberhart
 * 1995; inertia weight: Shi & Eberhart 1998; constriction: Clerc & Kennedy
 * 2002). Each generation moves every particle (synchronously: the global
 * best is that of the previous generation):
 *   inertia:      v = w v + c1 r1 (p - x) + c2 r2 (g - x)
 *   constriction: v = chi (v + c1 r1 (p - x) + c2 r2 (g - x)),
 *                 chi = 2 / |2 - phi - sqrt(phi^2 - 4 phi)|, phi = c1 + c2 > 4
 *   x = x + v
 * with r1, r2 ~ U(0,1) per coordinate, p the particle's best point and g
 * the swarm's. The defaults w = 0.7298, c1 = c2 = 1.49618 are Clerc's
 * constriction in inertia form; constriction=True without c1, c2 uses
 * c1 = c2 = 2.05 (chi = 0.7298). Positions start uniform in the initial
 * region, velocities at (U(region) - x) / 2, and |v_j| is capped at the
 * region's width. Bounds: a position leaving the box is clipped onto it and
 * that velocity component set to 0. The first generation evaluates the
 * initial positions. */
#include "args.h"
#include "population.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct pso {
    size_t n, np;
    double w, c1, c2, chi;
    bool constriction;
    double *x, *v, *p, *pf, *g;
    double gf;
    bool first;
} pso;

static const char *const pso_names[] = {"popsize", "inertia", "c1",         "c2",    "constriction",
                                        "seed",    "init_range", "lower", "upper",   NULL};

static void pso_destroy(void *state)
{
    pso *s = state;
    if (!s)
        return;
    free(s->x);
    free(s->v);
    free(s->p);
    free(s->pf);
    free(s->g);
    free(s);
}

static int pso_create(void **state, const spec_doc *doc, const spec_node *const *a, size_t n, descent_error *err)
{
    size_t np = 40;
    double w = 0.7298, c1 = 1.49618, c2 = 1.49618;
    bool constriction = false;
    int rc = descent_args_size(doc, a[0], "popsize", 2, 10000000, &np, err);
    if (rc == 0)
        rc = descent_args_real(doc, a[1], "inertia", 0, false, 1, &w, err);
    if (rc == 0 && a[4]) {
        if (a[4]->kind != SPEC_BOOL)
            rc = descent_spec_fail(doc, a[4], err, DESCENT_ERR_SPEC, "constriction must be True or False, got %s",
                                   descent_spec_kind_name(a[4]->kind));
        else
            constriction = a[4]->num != 0;
    }
    if (constriction)
        c1 = c2 = 2.05;
    if (rc == 0)
        rc = descent_args_real(doc, a[2], "c1", 0, false, 10, &c1, err);
    if (rc == 0)
        rc = descent_args_real(doc, a[3], "c2", 0, false, 10, &c2, err);
    if (rc == 0 && constriction && !(c1 + c2 > 4))
        rc = descent_spec_fail(doc, a[2] ? a[2] : a[3] ? a[3] : a[4], err, DESCENT_ERR_INVALID,
                               "constriction needs c1 + c2 > 4, got %g", c1 + c2);
    if (rc == 0 && constriction && a[1])
        rc = descent_spec_fail(doc, a[1], err, DESCENT_ERR_INVALID,
                               "inertia and constriction=True exclude each other");
    if (rc < 0)
        return rc;
    pso *s = calloc(1, sizeof *s);
    if (!s)
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory");
    s->n = n;
    s->np = np;
    s->w = w;
    s->c1 = c1;
    s->c2 = c2;
    s->constriction = constriction;
    if (constriction) {
        double phi = c1 + c2;
        s->chi = 2 / fabs(2 - phi - sqrt(phi * phi - 4 * phi));
    }
    s->x = calloc(np * n, sizeof(double));
    s->v = calloc(np * n, sizeof(double));
    s->p = calloc(np * n, sizeof(double));
    s->pf = calloc(np, sizeof(double));
    s->g = calloc(n, sizeof(double));
    if (!s->x || !s->v || !s->p || !s->pf || !s->g) {
        pso_destroy(s);
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory for PSO(popsize=%zu) over %zu variables", np, n);
    }
    *state = s;
    return 0;
}

static int pso_init(void *state, pop_ctx *c, descent_error *err)
{
    (void)err;
    pso *s = state;
    for (size_t k = 0; k < s->np; k++)
        for (size_t i = 0; i < s->n; i++) {
            double a, b;
            pop_region(c, i, &a, &b);
            double x = a + descent_rng_uniform(&c->rng) * (b - a);
            double t = a + descent_rng_uniform(&c->rng) * (b - a);
            s->x[k * s->n + i] = x;
            s->v[k * s->n + i] = 0.5 * (t - x);
        }
    s->first = true;
    s->gf = INFINITY;
    return 0;
}

static size_t pso_size(const void *state) { return ((const pso *)state)->np; }

static void pso_ask(void *state, pop_ctx *c, double *cand)
{
    pso *s = state;
    const size_t n = s->n;
    if (!s->first) {
        for (size_t k = 0; k < s->np; k++) {
            double *x = s->x + k * n, *v = s->v + k * n;
            const double *p = s->p + k * n;
            for (size_t j = 0; j < n; j++) {
                double r1 = descent_rng_uniform(&c->rng), r2 = descent_rng_uniform(&c->rng);
                double pull = s->c1 * r1 * (p[j] - x[j]) + s->c2 * r2 * (s->g[j] - x[j]);
                double vj = s->constriction ? s->chi * (v[j] + pull) : s->w * v[j] + pull;
                double a, b;
                pop_region(c, j, &a, &b);
                double vmax = b - a;
                if (vmax > 0)
                    vj = vj > vmax ? vmax : vj < -vmax ? -vmax : vj;
                x[j] += vj;
                v[j] = vj;
                if (c->lo && (x[j] < c->lo[j] || x[j] > c->hi[j])) {
                    x[j] = x[j] < c->lo[j] ? c->lo[j] : c->hi[j];
                    v[j] = 0;
                }
            }
        }
    }
    memcpy(cand, s->x, s->np * n * sizeof *cand);
}

static void pso_tell(void *state, pop_ctx *c, const double *cand, const double *f)
{
    (void)c;
    pso *s = state;
    const size_t n = s->n;
    for (size_t k = 0; k < s->np; k++) {
        if (s->first || f[k] < s->pf[k]) {
            s->pf[k] = f[k];
            memcpy(s->p + k * n, cand + k * n, n * sizeof *cand);
        }
        if (f[k] < s->gf || (s->first && k == 0)) {
            s->gf = f[k];
            memcpy(s->g, cand + k * n, n * sizeof *cand);
        }
    }
    s->first = false;
}

static int pso_io(void *state, pop_io *io, descent_error *err)
{
    pso *s = state;
    int rc = pop_io_expect(io, s->np, "popsize", err);
    if (rc < 0)
        return rc;
    const size_t len = s->np * s->n;
    pop_io_f64(io, s->x, len);
    pop_io_f64(io, s->v, len);
    pop_io_f64(io, s->p, len);
    pop_io_f64(io, s->pf, s->np);
    pop_io_f64(io, s->g, s->n);
    pop_io_f64(io, &s->gf, 1);
    pop_io_bool(io, &s->first);
    return 0;
}

const pop_method descent_pop_pso = {
    "PSO", pso_names, pso_create, pso_destroy, pso_init, pso_size, pso_ask, pso_tell, pso_io, NULL, false,
};
