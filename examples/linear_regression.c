/* Linear regression with mini-batch SGD and momentum.
 *
 * The data are made up here: y = X w_true + b_true + noise, with 1000 rows
 * of 3 features drawn from a seeded generator. The model is y_hat = X w + b;
 * its loss on a batch of B rows is the mean squared error
 *
 *     L = (1/B) sum_r (y_hat_r - y_r)^2,
 *     dL/dw_j = (2/B) sum_r (y_hat_r - y_r) x_rj,   dL/db = (2/B) sum_r (y_hat_r - y_r).
 *
 * The program writes those gradients into arrays the optimizer knows about,
 * and descent_step() updates w and b in place. It prints the loss after each
 * epoch and the recovered coefficients, and exits 1 unless they are within
 * 0.05 of the true ones.
 *
 * Build against an installed descent:
 *     cc linear_regression.c $(pkg-config --cflags --libs descent) -lm
 */
#include "descent.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>

#define ROWS 1000
#define FEATURES 3
#define BATCH 32
#define EPOCHS 20

/* A small seeded generator (xorshift64*), so every run sees the same data. */
static uint64_t rng_state = 42;
static double uniform01(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0; /* [0, 1) */
}
static double normal(void) /* Box-Muller */
{
    double u = 1.0 - uniform01(), v = uniform01();
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

int main(void)
{
    static double X[ROWS][FEATURES], y[ROWS];
    const double w_true[FEATURES] = {2.0, -3.0, 0.5}, b_true = 1.0;
    for (int r = 0; r < ROWS; r++) {
        y[r] = b_true + 0.1 * normal(); /* noise with standard deviation 0.1 */
        for (int j = 0; j < FEATURES; j++) {
            X[r][j] = normal();
            y[r] += w_true[j] * X[r][j];
        }
    }

    /* The parameters and their gradients: two tensors, w and b. */
    double w[FEATURES] = {0}, b = 0, grad_w[FEATURES], grad_b;

    descent_optimizer *opt;
    descent_error err;
    if (descent_create_from_spec(&opt, "SGD(lr=0.05, momentum=0.9)", NULL, &err) < 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    int group = descent_add_group(opt, NULL);
    if (descent_add_tensor(opt, group, w, grad_w, FEATURES, DESCENT_F64) < 0 ||
        descent_add_tensor(opt, group, &b, &grad_b, 1, DESCENT_F64) < 0) {
        fprintf(stderr, "%s\n", descent_errmsg(opt));
        descent_destroy(opt);
        return 1;
    }

    int order[ROWS];
    for (int r = 0; r < ROWS; r++)
        order[r] = r;
    for (int epoch = 1; epoch <= EPOCHS; epoch++) {
        /* Visit the rows in a fresh random order each epoch (Fisher-Yates). */
        for (int r = ROWS - 1; r > 0; r--) {
            int k = (int)(uniform01() * (r + 1)), tmp = order[r];
            order[r] = order[k];
            order[k] = tmp;
        }
        double epoch_loss = 0;
        for (int start = 0; start < ROWS; start += BATCH) {
            int rows = ROWS - start < BATCH ? ROWS - start : BATCH;
            /* Forward pass and gradient of the batch's mean squared error. */
            double loss = 0;
            grad_b = 0;
            for (int j = 0; j < FEATURES; j++)
                grad_w[j] = 0;
            for (int i = 0; i < rows; i++) {
                const double *x = X[order[start + i]];
                double err_r = b - y[order[start + i]];
                for (int j = 0; j < FEATURES; j++)
                    err_r += w[j] * x[j];
                loss += err_r * err_r;
                for (int j = 0; j < FEATURES; j++)
                    grad_w[j] += 2 * err_r * x[j] / rows;
                grad_b += 2 * err_r / rows;
            }
            epoch_loss += loss; /* summed over rows; divided below */
            descent_step(opt);  /* w and b move against their gradients */
        }
        if (epoch == 1 || epoch % 5 == 0)
            printf("epoch %2d  mean squared error %.6f\n", epoch, epoch_loss / ROWS);
    }
    descent_destroy(opt);

    printf("recovered w = (%.4f, %.4f, %.4f), b = %.4f\n", w[0], w[1], w[2], b);
    printf("true      w = (%.4f, %.4f, %.4f), b = %.4f\n", w_true[0], w_true[1], w_true[2], b_true);
    double worst = fabs(b - b_true);
    for (int j = 0; j < FEATURES; j++)
        worst = fmax(worst, fabs(w[j] - w_true[j]));
    return worst < 0.05 ? 0 : 1;
}
