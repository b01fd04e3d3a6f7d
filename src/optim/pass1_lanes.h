/* The lane loop of a whole-tensor method's pass 1 that sums two squares
 * per element (LAMB: p^2 and u^2, lamb_kernel.h; Adafactor's 1-D pass:
 * p^2 and U^2, adafactor_kernel.h), in the order kernels.h states:
 * element i of the range [b, e) into lane i mod DESCENT_RED_LANES, in
 * double, the lanes then added by descent_red_lanes into sums[0] (ps) and
 * sums[1] (us). Included in the body of the pass, where b, e and sums are
 * in scope, after
 *     #define DESCENT_PASS1_ELEM "NAME_elem.h"
 * the per-element statements: element `at` into lane k (ps[k], us[k]).
 * They are included at the main loop and at the tail, so the compiler sees
 * the loops as written and a debugger steps through every line. */
#ifndef DESCENT_PASS1_ELEM
#error "define DESCENT_PASS1_ELEM before including pass1_lanes.h"
#endif
{
    double ps[DESCENT_RED_LANES] = {0}, us[DESCENT_RED_LANES] = {0};
    size_t i = b;
    for (; i + DESCENT_RED_LANES <= e; i += DESCENT_RED_LANES)
        for (int k = 0; k < DESCENT_RED_LANES; k++) {
            const size_t at = i + k;
#include DESCENT_PASS1_ELEM
        }
    for (int k = 0; i < e; i++, k++) {
        const size_t at = i;
#include DESCENT_PASS1_ELEM
    }
    sums[0] = descent_red_lanes(ps);
    sums[1] = descent_red_lanes(us);
}
#undef DESCENT_PASS1_ELEM
