/* Distributed tests, run by ctest under mpirun with 1, 2 and 4 ranks.
 *
 * Every optimizer of the library, sharded (descent_mpi_sharded_*) and
 * replicated (descent_mpi_allreduce_grads + descent_step), against a
 * single-process optimizer stepping on the mean gradient, bit for bit. The
 * per-rank gradients are small multiples of 1/64, so their sum is exact in
 * any order and MPI's reduction order cannot change it; the mean is then
 * the same correctly rounded quotient in both. Also: state bytes = 1/R,
 * checkpoints (same R, and re-sharding R -> R/2 -> R), refusals. */
#include "descent_mpi.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int rank, world;

/* ---- layouts ------------------------------------------------------------ */

typedef struct tdesc {
    int group;
    descent_dtype dtype;
    size_t n;
} tdesc;

typedef struct layout {
    const char *name;
    int ngroups;
    int ntensors;
    tdesc t[8];
    int divisible; /* every (group, dtype) count divisible by 4 */
} layout;

/* A: every vector's length a multiple of 4, tensors cut by shard edges. */
static const layout layout_a = {"A", 2, 6,
                                {{0, DESCENT_F32, 7}, {0, DESCENT_F64, 12}, {0, DESCENT_F32, 13}, {1, DESCENT_F64, 5},
                                 {0, DESCENT_F32, 4}, {1, DESCENT_F64, 3}},
                                1};
/* B: odd lengths, a vector shorter than R (empty shards), an empty tensor. */
static const layout layout_b = {"B", 3, 7,
                                {{0, DESCENT_F32, 1}, {0, DESCENT_F32, 9}, {0, DESCENT_F64, 2}, {1, DESCENT_F32, 3},
                                 {1, DESCENT_F64, 1}, {2, DESCENT_F64, 0}, {2, DESCENT_F32, 5}},
                                0};

/* C: a tensor large enough to be communicated on its own (directly from
 * the caller's buffers) between small ones that share staged buckets. */
static const layout layout_c = {"C", 2, 5,
                                {{0, DESCENT_F32, 5}, {0, DESCENT_F32, 300001}, {1, DESCENT_F64, 3},
                                 {0, DESCENT_F32, 7}, {0, DESCENT_F64, 270000}},
                                0};

static const char *const group_overrides[] = {"", "lr=0.005", "lr=0.02"};

/* Buffers for one copy of a layout's tensors, as doubles or floats. */
typedef struct tensors {
    void *p[8], *g[8];
} tensors;

static void alloc_tensors(const layout *L, tensors *T)
{
    for (int j = 0; j < L->ntensors; j++) {
        size_t es = L->t[j].dtype == DESCENT_F64 ? 8 : 4, n = L->t[j].n ? L->t[j].n : 1;
        T->p[j] = calloc(n, es);
        T->g[j] = calloc(n, es);
    }
}

static void free_tensors(const layout *L, tensors *T)
{
    for (int j = 0; j < L->ntensors; j++) {
        free(T->p[j]);
        free(T->g[j]);
    }
}

static double init_value(int j, size_t i) { return 0.5 - 0.0625 * (double)((i * 7 + (size_t)j * 3) % 13); }

/* Rank r's gradient at step k: a multiple of 1/64 in [-9/64, 9/64]. With
 * same_on_all, every rank computes the same (the mean is then that value
 * for any R, so trajectories do not depend on R). */
static double grad_value(int r, int k, int j, size_t i, int same_on_all)
{
    int rr = same_on_all ? 0 : r;
    return (double)((int)((i * 31 + (size_t)j * 17 + (size_t)k * 7 + (size_t)rr * 13) % 19) - 9) / 64.0;
}

static void set_values(const layout *L, void *const *buf, int which, int r, int k, int same)
{
    for (int j = 0; j < L->ntensors; j++)
        for (size_t i = 0; i < L->t[j].n; i++) {
            double v = which == 0 ? init_value(j, i) : grad_value(r, k, j, i, same);
            if (L->t[j].dtype == DESCENT_F64)
                ((double *)buf[j])[i] = v;
            else
                ((float *)buf[j])[i] = (float)v;
        }
}

/* The mean over R ranks as the reference computes it: sequential sum in the
 * tensor's dtype (exact here), divided by R. */
static void set_mean_grad(const layout *L, void *const *buf, int R, int k, int same)
{
    for (int j = 0; j < L->ntensors; j++)
        for (size_t i = 0; i < L->t[j].n; i++) {
            if (L->t[j].dtype == DESCENT_F64) {
                double s = 0;
                for (int r = 0; r < R; r++)
                    s += grad_value(r, k, j, i, same);
                ((double *)buf[j])[i] = s / (double)R;
            } else {
                float s = 0;
                for (int r = 0; r < R; r++)
                    s += (float)grad_value(r, k, j, i, same);
                ((float *)buf[j])[i] = s / (float)R;
            }
        }
}

static int same_params(const layout *L, const tensors *a, const tensors *b)
{
    for (int j = 0; j < L->ntensors; j++)
        if (memcmp(a->p[j], b->p[j], L->t[j].n * (L->t[j].dtype == DESCENT_F64 ? 8 : 4)) != 0)
            return 0;
    return 1;
}

