/* Replicated-state data parallelism: average every registered gradient over
 * the ranks, as torch.nn.parallel.DistributedDataParallel does (all-reduce
 * with SUM, then divide by the world size), small tensors bucketed. */
#include "mpi_internal.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

/* Tensors below BUCKET_ELEMS elements are all-reduced together in buckets
 * of at most BUCKET_BYTES, as DDP's gradient buckets. */
#define BUCKET_ELEMS ((size_t)1 << 18)
#define BUCKET_BYTES ((size_t)1 << 21)

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
static int reduce_views(descent_optimizer *opt, const descent_tensor_view *tv, int nt, const descent_mem *mem,
                        int local, MPI_Comm comm, int weighted, double weight)
{
    int R = 0;
    if (comm == MPI_COMM_NULL || MPI_Comm_size(comm, &R) != MPI_SUCCESS || R < 1)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "descent_mpi_allreduce_grads: invalid communicator");
    /* Local checks, then one collective agreement on them and on the
     * tensors' sizes and dtypes: a rank with a bad argument or another set
     * of tensors makes every rank return an error, before any reduction
     * (which would otherwise mix mismatched buffers or hang). */
    for (int i = 0; i < nt && local == 0; i++)
        if (tv[i].dtype != DESCENT_F32 && tv[i].dtype != DESCENT_F64)
            local = descent_opt_fail(opt, DESCENT_ERR_INVALID,
                                     "descent_mpi_allreduce_grads: tensor %d is neither f32 nor f64 (dtype %d)", i,
                                     (int)tv[i].dtype);
    if (local == 0 && weighted && (!(weight >= 0) || weight > 1e300))
        local = descent_opt_fail(opt, DESCENT_ERR_INVALID, "weight must be finite and >= 0, got %g", weight);
    /* FNV-1a (Fowler, Noll, Vo) over every tensor's (n, dtype). */
    unsigned long long sig = 14695981039346656037ull, total = 0;
    for (int i = 0; i < nt; i++) {
        unsigned long long v[2] = {tv[i].n, (unsigned long long)tv[i].dtype};
        for (int k = 0; k < 2; k++)
            for (int b = 0; b < 8; b++)
                sig = (sig ^ ((v[k] >> (8 * b)) & 0xFFu)) * 1099511628211ull;
        total += tv[i].n;
    }
    unsigned long long mine[7] = {local < 0,
                                  sig,
                                  ~sig,
                                  total,
                                  ~total,
                                  (unsigned long long)nt,
                                  ~(unsigned long long)nt},
                       all[7];
    if (MPI_Allreduce(mine, all, 7, MPI_UNSIGNED_LONG_LONG, MPI_MAX, comm) != MPI_SUCCESS)
        return descent_opt_fail(opt, DESCENT_ERR_IO, "MPI_Allreduce of the tensor sizes failed");
    if (local < 0)
        return local;
    if (all[0])
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "descent_mpi_allreduce_grads: another rank refused its arguments");
    if (all[1] != ~all[2] || all[3] != ~all[4] || all[5] != ~all[6])
        return descent_opt_fail(opt, DESCENT_ERR_INVALID,
                                "descent_mpi_allreduce_grads: the ranks registered different tensors (%llu to %llu "
                                "tensors, %llu to %llu elements in all); every rank needs the same sizes and dtypes",
                                ~all[6], all[5], ~all[4], all[3]);
    double W = R;
    if (weighted) {
        if (MPI_Allreduce(&weight, &W, 1, MPI_DOUBLE, MPI_SUM, comm) != MPI_SUCCESS)
            return descent_opt_fail(opt, DESCENT_ERR_IO, "MPI_Allreduce of the weights failed");
        if (!(W > 0))
            return descent_opt_fail(opt, DESCENT_ERR_INVALID, "the weights of all ranks add up to %g", W);
    }
    /* The optimizer only reads grad; the caller owns the buffers and asked
     * for them to be overwritten with the mean. */
    if (weighted)
        for (int i = 0; i < nt; i++)
            scale(tv[i].grad, tv[i].n, tv[i].dtype, weight);
    /* Runs of small tensors of one dtype share one all-reduce through a
     * staging buffer (without one, each goes alone); large ones go alone,
     * in pieces of at most INT_MAX elements. */
    size_t small = 0;
    for (int i = 0; i < nt; i++)
        if (tv[i].n < BUCKET_ELEMS)
            small += tv[i].n * sizeof(double);
    unsigned char *stage = small ? descent_mem_alloc(mem, small < BUCKET_BYTES ? small : BUCKET_BYTES) : NULL;
    int rc = 0;
    for (int i = 0; rc == 0 && i < nt;) {
        const descent_tensor_view *t = &tv[i];
        size_t es = t->dtype == DESCENT_F64 ? sizeof(double) : sizeof(float);
        MPI_Datatype type = t->dtype == DESCENT_F64 ? MPI_DOUBLE : MPI_FLOAT;
        int j = i + 1;
        if (stage && t->n < BUCKET_ELEMS) {
            size_t n = t->n;
            while (j < nt && tv[j].dtype == t->dtype && tv[j].n < BUCKET_ELEMS &&
                   (n + tv[j].n) * es <= BUCKET_BYTES)
                n += tv[j++].n;
            for (int k = i, at = 0; k < j; at += (int)tv[k].n, k++)
                if (tv[k].n)
                    memcpy(stage + (size_t)at * es, tv[k].grad, tv[k].n * es);
            rc = n ? MPI_Allreduce(MPI_IN_PLACE, stage, (int)n, type, MPI_SUM, comm) : MPI_SUCCESS;
            for (int k = i, at = 0; rc == MPI_SUCCESS && k < j; at += (int)tv[k].n, k++)
                if (tv[k].n)
                    memcpy(tv[k].grad, stage + (size_t)at * es, tv[k].n * es);
        } else {
            unsigned char *g = (unsigned char *)t->grad;
            for (size_t done = 0; rc == MPI_SUCCESS && done < t->n;) {
                size_t count = t->n - done < (size_t)INT_MAX ? t->n - done : (size_t)INT_MAX;
                rc = MPI_Allreduce(MPI_IN_PLACE, g + done * es, (int)count, type, MPI_SUM, comm);
                done += count;
            }
        }
        if (rc != MPI_SUCCESS) {
            char msg[MPI_MAX_ERROR_STRING];
            int len = 0;
            MPI_Error_string(rc, msg, &len);
            rc = descent_opt_fail(opt, DESCENT_ERR_IO, "MPI_Allreduce of tensor %d's gradient failed: %s", i, msg);
        }
        i = j;
    }
    descent_mem_free(mem, stage);
    if (rc < 0)
        return rc;
    for (int i = 0; i < nt; i++) {
        const descent_tensor_view *t = &tv[i];
        void *g = t->grad;
        if (weighted)
            divide_by(g, t->n, t->dtype, W);
        else
            descent_mpi_divide(g, t->n, t->dtype, R);
    }
    return 0;
}

static int reduce_grads(descent_optimizer *opt, MPI_Comm comm, int weighted, double weight)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    descent_mem mem;
    descent_mem_init(&mem, descent_optimizer_allocator(opt));
    int nt = descent_num_tensors(opt), local = 0;
    descent_tensor_view *tv = nt ? descent_mem_alloc(&mem, (size_t)nt * sizeof *tv) : NULL;
    if (nt && !tv)
        local = descent_opt_fail(opt, DESCENT_ERR_NOMEM, "out of memory");
    for (int i = 0; tv && i < nt; i++)
        descent_tensor_view_of(opt, i, &tv[i]);
    /* Without the views this rank reduces nothing but still takes part in
     * the agreement, so that every rank returns the error. */
    int rc = reduce_views(opt, tv, tv ? nt : 0, &mem, local, comm, weighted, weight);
    descent_mem_free(&mem, tv);
    return rc;
}

int descent_mpi_allreduce_grads(descent_optimizer *opt, MPI_Comm comm) { return reduce_grads(opt, comm, 0, 0.0); }

int descent_mpi_allreduce_grads_weighted(descent_optimizer *opt, MPI_Comm comm, double weight)
{
    return reduce_grads(opt, comm, 1, weight);
}
