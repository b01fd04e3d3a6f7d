/* Learning-rate schedules: every case of tests/golden/sched.txt (PyTorch
 * 1.13, tests/golden/gen_sched.py) through the library and through
 * `descent schedule`; warmups against their formulas; the pure lr_at;
 * resume from checkpoints for every kind; invalid specs; plateau
 * composition. argv[1]: this directory, argv[2]: the CLI. */
#include "descent.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAXSTEPS 128
#define RTOL 1e-12
#define PI 3.141592653589793

typedef struct sched_case {
    char id[128];
    char opt[512];
    char sched[1024];
    int steps, has_metrics, ncols;
    double metrics[MAXSTEPS];
    double expect[MAXSTEPS][3]; /* t, lr, momentum */
} sched_case;

static int next_case(char **cursor, sched_case *c)
{
    int expects = 0, in_case = 0;
    memset(c, 0, sizeof *c);
    char key[8192];
    const char *v;
    while (t_next_field(cursor, key, sizeof key, &v)) {
        if (strcmp(key, "case") == 0) {
            snprintf(c->id, sizeof c->id, "%.120s", v);
            in_case = 1;
        } else if (strcmp(key, "opt") == 0) {
            snprintf(c->opt, sizeof c->opt, "%.500s", v);
        } else if (strcmp(key, "sched") == 0) {
            snprintf(c->sched, sizeof c->sched, "%.1000s", v);
        } else if (strcmp(key, "steps") == 0) {
            c->steps = atoi(v);
        } else if (strcmp(key, "metrics") == 0) {
            c->has_metrics = t_parse_csv(v, c->metrics, MAXSTEPS) > 0;
        } else if (strcmp(key, "expect") == 0 && expects < MAXSTEPS) {
            c->ncols = t_parse_csv(v, c->expect[expects++], 3);
        } else if (strcmp(key, "end") == 0 && in_case) {
            return expects == c->steps && c->steps > 0;
        }
    }
    return 0;
}

/* An optimizer with one group holding one tensor (stepped for realism). */
typedef struct rig {
    descent_optimizer *opt;
    double param[4], grad[4];
} rig;

static int rig_open_t(rig *r, const char *opt_spec, const char *sched, int with_tensor)
{
    descent_error err;
    memset(r, 0, sizeof *r);
    if (descent_create_from_spec(&r->opt, opt_spec, NULL, &err) < 0) {
        fprintf(stderr, "%s: %s\n", opt_spec, err.message);
        return -1;
    }
    for (int j = 0; j < 4; j++)
        r->param[j] = 0.5 * j, r->grad[j] = 0.1 * (j + 1);
    int g = descent_add_group(r->opt, NULL);
    if (g < 0 || (with_tensor && descent_add_tensor(r->opt, g, r->param, r->grad, 4, DESCENT_F64) < 0) ||
        (sched && descent_set_schedule(r->opt, sched) < 0)) {
        fprintf(stderr, "%s | %s: %s\n", opt_spec, sched ? sched : "-", descent_errmsg(r->opt));
        descent_destroy(r->opt);
        r->opt = NULL;
        return -1;
    }
    return 0;
}

static int rig_open(rig *r, const char *opt_spec, const char *sched) { return rig_open_t(r, opt_spec, sched, 1); }

static double momentum_of(const descent_optimizer *opt)
{
    const char *name = descent_momentum_name(opt);
    double v = NAN;
    if (name)
        descent_get(opt, 0, name, &v);
    return v;
}

/* ---- golden cases ---------------------------------------------------------- */

static void run_library(const sched_case *c)
{
    /* No tensor: SGD(momentum=0) allocates no momentum buffer, so cycling
     * momentum on it needs a group without registered tensors. */
    rig r;
    int rc = rig_open_t(&r, c->opt, c->sched, 0);
    CHECK(rc == 0, "%s: cannot attach %s", c->id, c->sched);
    if (rc < 0)
        return;
    int bad_t = -1;
    double got_lr = 0, got_m = 0;
    for (int t = 0; t < c->steps; t++) {
        double lr = descent_get_lr(r.opt, 0), m = momentum_of(r.opt);
        int ok = t_close(lr, c->expect[t][1], RTOL, 0) && (c->ncols < 3 || t_close(m, c->expect[t][2], RTOL, 0)) &&
                 (c->ncols == 3) == (descent_momentum_name(r.opt) != NULL);
        if (!ok && bad_t < 0)
            bad_t = t, got_lr = lr, got_m = m;
        descent_step(r.opt);
        if (descent_schedule_step(r.opt, c->has_metrics ? c->metrics[t] : NAN) < 0 && t + 1 < c->steps && bad_t < 0)
            bad_t = t;
    }
    CHECK(bad_t < 0, "%s (library) %s: first disagreement at step %d: lr %.17g momentum %.17g, expected %.17g %.17g",
          c->id, c->sched, bad_t, got_lr, got_m, bad_t >= 0 ? c->expect[bad_t][1] : 0,
          bad_t >= 0 ? c->expect[bad_t][2] : 0);
    descent_destroy(r.opt);
}

