/* Replicated-state data parallelism: average every registered gradient over
 * the ranks, as torch.nn.parallel.DistributedDataParallel does (all-reduce
 * with SUM, then divide by the world size). */
#include "mpi_internal.h"

#include <limits.h>
#include <stdio.h>

void descent_mpi_divide(void *x, size_t n, descent_dtype dtype, int R)
{
    if (R == 1)
        return;
    if (dtype == DESCENT_F64) {
        double *d = x, r = (double)R;
        for (size_t i = 0; i < n; i++)
            d[i] = d[i] / r;
    } else {
        float *f = x, r = (float)R;
        for (size_t i = 0; i < n; i++)
            f[i] = f[i] / r;
    }
}

int descent_mpi_agree(MPI_Comm comm, int rc, int *failed_rank)
{
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    int mine[2] = {rc, rc < 0 ? rank : INT_MAX}, all[2];
    if (MPI_Allreduce(mine, all, 2, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS)
        return DESCENT_ERR_IO;
    if (failed_rank)
        *failed_rank = all[1];
    return all[0] < 0 ? all[0] : 0;
}

static void scale(void *x, size_t n, descent_dtype dtype, double w)
{
    if (dtype == DESCENT_F64) {
        double *d = x;
        for (size_t i = 0; i < n; i++)
            d[i] = d[i] * w;
    } else {
        float *f = x, fw = (float)w;
        for (size_t i = 0; i < n; i++)
            f[i] = f[i] * fw;
    }
}

static void divide_by(void *x, size_t n, descent_dtype dtype, double W)
{
    if (dtype == DESCENT_F64) {
        double *d = x;
        for (size_t i = 0; i < n; i++)
            d[i] = d[i] / W;
    } else {
        float *f = x, fw = (float)W;
        for (size_t i = 0; i < n; i++)
            f[i] = f[i] / fw;
    }
}

/* sum_r w_r g_r / W in place, W = sum_r w_r, or the plain mean when
 * weighted is 0. */
static int reduce_grads(descent_optimizer *opt, MPI_Comm comm, int weighted, double weight)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    int R = 0;
    if (comm == MPI_COMM_NULL || MPI_Comm_size(comm, &R) != MPI_SUCCESS || R < 1)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "descent_mpi_allreduce_grads: invalid communicator");
    for (int i = 0; i < opt->ntensors; i++)
        if (opt->tensors[i].dtype != DESCENT_F32 && opt->tensors[i].dtype != DESCENT_F64)
            return descent_opt_fail(opt, DESCENT_ERR_INVALID,
                                    "descent_mpi_allreduce_grads: tensor %d is neither f32 nor f64 (dtype %d)", i,
                                    (int)opt->tensors[i].dtype);
    double W = R;
    if (weighted) {
        if (!(weight >= 0) || weight > 1e300)
            return descent_opt_fail(opt, DESCENT_ERR_INVALID, "weight must be finite and >= 0, got %g", weight);
        if (MPI_Allreduce(&weight, &W, 1, MPI_DOUBLE, MPI_SUM, comm) != MPI_SUCCESS)
            return descent_opt_fail(opt, DESCENT_ERR_IO, "MPI_Allreduce of the weights failed");
        if (!(W > 0))
            return descent_opt_fail(opt, DESCENT_ERR_INVALID, "the weights of all ranks add up to %g", W);
    }
    for (int i = 0; i < opt->ntensors; i++) {
        descent_tensor *t = &opt->tensors[i];
        /* The optimizer only reads grad; the caller owns the buffer and
         * asked for it to be overwritten with the mean. */
        unsigned char *g = (unsigned char *)(uintptr_t)t->grad;
        size_t es = t->dtype == DESCENT_F64 ? sizeof(double) : sizeof(float);
        if (weighted)
            scale(g, t->n, t->dtype, weight);
        for (size_t done = 0; done < t->n;) {
            size_t count = t->n - done < (size_t)INT_MAX ? t->n - done : (size_t)INT_MAX;
            int rc = MPI_Allreduce(MPI_IN_PLACE, g + done * es, (int)count,
                                   t->dtype == DESCENT_F64 ? MPI_DOUBLE : MPI_FLOAT, MPI_SUM, comm);
            if (rc != MPI_SUCCESS) {
                char msg[MPI_MAX_ERROR_STRING];
                int len = 0;
                MPI_Error_string(rc, msg, &len);
                return descent_opt_fail(opt, DESCENT_ERR_IO, "MPI_Allreduce of tensor %d's gradient failed: %s", i,
                                        msg);
            }
            done += count;
        }
        if (weighted)
            divide_by(g, t->n, t->dtype, W);
        else
            descent_mpi_divide(g, t->n, t->dtype, R);
    }
    return 0;
}

int descent_mpi_allreduce_grads(descent_optimizer *opt, MPI_Comm comm) { return reduce_grads(opt, comm, 0, 0.0); }

int descent_mpi_allreduce_grads_weighted(descent_optimizer *opt, MPI_Comm comm, double weight)
{
    return reduce_grads(opt, comm, 1, weight);
}
