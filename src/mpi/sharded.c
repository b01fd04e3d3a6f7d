/* Sharded optimizer state (ZeRO stage 1/2; Rajbhandari et al., "ZeRO:
 * Memory Optimizations Toward Training Trillion Parameter Models", 2020).
 *
 * Each (group, dtype) of registered tensors is one flattened vector of N
 * elements; rank r owns [floor(r N/R), floor((r+1) N/R)). The pieces of the
 * caller's tensors that fall in this rank's range are registered, by pointer
 * arithmetic into the caller's parameters and a private gradient buffer, as
 * the tensors of an ordinary descent_optimizer, which allocates state for
 * them alone. A step is
 *
 *   g_shard = (sum over ranks of g)[shard] / R     MPI_Reduce_scatter per tensor
 *   p_shard = update(p_shard, g_shard, state)      descent_step on the shard
 *   p = concat over ranks of p_shard               MPI_Allgatherv in place
 *
 * Per tensor, rank q's piece is contiguous and the pieces follow rank order,
 * which is exactly the block layout MPI_Reduce_scatter and MPI_Allgatherv
 * use, so a large tensor is communicated straight from and into the
 * caller's buffers. Runs of consecutive small tensors (of one group and
 * dtype) are packed into one staging buffer of at most BUCKET_ELEMS
 * elements and communicated together: one collective per bucket instead of
 * one per tensor, as DDP's gradient buckets do. */
#include "mpi_internal.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Tensors below this many elements share buckets of at most this many. */
#define BUCKET_ELEMS ((size_t)1 << 18)

int descent_mpi_fail(const descent_mpi_sharded *s, int status, const char *fmt, ...)
{
    char *msg = ((descent_mpi_sharded *)s)->errmsg;
    va_list ap;
    va_start(ap, fmt);
    descent_vformat(msg, sizeof s->errmsg, fmt, ap);
    va_end(ap);
    return status;
}

int descent_mpi_check(const descent_mpi_sharded *s, int mpi_rc, const char *call)
{
    if (mpi_rc == MPI_SUCCESS)
        return 0;
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(mpi_rc, msg, &len) != MPI_SUCCESS)
        snprintf(msg, sizeof msg, "error code %d", mpi_rc);
    return descent_mpi_fail(s, DESCENT_ERR_IO, "%s failed: %s", call, msg);
}

int descent_mpi_collective(descent_mpi_sharded *s, int rc)
{
    int failed = 0;
    int agreed = descent_mpi_agree(s->comm, rc, &failed);
    if (agreed == DESCENT_ERR_IO && rc == 0 && failed == 0)
        return descent_mpi_fail(s, DESCENT_ERR_IO, "MPI_Allreduce failed while agreeing on a status");
    if (agreed < 0 && failed >= 0 && failed < s->size) {
        char msg[sizeof s->errmsg];
        memcpy(msg, s->errmsg, sizeof msg);
        if (MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, failed, s->comm) == MPI_SUCCESS && s->rank != failed) {
            msg[sizeof msg - 1] = '\0';
            descent_mpi_fail(s, agreed, "rank %d: %.480s", failed, msg);
        }
    }
    return agreed;
}

const char *descent_mpi_sharded_errmsg(const descent_mpi_sharded *s) { return s ? s->errmsg : "no handle"; }

descent_optimizer *descent_mpi_sharded_optimizer(descent_mpi_sharded *s) { return s ? s->opt : NULL; }

int64_t descent_mpi_sharded_step_count(const descent_mpi_sharded *s) { return s ? s->steps : 0; }

size_t descent_mpi_sharded_state_bytes(const descent_mpi_sharded *s) { return s ? descent_state_bytes(s->opt) : 0; }

/* A spec that is not an optimizer may be a minimizer method: say so rather
 * than "unknown optimizer". */
static int refuse_spec(const char *spec, const descent_error *parse_err, descent_error *err)
{
    descent_minimizer *m = NULL;
    descent_error e;
    if (spec && descent_minimizer_create(&m, spec, 2, &e) == 0) {
        int first_order = descent_minimizer_optimizer(m) != NULL;
        const char *name = descent_minimizer_name(m);
        char copy[64];
        snprintf(copy, sizeof copy, "%s", name ? name : "?");
        descent_minimizer_destroy(m);
        if (!first_order)
            return descent_fail(err, DESCENT_ERR_INVALID,
                                "%s is a minimizer method, not an optimizer: its update couples all variables, so "
                                "its state cannot be sharded; the sharded API accepts optimizer specs only "
                                "(descent_optimizer_name)",
                                copy);
    }
    return descent_fail(err, parse_err->status, "%s", parse_err->message);
}

