/* The minimize driver: a minimizer is a kind (first-order optimizer, NAG,
 * ...) plus the objective, the current iterate and an evaluation count.
 * descent_minimizer_run() is a thin loop over _iterate() that checks the
 * stopping criteria, in the manner of GSL multimin and liblbfgs's progress
 * callback. */
#include "kinds.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern const minimizer_kind descent_minimizer_population;

struct descent_minimizer {
    const minimizer_kind *kind;
    void *state;
    size_t n;
    descent_objective_fn fn;
    void *ctx;
    int64_t evaluations;
    bool started;
    double f;
    double *grad;        /* gradient at the current iterate */
    char errmsg[512];
};

static int set_error(descent_minimizer *m, const descent_error *e)
{
    snprintf(m->errmsg, sizeof m->errmsg, "%s", e->message);
    return e->status;
}

static int fail(descent_minimizer *m, int status, const char *msg)
{
    snprintf(m->errmsg, sizeof m->errmsg, "%s", msg);
    return status;
}

void *descent_minimizer_state_of(descent_minimizer *m, const minimizer_kind *kind)
{
    return m && m->kind == kind ? m->state : NULL;
}

int descent_minimizer_fail(descent_minimizer *m, int status, const char *msg) { return fail(m, status, msg); }

const char *descent_stop_name(int reason)
{
    switch (reason) {
    case DESCENT_STOP_GTOL: return "gtol";
    case DESCENT_STOP_FTOL: return "ftol";
    case DESCENT_STOP_XTOL: return "xtol";
    case DESCENT_STOP_F_TARGET: return "f_target";
    case DESCENT_STOP_MAX_ITER: return "max_iter";
    case DESCENT_STOP_MAX_EVALS: return "max_evals";
    case DESCENT_STOP_MAX_TIME: return "max_time";
    case DESCENT_STOP_CANCELLED: return "cancelled";
    case DESCENT_STOP_RHOEND: return "rhoend";
    case DESCENT_STOP_MODEL_ROUNDING: return "model_rounding";
    default: return reason < 0 ? descent_strerror(reason) : "none";
    }
}

static void default_settings(descent_minimize_settings *s)
{
    memset(s, 0, sizeof *s);
    s->struct_size = sizeof *s;
    s->max_iter = 1000;
    s->gtol = 1e-5;
    s->f_target = -INFINITY;
}

void descent_minimize_default_settings_sized(descent_minimize_settings *s, size_t struct_size)
{
    descent_minimize_settings full;
    default_settings(&full);
    descent_struct_defaults_out(s, struct_size, &full, sizeof full);
}

int descent_minimizer_create(descent_minimizer **out, const char *spec, size_t n, descent_error *err)
{
    if (!out)
        return descent_fail(err, DESCENT_ERR_INVALID, "out must not be NULL");
    *out = NULL;
    if (n == 0)
        return descent_fail(err, DESCENT_ERR_INVALID, "n must be at least 1");
    if (n > SIZE_MAX / sizeof(double) / 4)
        return descent_fail(err, DESCENT_ERR_INVALID, "n = %zu is too large", n);
    spec_doc doc;
    int rc = descent_spec_parse(&doc, spec, NULL, err);
    if (rc < 0)
        return rc;
    const spec_node *call = doc.root;
    if (call->kind != SPEC_CALL && call->kind != SPEC_NAME) {
        rc = descent_spec_fail(&doc, call, err, DESCENT_ERR_SPEC, "expected a method such as Adam(lr=0.01), got %s",
                               descent_spec_kind_name(call->kind));
        descent_spec_free(&doc);
        return rc;
    }
    const minimizer_kind *kind = NULL;
    for (int i = 0; i < descent_minimizer_kind_count && !kind; i++)
        if (descent_minimizer_kinds[i]->accepts(call->str))
            kind = descent_minimizer_kinds[i];
    if (!kind) {
        char names[800] = "NAG, LBFGS, HessianFree, CMAES, DE, PSO, GA, BOBYQA";
        for (int i = 0; i < descent_optimizer_count(); i++) {
            size_t used = strlen(names);
            snprintf(names + used, sizeof names - used, ", %s", descent_optimizer_name(i));
        }
        spec_node at = *call;
        at.end = at.pos + strlen(call->str);
        rc = descent_spec_fail(&doc, &at, err, DESCENT_ERR_SPEC, "unknown method '%s' (known: %s)", call->str, names);
        descent_spec_free(&doc);
        return rc;
    }
    descent_minimizer *m = calloc(1, sizeof *m);
    double *grad = calloc(n, sizeof *grad);
    if (!m || !grad) {
        free(m);
        free(grad);
        descent_spec_free(&doc);
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory creating a minimizer of %zu variables", n);
    }
    rc = kind->create(&m->state, &doc, call, n, err);
    descent_spec_free(&doc);
    if (rc < 0) {
        free(grad);
        free(m);
        return rc;
    }
    m->kind = kind;
    m->n = n;
    m->grad = grad;
    *out = m;
    return 0;
}