static void copy_params(const layout *L, tensors *dst, const tensors *src)
{
    for (int j = 0; j < L->ntensors; j++)
        memcpy(dst->p[j], src->p[j], L->t[j].n * (L->t[j].dtype == DESCENT_F64 ? 8 : 4));
}

static descent_optimizer *make_plain(const char *spec, const layout *L, tensors *T)
{
    descent_optimizer *opt = NULL;
    descent_error err;
    if (descent_create_from_spec(&opt, spec, NULL, &err) < 0) {
        fprintf(stderr, "%s: %s\n", spec, err.message);
        return NULL;
    }
    for (int g = 0; g < L->ngroups; g++)
        descent_add_group_spec(opt, group_overrides[g]);
    for (int j = 0; j < L->ntensors; j++)
        descent_add_tensor(opt, L->t[j].group, T->p[j], T->g[j], L->t[j].n, L->t[j].dtype);
    return opt;
}

static descent_mpi_sharded *make_sharded(const char *spec, const layout *L, tensors *T, MPI_Comm comm)
{
    descent_mpi_sharded *s = NULL;
    descent_error err;
    if (descent_mpi_sharded_create(&s, spec, comm, NULL, &err) < 0) {
        fprintf(stderr, "%s: %s\n", spec, err.message);
        return NULL;
    }
    int ok = 1;
    for (int g = 0; g < L->ngroups; g++)
        ok &= descent_mpi_sharded_add_group_spec(s, group_overrides[g]) == g;
    for (int j = 0; j < L->ntensors; j++)
        ok &= descent_mpi_sharded_add_tensor(s, L->t[j].group, T->p[j], T->g[j], L->t[j].n, L->t[j].dtype) == j;
    ok &= descent_mpi_sharded_commit(s) == 0;
    if (!ok) {
        fprintf(stderr, "%s: %s\n", spec, descent_mpi_sharded_errmsg(s));
        descent_mpi_sharded_destroy(s);
        return NULL;
    }
    return s;
}

/* Does R divide the length of every (group, dtype) vector? */
static int divides_every_vector(const layout *L, int R)
{
    for (int g = 0; g < L->ngroups; g++)
        for (int d = DESCENT_F32; d <= DESCENT_F64; d++) {
            size_t total = 0;
            for (int j = 0; j < L->ntensors; j++)
                if (L->t[j].group == g && (int)L->t[j].dtype == d)
                    total += L->t[j].n;
            if (total % (size_t)R != 0)
                return 0;
        }
    return 1;
}

static size_t sum_over_ranks(size_t v, MPI_Comm comm)
{
    unsigned long long mine = v, all = 0;
    MPI_Allreduce(&mine, &all, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM, comm);
    return (size_t)all;
}

/* ---- every optimizer: sharded and replicated vs the reference ----------- */

/* Optimizers whose step reduces over whole tensors (LAMB, Adafactor) are
 * refused by the sharded API, with a message saying why. */
static int sharding_refused(const char *name)
{
    char spec[128];
    snprintf(spec, sizeof spec, "%s(lr=0.01)", name);
    descent_mpi_sharded *s = NULL;
    descent_error err;
    if (descent_mpi_sharded_create(&s, spec, MPI_COMM_WORLD, NULL, &err) == 0) {
        descent_mpi_sharded_destroy(s);
        CHECK(strcmp(name, "LAMB") != 0 && strcmp(name, "Adafactor") != 0, "%s was not refused", name);
        return 0;
    }
    CHECK(strstr(err.message, "whole tensors") != NULL && s == NULL, "%s: %s", name, err.message);
    return 1;
}

static void compare_optimizer(const char *name, const layout *L)
{
    char spec[128];
    if (strchr(name, '('))
        snprintf(spec, sizeof spec, "%s", name);
    else
        snprintf(spec, sizeof spec, "%s(lr=0.01)", name);
    tensors ref, sh, rep;
    alloc_tensors(L, &ref);
    alloc_tensors(L, &sh);
    alloc_tensors(L, &rep);
    set_values(L, ref.p, 0, 0, 0, 0);
    set_values(L, sh.p, 0, 0, 0, 0);
    set_values(L, rep.p, 0, 0, 0, 0);
    descent_optimizer *opt_ref = make_plain(spec, L, &ref), *opt_rep = make_plain(spec, L, &rep);
    descent_mpi_sharded *s = make_sharded(spec, L, &sh, MPI_COMM_WORLD);
    CHECK(opt_ref && opt_rep && s, "%s: setup failed", spec);
    if (opt_ref && opt_rep && s) {
        int steps_ok = 1, sharded_same = 1, replicated_same = 1;
        for (int k = 0; k < 6; k++) {
            set_mean_grad(L, ref.g, world, k, 0);
            set_values(L, sh.g, 1, rank, k, 0);
            set_values(L, rep.g, 1, rank, k, 0);
            steps_ok &= descent_step(opt_ref) == 0;
            steps_ok &= descent_mpi_sharded_step(s) == 0;
            steps_ok &= descent_mpi_allreduce_grads(opt_rep, MPI_COMM_WORLD) == 0;
            steps_ok &= descent_step(opt_rep) == 0;
            sharded_same &= same_params(L, &ref, &sh);
            replicated_same &= same_params(L, &ref, &rep);
        }
        CHECK(steps_ok, "%s layout %s: a step failed: %s", spec, L->name, descent_mpi_sharded_errmsg(s));
        CHECK(sharded_same, "%s layout %s R=%d: sharded parameters differ from the reference", spec, L->name, world);
        CHECK(replicated_same, "%s layout %s R=%d: all-reduce parameters differ from the reference", spec, L->name,
              world);
        CHECK(descent_mpi_sharded_step_count(s) == 6, "%s: step count %lld", spec,
              (long long)descent_mpi_sharded_step_count(s));
        /* State: the shards add up to the unsharded figure, 1/R each when
         * R divides every vector. */
        size_t full = descent_state_bytes(opt_ref), mine = descent_mpi_sharded_state_bytes(s);
        CHECK(sum_over_ranks(mine, MPI_COMM_WORLD) == full, "%s layout %s: shards hold %zu bytes in all, unsharded %zu",
              spec, L->name, sum_over_ranks(mine, MPI_COMM_WORLD), full);
        if (divides_every_vector(L, world))
            CHECK(mine * (size_t)world == full, "%s layout %s: rank %d holds %zu state bytes, 1/%d of %zu is %zu", spec,
                  L->name, rank, mine, world, full, full / (size_t)world);
    }
    descent_destroy(opt_ref);
    descent_destroy(opt_rep);
    descent_mpi_sharded_destroy(s);
    free_tensors(L, &ref);
    free_tensors(L, &sh);
    free_tensors(L, &rep);
}

