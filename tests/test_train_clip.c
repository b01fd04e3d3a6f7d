/* The trainer's clipping by norm runs inside the step
 * (descent_set_step_clip): every step gives the bits of
 * descent_clip_grad_norm then descent_step on the same gradient, and the
 * model's gradient buffers are left as the loss computed them (the step
 * scales g as it reads it instead of a pass writing g * clip_coef).
 * The step clip itself, for f32 and f64, with gradient accumulation (the
 * norm of the mean the update reads) and without, against the separate
 * calls on that mean (descent_unscale_clip_grad_norm with loss scaling);
 * a norm that is not finite (a NaN, or finite f64 values whose squares
 * overflow) is refused as descent_clip_grad_norm refuses it, with nothing
 * written and nothing lost. */
#include "descent.h"
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the step clip against descent_clip_grad_norm then descent_step ---- */

enum { NT = 2 };
static const size_t tsize[NT] = {70001, 33}; /* more than one chunk, and a short tensor */

static uint64_t rng_state = 88172645463325252u;
static double urand(void) /* uniform in [-1, 1) */
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (double)(rng_state >> 11) / 4503599627370496.0 - 1.0;
}

typedef struct side {
    descent_optimizer *opt;
    void *p[NT], *g[NT];
} side;

static int side_make(side *s, const char *spec, int dtype, int threads, const void *const p0[NT])
{
    memset(s, 0, sizeof *s);
    s->opt = t_make_opt(spec);
    if (!s->opt)
        return -1;
    int rc = descent_set_threads(s->opt, threads) < 0 ? -1 : 0;
    for (int k = 0; k < NT && rc == 0; k++) {
        s->p[k] = malloc(tsize[k] * t_dsize(dtype));
        s->g[k] = calloc(tsize[k], t_dsize(dtype));
        if (!s->p[k] || !s->g[k])
            return -1;
        memcpy(s->p[k], p0[k], tsize[k] * t_dsize(dtype));
        rc = descent_add_tensor(s->opt, 0, s->p[k], s->g[k], tsize[k], (descent_dtype)dtype) < 0 ? -1 : 0;
    }
    CHECK(rc == 0, "%s: %s", spec, descent_errmsg(s->opt));
    return rc;
}

static void side_free(side *s)
{
    descent_destroy(s->opt);
    for (int k = 0; k < NT; k++) {
        free(s->p[k]);
        free(s->g[k]);
    }
}

static int same_params(const side *a, const side *b, int dtype)
{
    int same = 1;
    for (int k = 0; k < NT; k++)
        same &= memcmp(a->p[k], b->p[k], tsize[k] * t_dsize(dtype)) == 0;
    return same;
}

/* sum = sum + g, or with out: out = (sum + g) / k, in the tensors'
 * precision: the sum and the mean gradient accumulation forms
 * (docs/utilities.md). */
static void add_micro(void *sum, const void *g, void *out, size_t n, int dtype, int k)
{
    for (size_t i = 0; i < n; i++) {
        if (dtype == DESCENT_F64) {
            double x = ((double *)sum)[i] + ((const double *)g)[i];
            if (out)
                ((double *)out)[i] = x / (double)k;
            else
                ((double *)sum)[i] = x;
        } else {
            float x = ((float *)sum)[i] + ((const float *)g)[i];
            if (out)
                ((float *)out)[i] = x / (float)k;
            else
                ((float *)sum)[i] = x;
        }
    }
}

/* What a micro-batch's gradient holds: uniform values, and on request one
 * poisoned value (NaN, or 1e200 in f64: finite, but its square is not). */
enum { POISON_NONE, POISON_NAN, POISON_HUGE };
static void fill_grads(side *a, int dtype, int poison)
{
    for (int k = 0; k < NT; k++)
        for (size_t i = 0; i < tsize[k]; i++)
            t_set_elem(a->g[k], dtype, i, urand());
    if (poison)
        t_set_elem(a->g[0], dtype, 4321, poison == POISON_NAN ? NAN : 1e200);
}

