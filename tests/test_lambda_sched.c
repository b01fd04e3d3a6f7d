/* Callback schedules: LambdaLR and MultiplicativeLR with C functions,
 * against torch's (tests/golden/sched_lambda.txt, tools/reference_lambda.py),
 * alone, per group and composed; checkpoints; bad callbacks; specs that
 * cannot carry a function. */
#include "descent.h"
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- the reference's lambdas, in C (same names) ------------------------------ */

static double hf_linear(int64_t t, void *u)
{
    (void)u;
    const int64_t W = 5, T = 30;
    if (t < W)
        return (double)t / (double)(W > 1 ? W : 1);
    double v = (double)(T - t) / (double)(T - W > 1 ? T - W : 1);
    return v > 0.0 ? v : 0.0;
}
static double floor3(int64_t t, void *u) { (void)u; return (double)(t / 3); }
static double pow095(int64_t t, void *u) { (void)u; return pow(0.95, (double)t); }
static double inv(int64_t t, void *u) { (void)u; return 1.0 / (1.0 + 0.1 * (double)t); }
static double const095(int64_t t, void *u) { (void)t; (void)u; return 0.95; }
static double const09(int64_t t, void *u) { (void)t; (void)u; return 0.9; }
static double ratio(int64_t t, void *u) { (void)u; return ((double)t + 1.0) / ((double)t + 2.0); }
static double halve10(int64_t t, void *u) { (void)u; return t % 10 == 0 ? 0.5 : 1.0; }

static const struct {
    const char *name;
    descent_lr_lambda fn;
} lambdas[] = {
    {"hf_linear", hf_linear}, {"floor3", floor3},   {"pow095", pow095}, {"inv", inv},
    {"const095", const095},   {"const09", const09}, {"ratio", ratio},   {"halve10", halve10},
};

static descent_lr_lambda lambda_named(const char *name)
{
    for (size_t i = 0; i < sizeof lambdas / sizeof lambdas[0]; i++)
        if (strcmp(lambdas[i].name, name) == 0)
            return lambdas[i].fn;
    return NULL;
}

/* ---- golden cases ----------------------------------------------------------- */

enum { MAXG = 4, MAXSTEPS = 64 };

typedef struct lcase {
    char name[64], spec[1024];
    int ng, steps, ncb;
    double lr0[MAXG];
    descent_lr_callback cb[MAXG];
    double want[MAXSTEPS + 1][MAXG];
} lcase;

static int read_case(char **cursor, lcase *c)
{
    char line[1024];
    if (!t_next_line(cursor, line, sizeof line))
        return 0;
    memset(c, 0, sizeof *c);
    if (sscanf(line, "case %63s groups %d steps %d", c->name, &c->ng, &c->steps) != 3 || c->ng < 1 || c->ng > MAXG ||
        c->steps < 1 || c->steps > MAXSTEPS)
        return 0;
    if (!t_next_line(cursor, line, sizeof line) || strncmp(line, "lrs ", 4) != 0)
        return 0;
    char *p = line + 4;
    for (int g = 0; g < c->ng; g++)
        c->lr0[g] = strtod(p, &p);
    if (!t_next_line(cursor, line, sizeof line) || strncmp(line, "spec ", 5) != 0)
        return 0;
    snprintf(c->spec, sizeof c->spec, "%s", line + 5);
    if (!t_next_line(cursor, line, sizeof line) || strncmp(line, "lambdas ", 8) != 0)
        return 0;
    for (char *tok = strtok(line + 8, " "); tok && c->ncb < MAXG; tok = strtok(NULL, " ")) {
        c->cb[c->ncb].fn = lambda_named(tok);
        if (!c->cb[c->ncb].fn)
            return 0;
        c->ncb++;
    }
    for (int t = 0; t <= c->steps; t++) {
        if (!t_next_line(cursor, line, sizeof line))
            return 0;
        p = line;
        for (int g = 0; g < c->ng; g++)
            c->want[t][g] = strtod(p, &p);
    }
    return t_next_line(cursor, line, sizeof line) && strcmp(line, "end") == 0;
}

