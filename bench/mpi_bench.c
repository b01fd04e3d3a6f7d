/* mpi_bench: optimizer state bytes per rank and bytes communicated per step
 * for replicated (all-reduce) and sharded (reduce-scatter + all-gather)
 * data parallelism, against the formulas of docs/distributed.md:
 *
 *   state per rank:  replicated  S N e        sharded  S N e / R
 *   sent per rank:   2 (R - 1) / R  N e  per step, both ways
 *
 * (N parameters of e bytes, S state buffers per parameter, R ranks).
 *
 *   mpirun -np R --mca btl self,tcp build/mpi_bench [N] [steps] [spec] [tensors]
 *
 * Bytes sent are measured, not modelled: on Linux the growth of this
 * process's write counter (/proc/self/io, wchar) over the timed steps. With
 * the TCP transport every byte a rank sends to another goes through
 * writev() and is counted there, payload plus Open MPI's fragment headers;
 * with shared memory (vader) nothing is written and the column reads 0. */
#include "descent_mpi.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int ntensors = 8;

static long long written_bytes(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    if (!f)
        return -1;
    char line[128];
    long long v = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "wchar:", 6) == 0)
            v = atoll(line + 6);
    fclose(f);
    return v;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct result {
    double state_bytes;   /* max over ranks */
    double sent_per_step; /* mean over ranks */
    double ms_per_step;
} result;

static void fill_grads(float **g, size_t per, int rank, int step)
{
    for (int j = 0; j < ntensors; j++)
        for (size_t i = 0; i < per; i++)
            g[j][i] = (float)((int)((i + (size_t)j * 7 + (size_t)step * 3 + (size_t)rank) % 17) - 8) / 64.0f;
}

static int run(int sharded, size_t n, int steps, const char *spec, result *out)
{
    int rank, R;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &R);
    size_t per = n / (size_t)ntensors;
    float **p = calloc((size_t)ntensors, sizeof *p), **g = calloc((size_t)ntensors, sizeof *g);
    if (!p || !g)
        return -1;
    for (int j = 0; j < ntensors; j++) {
        p[j] = calloc(per, sizeof(float));
        g[j] = calloc(per, sizeof(float));
        if (!p[j] || !g[j])
            return -1;
    }
    descent_error err;
    descent_optimizer *opt = NULL;
    descent_mpi_sharded *s = NULL;
    int rc;
    if (sharded) {
        rc = descent_mpi_sharded_create(&s, spec, MPI_COMM_WORLD, NULL, &err);
        if (rc == 0) {
            int grp = descent_mpi_sharded_add_group(s, NULL);
            for (int j = 0; j < ntensors; j++)
                descent_mpi_sharded_add_tensor(s, grp, p[j], g[j], per, DESCENT_F32);
            rc = descent_mpi_sharded_commit(s);
        }
    } else {
        rc = descent_create_from_spec(&opt, spec, NULL, &err);
        if (rc == 0) {
            int grp = descent_add_group(opt, NULL);
            for (int j = 0; j < ntensors; j++)
                descent_add_tensor(opt, grp, p[j], g[j], per, DESCENT_F32);
        }
    }
    if (rc < 0) {
        if (rank == 0)
            fprintf(stderr, "mpi_bench: %s\n", s ? descent_mpi_sharded_errmsg(s) : err.message);
        return rc;
    }
    long long w0 = 0;
    double t0 = 0;
    for (int k = -2; k < steps; k++) { /* two untimed warm-up steps */
        if (k == 0) {
            MPI_Barrier(MPI_COMM_WORLD);
            w0 = written_bytes();
            t0 = now();
        }
        fill_grads(g, per, rank, k);
        if (sharded)
            rc = descent_mpi_sharded_step(s);
        else if ((rc = descent_mpi_allreduce_grads(opt, MPI_COMM_WORLD)) == 0)
            rc = descent_step(opt);
        if (rc < 0)
            return rc;
    }
    double t1 = now();
    long long w1 = written_bytes();
    double state = (double)(sharded ? descent_mpi_sharded_state_bytes(s) : descent_state_bytes(opt));
    double sent = w0 < 0 || w1 < 0 ? -1.0 : (double)(w1 - w0) / steps, ms = 1e3 * (t1 - t0) / steps;
    double sum_sent = 0, max_state = 0, max_ms = 0;
    MPI_Allreduce(&sent, &sum_sent, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(&state, &max_state, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    MPI_Allreduce(&ms, &max_ms, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    out->state_bytes = max_state;
    out->sent_per_step = sent < 0 ? -1.0 : sum_sent / R;
    out->ms_per_step = max_ms;
    descent_destroy(opt);
    descent_mpi_sharded_destroy(s);
    for (int j = 0; j < ntensors; j++) {
        free(p[j]);
        free(g[j]);
    }
    free(p);
    free(g);
    return 0;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, R;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &R);
    size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : (size_t)1 << 22;
    int steps = argc > 2 ? atoi(argv[2]) : 10;
    const char *spec = argc > 3 ? argv[3] : "Adam(lr=1e-3)";
    ntensors = argc > 4 ? atoi(argv[4]) : 8;
    if (ntensors >= 1)
        n -= n % (size_t)ntensors;
    if (n == 0 || steps < 1 || ntensors < 1) {
        if (rank == 0)
            fprintf(stderr, "usage: mpi_bench [N elements] [steps] [optimizer spec] [tensors]\n");
        MPI_Finalize();
        return 2;
    }
    /* State buffers per parameter, from a one-element optimizer. */
    descent_optimizer *probe = NULL;
    descent_error err;
    if (descent_create_from_spec(&probe, spec, NULL, &err) < 0) {
        if (rank == 0)
            fprintf(stderr, "mpi_bench: %s\n", err.message);
        MPI_Finalize();
        return 2;
    }
    float x = 0, gx = 0;
    descent_add_group(probe, NULL);
    descent_add_tensor(probe, 0, &x, &gx, 1, DESCENT_F32);
    double S = (double)descent_state_bytes(probe) / sizeof(float);
    descent_destroy(probe);

    const double e = sizeof(float), N = (double)n;
    double comm_formula = 2.0 * (R - 1) / R * N * e;
    if (rank == 0) {
        printf("%s, N = %zu f32 parameters in %d tensors, R = %d, %d timed steps\n", spec, n, ntensors, R, steps);
        printf("%-10s %16s %16s %18s %18s %10s\n", "mode", "state B/rank", "formula", "sent B/step/rank",
               "formula", "ms/step");
    }
    for (int sharded = 0; sharded <= 1; sharded++) {
        result r = {0, 0, 0};
        if (run(sharded, n, steps, spec, &r) < 0)
            break;
        double state_formula = S * N * e / (sharded ? R : 1);
        if (rank == 0) {
            char sent[32];
            if (r.sent_per_step < 0)
                snprintf(sent, sizeof sent, "n/a");
            else
                snprintf(sent, sizeof sent, "%.0f", r.sent_per_step);
            printf("%-10s %16.0f %16.0f %18s %18.0f %10.2f\n", sharded ? "sharded" : "replicated", r.state_bytes,
                   state_formula, sent, comm_formula, r.ms_per_step);
        }
    }
    MPI_Finalize();
    return 0;
}