void descent_minimizer_destroy(descent_minimizer *m)
{
    if (!m)
        return;
    m->kind->destroy(m->state);
    free(m->grad);
    free(m);
}

const char *descent_minimizer_name(const descent_minimizer *m) { return m ? m->kind->name_of(m->state) : NULL; }

const char *descent_minimizer_errmsg(const descent_minimizer *m) { return m ? m->errmsg : "no minimizer"; }

int descent_minimizer_set_schedule(descent_minimizer *m, const char *spec)
{
    if (!m)
        return DESCENT_ERR_INVALID;
    if (!m->kind->set_schedule)
        return fail(m, DESCENT_ERR_INVALID, "this method takes no learning-rate schedule");
    descent_error e;
    int rc = m->kind->set_schedule(m->state, spec, &e);
    return rc < 0 ? set_error(m, &e) : 0;
}

descent_optimizer *descent_minimizer_optimizer(descent_minimizer *m)
{
    return m && m->kind->optimizer ? m->kind->optimizer(m->state) : NULL;
}

int descent_minimizer_eval(descent_minimizer *m, const double *x, double *f, double *grad)
{
    m->evaluations++;
    double v = m->fn(m->ctx, x, grad, m->n);
    *f = v;
    if (!isfinite(v)) {
        snprintf(m->errmsg, sizeof m->errmsg, "the objective returned %g at evaluation %lld", v,
                 (long long)m->evaluations);
        return DESCENT_ERR_NONFINITE;
    }
    if (grad)
        for (size_t i = 0; i < m->n; i++)
            if (!isfinite(grad[i])) {
                snprintf(m->errmsg, sizeof m->errmsg, "the gradient has %g in element %zu at evaluation %lld",
                         grad[i], i, (long long)m->evaluations);
                return DESCENT_ERR_NONFINITE;
            }
    return 0;
}

int descent_minimizer_start(descent_minimizer *m, descent_objective_fn fn, void *ctx, double *x, double *f,
                            double *grad)
{
    if (!m)
        return DESCENT_ERR_INVALID;
    if (!fn || !x)
        return fail(m, DESCENT_ERR_INVALID, "fn and x must not be NULL");
    descent_error e;
    int rc = m->kind->restart(m->state, &e);
    if (rc < 0)
        return set_error(m, &e);
    m->fn = fn;
    m->ctx = ctx;
    m->evaluations = 0;
    m->started = false;
    /* The population methods (population.c) use f only: the start point
     * too is evaluated with grad = NULL, and the gradient norm reads as
     * infinite so that gtol never stops them. */
    const bool f_only = m->kind == &descent_minimizer_population;
    if (f_only)
        for (size_t i = 0; i < m->n; i++)
            m->grad[i] = INFINITY;
    rc = descent_minimizer_eval(m, x, &m->f, f_only ? NULL : m->grad);
    if (rc < 0)
        return rc;
    m->started = true;
    if (f)
        *f = m->f;
    if (grad)
        memcpy(grad, m->grad, m->n * sizeof *grad);
    return 0;
}

int descent_minimizer_iterate(descent_minimizer *m, double *x, double *f, double *grad)
{
    if (!m)
        return DESCENT_ERR_INVALID;
    if (!m->started)
        return fail(m, DESCENT_ERR_STATE, "call descent_minimizer_start() first");
    if (!x)
        return fail(m, DESCENT_ERR_INVALID, "x must not be NULL");
    descent_error e;
    e.message[0] = '\0';
    int rc = m->kind->iterate(m->state, m, x, &m->f, m->grad, &e);
    if (rc < 0) {
        m->started = false;
        return e.message[0] ? set_error(m, &e) : rc;
    }
    if (f)
        *f = m->f;
    if (grad)
        memcpy(grad, m->grad, m->n * sizeof *grad);
    return rc; /* 0, or the method's own stop reason */
}

int64_t descent_minimizer_evaluations(const descent_minimizer *m) { return m ? m->evaluations : 0; }

double descent_minimizer_lr(const descent_minimizer *m) { return m && m->kind->lr ? m->kind->lr(m->state) : NAN; }

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static double inf_norm(const double *v, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(v[i]) > m)
            m = fabs(v[i]);
    return m;
}

static int check_settings(descent_minimizer *m, const descent_minimize_settings *s)
{
    if (s->max_iter < 0 || s->max_evals < 0)
        return fail(m, DESCENT_ERR_INVALID, "max_iter and max_evals must be >= 0 (0: no limit)");
    if (!(s->gtol >= 0) || !(s->ftol_rel >= 0) || !(s->xtol_rel >= 0) || !(s->max_seconds >= 0))
        return fail(m, DESCENT_ERR_INVALID, "gtol, ftol_rel, xtol_rel and max_seconds must be >= 0 (0: off)");
    if (isnan(s->f_target))
        return fail(m, DESCENT_ERR_INVALID, "f_target must not be NAN (-INFINITY: off)");
    return 0;
}