/* ---- clipping by the global norm ----------------------------------------- */

/* Within rtol of each other, element by element. */
static int close_params(const layout *L, const tensors *a, const tensors *b, double rtol)
{
    for (int j = 0; j < L->ntensors; j++)
        for (size_t i = 0; i < L->t[j].n; i++) {
            double x, y;
            if (L->t[j].dtype == DESCENT_F64) {
                x = ((double *)a->p[j])[i];
                y = ((double *)b->p[j])[i];
            } else {
                x = ((float *)a->p[j])[i];
                y = ((float *)b->p[j])[i];
            }
            if (!t_close(x, y, rtol, 1e-12))
                return 0;
        }
    return 1;
}

/* Sharded clipping against descent_clip_grad_norm on the mean gradient.
 * With R a power of two the mean gradients are multiples of 2^-14, whose
 * squares add exactly in double in any order, so the norms agree to the bit
 * and so do the parameters. With R = 3 the mean is rounded, the per-tensor
 * sums depend on their order, and the norms agree to a few ulps: the
 * parameters then to rounding of f32 (Adam divides by sqrt(v) and so
 * carries a relative change of the gradient's scale almost unchanged). */
static void compare_clipping(const char *spec, const layout *L, double norm_type)
{
    tensors ref, sh;
    alloc_tensors(L, &ref);
    alloc_tensors(L, &sh);
    set_values(L, ref.p, 0, 0, 0, 0);
    set_values(L, sh.p, 0, 0, 0, 0);
    descent_optimizer *opt = make_plain(spec, L, &ref);
    descent_mpi_sharded *s = make_sharded(spec, L, &sh, MPI_COMM_WORLD);
    const double max_norm = 0.01;
    const int exact = (world & (world - 1)) == 0;
    CHECK(opt && s && descent_mpi_sharded_set_clip_grad_norm(s, max_norm, norm_type) == 0, "%s: clipping setup",
          spec);
    int same = 1, norms_same = 1, ok = 1;
    for (int k = 0; opt && s && k < 5; k++) {
        double norm = 0;
        set_mean_grad(L, ref.g, world, k, 0);
        set_values(L, sh.g, 1, rank, k, 0);
        ok &= descent_clip_grad_norm(opt, max_norm, norm_type, &norm) == 0 && descent_step(opt) == 0;
        ok &= descent_mpi_sharded_step(s) == 0;
        double mine = descent_mpi_sharded_grad_norm(s);
        norms_same &= (exact ? norm == mine : t_close(norm, mine, 1e-12, 0)) && norm > max_norm;
        same &= exact ? same_params(L, &ref, &sh) : close_params(L, &ref, &sh, 1e-5);
    }
    CHECK(ok, "%s: a clipped step failed: %s", spec, s ? descent_mpi_sharded_errmsg(s) : "");
    CHECK(norms_same, "%s layout %s p=%g: norms differ (or did not clip)", spec, L->name, norm_type);
    CHECK(same, "%s layout %s p=%g: clipped sharded parameters differ from the reference", spec, L->name, norm_type);

    /* A NaN on one rank: every rank refuses the step and changes nothing. */
    if (opt && s) {
        tensors before;
        alloc_tensors(L, &before);
        copy_params(L, &before, &sh);
        set_values(L, sh.g, 1, rank, 7, 0);
        if (rank == world - 1)
            ((float *)sh.g[0])[0] = (float)NAN;
        int rc = descent_mpi_sharded_step(s);
        CHECK(rc == DESCENT_ERR_NONFINITE, "NaN gradient gave %d: %s", rc, descent_mpi_sharded_errmsg(s));
        CHECK(same_params(L, &before, &sh) && descent_mpi_sharded_step_count(s) == 5,
              "a refused step changed the parameters or the step count");
        set_values(L, sh.g, 1, rank, 7, 0);
        CHECK(descent_mpi_sharded_step(s) == 0, "step after a refused one: %s", descent_mpi_sharded_errmsg(s));
        free_tensors(L, &before);
    }
    descent_destroy(opt);
    descent_mpi_sharded_destroy(s);
    free_tensors(L, &ref);
    free_tensors(L, &sh);
}