static void run_cli(const sched_case *c, const char *cli, const char *tmp)
{
    char mpath[600], cmd[4096];
    snprintf(mpath, sizeof mpath, "%s/metrics.txt", tmp);
    if (c->has_metrics) {
        FILE *f = fopen(mpath, "w");
        for (int t = 0; t < c->steps; t++)
            fprintf(f, "%.17g\n", c->metrics[t]);
        fclose(f);
    }
    snprintf(cmd, sizeof cmd, "'%s' schedule --opt \"%s\" --sched \"%s\" --steps %d%s%s", cli, c->opt, c->sched, c->steps,
             c->has_metrics ? " --metrics " : "", c->has_metrics ? mpath : "");
    char *out = NULL;
    int st = t_run(cmd, &out);
    CHECK(st == 0, "%s: descent schedule exited %d", c->id, st);
    const char *want_header = c->ncols == 3 ? "step,lr,momentum\n" : "step,lr\n";
    CHECK(out && strncmp(out, want_header, strlen(want_header)) == 0, "%s: header", c->id);
    int rows = 0, bad = 0;
    char *p = out ? strchr(out, '\n') : NULL;
    p = p ? p + 1 : NULL;
    while (p && *p && rows < c->steps) {
        double row[4];
        int n = t_parse_csv(p, row, 4);
        if (n != c->ncols || row[0] != rows)
            bad++;
        for (int j = 1; j < n && j < c->ncols; j++)
            if (!t_close(row[j], c->expect[rows][j], RTOL, 0))
                bad++;
        rows++;
        char *eol = strchr(p, '\n');
        p = eol ? eol + 1 : p + strlen(p);
    }
    CHECK(rows == c->steps && bad == 0, "%s (cli): %d of %d rows, %d values off", c->id, rows, c->steps, bad);
    free(out);
}

/* ---- warmups against their formulas ----------------------------------------- */

/* Run opt + schedule for n steps with a constant metric; lr per step. */
static int lr_sequence(const char *opt_spec, const char *sched, int n, double metric, double *lr)
{
    rig r;
    if (rig_open(&r, opt_spec, sched) < 0)
        return -1;
    int rc = 0;
    for (int t = 0; t < n; t++) {
        lr[t] = descent_get_lr(r.opt, 0);
        descent_step(r.opt);
        if (t + 1 < n && descent_schedule_step(r.opt, metric) < 0)
            rc = -1;
    }
    descent_destroy(r.opt);
    return rc;
}

static double w_linear(int t, double period) { return fmin(1.0, (t + 1) / period); }
static double w_exp(int t, double period) { return 1.0 - exp(-(t + 1) / period); }

/* ReduceLROnPlateau(mode='min', threshold_mode='rel') on its own, written
 * again here from PyTorch's description. */
static void plateau_reference(double lr0, double factor, int patience, int cooldown, const double *metric, int n,
                              double *lr)
{
    double best = INFINITY, cur = lr0;
    int bad = 0, cool = 0;
    for (int t = 0; t < n; t++) {
        lr[t] = cur;
        if (metric[t] < best * (1 - 1e-4))
            best = metric[t], bad = 0;
        else
            bad++;
        if (cool > 0)
            cool--, bad = 0;
        if (bad > patience) {
            double nl = fmax(cur * factor, 0);
            if (cur - nl > 1e-8)
                cur = nl;
            cool = cooldown;
            bad = 0;
        }
    }
}

static void check_seq(const char *what, const double *got, const double *want, int n)
{
    int bad = -1;
    for (int t = 0; t < n && bad < 0; t++)
        if (!t_close(got[t], want[t], RTOL, 1e-300))
            bad = t;
    CHECK(bad < 0, "%s: step %d: got %.17g, expected %.17g", what, bad, bad >= 0 ? got[bad] : 0, bad >= 0 ? want[bad] : 0);
}

