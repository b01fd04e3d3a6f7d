/* Population methods in ask/tell form (descent_population) and the
 * minimizer kind that drives them: an iteration asks for one generation,
 * evaluates every candidate through descent_minimizer_eval (f only) and
 * tells the values back, so the same seed gives the same run either way. */
#include "population.h"

#include "args.h"
#include "kinds.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const pop_method *const methods[] = {&descent_pop_cmaes, &descent_pop_de, &descent_pop_pso, &descent_pop_ga,
                                            &descent_pop_bobyqa};
#define NMETHODS (sizeof methods / sizeof methods[0])

struct descent_population {
    const pop_method *method;
    void *state;
    pop_ctx ctx;
    size_t n;
    uint64_t seed;
    double *x0, *lo, *hi;
    bool bounded;
    bool initialized;
    double *cand;           /* the candidates of the outstanding ask */
    double *fvals;
    size_t cap, asked;      /* capacity in candidates; lambda asked, 0 if none */
    double best_f;
    double *best_x;
    int64_t generation, evaluations;
    char errmsg[512];
};

int descent_pop_arg_index(const char *const *names, const char *name)
{
    for (int k = 0; names[k]; k++)
        if (strcmp(names[k], name) == 0)
            return k;
    return -1;
}

static const pop_method *find_method(const char *name)
{
    for (size_t i = 0; i < NMETHODS; i++)
        if (descent_name_eq(name, methods[i]->name))
            return methods[i];
    if (descent_name_eq(name, "CMA-ES"))
        return &descent_pop_cmaes;
    return NULL;
}

static int pop_fail(descent_population *p, int status, const char *msg)
{
    snprintf(p->errmsg, sizeof p->errmsg, "%s", msg);
    return status;
}

/* A bound argument: one number for every coordinate, or a list of n. */
static int parse_bound(const spec_doc *doc, const spec_node *v, const char *name, size_t n, double *out,
                       descent_error *err)
{
    if (v->kind == SPEC_NUM) {
        if (!isfinite(v->num))
            return descent_spec_fail(doc, v, err, DESCENT_ERR_INVALID, "%s must be finite, got %g", name, v->num);
        for (size_t i = 0; i < n; i++)
            out[i] = v->num;
        return 0;
    }
    if (v->kind != SPEC_LIST && v->kind != SPEC_TUPLE)
        return descent_spec_fail(doc, v, err, DESCENT_ERR_SPEC, "%s must be a number or a list of %zu numbers, got %s",
                                 name, n, descent_spec_kind_name(v->kind));
    if ((size_t)v->n != n)
        return descent_spec_fail(doc, v, err, DESCENT_ERR_INVALID, "%s must have %zu values (one per variable), got %d",
                                 name, n, v->n);
    for (size_t i = 0; i < n; i++) {
        const spec_node *e = &v->items[i];
        if (e->kind != SPEC_NUM || !isfinite(e->num))
            return descent_spec_fail(doc, e, err, DESCENT_ERR_INVALID, "%s[%zu] must be a finite number", name, i);
        out[i] = e->num;
    }
    return 0;
}

static bool accepts_name(const char *name) { return find_method(name) != NULL; }

void descent_population_destroy(descent_population *p)
{
    if (!p)
        return;
    if (p->method && p->state)
        p->method->destroy(p->state);
    free(p->x0);
    free(p->lo);
    free(p->hi);
    free(p->cand);
    free(p->fvals);
    free(p->best_x);
    free(p);
}

static void pop_reset(descent_population *p)
{
    p->initialized = false;
    p->asked = 0;
    p->best_f = INFINITY;
    p->generation = p->evaluations = 0;
    for (size_t i = 0; i < p->n; i++)
        p->best_x[i] = NAN;
}