/* ---- the order of the sharded norm's sums --------------------------------- */

/* The same gradient on every rank, so the mean is that gradient exactly
 * (each value has 21 significant bits: R v and R v / R are exact for R <= 4),
 * with exponents spread over 2^-30..2^10, so that the squares and the
 * magnitudes add with rounding that depends on their order. */
static double spread_grad(int j, size_t i)
{
    double m = 1.0 + (double)((i * 2654435761u + (size_t)j * 40503u) % 1048576u) / 1048576.0;
    return ldexp(i % 2 ? -m : m, (int)((i * 7 + (size_t)j * 3) % 41) - 30);
}

static void set_spread(const layout *L, void *const *buf)
{
    for (int j = 0; j < L->ntensors; j++)
        for (size_t i = 0; i < L->t[j].n; i++) {
            if (L->t[j].dtype == DESCENT_F64)
                ((double *)buf[j])[i] = spread_grad(j, i);
            else
                ((float *)buf[j])[i] = (float)spread_grad(j, i);
        }
}

/* The sharded 1-norm as its order says (descent_mpi.h): tensor by tensor,
 * rank q's piece summed as descent_clip_grad_norm sums a tensor (here each
 * piece a tensor of a plain optimizer, whose per-tensor 1-norm is that sum),
 * the pieces added in rank order. */
static double pieces_1norm(const layout *L, tensors *T)
{
    descent_optimizer *opt = NULL;
    descent_error err;
    if (descent_create_from_spec(&opt, "SGD(lr=0.01)", NULL, &err) < 0)
        return NAN;
    descent_add_group(opt, NULL);
    int pieces[8][4], np = 0;
    for (int j = 0; j < L->ntensors; j++) {
        size_t off = 0, total = 0, es = L->t[j].dtype == DESCENT_F64 ? 8 : 4;
        for (int k = 0; k < L->ntensors; k++)
            if (L->t[k].group == L->t[j].group && L->t[k].dtype == L->t[j].dtype) {
                off += k < j ? L->t[k].n : 0;
                total += L->t[k].n;
            }
        for (int q = 0; q < world; q++) {
            size_t uq = (size_t)q, ur = (size_t)world;
            size_t lo = uq * (total / ur) + uq * (total % ur) / ur;
            size_t hi = (uq + 1) * (total / ur) + (uq + 1) * (total % ur) / ur;
            lo = lo > off ? lo : off;
            hi = hi < off + L->t[j].n ? hi : off + L->t[j].n;
            pieces[j][q] = -1;
            if (hi > lo) {
                pieces[j][q] = np++;
                descent_add_tensor(opt, 0, (char *)T->p[j] + (lo - off) * es, (char *)T->g[j] + (lo - off) * es,
                                   hi - lo, L->t[j].dtype);
            }
        }
    }
    double sums[32], total = 0;
    if (descent_clip_grad_norm_per_tensor(opt, 1e300, 1.0, sums) < 0)
        total = NAN;
    for (int j = 0; j < L->ntensors; j++) {
        double t = 0;
        for (int q = 0; q < world; q++)
            t += pieces[j][q] >= 0 ? sums[pieces[j][q]] : 0.0;
        total += t;
    }
    descent_destroy(opt);
    return total;
}

/* The sharded norm is summed in a fixed order: the same bits on every rank
 * and for any thread count; with one rank, descent_clip_grad_norm's bits;
 * with R ranks, the pieces' sums added in rank order. */