static void test_warmups(void)
{
    enum { N = 260 };
    double got[N], want[N], inner[N];
    const char *adam = "Adam(lr=0.01, betas=(0.9, 0.999))";

    CHECK(lr_sequence(adam, "LinearWarmup(warmup_period=7)", N, NAN, got) == 0, "LinearWarmup");
    for (int t = 0; t < N; t++)
        want[t] = 0.01 * w_linear(t, 7);
    check_seq("LinearWarmup(7)", got, want, N);

    CHECK(lr_sequence(adam, "exponentialwarmup(5)", N, NAN, got) == 0, "ExponentialWarmup");
    for (int t = 0; t < N; t++)
        want[t] = 0.01 * w_exp(t, 5);
    check_seq("ExponentialWarmup(5)", got, want, N);

    /* Untuned periods: int(2/(1-beta2)) and int(1/(1-beta2)), truncated. */
    int p_lin = (int)(2.0 / (1.0 - 0.99)), p_exp = (int)(1.0 / (1.0 - 0.99));
    CHECK(p_lin == 199 && p_exp == 99, "untuned periods for beta2 = 0.99: %d %d", p_lin, p_exp);
    CHECK((int)(2.0 / (1.0 - 0.999)) == 1999, "untuned linear period for beta2 = 0.999");
    const char *adam99 = "AdamW(lr=0.003, betas=(0.9, 0.99))";
    CHECK(lr_sequence(adam99, "UntunedLinearWarmup()", N, NAN, got) == 0, "UntunedLinearWarmup");
    for (int t = 0; t < N; t++)
        want[t] = 0.003 * w_linear(t, p_lin);
    check_seq("UntunedLinearWarmup", got, want, N);
    CHECK(lr_sequence(adam99, "UntunedExponentialWarmup()", N, NAN, got) == 0, "UntunedExponentialWarmup");
    for (int t = 0; t < N; t++)
        want[t] = 0.003 * w_exp(t, p_exp);
    check_seq("UntunedExponentialWarmup", got, want, N);

    /* Over a schedule: the schedule's own lr times w_t. */
    CHECK(lr_sequence(adam, "CosineAnnealingLR(T_max=40, eta_min=0.001)", N, NAN, inner) == 0, "cosine");
    CHECK(lr_sequence(adam, "LinearWarmup(warmup_period=10, schedule=CosineAnnealingLR(T_max=40, eta_min=0.001))", N,
                      NAN, got) == 0, "warmup over cosine");
    for (int t = 0; t < N; t++)
        want[t] = inner[t] * w_linear(t, 10);
    check_seq("LinearWarmup over CosineAnnealingLR", got, want, N);
    CHECK(lr_sequence(adam, "OneCycleLR(max_lr=0.05, total_steps=300)", N, NAN, inner) == 0, "onecycle");
    CHECK(lr_sequence(adam, "UntunedExponentialWarmup(schedule=OneCycleLR(max_lr=0.05, total_steps=300))", N, NAN,
                      got) == 0, "untuned over onecycle");
    for (int t = 0; t < N; t++)
        want[t] = inner[t] * w_exp(t, 999);
    check_seq("UntunedExponentialWarmup over OneCycleLR", got, want, N);

    /* GradualWarmup: the ramp, then `after` from base * multiplier with its
     * own step 0 at t = total_epoch. */
    CHECK(lr_sequence("SGD(lr=0.1)", "GradualWarmup(multiplier=4, total_epoch=5, after=ExponentialLR(gamma=0.9))", 40,
                      NAN, got) == 0, "gradual");
    for (int t = 0; t < 40; t++)
        want[t] = t < 5 ? 0.1 * (3.0 * t / 5 + 1) : 0.4 * pow(0.9, t - 5);
    check_seq("GradualWarmup(4, 5, after=ExponentialLR)", got, want, 40);
    CHECK(lr_sequence("SGD(lr=0.1)", "GradualWarmup(multiplier=1, total_epoch=4)", 20, NAN, got) == 0, "gradual 1");
    for (int t = 0; t < 20; t++)
        want[t] = t < 4 ? 0.1 * t / 4 : 0.1;
    check_seq("GradualWarmup(1, 4)", got, want, 20);
    CHECK(lr_sequence("SGD(lr=0.1)", "GradualWarmup(multiplier=2, total_epoch=3, after=CosineAnnealingLR(T_max=6))", 12,
                      NAN, got) == 0, "gradual cosine");
    for (int t = 0; t < 12; t++)
        want[t] = t < 3 ? 0.1 * (1.0 * t / 3 + 1) : 0.2 * (1 + cos(PI * (t - 3) / 6)) / 2;
    check_seq("GradualWarmup(2, 3, after=CosineAnnealingLR)", got, want, 12);

    /* Warmups need beta2 for the untuned period. */
    descent_optimizer *opt;
    descent_error err;
    descent_create_from_spec(&opt, "SGD(lr=0.1)", NULL, &err);
    descent_add_group(opt, NULL);
    CHECK(descent_set_schedule(opt, "UntunedLinearWarmup()") < 0 && strstr(descent_errmsg(opt), "beta2"),
          "UntunedLinearWarmup on SGD: %s", descent_errmsg(opt));
    descent_destroy(opt);
}

/* ---- plateau composing with the others -------------------------------------- */

static void test_plateau_composition(void)
{
    enum { N = 40 };
    double metric[N], got[N], want[N], ref[N];
    for (int t = 0; t < N; t++)
        metric[t] = t < 6 ? 1.0 - 0.1 * t : 0.45; /* improves, then stalls */

    /* As a warmup's schedule: the plateau's lr times w_t. */
    rig r;
    CHECK(rig_open(&r, "SGD(lr=0.1, momentum=0.9)",
                   "LinearWarmup(warmup_period=4, schedule=ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1))") == 0,
          "plateau in warmup");
    CHECK(descent_schedule_needs_metric(r.opt) == 1, "needs_metric inside a warmup");
    for (int t = 0; t < N; t++) {
        got[t] = descent_get_lr(r.opt, 0);
        descent_schedule_step(r.opt, metric[t]);
    }
    descent_destroy(r.opt);
    plateau_reference(0.1, 0.5, 2, 1, metric, N, ref);
    for (int t = 0; t < N; t++)
        want[t] = ref[t] * w_linear(t, 4);
    check_seq("LinearWarmup over ReduceLROnPlateau", got, want, N);

    /* In ChainedScheduler: a factor on what the other members give. */
    CHECK(rig_open(&r, "SGD(lr=0.1)",
                   "ChainedScheduler([ExponentialLR(gamma=0.9), ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1)])") == 0,
          "plateau in chain");
    for (int t = 0; t < N; t++) {
        got[t] = descent_get_lr(r.opt, 0);
        descent_schedule_step(r.opt, metric[t]);
    }
    descent_destroy(r.opt);
    for (int t = 0; t < N; t++)
        want[t] = 0.1 * pow(0.9, t) * (ref[t] / 0.1);
    check_seq("ChainedScheduler with ReduceLROnPlateau", got, want, N);

    /* In a chain with an absolute schedule the reduction still persists. */
    double cyc[N];
    CHECK(lr_sequence("SGD(lr=0.1)", "CyclicLR(base_lr=0.01, max_lr=0.1, step_size_up=3, cycle_momentum=False)", N, NAN,
                      cyc) == 0, "cyclic");
    CHECK(rig_open(&r, "SGD(lr=0.1)",
                   "ChainedScheduler([CyclicLR(base_lr=0.01, max_lr=0.1, step_size_up=3, cycle_momentum=False), "
                   "ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1)])") == 0, "cyclic chain");
    for (int t = 0; t < N; t++) {
        got[t] = descent_get_lr(r.opt, 0);
        descent_schedule_step(r.opt, metric[t]);
    }
    descent_destroy(r.opt);
    plateau_reference(0.01, 0.5, 2, 1, metric, N, ref);
    for (int t = 0; t < N; t++)
        want[t] = cyc[t] * (ref[t] / 0.01);
    check_seq("ChainedScheduler(CyclicLR, ReduceLROnPlateau)", got, want, N);

    /* In SequentialLR: from its milestone on, the base lr reduced on plateaus. */
    CHECK(rig_open(&r, "SGD(lr=0.1)",
                   "SequentialLR(schedulers=[LinearLR(start_factor=0.5, total_iters=2), "
                   "ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1)], milestones=[3])") == 0, "plateau in seq");
    for (int t = 0; t < N; t++) {
        got[t] = descent_get_lr(r.opt, 0);
        descent_schedule_step(r.opt, metric[t]);
    }
    descent_destroy(r.opt);
    plateau_reference(0.1, 0.5, 2, 1, metric + 3, N - 3, ref);
    for (int t = 0; t < N; t++)
        want[t] = t == 0 ? 0.05 : t == 1 ? 0.075 : t == 2 ? 0.1 : ref[t - 3];
    check_seq("SequentialLR(LinearLR, ReduceLROnPlateau)", got, want, N);
}