static int create_from_call(descent_population **out, const spec_doc *doc, const spec_node *call, size_t n,
                            descent_error *err)
{
    const pop_method *method = find_method(call->str);
    if (!method) {
        spec_node at = *call;
        at.end = at.pos + strlen(call->str);
        return descent_spec_fail(doc, &at, err, DESCENT_ERR_SPEC, "unknown population method '%s' (known: CMAES, DE, PSO, GA, BOBYQA)",
                                 call->str);
    }
    if (n == 0)
        return descent_fail(err, DESCENT_ERR_INVALID, "n must be at least 1");
    if (n > ((size_t)1 << 26))
        return descent_fail(err, DESCENT_ERR_INVALID, "n = %zu is too large for a population method", n);
    const spec_node *args[16]; /* every method has fewer arguments */
    int rc = descent_args_bind(doc, call, method->name, method->arg_names, args, err);
    if (rc < 0)
        return rc;
    descent_population *p = calloc(1, sizeof *p);
    if (!p)
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory");
    p->method = method;
    p->n = n;
    p->x0 = calloc(n, sizeof *p->x0);
    p->lo = calloc(n, sizeof *p->lo);
    p->hi = calloc(n, sizeof *p->hi);
    p->best_x = calloc(n, sizeof *p->best_x);
    if (!p->x0 || !p->lo || !p->hi || !p->best_x) {
        descent_population_destroy(p);
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory");
    }
    p->ctx.n = n;
    p->ctx.init_range = 1;
    int k;
    double seed = 0;
    if ((k = descent_pop_arg_index(method->arg_names, "seed")) >= 0 && args[k]) {
        if (args[k]->kind != SPEC_NUM || !args[k]->is_int || args[k]->num < 0 || args[k]->num > 9007199254740992.0)
            rc = descent_spec_fail(doc, args[k], err, DESCENT_ERR_INVALID,
                                   "seed must be an integer in [0, 2^53]");
        else
            seed = args[k]->num;
    }
    if (rc == 0 && (k = descent_pop_arg_index(method->arg_names, "init_range")) >= 0)
        rc = descent_args_real(doc, args[k], "init_range", 0, true, INFINITY, &p->ctx.init_range, err);
    int klo = descent_pop_arg_index(method->arg_names, "lower"), khi = descent_pop_arg_index(method->arg_names, "upper");
    if (rc == 0 && klo >= 0 && khi >= 0 && (args[klo] || args[khi])) {
        if (!args[klo] || !args[khi])
            rc = descent_spec_fail(doc, args[klo] ? args[klo] : args[khi], err, DESCENT_ERR_INVALID,
                                   "give both lower and upper bounds");
        if (rc == 0)
            rc = parse_bound(doc, args[klo], "lower", n, p->lo, err);
        if (rc == 0)
            rc = parse_bound(doc, args[khi], "upper", n, p->hi, err);
        for (size_t i = 0; rc == 0 && i < n; i++)
            if (!(p->lo[i] <= p->hi[i]))
                rc = descent_spec_fail(doc, args[khi], err, DESCENT_ERR_INVALID,
                                       "lower[%zu] = %g exceeds upper[%zu] = %g", i, p->lo[i], i, p->hi[i]);
        p->bounded = rc == 0;
    }
    if (rc == 0)
        rc = method->create(&p->state, doc, args, n, err);
    if (rc < 0) {
        descent_population_destroy(p);
        return rc;
    }
    p->seed = (uint64_t)seed;
    pop_reset(p);
    *out = p;
    return 0;
}

int descent_population_create(descent_population **out, const char *spec, size_t n, descent_error *err)
{
    if (!out)
        return descent_fail(err, DESCENT_ERR_INVALID, "out must not be NULL");
    *out = NULL;
    spec_doc doc;
    int rc = descent_spec_parse(&doc, spec, NULL, err);
    if (rc < 0)
        return rc;
    if (doc.root->kind != SPEC_CALL && doc.root->kind != SPEC_NAME)
        rc = descent_spec_fail(&doc, doc.root, err, DESCENT_ERR_SPEC,
                               "expected a population method such as CMAES(sigma0=0.5), got %s",
                               descent_spec_kind_name(doc.root->kind));
    else
        rc = create_from_call(out, &doc, doc.root, n, err);
    descent_spec_free(&doc);
    return rc;
}

