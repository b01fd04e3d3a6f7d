/* Minimize f(w) = sum_i (w_i - target_i)^2 with Adam. */
#include "descent.h"
#include <math.h>
#include <stdio.h>

int main(void)
{
    float w[3] = {0, 0, 0}, grad[3];
    const float target[3] = {1.0f, -2.0f, 0.5f};
    descent_optimizer *opt;
    descent_error err;
    if (descent_create_from_spec(&opt, "Adam(lr=0.05, betas=(0.9, 0.99))", NULL, &err) < 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    int group = descent_add_group(opt, NULL);                /* the spec's hyperparameters */
    descent_add_tensor(opt, group, w, grad, 3, DESCENT_F32); /* state is allocated here */
    for (int t = 0; t < 500; t++) {
        for (int i = 0; i < 3; i++)
            grad[i] = 2 * (w[i] - target[i]); /* df/dw */
        descent_step(opt);                    /* updates w in place */
    }
    printf("w = %.3f %.3f %.3f\n", w[0], w[1], w[2]);
    descent_destroy(opt);
    return fabsf(w[0] - 1) + fabsf(w[1] + 2) + fabsf(w[2] - 0.5f) < 1e-2f ? 0 : 1;
}
