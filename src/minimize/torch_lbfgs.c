/* descent_lbfgs: torch.optim.LBFGS (torch 1.13) over one f64 vector, for
 * callers who step it with a closure inside a training loop. Each
 * descent_lbfgs_step() is one `opt.step(closure)`: up to max_iter L-BFGS
 * iterations and max_eval closure calls, stopping early at
 * max |g| <= tolerance_grad, at g'd > -tolerance_change, at
 * max |t d| <= tolerance_change or at |loss - prev_loss| < tolerance_change.
 * State (history, direction, step, previous gradient) carries over from one
 * step to the next exactly as PyTorch's does:
 *  - the first iteration ever uses d = -g and t = min(1, 1/|g|_1) lr, later
 *    ones the two-loop recursion and t = lr;
 *  - a pair (y, s = t d) is stored only when y's > 1e-10, H0 = y's / y'y;
 *  - line_search_fn=None moves by t d and evaluates the closure again
 *    except after the last iteration; 'strong_wolfe' is PyTorch's own
 *    bracketing and zoom search with cubic interpolation (c1 = 1e-4,
 *    c2 = 0.9, at most 25 evaluations), not More-Thuente. */
#include "args.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct descent_lbfgs {
    size_t n, m;
    double lr, tolerance_grad, tolerance_change;
    int64_t max_iter, max_eval;
    bool strong_wolfe;
    double *S, *Y, *ro, *al;    /* old_stps, old_dirs: a ring of m pairs */
    size_t count, oldest;
    double *d, *g, *prev_g, *xt, *gn, *gp, *bg[2];
    double t, h_diag, prev_loss;
    int64_t func_evals, n_iter;
    char errmsg[512];
};

void descent_lbfgs_destroy(descent_lbfgs *o)
{
    if (!o)
        return;
    free(o->S);
    free(o->Y);
    free(o->ro);
    free(o->al);
    free(o->d);
    free(o->g);
    free(o->prev_g);
    free(o->xt);
    free(o->gn);
    free(o->gp);
    free(o->bg[0]);
    free(o->bg[1]);
    free(o);
}

int descent_lbfgs_create(descent_lbfgs **out, const char *spec, size_t n, descent_error *err)
{
    if (!out)
        return descent_fail(err, DESCENT_ERR_INVALID, "out must not be NULL");
    *out = NULL;
    if (n == 0)
        return descent_fail(err, DESCENT_ERR_INVALID, "n must be at least 1");
    spec_doc doc;
    int rc = descent_spec_parse(&doc, spec, NULL, err);
    if (rc < 0)
        return rc;
    static const char *const names[] = {"lr",         "max_iter",       "max_eval", "tolerance_grad", "tolerance_change",
                                        "history_size", "line_search_fn", NULL};
    static const char *const searches[] = {"strong_wolfe", NULL};
    const spec_node *a[7];
    double lr = 1, tol_grad = 1e-7, tol_change = 1e-9;
    size_t max_iter = 20, max_eval = 0, m = 100;
    int search = -1;
    const spec_node *call = doc.root;
    if ((call->kind != SPEC_CALL && call->kind != SPEC_NAME) || !descent_name_eq(call->str, "LBFGS"))
        rc = descent_spec_fail(&doc, call, err, DESCENT_ERR_SPEC, "expected LBFGS(...)");
    if (rc == 0)
        rc = descent_args_bind(&doc, call, "LBFGS", names, a, err);
    if (rc == 0)
        rc = descent_args_real(&doc, a[0], "lr", 0, true, INFINITY, &lr, err);
    if (rc == 0)
        rc = descent_args_size(&doc, a[1], "max_iter", 1, 1000000000, &max_iter, err);
    max_eval = max_iter * 5 / 4;
    if (rc == 0 && a[2] && a[2]->kind != SPEC_NONE)
        rc = descent_args_size(&doc, a[2], "max_eval", 1, 1000000000, &max_eval, err);
    if (rc == 0)
        rc = descent_args_real(&doc, a[3], "tolerance_grad", 0, false, INFINITY, &tol_grad, err);
    if (rc == 0)
        rc = descent_args_real(&doc, a[4], "tolerance_change", 0, false, INFINITY, &tol_change, err);
    if (rc == 0)
        rc = descent_args_size(&doc, a[5], "history_size", 1, 100000, &m, err);
    if (rc == 0 && a[6] && a[6]->kind != SPEC_NONE) {
        search = 0;
        rc = descent_args_choice(&doc, a[6], "line_search_fn", searches, &search, err);
    }
    descent_spec_free(&doc);
    if (rc < 0)
        return rc;
    if (m > SIZE_MAX / sizeof(double) / 2 / n)
        return descent_fail(err, DESCENT_ERR_INVALID, "history_size %zu times n = %zu is too large", m, n);
    descent_lbfgs *o = calloc(1, sizeof *o);
    if (!o)
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory");
    o->S = malloc(m * n * sizeof(double));
    o->Y = malloc(m * n * sizeof(double));
    o->ro = malloc(m * sizeof(double));
    o->al = malloc(m * sizeof(double));
    double **vecs[] = {&o->d, &o->g, &o->prev_g, &o->xt, &o->gn, &o->gp, &o->bg[0], &o->bg[1]};
    bool ok = o->S && o->Y && o->ro && o->al;
    for (size_t k = 0; k < sizeof vecs / sizeof vecs[0]; k++)
        ok = (*vecs[k] = malloc(n * sizeof(double))) && ok;
    if (!ok) {
        descent_lbfgs_destroy(o);
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory for LBFGS(history_size=%zu) over %zu variables", m,
                            n);
    }
    o->n = n;
    o->m = m;
    o->lr = lr;
    o->tolerance_grad = tol_grad;
    o->tolerance_change = tol_change;
    o->max_iter = (int64_t)max_iter;
    o->max_eval = (int64_t)max_eval;
    o->strong_wolfe = search == 0;
    *out = o;
    return 0;
}