int descent_mpi_sharded_create(descent_mpi_sharded **out, const char *spec, MPI_Comm comm,
                               const descent_allocator *alloc, descent_error *err)
{
    if (!out)
        return descent_fail(err, DESCENT_ERR_INVALID, "out must not be NULL");
    *out = NULL;
    int R = 0, rank = 0;
    if (comm == MPI_COMM_NULL || MPI_Comm_size(comm, &R) != MPI_SUCCESS || MPI_Comm_rank(comm, &rank) != MPI_SUCCESS)
        return descent_fail(err, DESCENT_ERR_INVALID, "invalid communicator");
    descent_error e;
    descent_optimizer *opt = NULL;
    int rc = descent_create_from_spec(&opt, spec, alloc, &e);
    if (rc < 0)
        rc = refuse_spec(spec, &e, err);
    else if (descent_steps_whole_tensors(opt))
        rc = descent_fail(err, DESCENT_ERR_INVALID,
                          "%s reduces over whole tensors (norms, row and column means), so its step cannot run on "
                          "shards; use a replicated optimizer after descent_mpi_allreduce_grads",
                          descent_name(opt));
    /* 8-bit state is quantized in blocks of the registered piece, which
     * resharding (checkpoint.c) would cut through. */
    if (rc == 0 && opt && descent_group_wants_q8(opt, -1)) {
        rc = descent_fail(err, DESCENT_ERR_INVALID, "state_bits=8 is not supported with sharded optimizer state");
        descent_destroy(opt);
        opt = NULL;
    }
    /* Creation is collective: a spec refused on one rank fails everywhere. */
    int failed = 0;
    int agreed = descent_mpi_agree(comm, rc, &failed);
    if (agreed < 0) {
        descent_destroy(opt);
        if (rc < 0)
            return rc;
        return descent_fail(err, agreed, "rank %d failed to create its sharded optimizer", failed);
    }
    descent_mem mem;
    descent_mem_init(&mem, descent_optimizer_allocator(opt));
    descent_mpi_sharded *s = descent_mem_alloc(&mem, sizeof *s);
    if (!s) {
        descent_destroy(opt);
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory");
    }
    s->mem = mem;
    s->opt = opt;
    s->rank = rank;
    s->size = R;
    if (MPI_Comm_dup(comm, &s->comm) != MPI_SUCCESS) {
        descent_mem_free(&s->mem, s);
        descent_destroy(opt);
        return descent_fail(err, DESCENT_ERR_IO, "MPI_Comm_dup failed");
    }
    MPI_Comm_set_errhandler(s->comm, MPI_ERRORS_RETURN);
    s->clip_max_norm = INFINITY;
    s->clip_norm_type = 2.0;
    s->grad_norm = NAN;
    *out = s;
    return 0;
}

void descent_mpi_sharded_destroy(descent_mpi_sharded *s)
{
    if (!s)
        return;
    for (int i = 0; i < s->ntensors; i++) {
        descent_mem_free(&s->mem, s->tensors[i].counts);
        descent_mem_free(&s->mem, s->tensors[i].displs);
    }
    for (int k = 0; k < s->nsegs; k++)
        descent_mem_free(&s->mem, s->segs[k].grad);
    descent_mem_free(&s->mem, s->tensors);
    descent_mem_free(&s->mem, s->segs);
    descent_mem_free(&s->mem, s->norm_sums);
    for (int b = 0; b < s->nbuckets; b++) {
        descent_mem_free(&s->mem, s->buckets[b].counts);
        descent_mem_free(&s->mem, s->buckets[b].displs);
    }
    descent_mem_free(&s->mem, s->buckets);
    descent_mem_free(&s->mem, s->staging);
    MPI_Comm_free(&s->comm);
    descent_optimizer *opt = s->opt;
    descent_mem_free(&s->mem, s);
    descent_destroy(opt);
}