/* ---- the pure function -------------------------------------------------------- */

static void test_lr_at(void)
{
    static const char *const closed[] = {
        "StepLR(step_size=3, gamma=0.5)",
        "MultiStepLR(milestones=[2, 5, 5, 9], gamma=0.5)",
        "ExponentialLR(gamma=0.95)",
        "PolynomialLR(total_iters=12, power=2.0)",
        "LinearLR(start_factor=0.1, end_factor=0.9, total_iters=7)",
        "ConstantLR(factor=0.25, total_iters=6)",
        "CosineAnnealingLR(T_max=30, eta_min=0.001)",
        "CosineAnnealingWarmRestarts(T_0=3, T_mult=2, eta_min=0.001)",
        "CyclicLR(base_lr=0.01, max_lr=0.1, step_size_up=4, step_size_down=2, mode='exp_range', gamma=0.99)",
        "OneCycleLR(max_lr=0.2, total_steps=30, three_phase=True)",
        "LinearWarmup(warmup_period=5, schedule=CosineAnnealingLR(T_max=30))",
        "ExponentialWarmup(warmup_period=5, schedule=StepLR(step_size=4))",
        "GradualWarmup(multiplier=3, total_epoch=4, after=PolynomialLR(total_iters=20))",
        "SequentialLR(schedulers=[LinearLR(start_factor=0.1, total_iters=4), ExponentialLR(gamma=0.9)], milestones=[4])",
    };
    enum { N = 31 };
    double seq[N];
    for (size_t i = 0; i < sizeof closed / sizeof closed[0]; i++) {
        CHECK(lr_sequence("SGD(lr=0.1, momentum=0.9)", closed[i], N, NAN, seq) == 0, "%s", closed[i]);
        int bad = -1;
        double v = 0;
        for (int t = 0; t < N && bad < 0; t++) {
            descent_error err;
            if (descent_schedule_lr_at(closed[i], 0.1, t, &v, &err) < 0 || !t_close(v, seq[t], RTOL, 1e-15))
                bad = t;
        }
        CHECK(bad < 0, "lr_at %s at t = %d: %.17g, the recursion gives %.17g", closed[i], bad, v,
              bad >= 0 ? seq[bad] : 0);
    }
    static const char *const open_form[] = {
        "ReduceLROnPlateau()",
        "ChainedScheduler([ConstantLR(), ExponentialLR(gamma=0.9)])",
        "UntunedLinearWarmup()",
        "LinearWarmup(warmup_period=3, schedule=ReduceLROnPlateau())",
    };
    for (size_t i = 0; i < sizeof open_form / sizeof open_form[0]; i++) {
        descent_error err;
        double v;
        CHECK(descent_schedule_lr_at(open_form[i], 0.1, 3, &v, &err) < 0, "lr_at %s should fail", open_form[i]);
    }
    descent_error err;
    double v;
    CHECK(descent_schedule_lr_at("OneCycleLR(max_lr=0.1, total_steps=10)", 0.1, 11, &v, &err) < 0 &&
              strstr(err.message, "total steps"),
          "lr_at past total_steps: %s", err.message);
    /* CosineAnnealingLR past T_max: the closed form is periodic too. */
    CHECK(descent_schedule_lr_at("CosineAnnealingLR(T_max=10)", 1.0, 20, &v, &err) == 0 && v == 1.0, "cosine at 2T");
}

/* ---- resume -------------------------------------------------------------------- */