const char *descent_population_name(const descent_population *p) { return p ? p->method->name : NULL; }

const char *descent_population_errmsg(const descent_population *p) { return p ? p->errmsg : "no population"; }

int descent_population_set_x0(descent_population *p, const double *x0)
{
    if (!p)
        return DESCENT_ERR_INVALID;
    if (!x0)
        return pop_fail(p, DESCENT_ERR_INVALID, "x0 must not be NULL");
    if (p->generation > 0 || p->asked)
        return pop_fail(p, DESCENT_ERR_STATE, "set x0 before the first ask (or after descent_population_restart)");
    for (size_t i = 0; i < p->n; i++)
        if (!isfinite(x0[i])) {
            snprintf(p->errmsg, sizeof p->errmsg, "x0[%zu] = %g is not finite", i, x0[i]);
            return DESCENT_ERR_INVALID;
        }
    memcpy(p->x0, x0, p->n * sizeof *x0);
    p->initialized = false; /* size() may have started the method already */
    return 0;
}

int descent_population_set_bounds(descent_population *p, const double *lo, const double *hi)
{
    if (!p)
        return DESCENT_ERR_INVALID;
    if (p->generation > 0 || p->asked)
        return pop_fail(p, DESCENT_ERR_STATE, "set bounds before the first ask (or after descent_population_restart)");
    p->initialized = false;
    if (!lo && !hi) {
        p->bounded = false;
        return 0;
    }
    if (!lo || !hi)
        return pop_fail(p, DESCENT_ERR_INVALID, "give both lo and hi, or neither");
    for (size_t i = 0; i < p->n; i++)
        if (!isfinite(lo[i]) || !isfinite(hi[i]) || !(lo[i] <= hi[i])) {
            snprintf(p->errmsg, sizeof p->errmsg, "bounds [%g, %g] of variable %zu: need finite lo <= hi", lo[i], hi[i],
                     i);
            return DESCENT_ERR_INVALID;
        }
    memcpy(p->lo, lo, p->n * sizeof *lo);
    memcpy(p->hi, hi, p->n * sizeof *hi);
    p->bounded = true;
    return 0;
}

int descent_population_restart(descent_population *p)
{
    if (!p)
        return DESCENT_ERR_INVALID;
    pop_reset(p);
    return 0;
}

/* Room for l candidates of n values and their l values in *cand and *f
 * (capacity *cap); on failure both keep their contents. */
static int grow_candidates(double **cand, double **f, size_t *cap, size_t l, size_t n)
{
    if (l <= *cap)
        return 0;
    double *c = realloc(*cand, l * n * sizeof *c), *fv = c ? realloc(*f, l * sizeof *fv) : NULL;
    if (c)
        *cand = c;
    if (fv)
        *f = fv;
    if (!c || !fv)
        return -1;
    *cap = l;
    return 0;
}

static int ensure_init(descent_population *p)
{
    if (p->initialized)
        return 0;
    descent_rng_seed(&p->ctx.rng, p->seed, 0);
    p->ctx.x0 = p->x0;
    p->ctx.lo = p->bounded ? p->lo : NULL;
    p->ctx.hi = p->bounded ? p->hi : NULL;
    descent_error e;
    int rc = p->method->init(p->state, &p->ctx, &e);
    if (rc < 0)
        return pop_fail(p, rc, e.message);
    p->initialized = true;
    return 0;
}

size_t descent_population_size(descent_population *p)
{
    if (!p || ensure_init(p) < 0)
        return 0;
    return p->asked ? p->asked : p->method->size(p->state);
}