const char *descent_lbfgs_errmsg(const descent_lbfgs *o) { return o ? o->errmsg : "no optimizer"; }

int64_t descent_lbfgs_func_evals(const descent_lbfgs *o) { return o ? o->func_evals : 0; }

int64_t descent_lbfgs_n_iter(const descent_lbfgs *o) { return o ? o->n_iter : 0; }

static double dot(const double *a, const double *b, size_t n)
{
    double r = 0;
    for (size_t i = 0; i < n; i++)
        r += a[i] * b[i];
    return r;
}

static double max_abs(const double *a, size_t n)
{
    double r = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(a[i]) > r)
            r = fabs(a[i]);
    return r;
}

/* The minimizer of the cubic through (x1, f1, g1), (x2, f2, g2), clamped to
 * [lo, hi]; the midpoint when the cubic has no minimizer. */
static double cubic_interpolate(double x1, double f1, double g1, double x2, double f2, double g2, double lo,
                                double hi)
{
    double d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2);
    double d2_square = d1 * d1 - g1 * g2;
    if (d2_square >= 0) {
        double d2 = sqrt(d2_square), min_pos;
        if (x1 <= x2)
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2));
        else
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2));
        return fmin(fmax(min_pos, lo), hi);
    }
    return (lo + hi) / 2;
}

/* f and gradient (into gn) at x + t d. */
static double directional(descent_lbfgs *o, descent_objective_fn fn, void *ctx, const double *x, double t)
{
    for (size_t i = 0; i < o->n; i++)
        o->xt[i] = x[i] + t * o->d[i];
    return fn(ctx, o->xt, o->gn, o->n);
}

/* PyTorch's _strong_wolfe from x along d with f, g = o->g, gtd. On return
 * o->g holds the gradient at the chosen step, *t the step, *f its value. */
