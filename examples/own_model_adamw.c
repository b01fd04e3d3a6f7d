/* Your own model, trained with AdamW and a warmup + cosine schedule, with a
 * checkpoint saved mid-run and resumed.
 *
 * The model is a 2-layer network written out below: 2 inputs, a hidden layer
 * of 16 tanh units, one logit, and the logistic loss on labels 0/1. The toy
 * problem: points in the square [-1, 1]^2, labelled 1 inside the circle of
 * radius 0.7. descent knows nothing of the model: it sees four parameter
 * tensors (W1, b1, W2, b2) and their gradients, which the program computes
 * by hand (backpropagation) before each descent_step().
 *
 * The run is done twice:
 *   A. 200 full-batch steps without interruption;
 *   B. 100 steps, then the optimizer (moments, step count, schedule) is saved
 *      with descent_save() and the parameters with fwrite(); a fresh
 *      optimizer and fresh parameter arrays are restored from the two files
 *      and run the last 100 steps.
 * The program exits 1 unless B's final parameters are bit-identical to A's
 * and the model classifies at least 90% of the points correctly.
 *
 * Build against an installed descent:
 *     cc own_model_adamw.c $(pkg-config --cflags --libs descent) -lm
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkstemp */
#endif
#include "descent.h"
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N 256   /* data points */
#define H 16    /* hidden units */
#define STEPS 200

static const char *OPTIMIZER = "AdamW(lr=0.05, weight_decay=0.01)";
static const char *SCHEDULE = "LinearWarmup(warmup_period=20, schedule=CosineAnnealingLR(T_max=200))";

/* ---- the data ----------------------------------------------------------- */

static double X[N][2], Y[N];

static void make_data(void)
{
    uint64_t s = 7; /* a seeded LCG: the same points on every run */
    for (int i = 0; i < N; i++) {
        for (int j = 0; j < 2; j++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            X[i][j] = 2.0 * (double)(s >> 11) / 9007199254740992.0 - 1.0;
        }
        Y[i] = X[i][0] * X[i][0] + X[i][1] * X[i][1] < 0.49 ? 1.0 : 0.0;
    }
}

/* ---- the model: parameters, gradients, loss and backpropagation -------- */

typedef struct model {
    float W1[H][2], b1[H], W2[H], b2[1];     /* parameters */
    float gW1[H][2], gb1[H], gW2[H], gb2[1]; /* their gradients */
} model;

static void model_init(model *m)
{
    uint64_t s = 123;
    for (int k = 0; k < H; k++) {
        for (int j = 0; j < 2; j++) {
            s = s * 6364136223846793005ULL + 1442695040888963407ULL;
            m->W1[k][j] = (float)(2.0 * (double)(s >> 11) / 9007199254740992.0 - 1.0);
        }
        s = s * 6364136223846793005ULL + 1442695040888963407ULL;
        m->W2[k] = (float)(0.5 * (double)(s >> 11) / 9007199254740992.0 - 0.25);
        m->b1[k] = 0;
    }
    m->b2[0] = 0;
}

/* Mean logistic loss over the data set; fills every gradient and, when
 * correct is not NULL, counts the points classified correctly. */
static double loss_and_grad(model *m, int *correct)
{
    memset(m->gW1, 0, sizeof m->gW1);
    memset(m->gb1, 0, sizeof m->gb1);
    memset(m->gW2, 0, sizeof m->gW2);
    m->gb2[0] = 0;
    double loss = 0;
    int right = 0;
    for (int i = 0; i < N; i++) {
        double h[H], z = m->b2[0];
        for (int k = 0; k < H; k++) {
            h[k] = tanh(m->W1[k][0] * X[i][0] + m->W1[k][1] * X[i][1] + m->b1[k]);
            z += m->W2[k] * h[k];
        }
        /* loss = log(1 + e^z) - y z, written to avoid overflow */
        loss += (z > 0 ? z + log1p(exp(-z)) : log1p(exp(z))) - Y[i] * z;
        right += (z > 0) == (Y[i] > 0.5);
        double dz = (1.0 / (1.0 + exp(-z)) - Y[i]) / N; /* dloss/dz, averaged */
        m->gb2[0] += (float)dz;
        for (int k = 0; k < H; k++) {
            m->gW2[k] += (float)(dz * h[k]);
            double da = dz * m->W2[k] * (1 - h[k] * h[k]); /* through tanh */
            m->gW1[k][0] += (float)(da * X[i][0]);
            m->gW1[k][1] += (float)(da * X[i][1]);
            m->gb1[k] += (float)da;
        }
    }
    if (correct)
        *correct = right;
    return loss / N;
}

/* ---- the optimizer ------------------------------------------------------ */

/* An AdamW optimizer over the model's four tensors with the schedule
 * attached. A resumed run must build it the same way before loading. */