static int usable(const descent_mpi_sharded *s, int want_committed)
{
    if (s->broken)
        return descent_mpi_fail(s, DESCENT_ERR_STATE,
                                "an earlier collective call failed on some rank; destroy this handle");
    if (want_committed && !s->committed)
        return descent_mpi_fail(s, DESCENT_ERR_STATE, "call descent_mpi_sharded_commit() first");
    if (!want_committed && s->committed)
        return descent_mpi_fail(s, DESCENT_ERR_STATE, "the layout is committed: register every tensor before commit");
    return 0;
}

static int from_opt(descent_mpi_sharded *s, int rc)
{
    if (rc < 0)
        descent_mpi_fail(s, rc, "%s", descent_errmsg(s->opt));
    return rc;
}

int descent_mpi_sharded_add_group(descent_mpi_sharded *s, const descent_hparams *hp)
{
    if (!s)
        return DESCENT_ERR_INVALID;
    int rc = usable(s, 0);
    return rc < 0 ? rc : from_opt(s, descent_add_group(s->opt, hp));
}

int descent_mpi_sharded_add_group_spec(descent_mpi_sharded *s, const char *overrides)
{
    if (!s)
        return DESCENT_ERR_INVALID;
    int rc = usable(s, 0);
    return rc < 0 ? rc : from_opt(s, descent_add_group_spec(s->opt, overrides));
}

int descent_mpi_sharded_add_tensor(descent_mpi_sharded *s, int group, void *param, const void *grad, size_t n,
                                   descent_dtype dtype)
{
    if (!s)
        return DESCENT_ERR_INVALID;
    int rc = usable(s, 0);
    if (rc < 0)
        return rc;
    if (group < 0 || group >= descent_num_groups(s->opt))
        return descent_mpi_fail(s, DESCENT_ERR_INVALID, "group must be in [0, %d), got %d", descent_num_groups(s->opt), group);
    if (dtype != DESCENT_F32 && dtype != DESCENT_F64)
        return descent_mpi_fail(s, DESCENT_ERR_INVALID, "dtype must be DESCENT_F32 or DESCENT_F64, got %d", (int)dtype);
    if (n > 0 && (!param || !grad))
        return descent_mpi_fail(s, DESCENT_ERR_INVALID, "param and grad must not be NULL for a tensor of %zu elements",
                                n);
    if (n > (size_t)INT_MAX)
        return descent_mpi_fail(s, DESCENT_ERR_INVALID,
                                "a sharded tensor may have at most INT_MAX = %d elements (MPI counts), got %zu; "
                                "split it into several tensors",
                                INT_MAX, n);
    if (s->ntensors == s->tensors_cap) {
        int cap = s->tensors_cap ? 2 * s->tensors_cap : 8;
        shard_tensor *fresh = descent_mem_alloc(&s->mem, (size_t)cap * sizeof *fresh);
        if (!fresh)
            return descent_mpi_fail(s, DESCENT_ERR_NOMEM, "out of memory registering a tensor");
        if (s->ntensors)
            memcpy(fresh, s->tensors, (size_t)s->ntensors * sizeof *fresh);
        descent_mem_free(&s->mem, s->tensors);
        s->tensors = fresh;
        s->tensors_cap = cap;
    }
    shard_tensor *t = &s->tensors[s->ntensors];
    memset(t, 0, sizeof *t);
    t->group = group;
    t->dtype = dtype;
    t->n = n;
    t->param = param;
    t->grad = grad;
    return s->ntensors++;
}

