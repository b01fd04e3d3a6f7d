/* Definitions shared by the files of the MPI module. Not installed. */
#ifndef DESCENT_MPI_INTERNAL_H
#define DESCENT_MPI_INTERNAL_H

#include "../access.h"
#include "../bytes.h"
#include "../common.h"
#include "../formats.h"
#include "../rng.h"
#include "descent_mpi.h"

/* One registered full tensor and how its elements are spread over ranks. */
typedef struct shard_tensor {
    int group;
    descent_dtype dtype;
    size_t n;
    void *param;
    const void *grad;
    int segment;          /* index into the handle's segments */
    size_t offset;        /* of element 0 in its segment's flattened vector */
    int next_in_segment;  /* the segment's next tensor, -1 after the last */
    int *counts;          /* [R]: elements of this tensor rank q owns */
    int *displs;          /* [R]: where rank q's elements start in the tensor */
} shard_tensor;

/* The flattened vector of one (group, dtype): N elements, this rank owning
 * [begin, end), with a gradient buffer for exactly those. */
typedef struct shard_segment {
    int group;
    descent_dtype dtype;
    size_t total, begin, end;
    void *grad;
} shard_segment;

/* A unit of communication: a contiguous range [begin, begin + n) of one
 * segment's vector. Either one tensor, sent from and gathered into the
 * caller's buffers directly, or a run of consecutive small tensors packed
 * into the staging buffer, so that they cost one collective, not one each. */
typedef struct shard_bucket {
    int segment;
    int first, count;     /* the first tensor and how many, following next_in_segment */
    size_t begin, n;      /* in the segment's vector */
    int staged;
    int *counts, *displs; /* [R]: rank q's part, relative to begin */
} shard_bucket;

struct descent_mpi_sharded {
    descent_mem mem;
    MPI_Comm comm;        /* a duplicate of the caller's, errors returned */
    int rank, size;
    descent_optimizer *opt; /* the shard optimizer */
    shard_tensor *tensors;
    int ntensors, tensors_cap;
    shard_segment *segs;
    int nsegs;
    int committed;
    int broken;           /* a collective failed half-way: only destroy is safe */
    int64_t steps;
    uint64_t run_id;       /* the run identity in its checkpoints; 0 until the first save or load */
    double clip_max_norm;  /* INFINITY: no clipping */
    double clip_norm_type;
    double grad_norm;      /* total norm of the last step's mean gradient, NAN if not clipping */
    double *norm_sums;     /* [ntensors (R + 2) + 1]: clip_shard's per-tensor sums of |g|^p */
    shard_bucket *buckets;
    int nbuckets;
    void *staging;         /* the largest staged bucket's bytes */
    char errmsg[512];
};

int descent_mpi_fail(const descent_mpi_sharded *s, int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Turn an MPI error code into a status and a message naming the call. */
int descent_mpi_check(const descent_mpi_sharded *s, int mpi_rc, const char *call);

/* The first element rank q owns of a vector of n: floor(q n / R), without
 * overflow. */
static inline size_t descent_mpi_split(size_t n, int q, int R)
{
    size_t uq = (size_t)q, ur = (size_t)R;
    return uq * (n / ur) + uq * (n % ur) / ur;
}

static inline size_t descent_mpi_elem(descent_dtype t) { return t == DESCENT_F64 ? sizeof(double) : sizeof(float); }
static inline MPI_Datatype descent_mpi_type(descent_dtype t) { return t == DESCENT_F64 ? MPI_DOUBLE : MPI_FLOAT; }

/* x[0..n) /= R in the tensor's dtype. */
void descent_mpi_divide(void *x, size_t n, descent_dtype dtype, int R);

/* Agree on a status: every rank receives the most negative rc of all ranks
 * (0 when all succeeded). *failed_rank (if not NULL) gets the lowest rank
 * that reported it. A communication failure gives DESCENT_ERR_IO. */
int descent_mpi_agree(MPI_Comm comm, int rc, int *failed_rank);

/* descent_mpi_agree on s's communicator; when some rank failed, every other
 * rank's message becomes "rank <q>: <q's message>". */
int descent_mpi_collective(descent_mpi_sharded *s, int rc);

#endif