int descent_population_ask(descent_population *p, double *candidates, size_t *lambda)
{
    if (!p)
        return DESCENT_ERR_INVALID;
    if (!lambda)
        return pop_fail(p, DESCENT_ERR_INVALID, "lambda must not be NULL");
    int rc = ensure_init(p);
    if (rc < 0)
        return rc;
    int stop = p->method->stop_ends_asks ? descent_population_stopped(p) : 0;
    if (stop > 0 && !p->asked) {
        *lambda = 0;
        return stop;
    }
    if (!candidates) {
        *lambda = p->asked ? p->asked : p->method->size(p->state);
        return 0;
    }
    if (p->asked)
        return pop_fail(p, DESCENT_ERR_STATE, "tell the values of the last ask before asking again");
    size_t l = p->method->size(p->state);
    if (grow_candidates(&p->cand, &p->fvals, &p->cap, l, p->n) < 0)
        return pop_fail(p, DESCENT_ERR_NOMEM, "out of memory for the population");
    p->method->ask(p->state, &p->ctx, p->cand);
    memcpy(candidates, p->cand, l * p->n * sizeof *candidates);
    p->asked = l;
    *lambda = l;
    return 0;
}

int descent_population_tell(descent_population *p, const double *f_values)
{
    if (!p)
        return DESCENT_ERR_INVALID;
    if (!p->asked)
        return pop_fail(p, DESCENT_ERR_STATE, "ask for candidates before telling their values");
    if (!f_values)
        return pop_fail(p, DESCENT_ERR_INVALID, "f_values must not be NULL");
    const size_t l = p->asked, n = p->n;
    size_t best = l;
    for (size_t k = 0; k < l; k++) {
        double v = f_values[k];
        p->fvals[k] = isfinite(v) ? v : INFINITY;
        if (p->fvals[k] < p->best_f && (best == l || p->fvals[k] < p->fvals[best]))
            best = k;
    }
    if (best < l) {
        p->best_f = p->fvals[best];
        memcpy(p->best_x, p->cand + best * n, n * sizeof *p->best_x);
    }
    p->method->tell(p->state, &p->ctx, p->cand, p->fvals);
    p->asked = 0;
    /* Saturating: the counts never wrap (a loaded count is at most 2^62). */
    if (p->generation < INT64_MAX)
        p->generation++;
    p->evaluations = p->evaluations > INT64_MAX - (int64_t)l ? INT64_MAX : p->evaluations + (int64_t)l;
    return 0;
}

/* The earlier name of descent_population_stopped, kept for callers. */
int descent_population_stop(const descent_population *p) { return descent_population_stopped(p); }

double descent_population_best(const descent_population *p, double *x_best)
{
    if (!p)
        return NAN;
    if (x_best)
        memcpy(x_best, p->best_x, p->n * sizeof *x_best);
    return p->best_f;
}

int descent_population_pending(const descent_population *p, double *candidates, size_t *lambda)
{
    if (!p || !lambda)
        return DESCENT_ERR_INVALID;
    *lambda = p->asked;
    if (candidates && p->asked)
        memcpy(candidates, p->cand, p->asked * p->n * sizeof *candidates);
    return 0;
}

int descent_population_stopped(const descent_population *p)
{
    return p && p->initialized && p->method->stop ? p->method->stop(p->state) : 0;
}

int64_t descent_population_generation(const descent_population *p) { return p ? p->generation : 0; }

int64_t descent_population_evaluations(const descent_population *p) { return p ? p->evaluations : 0; }

/* ---- checkpoints --------------------------------------------------------
 *
 *   frame "DESCENTP" version 2 (fileio.c: magic, version, flags, length,
 *   payload, CRC-32), payload:
 *     u16 + bytes method name, u64 n, u64 seed, u8 bounded, f64 x0[n],
 *     f64 lo[n], hi[n] (if bounded), u8 initialized, u64 rng s[4],
 *     u8 has_spare, f64 spare, u64 generation, u64 evaluations,
 *     f64 best_f, f64 best_x[n], u64 asked, f64 candidates[asked n],
 *     then the method's own section (its io function).
 * Every value is little-endian; f64 as its IEEE bits. */