/* b steps on the mean of a's micro-batches (computed here) after
 * descent_clip_grad_norm, or with loss scaling (inv != 1)
 * descent_unscale_clip_grad_norm; the two must agree bit for bit. Returns
 * the statuses (a's, b's) packed as a * 100 + b. */
static int last_micro(side *a, side *b, void *const sum[NT], void *const mean[NT], int dtype, int k, double inv,
                      double max_norm, double *na, double *nb)
{
    for (int t = 0; t < NT; t++) {
        add_micro(sum[t], a->g[t], mean[t], tsize[t], dtype, k);
        memcpy(b->g[t], mean[t], tsize[t] * t_dsize(dtype));
    }
    *nb = NAN;
    int rb = inv != 1.0 ? descent_unscale_clip_grad_norm(b->opt, inv, max_norm, 2.0, nb, NULL)
                        : descent_clip_grad_norm(b->opt, max_norm, 2.0, nb);
    if (rb == 0)
        rb = descent_step(b->opt);
    int ra = descent_step(a->opt);
    *na = descent_step_grad_norm(a->opt);
    return ra * 100 + rb;
}

/* Optimizer a steps with descent_set_step_clip (and accumulation over k
 * micro-batches); b without either, as last_micro says. Three updates;
 * with poison, the third cycle's last micro-batch first comes with a value
 * that makes the norm NaN or infinite: both refuse it, a keeps its k - 1
 * micro-batches, and the cycle then completes with a finite gradient.
 * inv != 1: a also unscales by inv (without poison). */
static void step_clip_like_calls(const char *spec, int dtype, int k, int threads, int poison, double inv)
{
    const double max_norm = 10.0 * inv; /* the norm of the mean is ~150 inv / sqrt(k): every update clips */
    void *p0[NT], *sum[NT], *mean[NT];
    for (int t = 0; t < NT; t++) {
        p0[t] = malloc(tsize[t] * t_dsize(dtype));
        sum[t] = calloc(tsize[t], t_dsize(dtype));
        mean[t] = calloc(tsize[t], t_dsize(dtype));
        for (size_t i = 0; p0[t] && i < tsize[t]; i++)
            t_set_elem(p0[t], dtype, i, urand());
    }
    const char *ty = dtype == DESCENT_F64 ? "f64" : "f32";
    side a = {0}, b = {0};
    int ok = side_make(&a, spec, dtype, threads, (const void *const *)p0) == 0 &&
             side_make(&b, spec, dtype, threads, (const void *const *)p0) == 0;
    if (ok && k > 1)
        CHECK(descent_set_accumulation(a.opt, k) == 0, "%s: %s", spec, descent_errmsg(a.opt));
    if (ok)
        CHECK(descent_set_step_clip(a.opt, inv, max_norm, 2.0) == 0, "%s %s k=%d: %s", spec, ty, k,
              descent_errmsg(a.opt));
    int updates = 0, same = 0, norms_same = 0, statuses = 1;
    double na, nb;
    for (int u = 0; ok && u < 3; u++) {
        for (int j = 0; j < k - 1; j++) {
            fill_grads(&a, dtype, POISON_NONE);
            for (int t = 0; t < NT; t++)
                add_micro(sum[t], a.g[t], NULL, tsize[t], dtype, k);
            statuses &= descent_step(a.opt) == DESCENT_STEP_ACCUMULATED;
        }
        if (poison && u == 2) {
            fill_grads(&a, dtype, poison);
            int rc = last_micro(&a, &b, sum, mean, dtype, k, inv, max_norm, &na, &nb);
            const char *want = poison == POISON_NAN ? "norm is nan" : "norm is inf";
            CHECK(rc == DESCENT_ERR_NONFINITE * 101, "%s %s k=%d: statuses %d (a * 100 + b)", spec, ty, k, rc);
            CHECK(strstr(descent_errmsg(a.opt), want) != NULL, "%s %s k=%d: the message: %s", spec, ty, k,
                  descent_errmsg(a.opt));
            CHECK(same_params(&a, &b, dtype) && descent_skipped_steps(a.opt) == 0,
                  "%s %s k=%d: the refused step changed the parameters or counted a skip", spec, ty, k);
            int pending = -1;
            CHECK(descent_get_accumulation(a.opt, &pending) == k && pending == k - 1,
                  "%s %s k=%d: %d micro-batches pending after the refusal", spec, ty, k, pending);
        }
        fill_grads(&a, dtype, POISON_NONE);
        statuses &= last_micro(&a, &b, sum, mean, dtype, k, inv, max_norm, &na, &nb) == 0;
        updates++;
        same += same_params(&a, &b, dtype);
        norms_same += memcmp(&na, &nb, sizeof na) == 0 && na > max_norm;
        for (int t = 0; t < NT; t++)
            memset(sum[t], 0, tsize[t] * t_dsize(dtype));
    }
    CHECK(ok && statuses && updates == 3, "%s %s k=%d, %d threads: statuses", spec, ty, k, threads);
    CHECK(same == updates, "%s %s k=%d, %d threads: %d of %d updates differ from clip_grad_norm then step", spec,
          ty, k, threads, updates - same, updates);
    CHECK(norms_same == updates, "%s %s k=%d, %d threads: the step's norm differs from clip_grad_norm's", spec, ty,
          k, threads);
    side_free(&a);
    side_free(&b);
    for (int t = 0; t < NT; t++) {
        free(p0[t]);
        free(sum[t]);
        free(mean[t]);
    }
}