static int64_t strong_wolfe(descent_lbfgs *o, descent_objective_fn fn, void *ctx, const double *x, double *t,
                            double *f, double gtd)
{
    const size_t n = o->n, bytes = n * sizeof(double);
    const double c1 = 1e-4, c2 = 0.9, tol = o->tolerance_change, f0 = *f;
    const int max_ls = 25;
    const double d_norm = max_abs(o->d, n);
    double f_new = directional(o, fn, ctx, x, *t);
    int64_t evals = 1;
    double gtd_new = dot(o->gn, o->d, n);
    double t_prev = 0, f_prev = f0, gtd_prev = gtd;
    memcpy(o->gp, o->g, bytes);
    bool done = false;
    int ls_iter = 0, nb = 2;
    double b[2] = {0, 0}, bf[2] = {0, 0}, bgtd[2] = {0, 0};
    while (ls_iter < max_ls) {
        if (f_new > f0 + c1 * *t * gtd || (ls_iter > 1 && f_new >= f_prev)) {
            b[0] = t_prev, b[1] = *t, bf[0] = f_prev, bf[1] = f_new, bgtd[0] = gtd_prev, bgtd[1] = gtd_new;
            memcpy(o->bg[0], o->gp, bytes);
            memcpy(o->bg[1], o->gn, bytes);
            break;
        }
        if (fabs(gtd_new) <= -c2 * gtd) {
            nb = 1;
            b[0] = *t, bf[0] = f_new;
            memcpy(o->bg[0], o->gn, bytes);
            done = true;
            break;
        }
        if (gtd_new >= 0) {
            b[0] = t_prev, b[1] = *t, bf[0] = f_prev, bf[1] = f_new, bgtd[0] = gtd_prev, bgtd[1] = gtd_new;
            memcpy(o->bg[0], o->gp, bytes);
            memcpy(o->bg[1], o->gn, bytes);
            break;
        }
        /* Extrapolate into [t + 0.01 (t - t_prev), 10 t]. */
        double min_step = *t + 0.01 * (*t - t_prev), max_step = *t * 10, tmp = *t;
        *t = cubic_interpolate(t_prev, f_prev, gtd_prev, *t, f_new, gtd_new, min_step, max_step);
        t_prev = tmp;
        f_prev = f_new;
        memcpy(o->gp, o->gn, bytes);
        gtd_prev = gtd_new;
        f_new = directional(o, fn, ctx, x, *t);
        evals++;
        gtd_new = dot(o->gn, o->d, n);
        ls_iter++;
    }
    if (ls_iter == max_ls) {
        b[0] = 0, b[1] = *t, bf[0] = f0, bf[1] = f_new;
        memcpy(o->bg[0], o->g, bytes);
        memcpy(o->bg[1], o->gn, bytes);
    }
    /* Zoom inside the bracket. */
    bool insuf_progress = false;
    int low = bf[0] <= bf[nb - 1] ? 0 : 1, high = 1 - low;
    while (!done && ls_iter < max_ls) {
        if (fabs(b[1] - b[0]) * d_norm < tol)
            break;
        double lo = fmin(b[0], b[1]), hi = fmax(b[0], b[1]);
        *t = cubic_interpolate(b[0], bf[0], bgtd[0], b[1], bf[1], bgtd[1], lo, hi);
        double eps = 0.1 * (hi - lo);
        if (fmin(hi - *t, *t - lo) < eps) {
            if (insuf_progress || *t >= hi || *t <= lo) {
                *t = fabs(*t - hi) < fabs(*t - lo) ? hi - eps : lo + eps;
                insuf_progress = false;
            } else {
                insuf_progress = true;
            }
        } else {
            insuf_progress = false;
        }
        f_new = directional(o, fn, ctx, x, *t);
        evals++;
        gtd_new = dot(o->gn, o->d, n);
        ls_iter++;
        if (f_new > f0 + c1 * *t * gtd || f_new >= bf[low]) {
            b[high] = *t, bf[high] = f_new, bgtd[high] = gtd_new;
            memcpy(o->bg[high], o->gn, bytes);
            low = bf[0] <= bf[1] ? 0 : 1;
            high = 1 - low;
        } else {
            if (fabs(gtd_new) <= -c2 * gtd)
                done = true;
            else if (gtd_new * (b[high] - b[low]) >= 0) {
                b[high] = b[low], bf[high] = bf[low], bgtd[high] = bgtd[low];
                memcpy(o->bg[high], o->bg[low], bytes);
            }
            b[low] = *t, bf[low] = f_new, bgtd[low] = gtd_new;
            memcpy(o->bg[low], o->gn, bytes);
        }
    }
    *t = b[low];
    *f = bf[low];
    memcpy(o->g, o->bg[low], bytes);
    return evals;
}

