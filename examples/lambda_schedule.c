/* A schedule written as a function, as PyTorch's LambdaLR takes one:
 * Hugging Face's get_linear_schedule_with_warmup,
 *
 *     lambda(t) = t / W                         for t < W
 *                 max(0, (T - t) / (T - W))     after,
 *
 * lr_t = initial_lr * lambda(t), as a C callback with user data. AdamW fits
 * a line to noisy points; halfway the run is saved to memory, resumed in a
 * fresh optimizer (same callback attached first), and must end where an
 * uninterrupted run ends. Exits 1 if anything fails.
 *
 * (This schedule also exists by name, LinearWithWarmup(num_warmup_steps=W,
 * num_training_steps=T); a callback is for the schedules that do not.) */
#include <descent.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct warmup_decay {
    int64_t warmup, total; /* W and T */
} warmup_decay;

static double linear_warmup_decay(int64_t t, void *user_data)
{
    const warmup_decay *s = user_data;
    if (t < s->warmup)
        return (double)t / (double)(s->warmup > 1 ? s->warmup : 1);
    double left = (double)(s->total - t) / (double)(s->total - s->warmup > 1 ? s->total - s->warmup : 1);
    return left > 0 ? left : 0;
}

enum { N = 32, STEPS = 200 };

static double xs[N], ys[N];

/* Gradient of the mean squared error of y = w[0] x + w[1]. */
static void gradient(const double *w, double *g)
{
    g[0] = g[1] = 0;
    for (int i = 0; i < N; i++) {
        double r = w[0] * xs[i] + w[1] - ys[i];
        g[0] += 2 * r * xs[i] / N;
        g[1] += 2 * r / N;
    }
}

/* An AdamW over w with the callback schedule attached. */
static descent_optimizer *make(double *w, double *g, warmup_decay *sched)
{
    descent_optimizer *opt;
    descent_error err;
    if (descent_create_from_spec(&opt, "AdamW(lr=0.1, weight_decay=0)", NULL, &err) < 0) {
        fprintf(stderr, "%s\n", err.message);
        return NULL;
    }
    if (descent_add_group(opt, NULL) < 0 || descent_add_tensor(opt, 0, w, g, 2, DESCENT_F64) < 0 ||
        descent_set_lambda_lr(opt, linear_warmup_decay, sched) < 0) {
        fprintf(stderr, "%s\n", descent_errmsg(opt));
        descent_destroy(opt);
        return NULL;
    }
    return opt;
}

/* Steps from..to-1; 0, or 1 with a message. */
static int run(descent_optimizer *opt, double *w, double *g, int from, int to, const warmup_decay *sched)
{
    for (int t = from; t < to; t++) {
        double want = 0.1 * linear_warmup_decay(t, (void *)sched);
        if (descent_get_lr(opt, 0) != want) {
            fprintf(stderr, "step %d: lr %.17g, want %.17g\n", t, descent_get_lr(opt, 0), want);
            return 1;
        }
        gradient(w, g);
        if (descent_step(opt) < 0 || descent_schedule_step(opt, NAN) < 0) {
            fprintf(stderr, "%s\n", descent_errmsg(opt));
            return 1;
        }
    }
    return 0;
}

int main(void)
{
    for (int i = 0; i < N; i++) { /* y = 3x - 1 with a deterministic wiggle */
        xs[i] = -1 + 2.0 * i / (N - 1);
        ys[i] = 3 * xs[i] - 1 + 0.05 * sin(7.0 * i);
    }
    warmup_decay sched = {20, STEPS};

    /* Uninterrupted. */
    double w1[2] = {0, 0}, g1[2];
    descent_optimizer *a = make(w1, g1, &sched);
    if (!a || run(a, w1, g1, 0, STEPS, &sched))
        return 1;
    printf("uninterrupted: w = %.6f, b = %.6f, final lr %g\n", w1[0], w1[1], descent_get_lr(a, 0));

    /* Halfway: save, then resume in a fresh optimizer. The checkpoint holds
     * the step count, not the function: attach the same callback first. */
    double w2[2] = {0, 0}, g2[2];
    descent_optimizer *b = make(w2, g2, &sched);
    if (!b || run(b, w2, g2, 0, STEPS / 2, &sched))
        return 1;
    size_t len = 0;
    descent_save_mem(b, NULL, 0, &len);
    unsigned char *ckpt = malloc(len);
    double saved[2] = {w2[0], w2[1]};
    if (!ckpt || descent_save_mem(b, ckpt, len, &len) < 0)
        return 1;
    descent_destroy(b);

    double w3[2] = {saved[0], saved[1]}, g3[2]; /* parameters are yours to keep */
    descent_optimizer *c = make(w3, g3, &sched);
    if (!c || descent_load_mem(c, ckpt, len) < 0) {
        fprintf(stderr, "resume: %s\n", c ? descent_errmsg(c) : "no optimizer");
        return 1;
    }
    free(ckpt);
    if (run(c, w3, g3, STEPS / 2, STEPS, &sched))
        return 1;
    printf("resumed:       w = %.6f, b = %.6f\n", w3[0], w3[1]);

    int ok = memcmp(w1, w3, sizeof w1) == 0 && fabs(w1[0] - 3) < 0.05 && fabs(w1[1] + 1) < 0.05 &&
             descent_get_lr(a, 0) == 0;
    descent_destroy(a);
    descent_destroy(c);
    if (!ok)
        fprintf(stderr, "the resumed run differs or did not fit the line\n");
    return ok ? 0 : 1;
}