static void test_resume(void)
{
    static const struct {
        const char *opt, *sched;
    } cases[] = {
        {"SGD(lr=0.1, momentum=0.9)", "StepLR(step_size=3, gamma=0.5)"},
        {"SGD(lr=0.1, momentum=0.9)", "MultiStepLR(milestones=[2, 5, 5, 9], gamma=0.5)"},
        {"Adam(lr=0.01)", "ExponentialLR(gamma=0.9)"},
        {"RMSprop(lr=0.01, momentum=0.5)", "PolynomialLR(total_iters=8, power=2.0)"},
        {"SGD(lr=0.1, momentum=0.9)", "CyclicLR(base_lr=0.01, max_lr=0.1, step_size_up=3, mode='triangular2')"},
        {"Adam(lr=0.01)", "CyclicLR(base_lr=0.001, max_lr=0.01, step_size_up=4, mode='exp_range', gamma=0.97)"},
        {"SGD(lr=0.1, momentum=0.9)", "OneCycleLR(max_lr=0.1, total_steps=30, three_phase=True)"},
        {"AdamW(lr=0.01)", "OneCycleLR(max_lr=0.1, epochs=3, steps_per_epoch=10, anneal_strategy='linear')"},
        {"SGD(lr=0.1)", "CosineAnnealingLR(T_max=5, eta_min=0.01)"},
        {"SGD(lr=0.1, momentum=0.9)", "CosineAnnealingWarmRestarts(T_0=3, T_mult=2)"},
        {"SGD(lr=0.1, momentum=0.9)", "ReduceLROnPlateau(factor=0.5, patience=1, cooldown=1)"},
        {"Adagrad(lr=0.1)", "ReduceLROnPlateau(mode='max', factor=0.5, patience=0, threshold_mode='abs')"},
        {"SGD(lr=0.1, momentum=0.9)", "LinearLR(start_factor=0.2, total_iters=6)"},
        {"SGD(lr=0.1, momentum=0.9)", "ConstantLR(factor=0.5, total_iters=4)"},
        {"SGD(lr=0.1, momentum=0.9)",
         "SequentialLR(schedulers=[LinearLR(start_factor=0.1, total_iters=5), CosineAnnealingLR(T_max=10)], milestones=[5])"},
        {"Adam(lr=0.01)",
         "SequentialLR(schedulers=[ConstantLR(factor=0.5, total_iters=3), ReduceLROnPlateau(patience=0), "
         "ExponentialLR(gamma=0.9)], milestones=[4, 20])"},
        {"SGD(lr=0.1, momentum=0.9)", "ChainedScheduler([ConstantLR(factor=0.5, total_iters=3), ExponentialLR(gamma=0.95)])"},
        {"SGD(lr=0.1, momentum=0.9)",
         "ChainedScheduler([CyclicLR(base_lr=0.01, max_lr=0.1, step_size_up=3), ReduceLROnPlateau(factor=0.5, patience=1)])"},
        {"Adam(lr=0.01)", "LinearWarmup(warmup_period=5, schedule=CosineAnnealingLR(T_max=20))"},
        {"Adam(lr=0.01)", "ExponentialWarmup(warmup_period=4)"},
        {"Adam(lr=0.01, betas=(0.9, 0.9))", "UntunedLinearWarmup(schedule=ReduceLROnPlateau(factor=0.5, patience=1))"},
        {"Adam(lr=0.01, betas=(0.9, 0.9))", "UntunedExponentialWarmup(schedule=OneCycleLR(max_lr=0.1, total_steps=40))"},
        {"SGD(lr=0.1, momentum=0.9)", "GradualWarmup(multiplier=4, total_epoch=5, after=StepLR(step_size=3))"},
        {"SGD(lr=0.1, momentum=0.9)", "GradualWarmup(multiplier=1, total_epoch=3)"},
        {"SGD(lr=0.1, momentum=0.9)",
         "GradualWarmup(multiplier=2, total_epoch=4, after=SequentialLR(schedulers=[CyclicLR(base_lr=0.01, max_lr=0.2, "
         "step_size_up=2), ReduceLROnPlateau(patience=0)], milestones=[6]))"},
    };
    enum { N = 30 };
    double metric[N];
    for (int t = 0; t < N; t++)
        metric[t] = 1.0 / (1 + t % 7) + (t > 15 ? 0.5 : 0);
    static const int ks[] = {1, 4, 5, 11, 29};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double lr[N], mom[N];
        rig r;
        if (rig_open(&r, cases[i].opt, cases[i].sched) < 0) {
            CHECK(0, "resume: cannot attach %s", cases[i].sched);
            continue;
        }
        for (int t = 0; t < N; t++) {
            lr[t] = descent_get_lr(r.opt, 0);
            mom[t] = momentum_of(r.opt);
            descent_step(r.opt);
            descent_schedule_step(r.opt, metric[t]);
        }
        descent_destroy(r.opt);
        for (size_t kk = 0; kk < sizeof ks / sizeof ks[0]; kk++) {
            int k = ks[kk], bad = -1;
            rig a, b;
            rig_open(&a, cases[i].opt, cases[i].sched);
            for (int t = 0; t < k; t++) {
                descent_step(a.opt);
                descent_schedule_step(a.opt, metric[t]);
            }
            size_t len;
            descent_save_mem(a.opt, NULL, 0, &len);
            void *buf = malloc(len);
            int rc = descent_save_mem(a.opt, buf, len, &len);
            descent_destroy(a.opt);
            rig_open(&b, cases[i].opt, cases[i].sched);
            /* The fresh run is at step 0; advance it elsewhere first so the load must overwrite. */
            descent_schedule_step(b.opt, 0.5);
            rc = rc < 0 ? rc : descent_load_mem(b.opt, buf, len);
            CHECK(rc == 0, "resume %s at %d: %s", cases[i].sched, k, descent_errmsg(b.opt));
            for (int t = k; t < N && bad < 0; t++) {
                double m = momentum_of(b.opt);
                if (descent_get_lr(b.opt, 0) != lr[t] || !(m == mom[t] || (isnan(m) && isnan(mom[t]))))
                    bad = t;
                descent_step(b.opt);
                descent_schedule_step(b.opt, metric[t]);
            }
            CHECK(bad < 0, "resume %s from step %d: differs at step %d", cases[i].sched, k, bad);
            free(buf);
            descent_destroy(b.opt);
        }
    }
}

static int save(const descent_optimizer *opt, unsigned char **buf, size_t *len)
{
    descent_save_mem(opt, NULL, 0, len);
    *buf = malloc(*len);
    return descent_save_mem(opt, *buf, *len, len);
}