/* d = -H g by PyTorch's two-loop recursion, after storing the new pair. */
static void direction(descent_lbfgs *o)
{
    const size_t n = o->n, m = o->m;
    double ys = 0, yy = 0;
    for (size_t i = 0; i < n; i++) {
        double y = o->g[i] - o->prev_g[i], s = o->d[i] * o->t;
        ys += y * s;
        yy += y * y;
    }
    if (ys > 1e-10) {
        size_t slot;
        if (o->count == m) {
            slot = o->oldest;
            o->oldest = (o->oldest + 1) % m;
        } else {
            slot = (o->oldest + o->count) % m;
            o->count++;
        }
        double *Ys = o->Y + slot * n, *Ss = o->S + slot * n;
        for (size_t i = 0; i < n; i++) {
            Ys[i] = o->g[i] - o->prev_g[i];
            Ss[i] = o->d[i] * o->t;
        }
        o->ro[slot] = 1 / ys;
        o->h_diag = ys / yy;
    }
    double *q = o->d;
    for (size_t i = 0; i < n; i++)
        q[i] = -o->g[i];
    for (size_t k = o->count; k-- > 0;) {
        size_t j = (o->oldest + k) % m;
        o->al[j] = dot(o->S + j * n, q, n) * o->ro[j];
        const double *y = o->Y + j * n;
        for (size_t i = 0; i < n; i++)
            q[i] += -o->al[j] * y[i];
    }
    for (size_t i = 0; i < n; i++)
        q[i] *= o->h_diag;
    for (size_t k = 0; k < o->count; k++) {
        size_t j = (o->oldest + k) % m;
        double be = dot(o->Y + j * n, q, n) * o->ro[j];
        const double *s = o->S + j * n;
        for (size_t i = 0; i < n; i++)
            q[i] += (o->al[j] - be) * s[i];
    }
}

int descent_lbfgs_step(descent_lbfgs *o, descent_objective_fn closure, void *ctx, double *x, double *loss_out)
{
    if (!o)
        return DESCENT_ERR_INVALID;
    if (!closure || !x) {
        snprintf(o->errmsg, sizeof o->errmsg, "closure and x must not be NULL");
        return DESCENT_ERR_INVALID;
    }
    const size_t n = o->n;
    double orig_loss = closure(ctx, x, o->g, n), loss = orig_loss;
    int64_t current_evals = 1;
    o->func_evals++;
    if (loss_out)
        *loss_out = orig_loss;
    if (max_abs(o->g, n) <= o->tolerance_grad)
        return 0;
    for (int64_t it = 1; it <= o->max_iter; it++) {
        o->n_iter++;
        if (o->n_iter == 1) {
            for (size_t i = 0; i < n; i++)
                o->d[i] = -o->g[i];
            o->count = o->oldest = 0;
            o->h_diag = 1;
        } else {
            direction(o);
        }
        memcpy(o->prev_g, o->g, n * sizeof *x);
        o->prev_loss = loss;
        if (o->n_iter == 1) {
            double l1 = 0;
            for (size_t i = 0; i < n; i++)
                l1 += fabs(o->g[i]);
            o->t = fmin(1., 1. / l1) * o->lr;
        } else {
            o->t = o->lr;
        }
        double gtd = dot(o->g, o->d, n);
        if (gtd > -o->tolerance_change)
            break;
        int64_t ls_evals = 0;
        bool opt_cond = false;
        if (o->strong_wolfe) {
            ls_evals = strong_wolfe(o, closure, ctx, x, &o->t, &loss, gtd);
            for (size_t i = 0; i < n; i++)
                x[i] += o->t * o->d[i];
            opt_cond = max_abs(o->g, n) <= o->tolerance_grad;
        } else {
            for (size_t i = 0; i < n; i++)
                x[i] += o->t * o->d[i];
            if (it != o->max_iter) {
                loss = closure(ctx, x, o->g, n);
                opt_cond = max_abs(o->g, n) <= o->tolerance_grad;
                ls_evals = 1;
            }
        }
        current_evals += ls_evals;
        o->func_evals += ls_evals;
        if (it == o->max_iter || current_evals >= o->max_eval || opt_cond)
            break;
        if (max_abs(o->d, n) * fabs(o->t) <= o->tolerance_change)
            break;
        if (fabs(loss - o->prev_loss) < o->tolerance_change)
            break;
    }
    return 0;
}
