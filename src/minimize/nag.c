/* Minimizer kind "NAG": look-ahead Nesterov accelerated gradient
 * in Sutskever et al.'s form (ICML 2013, eq. 3-4):
 *     v = momentum * v + lr * grad f(x - momentum * v)
 *     x = x - v
 * from v = 0. It needs the objective at the look-ahead point, so it exists
 * only as a minimizer. The first iteration's look-ahead point is x itself
 * (v = 0), whose gradient is already known; later iterations evaluate the
 * look-ahead gradient and then f and its gradient at the new x. */
#include "args.h"
#include "kinds.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct nag {
    size_t n;
    double lr, momentum;
    bool fresh;        /* v == 0: the look-ahead point is x */
    double *v, *ahead, *ahead_grad;
} nag;

static bool nag_accepts(const char *name) { return descent_name_eq(name, "NAG"); }

static void nag_destroy(void *state)
{
    nag *s = state;
    if (!s)
        return;
    free(s->v);
    free(s->ahead);
    free(s->ahead_grad);
    free(s);
}

static int nag_create(void **state, const spec_doc *doc, const spec_node *call, size_t n, descent_error *err)
{
    static const char *const names[] = {"lr", "momentum", NULL};
    const spec_node *args[2];
    double lr = 1e-3, momentum = 0.9;
    int rc = descent_args_bind(doc, call, "NAG", names, args, err);
    if (rc == 0)
        rc = descent_args_real(doc, args[0], "lr", 0, true, INFINITY, &lr, err);
    if (rc == 0)
        rc = descent_args_real(doc, args[1], "momentum", 0, false, 1, &momentum, err);
    if (rc == 0 && momentum >= 1)
        rc = descent_spec_fail(doc, args[1], err, DESCENT_ERR_INVALID, "momentum must be in [0, 1), got %g", momentum);
    if (rc < 0)
        return rc;
    nag *s = calloc(1, sizeof *s);
    if (s) {
        s->v = calloc(n, sizeof *s->v);
        s->ahead = calloc(n, sizeof *s->ahead);
        s->ahead_grad = calloc(n, sizeof *s->ahead_grad);
    }
    if (!s || !s->v || !s->ahead || !s->ahead_grad) {
        nag_destroy(s);
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory");
    }
    s->n = n;
    s->lr = lr;
    s->momentum = momentum;
    s->fresh = true;
    *state = s;
    return 0;
}

static const char *nag_name(const void *state)
{
    (void)state;
    return "NAG";
}

static int nag_restart(void *state, descent_error *err)
{
    (void)err;
    nag *s = state;
    memset(s->v, 0, s->n * sizeof *s->v);
    s->fresh = true;
    return 0;
}

static int nag_iterate(void *state, descent_minimizer *m, double *x, double *f, double *grad, descent_error *err)
{
    nag *s = state;
    const double mu = s->momentum, lr = s->lr;
    const double *g = grad;
    if (!s->fresh) {
        for (size_t i = 0; i < s->n; i++)
            s->ahead[i] = x[i] - mu * s->v[i];
        double f_ahead;
        int rc = descent_minimizer_eval(m, s->ahead, &f_ahead, s->ahead_grad);
        if (rc < 0)
            return descent_fail(err, rc, "%s", descent_minimizer_errmsg(m));
        g = s->ahead_grad;
    }
    for (size_t i = 0; i < s->n; i++) {
        s->v[i] = mu * s->v[i] + lr * g[i];
        x[i] -= s->v[i];
    }
    s->fresh = false;
    int rc = descent_minimizer_eval(m, x, f, grad);
    return rc < 0 ? descent_fail(err, rc, "%s", descent_minimizer_errmsg(m)) : 0;
}

static double nag_lr(const void *state) { return ((const nag *)state)->lr; }

const minimizer_kind descent_minimizer_nag = {
    "NAG", nag_accepts, nag_create, nag_destroy, nag_name, NULL, nag_restart, nag_iterate, nag_lr, NULL,
};