/* A checkpoint whose schedule differs is rejected and changes nothing. */
static void test_mismatch(void)
{
    static const char *const pairs[][2] = {
        {"StepLR(step_size=3)", "ExponentialLR(gamma=0.9)"},
        {"StepLR(step_size=3)", "StepLR(step_size=4)"},
        {"SequentialLR(schedulers=[ConstantLR(), StepLR(step_size=2)], milestones=[3])",
         "SequentialLR(schedulers=[ConstantLR(), StepLR(step_size=2), StepLR(step_size=2)], milestones=[3, 6])"},
        {"LinearWarmup(warmup_period=3)", NULL},
        {NULL, "LinearWarmup(warmup_period=3)"},
    };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        rig a, b;
        rig_open(&a, "SGD(lr=0.1, momentum=0.9)", pairs[i][0]);
        rig_open(&b, "SGD(lr=0.1, momentum=0.9)", pairs[i][1]);
        for (int t = 0; t < 5; t++) {
            descent_step(a.opt);
            if (pairs[i][0])
                descent_schedule_step(a.opt, NAN);
        }
        for (int t = 0; t < 2; t++) {
            descent_step(b.opt);
            if (pairs[i][1])
                descent_schedule_step(b.opt, NAN);
        }
        unsigned char *ca, *before, *after;
        size_t la, lb, lc;
        save(a.opt, &ca, &la);
        save(b.opt, &before, &lb);
        double lr_before = descent_get_lr(b.opt, 0);
        int rc = descent_load_mem(b.opt, ca, la);
        CHECK(rc == DESCENT_ERR_CHECKPOINT && strstr(descent_errmsg(b.opt), "schedule"),
              "loading %s into %s: rc %d, %s", pairs[i][0] ? pairs[i][0] : "(none)", pairs[i][1] ? pairs[i][1] : "(none)",
              rc, descent_errmsg(b.opt));
        save(b.opt, &after, &lc);
        CHECK(lb == lc && memcmp(before, after, lb) == 0 && descent_get_lr(b.opt, 0) == lr_before,
              "rejected load left the optimizer changed (%s)", pairs[i][1] ? pairs[i][1] : "(none)");
        free(ca);
        free(before);
        free(after);
        descent_destroy(a.opt);
        descent_destroy(b.opt);
    }
}

/* ---- invalid specs -------------------------------------------------------------- */

/* The message shows the spec on a line of its own and, on the next line,
 * carets under the bad part (a list of known names may follow). */
static int points_at(const char *msg, const char *spec, const char *part)
{
    const char *where = strstr(spec, part);
    const char *line = strstr(msg, spec);
    while (line && !(line >= msg + 3 && line[-1] == ' ' && line[-2] == ' ' && line[-3] == '\n'))
        line = strstr(line + 1, spec);
    if (!where || !line || line[strlen(spec)] != '\n')
        return 0;
    const char *marks = line + strlen(spec) + 1;
    const char *caret = strchr(marks, '^');
    const char *eol = strchr(marks, '\n');
    return caret && (!eol || caret < eol) && caret - (marks + 2) == where - spec;
}

static void test_invalid(const char *cli)
{
    static const struct {
        const char *spec, *part, *words;
    } bad[] = {
        {"StepLRR(step_size=3)", "StepLRR", "unknown schedule"},
        {"StepLR(step_size=3, gama=0.5)", "gama", "no argument 'gama'"},
        {"StepLR(gamma=0.5)", "StepLR", "missing required argument 'step_size'"},
        {"StepLR(step_size=2.5)", "2.5", "integer"},
        {"MultiStepLR(milestones=[2, 3.5])", "3.5", "integer"},
        {"StepLR(step_size=0)", "0", "step_size must be >= 1"},
        {"StepLR(step_size='3')", "'3'", "integer"},
        {"MultiStepLR(milestones=5)", "5", "list of integers"},
        {"ExponentialLR(gamma=-0.5)", "-0.5", "gamma must be >= 0"},
        {"CyclicLR(base_lr=0.1, max_lr=1, mode='triangle')", "'triangle'", "one of 'triangular'"},
        {"OneCycleLR(max_lr=0.1)", "OneCycleLR(max_lr=0.1)", "total_steps, or epochs and steps_per_epoch"},
        {"OneCycleLR(max_lr=0.1, total_steps=10, pct_start=1.5)", "1.5", "pct_start must be in [0, 1]"},
        {"ReduceLROnPlateau(factor=1.0)", "1.0", "factor must be in [0, 1)"},
        {"ReduceLROnPlateau(mode='mean')", "'mean'", "one of 'min', 'max'"},
        {"LinearLR(start_factor=0)", "0", "start_factor"},
        {"SequentialLR(schedulers=[StepLR(step_size=2), ExponentialLR(gamma=0.5)], milestones=[3, 4])", "[3, 4]",
         "one milestone fewer"},
        {"SequentialLR(schedulers=[StepLR(step_size=2), ExponentialLR(gamm=0.5)], milestones=[3])", "gamm",
         "no argument 'gamm'"},
        {"ChainedScheduler([StepLR(step_size=2), 3])", "3", "schedules"},
        {"LinearWarmup(warmup_period=0)", "0", "warmup_period must be > 0"},
        {"LinearWarmup(warmup_period=5, schedule=Foo())", "Foo", "unknown schedule"},
        {"GradualWarmup(multiplier=0.5, total_epoch=3)", "0.5", "multiplier must be >= 1"},
        {"CosineAnnealingLR(T_max=10, T_max=3)", "T_max=3", "given twice"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        descent_optimizer *opt;
        descent_error err;
        descent_create_from_spec(&opt, "SGD(lr=0.1, momentum=0.9)", NULL, &err);
        descent_add_group(opt, NULL);
        int rc = descent_set_schedule(opt, bad[i].spec);
        const char *msg = descent_errmsg(opt);
        const char *part = strcmp(bad[i].part, "T_max=3") == 0 ? "T_max" : bad[i].part;
        const char *where = strstr(bad[i].spec, bad[i].part);
        /* points_at uses the first occurrence; for repeated text compare the offset directly. */
        int pointed = points_at(msg, bad[i].spec, part);
        if (!pointed && where) {
            const char *last = strrchr(msg, '\n');
            const char *caret = last ? strchr(last, '^') : NULL;
            pointed = caret && caret - (last + 3) == where - bad[i].spec;
        }
        CHECK(rc < 0 && strstr(msg, bad[i].words) && pointed, "%s: rc %d, message:\n%s", bad[i].spec, rc, msg);
        CHECK(descent_get_lr(opt, 0) == 0.1, "failed attach changed the lr");
        descent_destroy(opt);
    }
    /* Cycling momentum needs one. */
    descent_optimizer *opt;
    descent_error err;
    descent_create_from_spec(&opt, "Adagrad(lr=0.1)", NULL, &err);
    descent_add_group(opt, NULL);
    CHECK(descent_set_schedule(opt, "CyclicLR(base_lr=0.01, max_lr=0.1)") < 0 &&
              strstr(descent_errmsg(opt), "cycle_momentum=False"), "CyclicLR on Adagrad: %s", descent_errmsg(opt));
    CHECK(descent_set_schedule(opt, "CyclicLR(base_lr=0.01, max_lr=[0.1, 0.2], cycle_momentum=False)") < 0 &&
              strstr(descent_errmsg(opt), "expected 1 values for max_lr"), "per-group list: %s", descent_errmsg(opt));
    CHECK(descent_schedule_step(opt, NAN) == DESCENT_ERR_STATE, "step without a schedule");
    descent_destroy(opt);

    /* The CLI: exit 2, the pointing message on stderr, nothing on stdout. */
    char cmd[1024], *out = NULL;
    snprintf(cmd, sizeof cmd, "'%s' schedule --opt 'SGD(lr=0.1)' --sched 'StepLR(step_size=3, gama=0.5)' --steps 5 2>&1 >/dev/null",
             cli);
    int st = t_run(cmd, &out);
    CHECK(st == 2 && out && strstr(out, "gama") && strstr(out, "^^^^"), "CLI bad spec: exit %d, stderr %s", st, out);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' schedule --opt 'SGD(lr=0.1)' --sched 'StepLR(step_size=3, gama=0.5)' --steps 5 2>/dev/null",
             cli);
    st = t_run(cmd, &out);
    CHECK(st == 2 && out && out[0] == '\0', "CLI bad spec printed to stdout: %s", out);
    free(out);
}