static char digits[1024];

enum { MAX_TENSORS = 16 };

/* A reference optimizer (a second trainer's, made from the same config:
 * the same initial parameters, its accumulation turned off) stepped after
 * each update of the trainer's on the mean of the gradients the trainer's
 * model left over the update's batches (add_micro), with the separate
 * calls. */
typedef struct follow {
    descent_trainer *run, *ref;
    double clip_norm;
    int dtype, k, batches, updates, same, unclipped_left; /* batches whose g norm (as left) exceeds clip_norm */
    int failed;
    void *sum[MAX_TENSORS];
} follow;

static int after_step(void *ctx, const descent_train_progress *p)
{
    (void)p;
    follow *f = ctx;
    descent_model *m = descent_trainer_model(f->run), *r = descent_trainer_model(f->ref);
    descent_optimizer *ro = descent_trainer_optimizer(f->ref);
    int nt = descent_model_num_tensors(m), last = ++f->batches % f->k == 0;
    double sq = 0;
    for (int i = 0; i < nt && i < MAX_TENSORS; i++) {
        void *g, *rg;
        size_t n;
        descent_model_tensor(m, i, NULL, &g, &n, NULL);
        descent_model_tensor(r, i, NULL, &rg, NULL, NULL);
        if (!f->sum[i] && !(f->sum[i] = calloc(n, t_dsize(f->dtype))))
            return f->failed = 1;
        add_micro(f->sum[i], g, last ? rg : NULL, n, f->dtype, f->k);
        if (last)
            memset(f->sum[i], 0, n * t_dsize(f->dtype));
        for (size_t j = 0; j < n; j++)
            sq += t_get_elem(g, f->dtype, j) * t_get_elem(g, f->dtype, j);
    }
    f->unclipped_left += sqrt(sq) > f->clip_norm * 1.01;
    if (!last)
        return 0;
    int rc = descent_clip_grad_norm(ro, f->clip_norm, 2.0, NULL);
    if (rc == 0)
        rc = descent_step(ro);
    if (rc != 0 || nt > MAX_TENSORS)
        return f->failed = 1;
    int same = 1;
    for (int i = 0; i < nt; i++) {
        void *w, *rw;
        size_t n;
        descent_model_tensor(m, i, &w, NULL, &n, NULL);
        descent_model_tensor(r, i, &rw, NULL, NULL, NULL);
        same &= memcmp(w, rw, n * t_dsize(f->dtype)) == 0;
    }
    f->updates++;
    f->same += same;
    return 0;
}