#define POP_MAGIC "DESCENTP"
/* Version 2 (0.2.0) adds CMA-ES's termination records; version 1 images
 * load with fresh records. */
#define POP_VERSION 2u
#define POP_MIN_VERSION 1u

void pop_io_u64(pop_io *io, uint64_t *v)
{
    if (io->w)
        descent_put_u(io->w, *v, 8);
    else
        *v = descent_get_u(io->r, 8);
}

void pop_io_f64(pop_io *io, double *v, size_t count)
{
    if (io->w)
        descent_put_f64s(io->w, v, count);
    else if (!io->r->bad)
        descent_get_f64s(io->r, v, count);
}

void pop_io_size(pop_io *io, size_t *v)
{
    uint64_t u = *v;
    pop_io_u64(io, &u);
    *v = u > SIZE_MAX ? SIZE_MAX : (size_t)u;
}

void pop_io_bool(pop_io *io, bool *v)
{
    uint64_t u = *v;
    if (io->w)
        descent_put_u(io->w, u, 1);
    else
        *v = descent_get_u(io->r, 1) != 0;
}

int pop_io_bad(const pop_io *io) { return io->r && io->r->bad; }

int pop_io_expect(pop_io *io, size_t have, const char *name, descent_error *err)
{
    size_t v = have;
    pop_io_size(io, &v);
    if (pop_io_bad(io))
        return descent_fail(err, DESCENT_ERR_CHECKPOINT, "population checkpoint is truncated");
    if (v != have)
        return descent_fail(err, DESCENT_ERR_CHECKPOINT, "checkpoint has %s = %zu, this population has %zu", name, v,
                            have);
    return 0;
}

#define POP_MAX_COUNT ((uint64_t)1 << 53)

static int all_finite(const double *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(v[i]))
            return 0;
    return 1;
}

/* After a load: the values every method relies on. An outstanding ask has
 * exactly the candidates the method's next tell() reads; points, bounds
 * and the generator's spare normal (when it holds one) are finite; the
 * best value is a number or +inf (nothing evaluated yet; the best point is
 * then unset). */
static int pop_values_ok(const descent_population *p, descent_error *err)
{
    size_t n = p->n;
    if (p->asked != 0 && p->asked != p->method->size(p->state))
        return descent_fail(err, DESCENT_ERR_CHECKPOINT,
                            "checkpoint has %zu outstanding candidates, the population asks for %zu", p->asked,
                            p->method->size(p->state));
    if (!all_finite(p->x0, n) || (isfinite(p->best_f) && !all_finite(p->best_x, n)) ||
        (p->ctx.rng.has_spare && !all_finite(&p->ctx.rng.spare, 1)) ||
        !all_finite(p->cand, p->asked * n) || isnan(p->best_f) || p->best_f == -INFINITY)
        return descent_fail(err, DESCENT_ERR_CHECKPOINT, "population checkpoint has a NaN or infinite value");
    if (p->bounded)
        for (size_t i = 0; i < n; i++)
            if (!isfinite(p->lo[i]) || !isfinite(p->hi[i]) || !(p->lo[i] <= p->hi[i]))
                return descent_fail(err, DESCENT_ERR_CHECKPOINT, "population checkpoint has bounds [%g, %g] for x[%zu]",
                                    p->lo[i], p->hi[i], i);
    return 0;
}