static void test_cli_extras(const char *cli, const char *tmp)
{
    char cmd[2048], mpath[600], svg[600], *out = NULL;
    snprintf(mpath, sizeof mpath, "%s/few.txt", tmp);
    FILE *f = fopen(mpath, "w");
    fputs("1\n0.5\n0.25\n", f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "'%s' schedule --opt 'SGD(lr=0.1)' --sched 'ReduceLROnPlateau()' --steps 5 --metrics %s 2>/dev/null",
             cli, mpath);
    int st = t_run(cmd, &out);
    CHECK(st == 2 && out && !out[0], "fewer metrics than steps: exit %d", st);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' schedule --opt 'SGD(lr=0.1)' --sched 'ReduceLROnPlateau()' --steps 5 2>/dev/null", cli);
    st = t_run(cmd, &out);
    CHECK(st == 2, "plateau without metrics: exit %d", st);
    free(out);
    snprintf(cmd, sizeof cmd, "'%s' schedule --opt 'SGD(lr=0.1)' --sched 'OneCycleLR(max_lr=0.1, total_steps=5)' --steps 8 2>/dev/null",
             cli);
    st = t_run(cmd, &out);
    CHECK(st == 2 && out && !out[0], "OneCycleLR past total_steps: exit %d", st);
    free(out);
    snprintf(svg, sizeof svg, "%s/sched.svg", tmp);
    snprintf(cmd, sizeof cmd,
             "'%s' schedule --opt 'SGD(lr=0.1, momentum=0.9)' --sched 'OneCycleLR(max_lr=0.1, total_steps=50)' --steps 50 --plot %s",
             cli, svg);
    st = t_run(cmd, &out);
    free(out);
    size_t len = 0;
    char *s = t_read_file(svg, &len);
    CHECK(st == 0 && s && strncmp(s, "<svg", 4) == 0 && strstr(s, "</svg>") && strstr(s, "polyline") &&
              strstr(s, "momentum") && strstr(s, ">step<"),
          "--plot wrote %zu bytes", len);
    /* Deterministic output. */
    st = t_run(cmd, &out);
    free(out);
    char *s2 = t_read_file(svg, NULL);
    CHECK(s && s2 && strcmp(s, s2) == 0, "--plot output differs between runs");
    free(s);
    free(s2);
}

/* descent_reset restarts the schedule as if newly attached; a failed step
 * changes nothing. */