static void base_config(descent_train_config *c, const char *opt, int dtype, int k, double clip_norm)
{
    descent_train_default_config(c);
    c->data = digits;
    c->target = "label";
    c->model = "mlp(hidden=(8,))";
    c->optimizer = opt;
    c->batch_size = 100;
    c->seed = 3;
    c->dtype = (descent_dtype)dtype;
    c->accumulate = k;
    c->clip_norm = clip_norm;
}

static void check_run(const char *opt, int dtype, int k, double clip_norm, double clip_value, double ema)
{
    descent_train_config c;
    base_config(&c, opt, dtype, k, clip_norm);
    c.clip_value = clip_value;
    c.ema_decay = ema;
    descent_error err;
    follow f = {0};
    f.clip_norm = clip_norm;
    f.dtype = dtype;
    f.k = k;
    const char *ty = dtype == DESCENT_F64 ? "f64" : "f32";
    if (descent_trainer_create(&f.run, &c, &err) < 0 || descent_trainer_create(&f.ref, &c, &err) < 0) {
        CHECK(0, "%s: %s", opt, err.message);
        descent_trainer_destroy(f.run);
        return;
    }
    CHECK(descent_set_accumulation(descent_trainer_optimizer(f.ref), 1) == 0, "%s", opt);
    for (int e = 0; e < 2; e++)
        CHECK(descent_trainer_epoch(f.run, after_step, &f, NULL) == 0, "%s %s k=%d: %s", opt, ty, k,
              descent_trainer_errmsg(f.run));
    size_t batches;
    descent_trainer_info(f.run, NULL, NULL, NULL, NULL, &batches);
    int updates = 2 * (int)batches / k;
    CHECK(!f.failed && f.updates == updates, "%s %s k=%d: %d of %d updates followed", opt, ty, k, f.updates,
          updates);
    CHECK(f.same == f.updates, "%s %s k=%d: %d of %d updates differ from clip_grad_norm then step", opt, ty, k,
          f.updates - f.same, f.updates);
    /* The norm is clipped on most steps (the gradient's norm at this
     * clip_norm is larger), and the buffers keep the unclipped values. */
    CHECK(f.unclipped_left > f.batches / 2, "%s %s k=%d: the gradient buffers were clipped in place on %d of %d "
          "batches", opt, ty, k, f.batches - f.unclipped_left, f.batches);
    descent_trainer_destroy(f.run);
    descent_trainer_destroy(f.ref);
    for (int i = 0; i < MAX_TENSORS; i++)
        free(f.sum[i]);
}

/* A gradient the norm of which is not finite, put in by the reduce hook
 * (this rank's figures are left as the batch's) on the 5th batch, with
 * the loss finite: the run stops with the clipping's message, the step
 * not taken and not counted as skipped (the default policy). */
typedef struct poisoner {
    descent_trainer *t;
    int calls, dtype;
    double value;     /* NaN, or 1e200 (finite f64, its square not) */
    void *before;     /* the first tensor's parameters when poisoned */
    size_t n;
} poisoner;

static int poison_reduce(void *ctx, descent_optimizer *opt, size_t mine, size_t rows, double *loss)
{
    (void)opt, (void)mine, (void)rows, (void)loss;
    poisoner *q = ctx;
    if (++q->calls != 5)
        return 0;
    void *w, *g;
    descent_model_tensor(descent_trainer_model(q->t), 0, &w, &g, &q->n, NULL);
    t_set_elem(g, q->dtype, 3, q->value);
    q->before = malloc(q->n * t_dsize(q->dtype));
    if (q->before)
        memcpy(q->before, w, q->n * t_dsize(q->dtype));
    return 0;
}

