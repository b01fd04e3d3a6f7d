/* The list of minimizer kinds, tried in order against a spec's name:
 * adding a method means adding its file and a line here. */
#include "kinds.h"

extern const minimizer_kind descent_minimizer_nag, descent_minimizer_first_order;
extern const minimizer_kind descent_minimizer_lbfgs, descent_minimizer_hessian_free, descent_minimizer_population;

const minimizer_kind *const descent_minimizer_kinds[] = {
    &descent_minimizer_nag,
    &descent_minimizer_lbfgs,
    &descent_minimizer_hessian_free,
    &descent_minimizer_population,
    &descent_minimizer_first_order,
};

const int descent_minimizer_kind_count = (int)(sizeof descent_minimizer_kinds / sizeof descent_minimizer_kinds[0]);