static void compare_norm_order(const layout *L)
{
    tensors ref, sh;
    alloc_tensors(L, &ref);
    alloc_tensors(L, &sh);
    set_values(L, ref.p, 0, 0, 0, 0);
    set_values(L, sh.p, 0, 0, 0, 0);
    set_spread(L, ref.g);
    set_spread(L, sh.g);
    const double ps[2] = {2.0, 1.0};
    for (int k = 0; k < 2; k++) {
        const double p = ps[k];
        descent_mpi_sharded *s = make_sharded("SGD(lr=0.01)", L, &sh, MPI_COMM_WORLD);
        CHECK(s && descent_mpi_sharded_set_clip_grad_norm(s, 1e300, p) == 0, "layout %s: setup", L->name);
        if (!s)
            continue;
        double norms[2];
        for (int threads = 1; threads <= 2; threads++) {
            descent_set_threads(descent_mpi_sharded_optimizer(s), threads);
            CHECK(descent_mpi_sharded_step(s) == 0, "%s", descent_mpi_sharded_errmsg(s));
            norms[threads - 1] = descent_mpi_sharded_grad_norm(s);
        }
        double lo = 0, hi = 0;
        MPI_Allreduce(&norms[0], &lo, 1, MPI_DOUBLE, MPI_MIN, MPI_COMM_WORLD);
        MPI_Allreduce(&norms[0], &hi, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        CHECK(norms[0] == norms[1], "layout %s p=%g: 1 thread %.17g, 2 threads %.17g", L->name, p, norms[0], norms[1]);
        CHECK(lo == hi, "layout %s p=%g: the ranks' norms differ: %.17g .. %.17g", L->name, p, lo, hi);
        if (world == 1) {
            descent_optimizer *opt = make_plain("SGD(lr=0.01)", L, &ref);
            double norm = NAN;
            CHECK(opt && descent_clip_grad_norm(opt, 1e300, p, &norm) == 0 && norm == norms[0],
                  "layout %s p=%g: sharded %.17g, descent_clip_grad_norm %.17g", L->name, p, norms[0], norm);
            descent_destroy(opt);
        }
        if (p == 1.0) {
            double want = pieces_1norm(L, &ref);
            CHECK(want == norms[0], "layout %s R=%d p=1: sharded %.17g, pieces in rank order %.17g", L->name, world,
                  norms[0], want);
        }
        descent_mpi_sharded_destroy(s);
    }
    free_tensors(L, &ref);
    free_tensors(L, &sh);
}

/* ---- checkpoints -------------------------------------------------------- */

static char dir[200];

static void prefix_of(char *out, size_t cap, const char *name) { snprintf(out, cap, "%s/%s", dir, name); }

#define CKPT_SPEC "AdamW(lr=0.01, amsgrad=True)"
#define CKPT_SCHED "StepLR(step_size=2, gamma=0.5)"

/* Train `steps` steps from the initial parameters on comm, same gradient on
 * every rank; save after `save_at` steps (if >= 0) under prefix. */
static descent_mpi_sharded *train(const layout *L, tensors *T, MPI_Comm comm, int from, int to)
{
    descent_mpi_sharded *s = make_sharded(CKPT_SPEC, L, T, comm);
    if (!s)
        return NULL;
    CHECK(descent_set_schedule(descent_mpi_sharded_optimizer(s), CKPT_SCHED) == 0, "schedule: %s",
          descent_errmsg(descent_mpi_sharded_optimizer(s)));
    for (int k = from; k < to; k++) {
        int r = 0;
        MPI_Comm_rank(comm, &r);
        set_values(L, T->g, 1, r, k, 1);
        CHECK(descent_mpi_sharded_step(s) == 0, "step %d: %s", k, descent_mpi_sharded_errmsg(s));
        descent_schedule_step(descent_mpi_sharded_optimizer(s), 0.0);
    }
    return s;
}

static void continue_training(descent_mpi_sharded *s, const layout *L, tensors *T, MPI_Comm comm, int from, int to)
{
    int r = 0;
    MPI_Comm_rank(comm, &r);
    for (int k = from; k < to; k++) {
        set_values(L, T->g, 1, r, k, 1);
        CHECK(descent_mpi_sharded_step(s) == 0, "step %d: %s", k, descent_mpi_sharded_errmsg(s));
        descent_schedule_step(descent_mpi_sharded_optimizer(s), 0.0);
    }
}

static void test_checkpoints(const layout *L)
{
    char prefix[300], prefix_sub[320];
    prefix_of(prefix, sizeof prefix, L->name);
    snprintf(prefix_sub, sizeof prefix_sub, "%s_sub", prefix);
    tensors a, b, snap;
    alloc_tensors(L, &a);
    alloc_tensors(L, &b);
    alloc_tensors(L, &snap);

    /* Same R: train 3, save, train 3 more; a fresh handle from the saved
     * parameters and checkpoint continues to the same bits. */
    set_values(L, a.p, 0, 0, 0, 0);
    descent_mpi_sharded *s = train(L, &a, MPI_COMM_WORLD, 0, 3);
    CHECK(s != NULL, "train");
    if (!s)
        return;
    char prefix_other[600];
    snprintf(prefix_other, sizeof prefix_other, "%s_again", prefix);
    CHECK(descent_mpi_sharded_save(s, prefix) == 0, "save: %s", descent_mpi_sharded_errmsg(s));
    CHECK(descent_mpi_sharded_save(s, prefix_other) == 0, "save: %s", descent_mpi_sharded_errmsg(s));
    copy_params(L, &snap, &a);
    continue_training(s, L, &a, MPI_COMM_WORLD, 3, 6);

    copy_params(L, &b, &snap);
    descent_mpi_sharded *s2 = make_sharded(CKPT_SPEC, L, &b, MPI_COMM_WORLD);
    descent_set_schedule(descent_mpi_sharded_optimizer(s2), CKPT_SCHED);
    CHECK(descent_mpi_sharded_load(s2, prefix) == 0, "load: %s", descent_mpi_sharded_errmsg(s2));
    CHECK(descent_mpi_sharded_step_count(s2) == 3, "loaded step count %lld",
          (long long)descent_mpi_sharded_step_count(s2));
    continue_training(s2, L, &b, MPI_COMM_WORLD, 3, 6);
    CHECK(same_params(L, &a, &b), "layout %s: resumed run differs from the uninterrupted one", L->name);
    CHECK(descent_get_lr(descent_mpi_sharded_optimizer(s2), 0) == descent_get_lr(descent_mpi_sharded_optimizer(s), 0),
          "schedule state not restored");

    /* A corrupt file: every rank refuses, the handle stays usable. */
    if (rank == 0) {
        char path[600];
        snprintf(path, sizeof path, "%s.rank0of%d", prefix, world);
        FILE *f = fopen(path, "r+b");
        if (f) {
            fseek(f, 40, SEEK_SET);
            int c = fgetc(f);
            fseek(f, 40, SEEK_SET);
            fputc(c ^ 0x10, f);
            fclose(f);
        }
    }
    MPI_Barrier(MPI_COMM_WORLD);
    int rc = descent_mpi_sharded_load(s2, prefix);
    CHECK(rc == DESCENT_ERR_CHECKPOINT, "corrupt checkpoint gave %d: %s", rc, descent_mpi_sharded_errmsg(s2));
    CHECK(strstr(descent_mpi_sharded_errmsg(s2), "rank0of") != NULL, "message names the file: %s",
          descent_mpi_sharded_errmsg(s2));
    CHECK(descent_mpi_sharded_step(s2) == 0, "handle unusable after a refused load: %s",
          descent_mpi_sharded_errmsg(s2));
    descent_mpi_sharded_destroy(s2);

    /* Another layout cannot load it. */
    const layout *other = L == &layout_a ? &layout_b : &layout_a;
    tensors d;
    alloc_tensors(other, &d);
    descent_mpi_sharded *s3 = make_sharded(CKPT_SPEC, other, &d, MPI_COMM_WORLD);
    descent_set_schedule(descent_mpi_sharded_optimizer(s3), CKPT_SCHED);
    rc = descent_mpi_sharded_load(s3, prefix_other);
    CHECK(rc == DESCENT_ERR_CHECKPOINT, "other layout gave %d: %s", rc, descent_mpi_sharded_errmsg(s3));
    descent_mpi_sharded_destroy(s3);
    free_tensors(other, &d);
    descent_mpi_sharded_destroy(s);

    /* Re-sharding, R -> R/2 and R/2 -> R: the gradient is the same on every
     * rank, so the trajectory does not depend on R and both must continue
     * to the uninterrupted run's bits. */
    if (world > 1) {
        int half = world / 2;
        MPI_Comm sub;
        MPI_Comm_split(MPI_COMM_WORLD, rank < half ? 0 : MPI_UNDEFINED, rank, &sub);
        /* Reference: the world run of 6 steps, in a. */
        if (sub != MPI_COMM_NULL) {
            set_values(L, b.p, 0, 0, 0, 0);
            descent_mpi_sharded *h = train(L, &b, sub, 0, 3);
            CHECK(h && descent_mpi_sharded_save(h, prefix_sub) == 0, "save on %d ranks", half);
            descent_mpi_sharded_destroy(h);
        }
        MPI_Barrier(MPI_COMM_WORLD);
        /* R/2 -> R */
        copy_params(L, &b, &snap);
        descent_mpi_sharded *w = make_sharded(CKPT_SPEC, L, &b, MPI_COMM_WORLD);
        descent_set_schedule(descent_mpi_sharded_optimizer(w), CKPT_SCHED);
        rc = descent_mpi_sharded_load(w, prefix_sub);
        CHECK(rc == 0, "load %d-rank checkpoint on %d ranks: %s", half, world, descent_mpi_sharded_errmsg(w));
        continue_training(w, L, &b, MPI_COMM_WORLD, 3, 6);
        CHECK(same_params(L, &a, &b), "layout %s: re-sharded %d -> %d run differs", L->name, half, world);
        descent_mpi_sharded_destroy(w);
        /* R -> R/2 */
        if (sub != MPI_COMM_NULL) {
            copy_params(L, &b, &snap);
            descent_mpi_sharded *h = make_sharded(CKPT_SPEC, L, &b, sub);
            descent_set_schedule(descent_mpi_sharded_optimizer(h), CKPT_SCHED);
            rc = descent_mpi_sharded_load(h, prefix_other);
            CHECK(rc == 0, "load %d-rank checkpoint on %d ranks: %s", world, half, descent_mpi_sharded_errmsg(h));
            continue_training(h, L, &b, sub, 3, 6);
            CHECK(same_params(L, &a, &b), "layout %s: re-sharded %d -> %d run differs", L->name, world, half);
            descent_mpi_sharded_destroy(h);
            MPI_Comm_free(&sub);
        }
        MPI_Barrier(MPI_COMM_WORLD);
    }
    free_tensors(L, &a);
    free_tensors(L, &b);
    free_tensors(L, &snap);
}

/* ---- a save that did not complete on every rank -------------------------- */

static void copy_file(const char *from, const char *to)
{
    size_t len = 0;
    char *data = t_read_file(from, &len);
    FILE *f = data ? fopen(to, "wb") : NULL;
    CHECK(f && fwrite(data, 1, len, f) == len, "copy %s to %s", from, to);
    if (f)
        fclose(f);
    free(data);
}

/* Rank 0's file from step 6 with the others' from step 3 (a crash during
 * the second save), or rank 0's from another run at the same step: every
 * rank refuses, and the handle stays usable. */
static void test_mixed_shards(void)
{
    if (world < 2)
        return;
    const layout *L = &layout_a;
    tensors a, b;
    alloc_tensors(L, &a);
    alloc_tensors(L, &b);
    char p3[300], p3b[320], p6[320], q3[320], from[400], to[400];
    prefix_of(p3, sizeof p3, "mixed3");
    snprintf(p3b, sizeof p3b, "%s_b", p3);
    prefix_of(p6, sizeof p6, "mixed6");
    prefix_of(q3, sizeof q3, "otherrun3");
    set_values(L, a.p, 0, 0, 0, 0);
    descent_mpi_sharded *s = train(L, &a, MPI_COMM_WORLD, 0, 3);
    CHECK(s && descent_mpi_sharded_save(s, p3) == 0 && descent_mpi_sharded_save(s, p3b) == 0, "save at 3");
    continue_training(s, L, &a, MPI_COMM_WORLD, 3, 6);
    CHECK(descent_mpi_sharded_save(s, p6) == 0, "save at 6");
    set_values(L, b.p, 0, 0, 0, 0);
    descent_mpi_sharded *o = train(L, &b, MPI_COMM_WORLD, 0, 3);
    CHECK(o && descent_mpi_sharded_save(o, q3) == 0, "save of another run");
    if (rank == 0) {
        snprintf(from, sizeof from, "%s.rank0of%d", p6, world);
        snprintf(to, sizeof to, "%s.rank0of%d", p3, world);
        copy_file(from, to);
        snprintf(from, sizeof from, "%s.rank0of%d", q3, world);
        snprintf(to, sizeof to, "%s.rank0of%d", p3b, world);
        copy_file(from, to);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    const char *mixed[2] = {p3, p3b};
    for (int k = 0; k < 2; k++) {
        int rc = descent_mpi_sharded_load(o, mixed[k]);
        CHECK(rc == DESCENT_ERR_CHECKPOINT, "%s shards loaded: %d %s", k ? "mixed-run" : "mixed-step", rc,
              descent_mpi_sharded_errmsg(o));
        CHECK(strstr(descent_mpi_sharded_errmsg(o), "different saves") != NULL, "message: %s",
              descent_mpi_sharded_errmsg(o));
        CHECK(descent_mpi_sharded_step_count(o) == 3, "a refused load changed the step count");
    }
    CHECK(descent_mpi_sharded_step(o) == 0, "handle unusable after refused loads: %s", descent_mpi_sharded_errmsg(o));
    /* The intact checkpoint of the first run still loads. */
    CHECK(descent_mpi_sharded_load(o, p6) == 0 && descent_mpi_sharded_step_count(o) == 6, "load at 6: %s",
          descent_mpi_sharded_errmsg(o));
    descent_mpi_sharded_destroy(o);
    descent_mpi_sharded_destroy(s);
    free_tensors(L, &a);
    free_tensors(L, &b);
}

/* Replicated data parallelism with a different tensor size on rank 0: an
 * error on every rank, before any reduction. */
static void test_allreduce_mismatch(void)
{
    float p[8] = {0}, g[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    for (int mismatch = 0; mismatch < 2; mismatch++) {
        descent_optimizer *opt = NULL;
        descent_error err;
        descent_create_from_spec(&opt, "SGD(lr=0.1)", NULL, &err);
        size_t n = mismatch && rank == 0 ? 7 : 8;
        descent_add_tensor(opt, descent_add_group(opt, NULL), p, g, n, DESCENT_F32);
        int rc = descent_mpi_allreduce_grads(opt, MPI_COMM_WORLD);
        if (mismatch && world > 1)
            CHECK(rc == DESCENT_ERR_INVALID && strstr(descent_errmsg(opt), "different tensors"),
                  "mismatched sizes on rank %d: %d %s", rank, rc, descent_errmsg(opt));
        else
            CHECK(rc == 0, "same sizes: %s", descent_errmsg(opt));
        descent_destroy(opt);
    }
}

/* ---- checkpoints written by an earlier build ----------------------------- */

/* tests/data/images/shard_v1.rank{0,1}of2: layout a after 3 steps on 2
 * ranks, written (by --write-old DIR under mpirun -np 2) before the shard
 * files carried a run identity. They load on any R, and continue to the
 * bits of an uninterrupted run. */
static void test_old_shards(void)
{
#ifdef DESCENT_TEST_DATA
    const layout *L = &layout_a;
    tensors a, b;
    alloc_tensors(L, &a);
    alloc_tensors(L, &b);
    set_values(L, a.p, 0, 0, 0, 0);
    descent_mpi_sharded *s = train(L, &a, MPI_COMM_WORLD, 0, 6);
    set_values(L, b.p, 0, 0, 0, 0);
    descent_mpi_sharded *h = train(L, &b, MPI_COMM_WORLD, 0, 3); /* the parameters at step 3 */
    descent_mpi_sharded_destroy(h);
    h = make_sharded(CKPT_SPEC, L, &b, MPI_COMM_WORLD);
    CHECK(s && h, "handles");
    if (s && h) {
        descent_set_schedule(descent_mpi_sharded_optimizer(h), CKPT_SCHED);
        int rc = descent_mpi_sharded_load(h, DESCENT_TEST_DATA "/images/shard_v1");
        CHECK(rc == 0, "old 2-rank shards on %d ranks: %s", world, descent_mpi_sharded_errmsg(h));
        CHECK(descent_mpi_sharded_step_count(h) == 3, "step count %lld", (long long)descent_mpi_sharded_step_count(h));
        continue_training(h, L, &b, MPI_COMM_WORLD, 3, 6);
        CHECK(same_params(L, &a, &b), "old shards: the resumed run differs from the uninterrupted one");
    }
    descent_mpi_sharded_destroy(h);
    descent_mpi_sharded_destroy(s);
    free_tensors(L, &a);
    free_tensors(L, &b);
#endif
}

static int write_old_shards(const char *out)
{
    tensors a;
    alloc_tensors(&layout_a, &a);
    set_values(&layout_a, a.p, 0, 0, 0, 0);
    descent_mpi_sharded *s = train(&layout_a, &a, MPI_COMM_WORLD, 0, 3);
    char prefix[600];
    snprintf(prefix, sizeof prefix, "%s/shard_v1", out);
    int rc = s ? descent_mpi_sharded_save(s, prefix) : -1;
    descent_mpi_sharded_destroy(s);
    free_tensors(&layout_a, &a);
    return rc < 0;
}

/* ---- refusals ----------------------------------------------------------- */

static void test_refusals(void)
{
    descent_mpi_sharded *s = NULL;
    descent_error err;
    int rc = descent_mpi_sharded_create(&s, "NAG(lr=0.01, momentum=0.9)", MPI_COMM_WORLD, NULL, &err);
    CHECK(rc == DESCENT_ERR_INVALID && s == NULL, "NAG accepted (%d)", rc);
    CHECK(strstr(err.message, "minimizer") && strstr(err.message, "cannot be sharded"), "message: %s", err.message);
    rc = descent_mpi_sharded_create(&s, "NoSuchThing(lr=1)", MPI_COMM_WORLD, NULL, &err);
    CHECK(rc == DESCENT_ERR_SPEC || rc == DESCENT_ERR_INVALID, "unknown optimizer gave %d", rc);

    float p[8] = {0}, g[8] = {0};
    rc = descent_mpi_sharded_create(&s, "SGD(lr=0.1)", MPI_COMM_WORLD, NULL, &err);
    CHECK(rc == 0, "SGD: %s", err.message);
    CHECK(descent_mpi_sharded_step(s) == DESCENT_ERR_STATE, "step before commit");
    int g0 = descent_mpi_sharded_add_group(s, NULL);
    /* Rank 0 registers a different size: every rank's commit fails. */
    descent_mpi_sharded_add_tensor(s, g0, p, g, rank == 0 && world > 1 ? 8 : 7, DESCENT_F32);
    rc = descent_mpi_sharded_commit(s);
    CHECK(world == 1 ? rc == 0 : rc == DESCENT_ERR_INVALID, "mismatched registration gave %d", rc);
    if (world > 1)
        CHECK(strstr(descent_mpi_sharded_errmsg(s), "different") != NULL, "message: %s", descent_mpi_sharded_errmsg(s));
    descent_mpi_sharded_destroy(s);

    rc = descent_mpi_sharded_create(&s, "SGD(lr=0.1)", MPI_COMM_WORLD, NULL, &err);
    g0 = descent_mpi_sharded_add_group(s, NULL);
    descent_mpi_sharded_add_tensor(s, g0, p, g, 8, DESCENT_F32);
    CHECK(descent_mpi_sharded_commit(s) == 0, "commit: %s", descent_mpi_sharded_errmsg(s));
    CHECK(descent_mpi_sharded_add_tensor(s, g0, p, g, 8, DESCENT_F32) == DESCENT_ERR_STATE, "add after commit");
    size_t b, e, n;
    CHECK(descent_mpi_sharded_shard(s, 0, DESCENT_F32, &b, &e, &n) == 0 && n == 8 &&
              b == (size_t)rank * 8 / (size_t)world && e == (size_t)(rank + 1) * 8 / (size_t)world,
          "shard [%zu, %zu) of %zu", b, e, n);
    rc = descent_mpi_sharded_load(s, "/nonexistent/dir/ckpt");
    CHECK(rc == DESCENT_ERR_IO, "missing checkpoint gave %d: %s", rc, descent_mpi_sharded_errmsg(s));
    descent_mpi_sharded_destroy(s);
}

static void cleanup_dir(void)
{
    if (rank != 0)
        return;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world);
    if (rank == 0) {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/descent_mpi_XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir))
            dir[0] = '\0';
    }
    MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
    if (argc == 3 && strcmp(argv[1], "--write-old") == 0) {
        int bad = write_old_shards(argv[2]);
        cleanup_dir();
        MPI_Finalize();
        return bad;
    }

    /* Checkpoints of earlier builds, a save that did not complete on every
     * rank, replicated reduction of mismatched tensors. */
    test_old_shards();
    if (dir[0])
        test_mixed_shards();
    test_allreduce_mismatch();
    for (int i = 0; i < descent_optimizer_count(); i++) {
        if (sharding_refused(descent_optimizer_name(i)))
            continue;
        compare_optimizer(descent_optimizer_name(i), &layout_a);
        compare_optimizer(descent_optimizer_name(i), &layout_b);
    }
    const char *clip_specs[] = {"Adam(lr=0.01)", "SGD(lr=0.1, momentum=0.9)"};
    for (int i = 0; i < 2; i++) {
        compare_optimizer(clip_specs[i], &layout_c);
        compare_clipping(clip_specs[i], &layout_c, 2.0);
        compare_clipping(clip_specs[i], &layout_a, 2.0);
        compare_clipping(clip_specs[i], &layout_b, 2.0);
        compare_clipping(clip_specs[i], &layout_b, INFINITY);
    }
    compare_norm_order(&layout_c);
    compare_norm_order(&layout_b);
    if (dir[0]) {
        test_checkpoints(&layout_a);
        test_checkpoints(&layout_b);
    } else {
        CHECK(0, "no temporary directory");
    }
    test_refusals();
    cleanup_dir();

    int failed = t_failed, any = 0;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("R = %d, %d optimizers: ", world, descent_optimizer_count());
    int status = rank == 0 ? t_done() : (t_failed ? 1 : 0);
    MPI_Finalize();
    return any ? 1 : status;
}