static descent_optimizer *make_opt(int ng, const double *lr0)
{
    descent_optimizer *opt = NULL;
    descent_error e;
    if (descent_create_from_spec(&opt, "SGD(lr=0.1, momentum=0.9)", NULL, &e) < 0)
        return NULL;
    for (int g = 0; g < ng; g++) {
        int k = descent_add_group(opt, NULL);
        if (k < 0 || descent_set_lr(opt, k, lr0[g]) < 0) {
            descent_destroy(opt);
            return NULL;
        }
    }
    return opt;
}

/* Exact agreement but for the last bit: 1e-15 relative. */
static int same(double got, double want) { return t_close(got, want, 1e-15, 0.0); }

/* How the schedule of a case is attached: by its spec, or by the
 * convenience call its bare spec stands for. */
enum { BY_SPEC, BY_SAME, BY_GROUPS };

static int attach(descent_optimizer *opt, const lcase *c, int how)
{
    int mult = strncmp(c->spec, "MultiplicativeLR", 16) == 0;
    if (how == BY_SAME)
        return mult ? descent_set_multiplicative_lr(opt, c->cb[0].fn, NULL) : descent_set_lambda_lr(opt, c->cb[0].fn, NULL);
    if (how == BY_GROUPS) {
        descent_lr_callback per[MAXG];
        for (int g = 0; g < c->ng; g++)
            per[g] = c->cb[c->ncb == 1 ? 0 : g];
        return mult ? descent_set_multiplicative_lr_groups(opt, per) : descent_set_lambda_lr_groups(opt, per);
    }
    return descent_set_schedule_callbacks(opt, c->spec, c->cb, c->ncb);
}

static void run_case(const lcase *c, int how)
{
    descent_optimizer *opt = make_opt(c->ng, c->lr0);
    CHECK(opt != NULL, "%s: optimizer", c->name);
    if (!opt)
        return;
    int rc = attach(opt, c, how);
    CHECK(rc == 0, "%s (attach %d): %s", c->name, how, descent_errmsg(opt));
    int bad = 0;
    for (int t = 0; rc == 0 && t <= c->steps && !bad; t++) {
        if (t > 0 && (rc = descent_schedule_step(opt, NAN)) != 0) {
            CHECK(rc == 0, "%s step %d: %s", c->name, t, descent_errmsg(opt));
            break;
        }
        for (int g = 0; g < c->ng; g++)
            if (!same(descent_get_lr(opt, g), c->want[t][g])) {
                CHECK(0, "%s (attach %d) step %d group %d: lr %.17g, torch %.17g", c->name, how, t, g,
                      descent_get_lr(opt, g), c->want[t][g]);
                bad = 1;
            }
    }
    CHECK(!bad, "%s (attach %d) follows torch", c->name, how);
    descent_destroy(opt);
}

/* Save after k steps (schedule attached by `saved`), load into a fresh
 * optimizer with the schedule attached by `how`, and continue: identical
 * lrs to the end, the torch ones. */