static int pop_io_all(descent_population *p, pop_io *io, descent_error *err)
{
    const size_t n = p->n;
    const char *name = p->method->name;
    if (io->w) {
        descent_put_str(io->w, name);
    } else {
        size_t got;
        const char *saved = descent_get_str(io->r, &got);
        if (!io->r->bad && !(got == strlen(name) && memcmp(saved, name, got) == 0))
            return descent_fail(err, DESCENT_ERR_CHECKPOINT, "checkpoint is for population method '%.*s', this one is %s",
                                (int)(got > 64 ? 64 : got), saved, name);
    }
    int rc = pop_io_expect(io, n, "n", err);
    if (rc < 0)
        return rc;
    pop_io_u64(io, &p->seed);
    pop_io_bool(io, &p->bounded);
    pop_io_f64(io, p->x0, n);
    if (p->bounded) {
        pop_io_f64(io, p->lo, n);
        pop_io_f64(io, p->hi, n);
    }
    pop_io_bool(io, &p->initialized);
    for (int i = 0; i < 4; i++)
        pop_io_u64(io, &p->ctx.rng.s[i]);
    pop_io_bool(io, &p->ctx.rng.has_spare);
    pop_io_f64(io, &p->ctx.rng.spare, 1);
    uint64_t gen = (uint64_t)p->generation, evals = (uint64_t)p->evaluations;
    pop_io_u64(io, &gen);
    pop_io_u64(io, &evals);
    /* Counts a double counts exactly, far from overflowing int64. */
    if (io->r && !pop_io_bad(io) && (gen > POP_MAX_COUNT || evals > POP_MAX_COUNT))
        return descent_fail(err, DESCENT_ERR_CHECKPOINT,
                            "checkpoint has %llu generations and %llu evaluations; at most 2^53 are possible",
                            (unsigned long long)gen, (unsigned long long)evals);
    p->generation = (int64_t)gen;
    p->evaluations = (int64_t)evals;
    pop_io_f64(io, &p->best_f, 1);
    pop_io_f64(io, p->best_x, n);
    size_t asked = p->asked;
    pop_io_size(io, &asked);
    if (pop_io_bad(io))
        return descent_fail(err, DESCENT_ERR_CHECKPOINT, "population checkpoint is truncated");
    if (io->r) {
        if (asked > ((size_t)1 << 26) / n)
            return descent_fail(err, DESCENT_ERR_CHECKPOINT, "checkpoint has %zu outstanding candidates", asked);
        if (grow_candidates(&p->cand, &p->fvals, &p->cap, asked, n) < 0)
            return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory for the population");
        p->asked = asked;
    }
    pop_io_f64(io, p->cand, asked * n);
    if ((rc = p->method->io(p->state, io, err)) < 0)
        return rc;
    if (pop_io_bad(io))
        return descent_fail(err, DESCENT_ERR_CHECKPOINT, "population checkpoint is truncated");
    if (io->r && (rc = pop_values_ok(p, err)) < 0)
        return rc;
    if (io->r && io->r->pos != io->r->len)
        return descent_fail(err, DESCENT_ERR_CHECKPOINT, "population checkpoint has %zu bytes after its end",
                            io->r->len - io->r->pos);
    /* What ensure_init() sets besides the method's state. */
    p->ctx.x0 = p->x0;
    p->ctx.lo = p->bounded ? p->lo : NULL;
    p->ctx.hi = p->bounded ? p->hi : NULL;
    return 0;
}

int descent_population_save_mem(const descent_population *p, void *buf, size_t cap, size_t *len)
{
    if (!p || !len)
        return DESCENT_ERR_INVALID;
    descent_writer w = {buf, buf ? cap : 0, 0};
    size_t start = descent_frame_begin(&w, POP_MAGIC, POP_VERSION, 0);
    pop_io io = {&w, NULL, POP_VERSION};
    descent_error e;
    int rc = pop_io_all((descent_population *)p, &io, &e); /* saving only reads p */
    descent_frame_end(&w, start);
    *len = w.pos;
    if (rc < 0)
        return pop_fail((descent_population *)p, rc, e.message);
    if (buf && w.pos > cap)
        return pop_fail((descent_population *)p, DESCENT_ERR_INVALID, "checkpoint buffer too small");
    return 0;
}

/* What a loaded image must satisfy before any ask or tell uses it: an
 * outstanding ask of exactly the generation the method asks for (the
 * method's tell reads that many candidates), counts far from overflow,
 * finite x0, bounds and candidates. */