static void test_reset_and_failure(void)
{
    enum { N = 12 };
    static const char *const specs[] = {
        "OneCycleLR(max_lr=0.1, total_steps=11)",
        "CyclicLR(base_lr=0.01, max_lr=0.1, step_size_up=3)",
        "SequentialLR(schedulers=[LinearLR(start_factor=0.1, total_iters=3), ExponentialLR(gamma=0.9)], milestones=[3])",
        "GradualWarmup(multiplier=2, total_epoch=3, after=ReduceLROnPlateau(patience=0))",
    };
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        rig r;
        if (rig_open(&r, "SGD(lr=0.1, momentum=0.9)", specs[i]) < 0) {
            CHECK(0, "attach %s", specs[i]);
            continue;
        }
        double lr[N], mom[N];
        for (int t = 0; t < N; t++) {
            lr[t] = descent_get_lr(r.opt, 0);
            mom[t] = momentum_of(r.opt);
            descent_step(r.opt);
            if (t + 1 < N)
                descent_schedule_step(r.opt, 1.0);
        }
        if (i == 0) {
            unsigned char *before, *after;
            size_t lb, la;
            save(r.opt, &before, &lb);
            CHECK(descent_schedule_step(r.opt, NAN) < 0 && strstr(descent_errmsg(r.opt), "total steps"),
                  "OneCycleLR past total_steps: %s", descent_errmsg(r.opt));
            save(r.opt, &after, &la);
            CHECK(la == lb && memcmp(before, after, la) == 0, "failed step changed the optimizer or schedule");
            free(before);
            free(after);
        }
        CHECK(descent_reset(r.opt) == 0, "reset");
        int bad = -1;
        for (int t = 0; t < N && bad < 0; t++) {
            if (descent_get_lr(r.opt, 0) != lr[t] || momentum_of(r.opt) != mom[t])
                bad = t;
            descent_step(r.opt);
            if (t + 1 < N)
                descent_schedule_step(r.opt, 1.0);
        }
        CHECK(bad < 0, "after descent_reset, %s differs at step %d", specs[i], bad);
        descent_destroy(r.opt);
    }
}

/* Several groups: each follows its own base lr; per-group lists. */
static void test_groups(void)
{
    descent_optimizer *opt;
    descent_error err;
    descent_create_from_spec(&opt, "SGD(lr=0.1, momentum=0.9)", NULL, &err);
    descent_add_group(opt, NULL);
    descent_add_group_spec(opt, "lr=0.02");
    CHECK(descent_set_schedule(opt, "StepLR(step_size=2, gamma=0.5)") == 0, "%s", descent_errmsg(opt));
    for (int t = 0; t < 6; t++) {
        double f = pow(0.5, t / 2);
        CHECK(descent_get_lr(opt, 0) == 0.1 * f && descent_get_lr(opt, 1) == 0.02 * f, "StepLR groups at %d", t);
        descent_schedule_step(opt, NAN);
    }
    CHECK(descent_set_schedule(opt, "CyclicLR(base_lr=[0.01, 0.001], max_lr=[0.1, 0.01], step_size_up=2, "
                                    "base_momentum=[0.8, 0.7], max_momentum=0.9)") == 0,
          "%s", descent_errmsg(opt));
    double m0, m1;
    descent_schedule_step(opt, NAN);
    descent_get(opt, 0, "momentum", &m0);
    descent_get(opt, 1, "momentum", &m1);
    CHECK(t_close(descent_get_lr(opt, 0), 0.055, 1e-12, 0) && t_close(descent_get_lr(opt, 1), 0.0055, 1e-12, 0) &&
              t_close(m0, 0.85, 1e-12, 0) && t_close(m1, 0.8, 1e-12, 0),
          "CyclicLR per-group lists: %g %g %g %g", descent_get_lr(opt, 0), descent_get_lr(opt, 1), m0, m1);
    CHECK(descent_set_schedule(opt, "ReduceLROnPlateau(patience=0, min_lr=[0.05, 0.0])") == 0, "%s", descent_errmsg(opt));
    descent_schedule_step(opt, 1.0);
    descent_schedule_step(opt, 1.0);
    CHECK(descent_get_lr(opt, 0) == 0.05 && t_close(descent_get_lr(opt, 1), 0.00055, 1e-12, 0), "plateau min_lr list");
    descent_add_group(opt, NULL);
    CHECK(descent_schedule_step(opt, 1.0) == DESCENT_ERR_STATE, "group added after attaching");
    descent_destroy(opt);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s TESTS_DIR CLI\n", argv[0]);
        return 2;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/sched.txt", argv[1]);
    char *text = t_read_file(path, NULL);
    CHECK(text != NULL, "cannot read %s", path);
    char tmp[] = "/tmp/descent_sched_XXXXXX";
    CHECK(mkdtemp(tmp) != NULL, "mkdtemp");
    int cases = 0;
    char *cursor = text;
    sched_case *c = malloc(sizeof *c);
    while (text && next_case(&cursor, c)) {
        run_library(c);
        if (!t_valgrind() || cases % T_VALGRIND_EVERY == 0)
            run_cli(c, argv[2], tmp);
        cases++;
    }
    CHECK(cases >= 90, "read %d golden cases", cases);
    free(text);
    /* Nesting as torch 2.x computes it (tools/reference_torch2.py), and the
     * named LambdaLR recipes (tools/reference_hf_schedules.py). */
    static const struct {
        const char *file, *what;
        int min;
    } more[] = {{"sched_torch2.txt", "torch 2.x schedule", 4}, {"sched_recipes.txt", "recipe", 16}};
    for (size_t k = 0; k < sizeof more / sizeof more[0]; k++) {
        snprintf(path, sizeof path, "%s/golden/%s", argv[1], more[k].file);
        text = t_read_file(path, NULL);
        CHECK(text != NULL, "cannot read %s", path);
        cursor = text;
        int n = 0;
        while (text && next_case(&cursor, c)) {
            run_library(c);
            run_cli(c, argv[2], tmp);
            n++;
        }
        CHECK(n >= more[k].min, "read %d %s cases", n, more[k].what);
        free(text);
    }
    free(c);
    test_warmups();
    test_plateau_composition();
    test_lr_at();
    test_resume();
    test_mismatch();
    test_reset_and_failure();
    test_groups();
    test_invalid(argv[2]);
    test_cli_extras(argv[2], tmp);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    t_run(cmd, NULL);
    return t_done();
}
