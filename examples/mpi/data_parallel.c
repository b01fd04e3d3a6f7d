/* Data-parallel least squares over MPI: every rank owns a slice of the
 * rows, computes the gradient of the mean squared error over its slice,
 * and descent_mpi_allreduce_grads() replaces it by the mean over the ranks
 * before each descent_step(), as PyTorch's DistributedDataParallel does.
 *
 * The data: y = X w_true with 4 features and 4096 rows, the same on every
 * rank (a seeded generator), rank r taking rows [r N/R, (r+1) N/R). With
 * equal slices, the mean of the per-rank mean gradients is the full-batch
 * gradient, so the run is full-batch gradient descent with Adam.
 *
 * Build and run against an installed descent (Open MPI):
 *     mpicc data_parallel.c $(pkg-config --cflags --libs descent_mpi) -lm
 *     mpirun -np 2 ./a.out
 * Exits 1 unless every rank recovers w_true to 1e-3 and all ranks agree.
 */
#include "descent_mpi.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define ROWS 4096
#define FEATURES 4
#define STEPS 2000

static uint64_t rng_state = 7;
static double uniform(void) /* xorshift64*, [-1, 1) */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return 2.0 * (double)((rng_state * 0x2545F4914F6CDD1DULL) >> 11) / 9007199254740992.0 - 1.0;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, ranks;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);

    static double X[ROWS][FEATURES], y[ROWS];
    const double w_true[FEATURES] = {1.5, -2.0, 0.5, 3.0};
    for (int r = 0; r < ROWS; r++) {
        y[r] = 0;
        for (int j = 0; j < FEATURES; j++) {
            X[r][j] = uniform();
            y[r] += X[r][j] * w_true[j];
        }
    }
    int begin = (int)((long)rank * ROWS / ranks), end = (int)((long)(rank + 1) * ROWS / ranks);

    double w[FEATURES] = {0}, grad[FEATURES];
    descent_error err;
    descent_optimizer *opt;
    if (descent_create_from_spec(&opt, "Adam(lr=0.05)", NULL, &err) < 0 || descent_add_group(opt, NULL) < 0 ||
        descent_add_tensor(opt, 0, w, grad, FEATURES, DESCENT_F64) < 0) {
        fprintf(stderr, "rank %d: %s\n", rank, err.message);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    for (int step = 0; step < STEPS; step++) {
        /* dL/dw_j = (2/B) sum_r (x_r . w - y_r) x_rj over this rank's rows. */
        memset(grad, 0, sizeof grad);
        for (int r = begin; r < end; r++) {
            double resid = -y[r];
            for (int j = 0; j < FEATURES; j++)
                resid += X[r][j] * w[j];
            for (int j = 0; j < FEATURES; j++)
                grad[j] += 2.0 * resid * X[r][j] / (end - begin);
        }
        if (descent_mpi_allreduce_grads(opt, MPI_COMM_WORLD) < 0 || descent_step(opt) < 0) {
            fprintf(stderr, "rank %d: %s\n", rank, descent_errmsg(opt));
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
    }
    double err_max = 0, w0[FEATURES];
    for (int j = 0; j < FEATURES; j++)
        err_max = fmax(err_max, fabs(w[j] - w_true[j]));
    /* Every rank must hold rank 0's parameters. */
    memcpy(w0, w, sizeof w);
    MPI_Bcast(w0, FEATURES, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    int agree = memcmp(w0, w, sizeof w) == 0, all_agree;
    MPI_Allreduce(&agree, &all_agree, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    if (rank == 0)
        printf("%d ranks: w = (%.4f, %.4f, %.4f, %.4f), max error %.2e, ranks agree: %s\n", ranks, w[0], w[1], w[2],
               w[3], err_max, all_agree ? "yes" : "no");
    descent_destroy(opt);
    MPI_Finalize();
    return err_max < 1e-3 && all_agree ? 0 : 1;
}