static void check_nonfinite(int dtype, int k, double value)
{
    descent_train_config c;
    base_config(&c, "AdamW(lr=0.01)", dtype, k, 0.05);
    poisoner q = {NULL, 0, dtype, value, NULL, 0};
    c.rank = 0;
    c.ranks = 2;
    c.reduce = poison_reduce;
    c.reduce_ctx = &q;
    descent_error err;
    const char *ty = dtype == DESCENT_F64 ? "f64" : "f32";
    if (descent_trainer_create(&q.t, &c, &err) < 0) {
        CHECK(0, "%s: %s", ty, err.message);
        return;
    }
    char want[64];
    snprintf(want, sizeof want, "the total gradient norm is %s; gradients left unclipped", isnan(value) ? "nan" : "inf");
    int rc = descent_trainer_epoch(q.t, NULL, NULL, NULL);
    const char *msg = descent_trainer_errmsg(q.t);
    CHECK(rc == DESCENT_ERR_NONFINITE && strstr(msg, want), "%s k=%d, %g: %d %s", ty, k, value, rc, msg);
    CHECK(descent_skipped_steps(descent_trainer_optimizer(q.t)) == 0, "%s k=%d: %lld steps counted as skipped", ty,
          k, (long long)descent_skipped_steps(descent_trainer_optimizer(q.t)));
    void *w;
    descent_model_tensor(descent_trainer_model(q.t), 0, &w, NULL, NULL, NULL);
    CHECK(q.before && memcmp(q.before, w, q.n * t_dsize(dtype)) == 0, "%s k=%d: the refused step changed the "
          "parameters", ty, k);
    free(q.before);
    descent_trainer_destroy(q.t);
}

int main(int argc, char **argv)
{
    const char *src_dir = argc > 1 ? argv[1] : "tests";
    snprintf(digits, sizeof digits, "%s/../data/digits.csv", src_dir);
    for (int k = 1; k <= 3; k += 2) {
        check_run("AdamW(lr=0.01)", DESCENT_F32, k, 0.05, 0, 0);
        check_run("AdamW(lr=0.01)", DESCENT_F64, k, 0.05, 0, 0);
        check_run("SGD(lr=0.05, momentum=0.9, nesterov=True)", DESCENT_F32, k, 0.05, 0, 0.9);
        check_run("Adam(lr=0.01)", k == 1 ? DESCENT_F32 : DESCENT_F64, k, 0.02, 0.01, 0);
        /* LAMB's step writes the clipped values into the gradient it reads
         * (docs/utilities.md), so the model's buffers keep the batch's
         * gradient only under accumulation (the mean is written). */
        if (k > 1)
            check_run("LAMB(lr=0.01)", DESCENT_F32, k, 0.05, 0, 0);
        check_nonfinite(DESCENT_F32, k, NAN);
        check_nonfinite(DESCENT_F64, k, NAN);
        check_nonfinite(DESCENT_F64, k, 1e200);
    }
    static const char *const specs[] = {"AdamW(lr=1e-3)", "SGD(lr=0.1, momentum=0.9)", "LAMB(lr=1e-3)"};
    for (int s = 0; s < 3; s++)
        for (int d = 0; d < 2; d++)
            for (int k = 1; k <= 3; k += 2) {
                int dtype = d ? DESCENT_F64 : DESCENT_F32;
                step_clip_like_calls(specs[s], dtype, k, 1 + s % 2, POISON_NAN, 1.0);
                if (dtype == DESCENT_F64)
                    step_clip_like_calls(specs[s], dtype, k, 1 + s % 2, POISON_HUGE, 1.0);
                step_clip_like_calls(specs[s], dtype, k, 1 + s % 2, POISON_NONE, 3.0 / 1024);
            }
    return t_done();
}
