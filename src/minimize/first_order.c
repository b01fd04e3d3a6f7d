/* Minimizer kind "first-order": any optimizer of the library over one f64
 * tensor holding x. An iteration is one optimizer step with the gradient at
 * the current iterate, one schedule step, and one evaluation at the new x. */
#include "kinds.h"

#include <math.h>
#include <stdlib.h>

typedef struct first_order {
    descent_optimizer *opt;
    bool has_schedule;
    double last_lr;
} first_order;

static bool fo_accepts(const char *name) { return descent_find_algo(name) != NULL; }

static int fo_create(void **state, const spec_doc *doc, const spec_node *call, size_t n, descent_error *err)
{
    descent_hparams hp;
    int rc = descent_hparams_from_node(&hp, doc, call, err);
    if (rc < 0)
        return rc;
    first_order *s = calloc(1, sizeof *s);
    if (!s)
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory");
    s->last_lr = NAN;
    rc = descent_create(&s->opt, &hp, NULL, err);
    if (rc == 0) {
        /* x and the gradient are bound at each step (set_tensor_data); the
         * pointers given here only satisfy registration. */
        static const double dummy[1];
        int g = descent_add_group(s->opt, NULL);
        rc = g < 0 ? g : descent_add_tensor(s->opt, g, (void *)dummy, dummy, n, DESCENT_F64);
        if (rc < 0)
            descent_fail(err, rc, "%s", descent_errmsg(s->opt));
    }
    if (rc < 0) {
        descent_destroy(s->opt);
        free(s);
        return rc;
    }
    *state = s;
    return 0;
}

static void fo_destroy(void *state)
{
    first_order *s = state;
    descent_destroy(s->opt);
    free(s);
}

static const char *fo_name(const void *state) { return descent_name(((const first_order *)state)->opt); }

static int fo_set_schedule(void *state, const char *spec, descent_error *err)
{
    first_order *s = state;
    int rc = descent_set_schedule(s->opt, spec);
    if (rc < 0)
        return descent_fail(err, rc, "%s", descent_errmsg(s->opt));
    s->has_schedule = true;
    return 0;
}

static int fo_restart(void *state, descent_error *err)
{
    first_order *s = state;
    int rc = descent_reset(s->opt);
    if (rc < 0)
        return descent_fail(err, rc, "%s", descent_errmsg(s->opt));
    s->last_lr = NAN;
    return 0;
}

static int fo_iterate(void *state, descent_minimizer *m, double *x, double *f, double *grad, descent_error *err)
{
    first_order *s = state;
    int rc = descent_set_tensor_data(s->opt, 0, x, grad);
    if (rc == 0)
        rc = descent_step(s->opt);
    if (rc < 0)
        return descent_fail(err, rc, "%s", descent_errmsg(s->opt));
    s->last_lr = descent_get_lr(s->opt, 0);
    if (s->has_schedule && (rc = descent_schedule_step(s->opt, *f)) < 0)
        return descent_fail(err, rc, "%s", descent_errmsg(s->opt));
    rc = descent_minimizer_eval(m, x, f, grad);
    return rc < 0 ? descent_fail(err, rc, "%s", descent_minimizer_errmsg(m)) : 0;
}

static double fo_lr(const void *state) { return ((const first_order *)state)->last_lr; }

static descent_optimizer *fo_optimizer(void *state) { return ((first_order *)state)->opt; }

const minimizer_kind descent_minimizer_first_order = {
    "first-order", fo_accepts, fo_create, fo_destroy, fo_name, fo_set_schedule,
    fo_restart,    fo_iterate, fo_lr,     fo_optimizer,
};