int descent_minimizer_run(descent_minimizer *m, descent_objective_fn fn, void *ctx, double *x,
                          const descent_minimize_settings *settings, descent_minimize_result *r)
{
    if (r) {
        memset(r, 0, sizeof *r);
        r->f = r->grad_norm = NAN;
    }
    if (!m)
        return DESCENT_ERR_INVALID;
    descent_minimize_settings s;
    default_settings(&s);
    descent_error e;
    int rc = 0;
    if (settings && (rc = descent_struct_size_check(settings->struct_size, DESCENT_SETTINGS_MIN_SIZE, sizeof s,
                                                    "descent_minimize_settings", "descent_minimize_default_settings",
                                                    &e)) < 0)
        rc = fail(m, rc, e.message);
    else if (settings)
        descent_struct_in(&s, sizeof s, settings);
    if (rc == 0)
        rc = check_settings(m, &s);
    double *x_prev = NULL;
    double t0 = now_seconds(), f = NAN, gnorm = NAN;
    int64_t iter = 0;
    if (rc == 0 && s.xtol_rel > 0 && !(x_prev = malloc(m->n * sizeof *x_prev)))
        rc = fail(m, DESCENT_ERR_NOMEM, "out of memory");
    if (rc == 0)
        rc = descent_minimizer_start(m, fn, ctx, x, &f, NULL);
    if (rc == 0) {
        gnorm = inf_norm(m->grad, m->n);
        if (f <= s.f_target)
            rc = DESCENT_STOP_F_TARGET;
        else if (gnorm <= s.gtol)
            rc = DESCENT_STOP_GTOL;
        if (s.progress) {
            descent_minimize_progress p = {0, m->evaluations, f, gnorm, NAN, now_seconds() - t0, x, m->n};
            if (s.progress(s.progress_ctx, &p) && rc == 0)
                rc = DESCENT_STOP_CANCELLED;
        }
    }
    while (rc == 0) {
        double f_prev = f;
        if (x_prev)
            memcpy(x_prev, x, m->n * sizeof *x);
        rc = descent_minimizer_iterate(m, x, &f, NULL);
        if (rc < 0)
            break;
        iter++;
        gnorm = inf_norm(m->grad, m->n);
        double elapsed = now_seconds() - t0;
        if (rc > 0)
            ; /* the method stopped itself (BOBYQA: rho reached rhoend) */
        else if (gnorm <= s.gtol)
            rc = DESCENT_STOP_GTOL;
        else if (s.ftol_rel > 0 && fabs(f - f_prev) <= s.ftol_rel * fabs(f))
            rc = DESCENT_STOP_FTOL;
        else if (x_prev) {
            bool small = true;
            for (size_t i = 0; i < m->n && small; i++)
                small = fabs(x[i] - x_prev[i]) <= s.xtol_rel * fabs(x[i]);
            if (small)
                rc = DESCENT_STOP_XTOL;
        }
        if (rc == 0 && f <= s.f_target)
            rc = DESCENT_STOP_F_TARGET;
        if (rc == 0 && s.max_iter > 0 && iter >= s.max_iter)
            rc = DESCENT_STOP_MAX_ITER;
        if (rc == 0 && s.max_evals > 0 && m->evaluations >= s.max_evals)
            rc = DESCENT_STOP_MAX_EVALS;
        if (rc == 0 && s.max_seconds > 0 && elapsed >= s.max_seconds)
            rc = DESCENT_STOP_MAX_TIME;
        if (s.progress) {
            descent_minimize_progress p = {iter, m->evaluations, f, gnorm, descent_minimizer_lr(m), elapsed, x, m->n};
            if (s.progress(s.progress_ctx, &p) && rc == 0)
                rc = DESCENT_STOP_CANCELLED;
        }
    }
    free(x_prev);
    if (r) {
        r->f = f;
        r->grad_norm = gnorm;
        r->iterations = iter;
        r->evaluations = m->evaluations;
        r->reason = rc;
        r->seconds = now_seconds() - t0;
    }
    return rc;
}

int descent_minimize(const char *spec, const char *schedule_spec, descent_objective_fn fn, void *ctx, double *x,
                     size_t n, const descent_minimize_settings *s, descent_minimize_result *r, descent_error *err)
{
    if (r) {
        memset(r, 0, sizeof *r);
        r->f = r->grad_norm = NAN;
    }
    descent_minimizer *m;
    int rc = descent_minimizer_create(&m, spec, n, err);
    if (rc < 0)
        return rc;
    if (schedule_spec && (rc = descent_minimizer_set_schedule(m, schedule_spec)) < 0) {
        descent_fail(err, rc, "%s", m->errmsg);
        descent_minimizer_destroy(m);
        return rc;
    }
    rc = descent_minimizer_run(m, fn, ctx, x, s, r);
    if (rc < 0)
        descent_fail(err, rc, "%s", m->errmsg);
    descent_minimizer_destroy(m);
    return rc;
}
