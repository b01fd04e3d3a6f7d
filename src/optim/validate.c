/* Cross-field checks shared by several algorithm tables' validate() hooks.
 * Kept beside the tables (not in hparams.c, which looks the tables up
 * through the registry) so the algorithm files call nothing above them. */
#include "../internal.h"

/* An update m / (sqrt(v + eps_root) + eps) with eps = eps_root = 0 is 0/0
 * wherever a gradient element is 0 (or underflows when squared): torch
 * accepts eps = 0 and returns NaN there. */
int descent_validate_denominator(const descent_hparams *hp, descent_error *err)
{
    if (hp->eps == 0 && hp->eps_root == 0)
        return descent_fail(err, DESCENT_ERR_INVALID,
                            "eps = 0 with eps_root = 0 divides 0 by 0 wherever a gradient element is 0 (the "
                            "update would be NaN); give eps > 0 or eps_root > 0");
    return 0;
}

/* Adagrad and Yogi: the accumulator also keeps the denominator positive
 * when it starts above 0. */
int descent_validate_denominator_or_accumulator(const descent_hparams *hp, descent_error *err)
{
    if (hp->initial_accumulator_value > 0)
        return 0;
    if (hp->eps == 0 && hp->eps_root == 0)
        return descent_fail(err, DESCENT_ERR_INVALID,
                            "eps = 0 with initial_accumulator_value = 0 divides 0 by 0 wherever a gradient "
                            "element is 0 (the update would be NaN); give eps > 0, eps_root > 0 or "
                            "initial_accumulator_value > 0");
    return 0;
}