static void resume_case(const lcase *c, int k, int saved, int how)
{
    descent_optimizer *a = make_opt(c->ng, c->lr0), *b = make_opt(c->ng, c->lr0);
    CHECK(a && b && attach(a, c, saved) == 0, "%s: attach", c->name);
    for (int t = 1; t <= k; t++)
        descent_schedule_step(a, NAN);
    size_t len = 0;
    descent_save_mem(a, NULL, 0, &len);
    unsigned char *buf = malloc(len);
    CHECK(buf && descent_save_mem(a, buf, len, &len) == 0, "%s: save", c->name);
    CHECK(attach(b, c, how) == 0, "%s: attach fresh", c->name);
    int rc = descent_load_mem(b, buf, len);
    CHECK(rc == 0, "%s: load after %d steps (attach %d): %s", c->name, k, how, descent_errmsg(b));
    for (int g = 0; g < c->ng; g++)
        CHECK(descent_get_lr(b, g) == descent_get_lr(a, g) && same(descent_get_lr(b, g), c->want[k][g]),
              "%s: loaded lr %.17g, saved %.17g", c->name, descent_get_lr(b, g), descent_get_lr(a, g));
    int diverged = 0;
    for (int t = k + 1; t <= c->steps; t++) {
        descent_schedule_step(a, NAN);
        descent_schedule_step(b, NAN);
        for (int g = 0; g < c->ng; g++)
            if (descent_get_lr(b, g) != descent_get_lr(a, g) || !same(descent_get_lr(b, g), c->want[t][g]))
                diverged = 1;
    }
    CHECK(!diverged, "%s: the loaded schedule continues as the saved one (saved after %d steps)", c->name, k);
    /* A fresh optimizer without the callback: a clear error naming the call. */
    descent_optimizer *d = make_opt(c->ng, c->lr0);
    double before = descent_get_lr(d, 0);
    rc = descent_load_mem(d, buf, len);
    const char *want = strncmp(c->spec, "Multiplicative", 14) == 0 ? "descent_set_multiplicative_lr"
                       : strncmp(c->spec, "LambdaLR", 8) == 0       ? "descent_set_lambda_lr"
                                                                    : "descent_set_schedule_callbacks";
    CHECK(rc == DESCENT_ERR_CHECKPOINT && strstr(descent_errmsg(d), want) != NULL,
          "%s: load without the callback: %d %s", c->name, rc, descent_errmsg(d));
    CHECK(descent_get_lr(d, 0) == before, "%s: a refused load changed the lr", c->name);
    /* Another schedule attached: refused, naming both. */
    CHECK(descent_set_schedule(d, "StepLR(step_size=2)") == 0, "StepLR: %s", descent_errmsg(d));
    rc = descent_load_mem(d, buf, len);
    CHECK(rc == DESCENT_ERR_CHECKPOINT && strstr(descent_errmsg(d), "StepLR") && strstr(descent_errmsg(d), "LR(lr_lambda="),
          "%s: load into StepLR: %s", c->name, descent_errmsg(d));
    free(buf);
    descent_destroy(a);
    descent_destroy(b);
    descent_destroy(d);
}

/* ---- bad callbacks -------------------------------------------------------------- */

typedef struct bad_at {
    int64_t step; /* the step at which the callback misbehaves */
    double value; /* what it returns there */
} bad_at;

static double misbehave(int64_t t, void *u)
{
    bad_at *b = u;
    return t == b->step ? b->value : 1.0 / (1.0 + (double)t);
}

