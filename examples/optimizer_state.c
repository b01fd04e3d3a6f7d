/* Read and write optimizer state by its PyTorch name, as opt.state[p] in
 * PyTorch: run AdamW, look at exp_avg, exp_avg_sq and step, then reset the
 * first moment and continue. Exits 1 if anything fails. */
#include <descent.h>

#include <math.h>
#include <stdio.h>

int main(void)
{
    descent_optimizer *opt;
    descent_error err;
    if (descent_create_from_spec(&opt, "AdamW(lr=0.05, weight_decay=0.01)", NULL, &err) < 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    double w[4] = {1, -1, 2, 0.5}, g[4];
    descent_add_group(opt, NULL);
    descent_add_tensor(opt, 0, w, g, 4, DESCENT_F64);
    for (int step = 0; step < 10; step++) {
        for (int i = 0; i < 4; i++)
            g[i] = 2 * (w[i] - 3); /* the gradient of sum (w - 3)^2 */
        descent_step(opt);
    }
    for (int i = 0; i < descent_state_count(opt, 0); i++) {
        const char *name = descent_state_name(opt, 0, i);
        double values[4];
        if (descent_state_read(opt, 0, name, values, 4) < 0) {
            fprintf(stderr, "%s\n", descent_errmsg(opt));
            return 1;
        }
        printf("state['%s'] = [%.5f, %.5f, %.5f, %.5f]\n", name, values[0], values[1], values[2], values[3]);
    }
    double steps;
    descent_state_get_scalar(opt, 0, "step", &steps);
    printf("state['step'] = %g\n", steps);

    /* Writable in place: clear the first moment, as one might after a loss spike. */
    double *exp_avg;
    size_t n;
    if (descent_state_buffer(opt, 0, "exp_avg", (void **)&exp_avg, &n) < 0) {
        fprintf(stderr, "%s\n", descent_errmsg(opt));
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        exp_avg[i] = 0;
    for (int step = 0; step < 200; step++) {
        for (int i = 0; i < 4; i++)
            g[i] = 2 * (w[i] - 3);
        descent_step(opt);
    }
    printf("w = [%.4f, %.4f, %.4f, %.4f]\n", w[0], w[1], w[2], w[3]);
    int ok = steps == 10 && descent_step_count(opt) == 210;
    for (int i = 0; i < 4; i++)
        ok = ok && fabs(w[i] - 3) < 0.1;
    descent_destroy(opt);
    return ok ? 0 : 1;
}