static descent_optimizer *make_optimizer(model *m)
{
    descent_optimizer *opt;
    descent_error err;
    if (descent_create_from_spec(&opt, OPTIMIZER, NULL, &err) < 0) {
        fprintf(stderr, "%s\n", err.message);
        return NULL;
    }
    int g = descent_add_group(opt, NULL);
    if (g < 0 || descent_add_tensor(opt, g, m->W1, m->gW1, 2 * H, DESCENT_F32) < 0 ||
        descent_add_tensor(opt, g, m->b1, m->gb1, H, DESCENT_F32) < 0 ||
        descent_add_tensor(opt, g, m->W2, m->gW2, H, DESCENT_F32) < 0 ||
        descent_add_tensor(opt, g, m->b2, m->gb2, 1, DESCENT_F32) < 0 ||
        descent_set_schedule(opt, SCHEDULE) < 0) {
        fprintf(stderr, "%s\n", descent_errmsg(opt));
        descent_destroy(opt);
        return NULL;
    }
    return opt;
}

/* Steps from..to-1: gradient, optimizer step, then the schedule's step (as
 * PyTorch calls opt.step() then sched.step()). */
static int train(descent_optimizer *opt, model *m, int from, int to)
{
    for (int t = from; t < to; t++) {
        double loss = loss_and_grad(m, NULL);
        if (descent_step(opt) < 0 || descent_schedule_step(opt, NAN) < 0) {
            fprintf(stderr, "%s\n", descent_errmsg(opt));
            return -1;
        }
        if (t % 25 == 0)
            printf("  step %3d  loss %.4f  lr %.5f\n", t, loss, descent_get_lr(opt, 0));
    }
    return 0;
}

int main(void)
{
    make_data();
    static model a, b; /* run A and run B */
    int ok = 1;

    /* A: uninterrupted. */
    printf("run A: %d steps\n", STEPS);
    model_init(&a);
    descent_optimizer *opt_a = make_optimizer(&a);
    if (!opt_a || train(opt_a, &a, 0, STEPS) < 0)
        return 1;
    descent_destroy(opt_a);

    /* B: the first half, then save. */
    char ckpt[] = "/tmp/descent-example-XXXXXX";
    int fd = mkstemp(ckpt);
    if (fd < 0) {
        perror("mkstemp");
        return 1;
    }
    close(fd);
    char params[sizeof ckpt + 8];
    snprintf(params, sizeof params, "%s.params", ckpt);

    printf("run B: %d steps, save, resume in a fresh optimizer, %d steps\n", STEPS / 2, STEPS - STEPS / 2);
    model_init(&b);
    descent_optimizer *opt_b = make_optimizer(&b);
    if (!opt_b || train(opt_b, &b, 0, STEPS / 2) < 0)
        return 1;
    /* The optimizer's checkpoint holds its state and the schedule's, not the
     * parameters: those are the program's to save. */
    FILE *f = fopen(params, "wb");
    if (descent_save(opt_b, ckpt) < 0 || !f || fwrite(&b, sizeof b, 1, f) != 1 || fclose(f) != 0) {
        fprintf(stderr, "saving failed: %s\n", descent_errmsg(opt_b));
        return 1;
    }
    descent_destroy(opt_b);
    memset(&b, 0, sizeof b); /* forget everything */

    /* B, resumed: read the parameters back, build the optimizer as before
     * (same tensors, same schedule attached), then load its state. */
    f = fopen(params, "rb");
    if (!f || fread(&b, sizeof b, 1, f) != 1) {
        fprintf(stderr, "cannot read %s\n", params);
        return 1;
    }
    fclose(f);
    descent_optimizer *resumed = make_optimizer(&b);
    if (!resumed)
        return 1;
    if (descent_load(resumed, ckpt) < 0) {
        fprintf(stderr, "descent_load: %s\n", descent_errmsg(resumed));
        return 1;
    }
    printf("  resumed at step %lld, lr %.5f\n", (long long)descent_step_count(resumed), descent_get_lr(resumed, 0));
    if (train(resumed, &b, STEPS / 2, STEPS) < 0)
        return 1;
    descent_destroy(resumed);
    remove(ckpt);
    remove(params);

    int correct;
    double loss = loss_and_grad(&a, &correct);
    printf("final loss %.4f, accuracy %d/%d\n", loss, correct, N);
    if (correct < 0.9 * N) {
        printf("accuracy below 90%%\n");
        ok = 0;
    }
    /* Compare only the parameters (the gradient arrays were recomputed). */
    if (memcmp(a.W1, b.W1, sizeof a.W1) || memcmp(a.b1, b.b1, sizeof a.b1) || memcmp(a.W2, b.W2, sizeof a.W2) ||
        memcmp(a.b2, b.b2, sizeof a.b2)) {
        printf("the resumed run differs from the uninterrupted one\n");
        ok = 0;
    } else {
        printf("the resumed run is bit-identical to the uninterrupted one\n");
    }
    return ok ? 0 : 1;
}