static void test_bad_callbacks(void)
{
    const double values[] = {NAN, INFINITY, -INFINITY, -0.5};
    const double lr0[2] = {0.1, 0.2};
    for (int i = 0; i < 4; i++) {
        for (int mult = 0; mult < 2; mult++) {
            const char *kind = mult ? "MultiplicativeLR" : "LambdaLR";
            /* At attach (LambdaLR calls lambda(0) there). */
            if (!mult) {
                descent_optimizer *opt = make_opt(2, lr0);
                bad_at b = {0, values[i]};
                int rc = descent_set_lambda_lr(opt, misbehave, &b);
                CHECK(rc == DESCENT_ERR_INVALID && strstr(descent_errmsg(opt), "step 0") &&
                          strstr(descent_errmsg(opt), "finite number >= 0"),
                      "LambdaLR returning %g at attach: %d %s", values[i], rc, descent_errmsg(opt));
                CHECK(descent_get_lr(opt, 0) == 0.1 && descent_get_lr(opt, 1) == 0.2, "lr changed by a refused attach");
                CHECK(descent_schedule_step(opt, NAN) == DESCENT_ERR_STATE, "a refused attach left a schedule");
                descent_destroy(opt);
            }
            /* At step 3, then the callback recovers: the step is retried. */
            descent_optimizer *opt = make_opt(2, lr0);
            bad_at b = {3, values[i]};
            int rc = mult ? descent_set_multiplicative_lr(opt, misbehave, &b) : descent_set_lambda_lr(opt, misbehave, &b);
            CHECK(rc == 0, "%s attach: %s", kind, descent_errmsg(opt));
            descent_schedule_step(opt, NAN);
            descent_schedule_step(opt, NAN);
            double l0 = descent_get_lr(opt, 0), l1 = descent_get_lr(opt, 1);
            rc = descent_schedule_step(opt, NAN);
            CHECK(rc == DESCENT_ERR_INVALID && strstr(descent_errmsg(opt), kind) && strstr(descent_errmsg(opt), "step 3"),
                  "%s returning %g at step 3: %d %s", kind, values[i], rc, descent_errmsg(opt));
            CHECK(descent_get_lr(opt, 0) == l0 && descent_get_lr(opt, 1) == l1 && isfinite(l0),
                  "%s: a refused step changed the lr (%g -> %g)", kind, l0, descent_get_lr(opt, 0));
            b.step = -1;
            rc = descent_schedule_step(opt, NAN);
            double want0 = mult ? l0 * (1.0 / 4.0) : 0.1 * (1.0 / 4.0);
            CHECK(rc == 0 && descent_get_lr(opt, 0) == want0, "%s: after the refused step, step 3 again: lr %.17g, want %.17g",
                  kind, descent_get_lr(opt, 0), want0);
            descent_destroy(opt);
        }
    }
}

static double huge(int64_t t, void *u)
{
    (void)t;
    (void)u;
    return 1e200;
}

static void test_overflow(void)
{
    const double lr0[1] = {0.1};
    descent_optimizer *opt = make_opt(1, lr0);
    CHECK(descent_set_multiplicative_lr(opt, huge, NULL) == 0, "attach: %s", descent_errmsg(opt));
    descent_schedule_step(opt, NAN); /* 1e199 */
    double before = descent_get_lr(opt, 0);
    int rc = descent_schedule_step(opt, NAN); /* 1e399: inf */
    CHECK(rc < 0 && descent_get_lr(opt, 0) == before && isfinite(before),
          "an lr overflowing to inf was accepted: %d, lr %g", rc, descent_get_lr(opt, 0));
    descent_destroy(opt);
}

/* Inside a warmup (pytorch_warmup's LinearWarmup: the inner lr times
 * min(1, (t + 1) / warmup_period)), the formula written out here. */
static void test_inside_warmup(void)
{
    const double lr0[2] = {0.1, 0.3};
    descent_optimizer *opt = make_opt(2, lr0);
    descent_lr_callback cb[2] = {{inv, NULL}, {ratio, NULL}};
    int rc = descent_set_schedule_callbacks(
        opt, "LinearWarmup(warmup_period=4, schedule=ChainedScheduler(schedulers=[LambdaLR(lr_lambda=0), "
             "MultiplicativeLR(lr_lambda=[1, 1])]))", cb, 2);
    CHECK(rc == 0, "warmup around callbacks: %s", descent_errmsg(opt));
    int bad = 0;
    for (int t = 0; rc == 0 && t < 12; t++) {
        if (t > 0) {
            descent_schedule_step(opt, NAN);
        }
        double w = (t + 1) / 4.0 < 1 ? (t + 1) / 4.0 : 1.0;
        for (int g = 0; g < 2; g++) {
            /* LambdaLR writes lr0 * inv(t) each step; the multiplicative
             * member then multiplies that by ratio(t) alone (t > 0). */
            double want = lr0[g] * inv(t, NULL) * (t > 0 ? ratio(t, NULL) : 1.0) * w;
            if (!same(descent_get_lr(opt, g), want)) {
                CHECK(0, "warmup step %d group %d: %.17g, want %.17g", t, g, descent_get_lr(opt, g), want);
                bad = 1;
            }
        }
    }
    CHECK(!bad, "callbacks inside LinearWarmup and ChainedScheduler");
    descent_destroy(opt);
}