/* FNV-1a over the layout, so commit can check every rank registered the same. */
static uint64_t fnv(uint64_t h, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        h ^= (v >> (8 * i)) & 0xff;
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t layout_hash(const descent_mpi_sharded *s)
{
    uint64_t h = 14695981039346656037ull;
    for (const char *c = descent_name(s->opt); *c; c++)
        h = fnv(h, (unsigned char)*c);
    h = fnv(h, (uint64_t)descent_num_groups(s->opt));
    h = fnv(h, (uint64_t)s->ntensors);
    for (int i = 0; i < s->ntensors; i++) {
        h = fnv(h, (uint64_t)s->tensors[i].group);
        h = fnv(h, (uint64_t)s->tensors[i].dtype);
        h = fnv(h, (uint64_t)s->tensors[i].n);
    }
    return h;
}

/* Group each segment's tensors, in the segment's order, into buckets: a
 * tensor of BUCKET_ELEMS or more alone (direct), runs of smaller ones while
 * they fit (staged). Empty tensors take no part. */
static int build_buckets(descent_mpi_sharded *s)
{
    const int R = s->size;
    s->buckets = descent_mem_alloc(&s->mem, (size_t)(s->ntensors + 1) * sizeof *s->buckets);
    if (!s->buckets)
        return descent_mpi_fail(s, DESCENT_ERR_NOMEM, "out of memory");
    int *last = descent_mem_alloc(&s->mem, (size_t)(s->nsegs + 1) * sizeof *last);
    if (!last)
        return descent_mpi_fail(s, DESCENT_ERR_NOMEM, "out of memory");
    for (int k = 0; k < s->nsegs; k++)
        last[k] = -1;
    int *heads = descent_mem_alloc(&s->mem, (size_t)(s->nsegs + 1) * sizeof *heads);
    if (!heads) {
        descent_mem_free(&s->mem, last);
        return descent_mpi_fail(s, DESCENT_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < s->ntensors; i++) {
        shard_tensor *t = &s->tensors[i];
        t->next_in_segment = -1;
        if (t->n == 0)
            continue;
        if (last[t->segment] < 0)
            heads[t->segment] = i;
        else
            s->tensors[last[t->segment]].next_in_segment = i;
        last[t->segment] = i;
    }
    size_t staging = 0;
    int nb = 0, rc = 0;
    for (int k = 0; rc == 0 && k < s->nsegs; k++) {
        size_t es = descent_mpi_elem(s->segs[k].dtype);
        for (int i = last[k] < 0 ? -1 : heads[k]; rc == 0 && i >= 0;) {
            const shard_tensor *t = &s->tensors[i];
            shard_bucket *b = &s->buckets[nb];
            b->segment = k;
            b->first = i;
            b->count = 1;
            b->begin = t->offset;
            b->n = t->n;
            b->staged = t->n < BUCKET_ELEMS;
            int j = t->next_in_segment;
            if (b->staged)
                while (j >= 0 && s->tensors[j].n < BUCKET_ELEMS && b->n + s->tensors[j].n <= BUCKET_ELEMS) {
                    b->n += s->tensors[j].n;
                    b->count++;
                    j = s->tensors[j].next_in_segment;
                }
            if (b->staged && b->n * es > staging)
                staging = b->n * es;
            b->counts = descent_mem_alloc(&s->mem, (size_t)R * sizeof(int));
            b->displs = descent_mem_alloc(&s->mem, (size_t)R * sizeof(int));
            s->nbuckets = ++nb;
            if (!b->counts || !b->displs) {
                rc = descent_mpi_fail(s, DESCENT_ERR_NOMEM, "out of memory");
                break;
            }
            size_t total = s->segs[k].total;
            for (int q = 0; q < R; q++) {
                size_t lo = descent_mpi_split(total, q, R), hi = descent_mpi_split(total, q + 1, R);
                lo = lo > b->begin ? lo : b->begin;
                hi = hi < b->begin + b->n ? hi : b->begin + b->n;
                b->counts[q] = hi > lo ? (int)(hi - lo) : 0;
                b->displs[q] = hi > lo ? (int)(lo - b->begin) : 0;
            }
            i = j;
        }
    }
    descent_mem_free(&s->mem, last);
    descent_mem_free(&s->mem, heads);
    if (rc == 0 && staging) {
        s->staging = descent_mem_alloc(&s->mem, staging);
        if (!s->staging)
            rc = descent_mpi_fail(s, DESCENT_ERR_NOMEM, "out of memory for a staging buffer of %zu bytes", staging);
    }
    return rc;
}

/* Copy a staged bucket's tensors' gradients (what = 0) or parameters
 * (what = 1) into the staging buffer, or the parameters back (what = 2). */
static void pack(descent_mpi_sharded *s, const shard_bucket *b, int what)
{
    unsigned char *stage = s->staging;
    for (int i = b->first, c = 0; c < b->count; c++, i = s->tensors[i].next_in_segment) {
        const shard_tensor *t = &s->tensors[i];
        size_t es = descent_mpi_elem(t->dtype), at = (t->offset - b->begin) * es, bytes = t->n * es;
        if (what == 0)
            memcpy(stage + at, t->grad, bytes);
        else if (what == 1)
            memcpy(stage + at, t->param, bytes);
        else
            memcpy(t->param, stage + at, bytes);
    }
}

/* Segments, offsets and per-rank counts of every tensor; allocations only. */
static int build_layout(descent_mpi_sharded *s)
{
    const int R = s->size;
    int nsegs = 0;
    s->segs = descent_mem_alloc(&s->mem, (size_t)(2 * descent_num_groups(s->opt) + 1) * sizeof *s->segs);
    if (!s->segs)
        return descent_mpi_fail(s, DESCENT_ERR_NOMEM, "out of memory");
    for (int g = 0; g < descent_num_groups(s->opt); g++)
        for (int d = DESCENT_F32; d <= DESCENT_F64; d++) {
            size_t total = 0;
            for (int i = 0; i < s->ntensors; i++) {
                shard_tensor *t = &s->tensors[i];
                if (t->group != g || (int)t->dtype != d)
                    continue;
                t->segment = nsegs;
                t->offset = total;
                total += t->n;
            }
            if (total == 0)
                continue;
            shard_segment *seg = &s->segs[nsegs++];
            seg->group = g;
            seg->dtype = (descent_dtype)d;
            seg->total = total;
            seg->begin = descent_mpi_split(total, s->rank, R);
            seg->end = descent_mpi_split(total, s->rank + 1, R);
        }
    s->nsegs = nsegs;
    /* clip_shard's: this rank's per-tensor sums, every rank's, and the shard
     * optimizer's (at most one per tensor) */
    s->norm_sums = descent_mem_alloc(&s->mem, ((size_t)s->ntensors * (size_t)(R + 2) + 1) * sizeof *s->norm_sums);
    if (!s->norm_sums)
        return descent_mpi_fail(s, DESCENT_ERR_NOMEM, "out of memory");
    for (int k = 0; k < nsegs; k++) {
        shard_segment *seg = &s->segs[k];
        seg->grad = descent_mem_alloc(&s->mem, (seg->end - seg->begin + 1) * descent_mpi_elem(seg->dtype));
        if (!seg->grad)
            return descent_mpi_fail(s, DESCENT_ERR_NOMEM, "out of memory for a shard gradient of %zu elements",
                                    seg->end - seg->begin);
    }
    for (int i = 0; i < s->ntensors; i++) {
        shard_tensor *t = &s->tensors[i];
        if (t->n == 0)
            continue;
        t->counts = descent_mem_alloc(&s->mem, (size_t)R * sizeof(int));
        t->displs = descent_mem_alloc(&s->mem, (size_t)R * sizeof(int));
        if (!t->counts || !t->displs)
            return descent_mpi_fail(s, DESCENT_ERR_NOMEM, "out of memory");
        size_t total = s->segs[t->segment].total;
        for (int q = 0; q < R; q++) {
            size_t lo = descent_mpi_split(total, q, R), hi = descent_mpi_split(total, q + 1, R);
            lo = lo > t->offset ? lo : t->offset;
            hi = hi < t->offset + t->n ? hi : t->offset + t->n;
            t->counts[q] = hi > lo ? (int)(hi - lo) : 0;
            t->displs[q] = hi > lo ? (int)(lo - t->offset) : 0;
        }
    }
    return build_buckets(s);
}

/* Register this rank's piece of every tensor on the shard optimizer. */
static int register_pieces(descent_mpi_sharded *s)
{
    for (int i = 0; i < s->ntensors; i++) {
        shard_tensor *t = &s->tensors[i];
        if (t->n == 0 || t->counts[s->rank] == 0)
            continue;
        if (descent_group_wants_q8(s->opt, t->group))
            return descent_mpi_fail(s, DESCENT_ERR_INVALID,
                                    "group %d: state_bits=8 is not supported with sharded optimizer state", t->group);
        const shard_segment *seg = &s->segs[t->segment];
        size_t es = descent_mpi_elem(t->dtype), first = t->offset + (size_t)t->displs[s->rank];
        int rc = descent_add_tensor(s->opt, t->group, (unsigned char *)t->param + (size_t)t->displs[s->rank] * es,
                                    (unsigned char *)seg->grad + (first - seg->begin) * es,
                                    (size_t)t->counts[s->rank], t->dtype);
        if (rc < 0)
            return from_opt(s, rc);
    }
    return 0;
}

int descent_mpi_sharded_commit(descent_mpi_sharded *s)
{
    if (!s)
        return DESCENT_ERR_INVALID;
    int rc = usable(s, 0);
    if (rc < 0)
        return rc;
    uint64_t h = layout_hash(s), lo = 0, hi = 0;
    if (MPI_Allreduce(&h, &lo, 1, MPI_UINT64_T, MPI_MIN, s->comm) != MPI_SUCCESS ||
        MPI_Allreduce(&h, &hi, 1, MPI_UINT64_T, MPI_MAX, s->comm) != MPI_SUCCESS) {
        s->broken = 1;
        return descent_mpi_fail(s, DESCENT_ERR_IO, "MPI_Allreduce failed while checking the layout");
    }
    if (lo != hi)
        return descent_mpi_fail(s, DESCENT_ERR_INVALID,
                                "the ranks registered different groups or tensors (this rank: %d groups, %d tensors); "
                                "every rank must register the same in the same order",
                                descent_num_groups(s->opt), s->ntensors);
    rc = build_layout(s);
    if (rc == 0)
        rc = register_pieces(s);
    if (descent_mpi_collective(s, rc) < 0) {
        /* Tensors cannot be unregistered from the shard optimizer. */
        s->broken = 1;
        return rc < 0 ? rc : DESCENT_ERR_STATE;
    }
    s->committed = 1;
    return 0;
}

int descent_mpi_sharded_shard(const descent_mpi_sharded *s, int group, descent_dtype dtype, size_t *begin,
                              size_t *end, size_t *total)
{
    if (!s)
        return DESCENT_ERR_INVALID;
    int rc = usable(s, 1);
    if (rc < 0)
        return rc;
    if (group < 0 || group >= descent_num_groups(s->opt))
        return descent_mpi_fail(s, DESCENT_ERR_INVALID, "group must be in [0, %d), got %d", descent_num_groups(s->opt), group);
    size_t b = 0, e = 0, n = 0;
    for (int k = 0; k < s->nsegs; k++)
        if (s->segs[k].group == group && s->segs[k].dtype == dtype) {
            b = s->segs[k].begin;
            e = s->segs[k].end;
            n = s->segs[k].total;
        }
    if (begin)
        *begin = b;
    if (end)
        *end = e;
    if (total)
        *total = n;
    return 0;
}

int descent_mpi_sharded_set_clip_grad_norm(descent_mpi_sharded *s, double max_norm, double norm_type)
{
    if (!s)
        return DESCENT_ERR_INVALID;
    if (!(max_norm >= 0))
        return descent_mpi_fail(s, DESCENT_ERR_INVALID, "max_norm must be >= 0 (INFINITY: off), got %g", max_norm);
    if (!(norm_type >= 1.0))
        return descent_mpi_fail(s, DESCENT_ERR_INVALID, "norm_type must be >= 1 or INFINITY, got %g", norm_type);
    s->clip_max_norm = max_norm;
    s->clip_norm_type = norm_type;
    return 0;
}

double descent_mpi_sharded_grad_norm(const descent_mpi_sharded *s) { return s ? s->grad_norm : NAN; }



/* The norm of the mean gradient, from this rank's pieces and every other
 * rank's; then, when it exceeds max_norm, the shard scaled.
 *
 * Order of the sums, fixed whatever the thread count: each rank sums its
 * piece of each tensor as descent_clip_grad_norm sums a tensor (passes.c:
 * lane i mod 32 in double within a chunk of the shard optimizer, lanes
 * added pairwise, chunks in order); MPI_Allgather hands every rank all R
 * per-tensor sums, and each rank adds them in rank order (for p = infinity,
 * takes their maximum, a NaN kept), so all ranks reach the same bits, which
 * do not depend on the MPI library's reduction order either. Then, as
 * torch.nn.utils.clip_grad_norm_ does, the norm of the per-tensor norms.
 * With one rank this is descent_clip_grad_norm's norm, bit for bit. */
static int clip_shard(descent_mpi_sharded *s)
{
    const double p = s->clip_norm_type;
    const int me = s->rank, R = s->size, nt = s->ntensors;
    double *mine = s->norm_sums, *all = s->norm_sums + nt, *piece = all + (size_t)R * (size_t)nt;
    int rc = from_opt(s, descent_grad_norm_sums(s->opt, p, piece));
    if (rc < 0)
        return rc;
    for (int i = 0, k = 0; i < nt; i++) {
        const shard_tensor *t = &s->tensors[i];
        mine[i] = t->n > 0 && t->counts[me] > 0 ? piece[k++] : 0.0; /* the shard optimizer's tensor k */
    }
    rc = descent_mpi_check(s, MPI_Allgather(mine, nt, MPI_DOUBLE, all, nt, MPI_DOUBLE, s->comm),
                           "MPI_Allgather of the gradient norm sums");
    if (rc < 0)
        return rc;
    double acc = 0.0;
    for (int i = 0; i < nt; i++) {
        double sum = 0.0;
        for (int q = 0; q < R; q++) {
            if (isinf(p))
                descent_norm_accumulate(&sum, all[(size_t)q * (size_t)nt + (size_t)i], p);
            else
                sum += all[(size_t)q * (size_t)nt + (size_t)i];
        }
        descent_norm_accumulate(&acc, descent_norm_finish(sum, p), p);
    }
    double total = descent_norm_finish(acc, p);
    s->grad_norm = total;
    if (!isfinite(total))
        return descent_mpi_fail(s, DESCENT_ERR_NONFINITE,
                                "step %lld: the gradient norm is %g; nothing was updated",
                                (long long)s->steps + 1, total);
    double coef = s->clip_max_norm / (total + 1e-6);
    if (coef < 1.0)
        for (int k = 0; k < s->nsegs; k++) {
            size_t n = s->segs[k].end - s->segs[k].begin;
            if (s->segs[k].dtype == DESCENT_F64) {
                double *g = s->segs[k].grad;
                for (size_t i = 0; i < n; i++)
                    g[i] = g[i] * coef;
            } else {
                float *g = s->segs[k].grad, c = (float)coef;
                for (size_t i = 0; i < n; i++)
                    g[i] = g[i] * c;
            }
        }
    return 0;
}

int descent_mpi_sharded_step(descent_mpi_sharded *s)
{
    if (!s)
        return DESCENT_ERR_INVALID;
    int rc = usable(s, 1);
    if (rc < 0)
        return rc;
    const int me = s->rank;
    /* Sum of the gradients, each rank receiving its own part of each bucket. */
    for (int k = 0; k < s->nbuckets; k++) {
        const shard_bucket *b = &s->buckets[k];
        const shard_segment *seg = &s->segs[b->segment];
        size_t es = descent_mpi_elem(seg->dtype);
        size_t first = b->begin + (size_t)b->displs[me];
        void *recv = (unsigned char *)seg->grad + (b->counts[me] ? (first - seg->begin) * es : 0);
        const void *send = s->tensors[b->first].grad;
        if (b->staged) {
            pack(s, b, 0);
            send = s->staging;
        }
        rc = descent_mpi_check(s, MPI_Reduce_scatter(send, recv, b->counts, descent_mpi_type(seg->dtype), MPI_SUM,
                                                     s->comm),
                               "MPI_Reduce_scatter");
        if (rc < 0) {
            s->broken = 1;
            return rc;
        }
    }
    for (int k = 0; k < s->nsegs; k++)
        descent_mpi_divide(s->segs[k].grad, s->segs[k].end - s->segs[k].begin, s->segs[k].dtype, s->size);
    if (!isinf(s->clip_max_norm)) {
        /* Every rank reaches the same norm, so a refusal is unanimous and
         * leaves all of them as they were. */
        rc = clip_shard(s);
        if (rc == DESCENT_ERR_IO)
            s->broken = 1;
        if (rc < 0)
            return rc;
    }
    rc = from_opt(s, descent_step(s->opt));
    int agreed = descent_mpi_collective(s, rc);
    if (agreed < 0) {
        /* Ranks that stepped hold updated shards the others do not see. */
        s->broken = 1;
        return agreed;
    }
    for (int k = 0; k < s->nbuckets; k++) {
        const shard_bucket *b = &s->buckets[k];
        void *buf = s->tensors[b->first].param;
        if (b->staged) {
            pack(s, b, 1);
            buf = s->staging;
        }
        rc = descent_mpi_check(s, MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, b->counts, b->displs,
                                                 descent_mpi_type(s->segs[b->segment].dtype), s->comm),
                               "MPI_Allgatherv");
        if (rc < 0) {
            s->broken = 1;
            return rc;
        }
        if (b->staged)
            pack(s, b, 2);
    }
    s->steps++;
    return 0;
}
