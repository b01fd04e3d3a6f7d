/* The minimizer kinds: each method of descent_minimizer is a table like an
 * optimizer's descent_algo. The generic driver (driver.c) owns x, counts
 * evaluations and checks stopping criteria; a kind owns its state. A new
 * method (L-BFGS, CMA-ES, ...) is a new file with its table and a line in
 * descent_minimizer_kinds[]. */
#ifndef DESCENT_MINIMIZE_KINDS_H
#define DESCENT_MINIMIZE_KINDS_H

#include "../internal.h"

typedef struct descent_minimizer descent_minimizer;

/* The objective as the kinds see it: counts evaluations, rejects non-finite f. */
int descent_minimizer_eval(descent_minimizer *m, const double *x, double *f, double *grad);

typedef struct minimizer_kind {
    const char *name;
    /* Does this kind take the spec's call name? */
    bool (*accepts)(const char *call_name);
    /* Build the state from the parsed spec for n variables. */
    int (*create)(void **state, const spec_doc *doc, const spec_node *call, size_t n, descent_error *err);
    void (*destroy)(void *state);
    const char *(*name_of)(const void *state);
    /* Attach a schedule (NULL if the kind has no lr). */
    int (*set_schedule)(void *state, const char *spec, descent_error *err);
    /* Forget momentum etc.; called by descent_minimizer_start(). */
    int (*restart)(void *state, descent_error *err);
    /* One iteration: x, f, grad hold the current iterate on entry and the
     * new one on exit. Evaluate through descent_minimizer_eval(m, ...). */
    int (*iterate)(void *state, descent_minimizer *m, double *x, double *f, double *grad, descent_error *err);
    double (*lr)(const void *state);
    descent_optimizer *(*optimizer)(void *state);
} minimizer_kind;

/* The state of m when its kind is `kind`, else NULL (for method-specific
 * public calls such as descent_minimizer_set_hessian_vector). */
void *descent_minimizer_state_of(descent_minimizer *m, const minimizer_kind *kind);

/* Record msg as m's error message and return status. */
int descent_minimizer_fail(descent_minimizer *m, int status, const char *msg);

extern const minimizer_kind *const descent_minimizer_kinds[];
extern const int descent_minimizer_kind_count;

#endif