/* ---- specs, arguments, reset ------------------------------------------------------ */

static void test_specs(const char *cli)
{
    const double lr0[2] = {0.1, 0.2};
    descent_optimizer *opt = make_opt(2, lr0);
    const char *plain[] = {
        "LambdaLR(lr_lambda=0)",
        "LambdaLR(lr_lambda=lambda t: 0.95 ** t)",
        "lambda_lr(0)",
        "SequentialLR(schedulers=[LinearLR(total_iters=3), MultiplicativeLR(lr_lambda=0)], milestones=[3])",
        "MultiplicativeLR(lr_lambda=lambda epoch: 0.95)",
    };
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++) {
        int rc = descent_set_schedule(opt, plain[i]);
        const char *call = strstr(plain[i], "ultiplicative") ? "descent_set_multiplicative_lr" : "descent_set_lambda_lr";
        CHECK(rc == DESCENT_ERR_SPEC && strstr(descent_errmsg(opt), "cannot carry") && strstr(descent_errmsg(opt), call),
              "descent_set_schedule(\"%s\"): %d %s", plain[i], rc, descent_errmsg(opt));
    }
    CHECK(strstr(descent_errmsg(opt), "ExponentialLR") != NULL, "no hint at ExponentialLR: %s", descent_errmsg(opt));
    CHECK(descent_set_schedule(opt, "LambdaLR(lr_lambda=0)") < 0 && strstr(descent_errmsg(opt), "LinearWithWarmup"),
          "LambdaLR's error names the recipes: %s", descent_errmsg(opt));
    descent_error err;
    double lr;
    CHECK(descent_schedule_lr_at("LambdaLR(lr_lambda=0)", 0.1, 3, &lr, &err) == DESCENT_ERR_SPEC &&
              strstr(err.message, "descent_set_lambda_lr"),
          "lr_at: %s", err.message);
    descent_lr_callback cb[2] = {{inv, NULL}, {ratio, NULL}};
    struct {
        const char *spec;
        int ncb;
        const char *msg;
    } bad[] = {
        {"LambdaLR(lr_lambda=2)", 2, "index the 2 callbacks"},
        {"LambdaLR(lr_lambda=0.5)", 2, "index the 2 callbacks"},
        {"LambdaLR(lr_lambda=-1)", 2, "lr_lambda"},
        {"LambdaLR(lr_lambda=[0, 1, 1])", 2, "expected 2 values for lr_lambda"},
        {"MultiplicativeLR()", 2, "missing required argument 'lr_lambda'"},
        {"LambdaLR(lr_lambda=0)", -1, "ncallbacks"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = descent_set_schedule_callbacks(opt, bad[i].spec, cb, bad[i].ncb);
        CHECK(rc < 0 && strstr(descent_errmsg(opt), bad[i].msg), "%s with %d callbacks: %d %s", bad[i].spec, bad[i].ncb,
              rc, descent_errmsg(opt));
    }
    descent_lr_callback nul[2] = {{inv, NULL}, {NULL, NULL}};
    CHECK(descent_set_lambda_lr_groups(opt, nul) == DESCENT_ERR_INVALID && strstr(descent_errmsg(opt), "callbacks[1].fn"),
          "a NULL callback: %s", descent_errmsg(opt));
    CHECK(descent_set_lambda_lr(opt, NULL, NULL) == DESCENT_ERR_INVALID, "a NULL fn was accepted");
    CHECK(descent_set_multiplicative_lr_groups(opt, NULL) == DESCENT_ERR_INVALID, "a NULL table was accepted");
    CHECK(descent_set_lambda_lr(NULL, inv, NULL) == DESCENT_ERR_INVALID, "a NULL optimizer was accepted");
    CHECK(descent_get_lr(opt, 0) == 0.1 && descent_get_lr(opt, 1) == 0.2, "refused attaches changed the lr");
    descent_destroy(opt);
    /* An optimizer without groups. */
    descent_optimizer *empty = NULL;
    CHECK(descent_create_from_spec(&empty, "SGD(lr=0.1)", NULL, &err) == 0, "create");
    CHECK(descent_set_lambda_lr(empty, inv, NULL) == DESCENT_ERR_STATE, "LambdaLR without groups: %s",
          descent_errmsg(empty));
    descent_destroy(empty);
    /* descent_reset restarts the schedule, callbacks included. */
    opt = make_opt(2, lr0);
    CHECK(descent_set_lambda_lr_groups(opt, cb) == 0, "attach: %s", descent_errmsg(opt));
    for (int t = 0; t < 5; t++)
        descent_schedule_step(opt, NAN);
    CHECK(descent_reset(opt) == 0 && descent_get_lr(opt, 0) == 0.1 * inv(0, NULL) &&
              descent_get_lr(opt, 1) == 0.2 * ratio(0, NULL),
          "reset: lr %.17g %.17g", descent_get_lr(opt, 0), descent_get_lr(opt, 1));
    descent_schedule_step(opt, NAN);
    CHECK(descent_get_lr(opt, 1) == 0.2 * ratio(1, NULL), "after reset, step 1: %.17g", descent_get_lr(opt, 1));
    descent_destroy(opt);
    /* The CLI: exit 2 and the same advice. */
    if (cli && *cli) {
        char cmd[1024], *out = NULL;
        snprintf(cmd, sizeof cmd,
                 "'%s' schedule --opt 'SGD(lr=0.1)' --sched 'LambdaLR(lr_lambda=lambda t: 0.95 ** t)' --steps 3 2>&1", cli);
        int st = t_run(cmd, &out);
        CHECK(st == 2 && out && strstr(out, "descent_set_lambda_lr") && strstr(out, "LinearWithWarmup"),
              "descent schedule --sched 'LambdaLR(...)': exit %d, %s", st, out ? out : "");
        free(out);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_lambda_sched TESTS_DIR [DESCENT_CLI]\n");
        return 2;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/sched_lambda.txt", argv[1]);
    char *text = t_read_file(path, NULL);
    CHECK(text != NULL, "cannot read %s", path);
    char *cursor = text;
    lcase *c = malloc(sizeof *c);
    int cases = 0, resumed = 0;
    while (text && c && read_case(&cursor, c)) {
        cases++;
        run_case(c, BY_SPEC);
        int bare = strncmp(c->spec, "LambdaLR(", 9) == 0 || strncmp(c->spec, "MultiplicativeLR(", 17) == 0;
        if (bare) {
            if (c->ncb == 1)
                run_case(c, BY_SAME);
            run_case(c, BY_GROUPS);
        }
        if (bare || strncmp(c->spec, "SequentialLR", 12) == 0) {
            resume_case(c, c->steps / 3, BY_SPEC, BY_SPEC);
            if (bare) {
                resume_case(c, c->steps / 2, BY_GROUPS, BY_GROUPS);
                if (c->ncb == 1) {
                    /* The "same for all groups" call is the _groups one. */
                    resume_case(c, 1, BY_SAME, BY_GROUPS);
                    resume_case(c, c->steps - 1, BY_GROUPS, BY_SAME);
                }
            }
            resumed++;
        }
    }
    CHECK(cases == 11, "read %d golden cases of 11 (a malformed case stops the reading)", cases);
    CHECK(resumed >= 8, "resumed %d cases", resumed);
    free(c);
    free(text);
    test_bad_callbacks();
    test_overflow();
    test_inside_warmup();
    test_specs(argc > 2 ? argv[2] : NULL);
    return t_done();
}