static int pop_validate(descent_population *p, descent_error *err)
{
    const size_t n = p->n;
    if (p->asked && p->initialized && p->asked != p->method->size(p->state))
        return descent_fail(err, DESCENT_ERR_CHECKPOINT,
                            "checkpoint has %zu outstanding candidates, this %s generation asks for %zu", p->asked,
                            p->method->name, p->method->size(p->state));
    if (p->asked && !p->initialized)
        return descent_fail(err, DESCENT_ERR_CHECKPOINT,
                            "checkpoint has %zu outstanding candidates before the method started", p->asked);
    const int64_t limit = (int64_t)1 << 62;
    if (p->evaluations > limit || p->generation > limit || p->generation > p->evaluations)
        return descent_fail(err, DESCENT_ERR_CHECKPOINT,
                            "checkpoint has %lld evaluations in %lld generations (at most 2^62, and at least one per "
                            "generation)",
                            (long long)p->evaluations, (long long)p->generation);
    if (isnan(p->best_f))
        return descent_fail(err, DESCENT_ERR_CHECKPOINT, "checkpoint has a best value of NaN");
    for (size_t i = 0; i < n; i++)
        if (!isfinite(p->x0[i]) || (p->bounded && (!isfinite(p->lo[i]) || !isfinite(p->hi[i]) || !(p->lo[i] <= p->hi[i]))))
            return descent_fail(err, DESCENT_ERR_CHECKPOINT, "checkpoint has a non-finite x0 or bounds at variable %zu",
                                i);
    for (size_t k = 0; k < p->asked * n; k++)
        if (!isfinite(p->cand[k]))
            return descent_fail(err, DESCENT_ERR_CHECKPOINT, "checkpoint has a non-finite outstanding candidate");
    return 0;
}

int descent_population_load_mem(descent_population *p, const void *buf, size_t len)
{
    if (!p)
        return DESCENT_ERR_INVALID;
    descent_error e;
    descent_reader r;
    descent_frame_info info;
    int rc = descent_frame_open(&r, buf, len, POP_MAGIC, POP_MIN_VERSION, POP_VERSION, 0, &info, "population checkpoint",
                                &e);
    if (rc < 0)
        return pop_fail(p, rc, e.message);
    /* Keep the current state: a load that fails past the checks above
     * (a mismatched size, no memory) puts it back. */
    size_t slen;
    descent_population_save_mem(p, NULL, 0, &slen);
    unsigned char *snap = malloc(slen);
    if (!snap)
        return pop_fail(p, DESCENT_ERR_NOMEM, "out of memory");
    descent_population_save_mem(p, snap, slen, &slen);
    pop_io io = {NULL, &r, info.version};
    rc = pop_io_all(p, &io, &e);
    if (rc == 0)
        rc = pop_validate(p, &e);
    if (rc < 0) {
        descent_reader back = {snap, slen - 4, DESCENT_FRAME_HEADER, 0};
        pop_io undo = {NULL, &back, POP_VERSION};
        descent_error ignored;
        pop_io_all(p, &undo, &ignored);
        pop_fail(p, rc, e.message);
    }
    free(snap);
    return rc;
}

int descent_population_save(const descent_population *p, const char *path)
{
    if (!p || !path)
        return DESCENT_ERR_INVALID;
    size_t len;
    descent_population_save_mem(p, NULL, 0, &len);
    descent_mem mem;
    descent_mem_init(&mem, NULL);
    void *buf = descent_mem_alloc(&mem, len);
    if (!buf)
        return pop_fail((descent_population *)p, DESCENT_ERR_NOMEM, "out of memory for a checkpoint");
    int rc = descent_population_save_mem(p, buf, len, &len);
    descent_error e;
    if (rc == 0 && (rc = descent_file_write_atomic(&mem, path, buf, len, &e)) < 0)
        pop_fail((descent_population *)p, rc, e.message);
    descent_mem_free(&mem, buf);
    return rc;
}

