/* The trainer's clipping by norm runs inside the step
 * (descent_set_step_clip): every step gives the bits of
 * descent_clip_grad_norm then descent_step on the same gradient, and the
 * model's gradient buffers are left as the loss computed them (the step
 * scales g as it reads it instead of a pass writing g * clip_coef). */
#include "descent.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static char digits[1024];

/* A reference optimizer (a second trainer's, made from the same config:
 * the same initial parameters) stepped after each of the trainer's steps
 * on the gradient the trainer's model left, with the separate calls. */
typedef struct follow {
    descent_trainer *run, *ref;
    double clip_norm, clip_value;
    int steps, same, unclipped_left; /* steps whose g norm (as left) exceeds clip_norm */
    int failed;
} follow;

static int after_step(void *ctx, const descent_train_progress *p)
{
    (void)p;
    follow *f = ctx;
    descent_model *m = descent_trainer_model(f->run), *r = descent_trainer_model(f->ref);
    descent_optimizer *ro = descent_trainer_optimizer(f->ref);
    double sq = 0;
    for (int i = 0; i < descent_model_num_tensors(m); i++) {
        void *g, *rg;
        size_t n;
        descent_model_tensor(m, i, NULL, &g, &n, NULL);
        descent_model_tensor(r, i, NULL, &rg, NULL, NULL);
        memcpy(rg, g, n * sizeof(float));
        for (size_t j = 0; j < n; j++)
            sq += (double)((float *)g)[j] * ((float *)g)[j];
    }
    f->unclipped_left += sqrt(sq) > f->clip_norm * 1.01;
    int rc = 0;
    if (f->clip_value > 0)
        rc = descent_clip_grad_value(ro, f->clip_value);
    if (rc == 0)
        rc = descent_clip_grad_norm(ro, f->clip_norm, 2.0, NULL);
    if (rc == 0)
        rc = descent_step(ro);
    if (rc != 0) {
        f->failed = 1;
        return 1;
    }
    int same = 1;
    for (int i = 0; i < descent_model_num_tensors(m); i++) {
        void *w, *rw;
        size_t n;
        descent_model_tensor(m, i, &w, NULL, &n, NULL);
        descent_model_tensor(r, i, &rw, NULL, NULL, NULL);
        same &= memcmp(w, rw, n * sizeof(float)) == 0;
    }
    f->steps++;
    f->same += same;
    return 0;
}

static void check_run(const char *opt, double clip_norm, double clip_value, double ema)
{
    descent_train_config c;
    descent_train_default_config(&c);
    c.data = digits;
    c.target = "label";
    c.model = "mlp(hidden=(8,))";
    c.optimizer = opt;
    c.batch_size = 100;
    c.seed = 3;
    c.clip_norm = clip_norm;
    c.clip_value = clip_value;
    c.ema_decay = ema;
    descent_error err;
    follow f = {0};
    f.clip_norm = clip_norm;
    f.clip_value = clip_value;
    if (descent_trainer_create(&f.run, &c, &err) < 0 || descent_trainer_create(&f.ref, &c, &err) < 0) {
        CHECK(0, "%s: %s", opt, err.message);
        descent_trainer_destroy(f.run);
        return;
    }
    for (int e = 0; e < 2; e++)
        CHECK(descent_trainer_epoch(f.run, after_step, &f, NULL) == 0, "%s: %s", opt,
              descent_trainer_errmsg(f.run));
    size_t batches;
    descent_trainer_info(f.run, NULL, NULL, NULL, NULL, &batches);
    CHECK(!f.failed && f.steps == 2 * (int)batches, "%s: %d steps followed", opt, f.steps);
    CHECK(f.same == f.steps, "%s: %d of %d steps differ from clip_grad_norm then step", opt, f.steps - f.same,
          f.steps);
    /* The norm is clipped on most steps (the gradient's norm at this
     * clip_norm is larger), and the buffers keep the unclipped values. */
    CHECK(f.unclipped_left > f.steps / 2, "%s: the gradient buffers were clipped in place on %d of %d steps", opt,
          f.steps - f.unclipped_left, f.steps);
    descent_trainer_destroy(f.run);
    descent_trainer_destroy(f.ref);
}

int main(int argc, char **argv)
{
    const char *src_dir = argc > 1 ? argv[1] : "tests";
    snprintf(digits, sizeof digits, "%s/../data/digits.csv", src_dir);
    check_run("AdamW(lr=0.01)", 0.05, 0, 0);
    check_run("SGD(lr=0.05, momentum=0.9, nesterov=True)", 0.05, 0, 0.9);
    check_run("Adam(lr=0.01)", 0.02, 0.01, 0);
    return t_done();
}