int descent_population_load(descent_population *p, const char *path)
{
    if (!p || !path)
        return DESCENT_ERR_INVALID;
    descent_mem mem;
    descent_mem_init(&mem, NULL);
    void *buf;
    size_t len;
    descent_error e;
    int rc = descent_file_read_framed(&mem, path, POP_MAGIC, POP_MIN_VERSION, POP_VERSION, 0, "population checkpoint", &buf,
                                      &len, &e);
    if (rc < 0)
        return pop_fail(p, rc, e.message);
    rc = descent_population_load_mem(p, buf, len);
    if (rc < 0) {
        char msg[sizeof p->errmsg];
        memcpy(msg, p->errmsg, sizeof msg);
        snprintf(p->errmsg, sizeof p->errmsg, "%.200s: %.300s", path, msg);
    }
    descent_mem_free(&mem, buf);
    return rc;
}

/* ---- the minimizer kind ------------------------------------------------ */

typedef struct pop_kind {
    descent_population *p;
    size_t n;
    bool fresh;
    double *cand, *f;
    size_t cap;
} pop_kind;

static void pk_destroy(void *state)
{
    pop_kind *s = state;
    if (!s)
        return;
    descent_population_destroy(s->p);
    free(s->cand);
    free(s->f);
    free(s);
}

static int pk_create(void **state, const spec_doc *doc, const spec_node *call, size_t n, descent_error *err)
{
    pop_kind *s = calloc(1, sizeof *s);
    if (!s)
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory");
    int rc = create_from_call(&s->p, doc, call, n, err);
    if (rc < 0) {
        free(s);
        return rc;
    }
    s->n = n;
    s->fresh = true;
    *state = s;
    return 0;
}

static const char *pk_name(const void *state) { return ((const pop_kind *)state)->p->method->name; }

static int pk_restart(void *state, descent_error *err)
{
    (void)err;
    pop_kind *s = state;
    descent_population_restart(s->p);
    s->fresh = true;
    return 0;
}

static int pk_iterate(void *state, descent_minimizer *m, double *x, double *f, double *grad, descent_error *err)
{
    pop_kind *s = state;
    const size_t n = s->n;
    descent_population *p = s->p;
    int rc;
    if (s->fresh) {
        if ((rc = descent_population_set_x0(p, x)) < 0)
            return descent_fail(err, rc, "%s", p->errmsg);
        s->fresh = false;
    }
    size_t l;
    if ((rc = descent_population_ask(p, NULL, &l)) != 0)
        return rc < 0 ? descent_fail(err, rc, "%s", p->errmsg) : rc;
    if (grow_candidates(&s->cand, &s->f, &s->cap, l, n) < 0)
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory for the population");
    if ((rc = descent_population_ask(p, s->cand, &l)) < 0)
        return descent_fail(err, rc, "%s", p->errmsg);
    for (size_t k = 0; k < l; k++) {
        /* BOBYQA's first point is x itself, whose value is known. */
        if (p->evaluations == 0 && memcmp(s->cand + k * n, x, n * sizeof *x) == 0) {
            s->f[k] = *f;
            continue;
        }
        /* A non-finite value ranks last, as in the ask/tell form. */
        rc = descent_minimizer_eval(m, s->cand + k * n, &s->f[k], NULL);
        if (rc < 0 && rc != DESCENT_ERR_NONFINITE)
            return descent_fail(err, rc, "%s", descent_minimizer_errmsg(m));
    }
    if ((rc = descent_population_tell(p, s->f)) < 0)
        return descent_fail(err, rc, "%s", p->errmsg);
    /* The iterate is the best point seen, the start included. */
    if (p->best_f < *f) {
        *f = p->best_f;
        memcpy(x, p->best_x, n * sizeof *x);
    }
    /* No gradient: an infinite norm keeps the gtol test off. */
    for (size_t i = 0; i < n; i++)
        grad[i] = INFINITY;
    return descent_population_stopped(p);
}

const minimizer_kind descent_minimizer_population = {
    "population", accepts_name, pk_create, pk_destroy, pk_name, NULL, pk_restart, pk_iterate, NULL, NULL,
};
