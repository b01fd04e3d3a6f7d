/* BOBYQA (Powell, DAMTP 2009/NA06):
 *  - evaluations to the target f* + 1e-8 max(1, |f*|) within 1.5x of NLopt's
 *    LN_BOBYQA on the problems of bobyqa_problems.h, whose counts
 *    tools/bobyqa_nlopt_counts.c wrote into bobyqa_nlopt_counts.txt;
 *  - every candidate finite and inside the bounds, an active bound reached;
 *  - stop reasons: rho reaching rhoend, asking after the stop;
 *  - npt at both ends of its range;
 *  - non-finite objective values never make a candidate NaN;
 *  - checkpoints: a run saved mid-way (between tell and ask, or between ask
 *    and tell) asks the same points as the uninterrupted run; truncated or
 *    corrupted images are refused and leave the state as it was;
 *  - argument errors with their messages; the CLI. */
#include "bobyqa_problems.h"
#include "descent.h"
#include "testutil.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct counted {
    const bq_problem *p;
    long evals, bad;        /* bad: a non-finite or out-of-box point */
    double nan_beyond;      /* f is NaN where x[0] > nan_beyond */
    long at_x0;             /* evaluations at the start point */
} counted;

static double fn(void *ctx, const double *x, double *grad, size_t n)
{
    (void)grad;
    counted *c = ctx;
    c->evals++;
    c->at_x0 += memcmp(x, c->p->x0, n * sizeof *x) == 0;
    /* The driver evaluates the start as given; BOBYQA's own points follow. */
    for (size_t i = 0; i < n && c->evals > 1; i++)
        if (!isfinite(x[i]) || (c->p->bounded && (x[i] < c->p->lo[i] || x[i] > c->p->hi[i])))
            c->bad++;
    if (x[0] > c->nan_beyond)
        return NAN;
    return c->p->f(x, n);
}

static void list(char *b, size_t cap, const double *v, size_t n)
{
    size_t used = (size_t)snprintf(b, cap, "(");
    for (size_t i = 0; i < n && used < cap; i++)
        used += (size_t)snprintf(b + used, cap - used, "%s%.17g", i ? ", " : "", v[i]);
    if (used < cap)
        snprintf(b + used, cap - used, ")");
}

static void spec_of(char *spec, size_t cap, const bq_problem *p, const char *extra)
{
    char lo[400], hi[400];
    if (p->bounded) {
        list(lo, sizeof lo, p->lo, p->n);
        list(hi, sizeof hi, p->hi, p->n);
        snprintf(spec, cap, "BOBYQA(rhobeg=%g, rhoend=1e-8, lower=%s, upper=%s%s)", p->rhobeg, lo, hi, extra);
    } else
        snprintf(spec, cap, "BOBYQA(rhobeg=%g, rhoend=1e-8%s)", p->rhobeg, extra);
}

static const bq_problem *problem(const char *name)
{
    for (size_t k = 0; k < BQ_NPROBLEMS; k++)
        if (strcmp(bq_problems[k].name, name) == 0)
            return &bq_problems[k];
    return NULL;
}

static int run(const bq_problem *p, const char *extra, double f_target, counted *c, descent_minimize_result *r,
               double *x)
{
    char spec[1200];
    spec_of(spec, sizeof spec, p, extra);
    descent_minimize_settings s;
    descent_minimize_default_settings(&s);
    s.max_iter = 0;
    s.max_evals = 100000;
    s.f_target = f_target;
    memcpy(x, p->x0, p->n * sizeof *x);
    c->p = p;
    descent_error e;
    int rc = descent_minimize(spec, NULL, fn, c, x, p->n, &s, r, &e);
    if (rc < 0)
        fprintf(stderr, "%s: %s\n", spec, e.message);
    return rc;
}

/* ---- against NLopt's counts -------------------------------------------- */

static void test_against_nlopt(const char *dir)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/bobyqa_nlopt_counts.txt", dir);
    char *text = t_read_file(path, NULL);
    CHECK(text != NULL, "cannot read %s", path);
    if (!text)
        return;
    char *cur = text, line[512];
    size_t seen = 0;
    while (t_next_line(&cur, line, sizeof line)) {
        char name[64];
        long ref;
        double ref_f;
        if (sscanf(line, "%63s %ld %lf", name, &ref, &ref_f) != 3)
            continue;
        const bq_problem *p = problem(name);
        CHECK(p != NULL, "unknown problem %s in %s", name, path);
        if (!p)
            continue;
        seen++;
        counted c = {p, 0, 0, INFINITY, 0};
        descent_minimize_result r;
        double x[10];
        int rc = run(p, "", bq_target(p), &c, &r, x);
        CHECK(c.bad == 0, "%s: %ld points non-finite or outside the bounds", name, c.bad);
        printf("%-22s descent %5ld %-14s f = %-12.6g NLopt %5ld f = %.6g\n", name, c.evals, descent_stop_name(rc), r.f,
               ref, ref_f);
        if (!(ref_f <= bq_target(p)))
            continue; /* NLopt misses the target: no count to compare */
        CHECK(rc == DESCENT_STOP_F_TARGET, "%s: stop %s, f = %g", name, descent_stop_name(rc), r.f);
        CHECK(r.f <= bq_target(p), "%s: f = %.10g above the target %.10g", name, r.f, bq_target(p));
        CHECK((double)c.evals <= 1.5 * (double)ref, "%s: %ld evaluations, NLopt needs %ld", name, c.evals, ref);
        CHECK(c.evals == r.evaluations, "%s: counted %ld, reported %lld", name, c.evals, (long long)r.evaluations);
        /* BOBYQA's first point is the start, whose value the driver has. */
        CHECK(p->bounded || c.at_x0 == 1, "%s: the start evaluated %ld times", name, c.at_x0);
    }
    CHECK(seen == BQ_NPROBLEMS, "%zu of %zu problems in %s", seen, (size_t)BQ_NPROBLEMS, path);
    free(text);
}

/* ---- stop reasons, npt, active bounds, non-finite values --------------- */

static void test_runs(void)
{
    const bq_problem *p = problem("rosenbrock2");
    counted c = {p, 0, 0, INFINITY, 0};
    descent_minimize_result r;
    double x[10];
    int rc = run(p, "", -INFINITY, &c, &r, x);
    CHECK(rc == DESCENT_STOP_RHOEND, "stop %s", descent_stop_name(rc));
    CHECK(strcmp(descent_stop_name(DESCENT_STOP_RHOEND), "rhoend") == 0, "name");
    CHECK(strcmp(descent_stop_name(DESCENT_STOP_MODEL_ROUNDING), "model_rounding") == 0, "name");
    CHECK(fabs(x[0] - 1) < 1e-6 && fabs(x[1] - 1) < 1e-6 && r.f < 1e-12, "x = (%g, %g), f = %g", x[0], x[1], r.f);

    /* npt at both ends of [n + 2, (n + 1)(n + 2) / 2]. */
    const char *npts[] = {", npt=4", ", npt=6"};
    for (int i = 0; i < 2; i++) {
        counted ci = {p, 0, 0, INFINITY, 0};
        rc = run(p, npts[i], bq_target(p), &ci, &r, x);
        CHECK(rc == DESCENT_STOP_F_TARGET && ci.evals < 2000, "npt%s: stop %s after %ld, f = %g", npts[i],
              descent_stop_name(rc), ci.evals, r.f);
    }

    /* Brown badly scaled: rounding spoils the denominators on the way to
     * x1 = 1e6; the interpolation set is rebuilt and the run goes on. */
    p = problem("brown_badly_scaled");
    c = (counted){p, 0, 0, INFINITY, 0};
    rc = run(p, "", bq_target(p), &c, &r, x);
    CHECK(rc == DESCENT_STOP_F_TARGET && c.evals < 1000, "Brown badly scaled: stop %s after %ld, f = %g",
          descent_stop_name(rc), c.evals, r.f);

    /* The active bound x1 <= 0.5: x lands exactly on it. */
    p = problem("rosenbrock2_bounded");
    c = (counted){p, 0, 0, INFINITY, 0};
    rc = run(p, "", -INFINITY, &c, &r, x);
    CHECK(rc == DESCENT_STOP_RHOEND && x[0] == 0.5 && fabs(x[1] - 0.25) < 1e-7 && c.bad == 0,
          "stop %s, x = (%.17g, %.17g), %ld bad", descent_stop_name(rc), x[0], x[1], c.bad);

    /* x0 outside the box is moved inside; a start on a bound stays feasible. */
    bq_problem q = *problem("shifted4_bounded");
    for (size_t i = 0; i < q.n; i++)
        q.x0[i] = i % 2 ? 5 : -1;
    c = (counted){&q, 0, 0, INFINITY, 0};
    rc = run(&q, "", -INFINITY, &c, &r, x);
    CHECK(rc == DESCENT_STOP_RHOEND && c.bad == 0 && fabs(r.f - 4) < 1e-12, "stop %s, f = %.17g, %ld bad",
          descent_stop_name(rc), r.f, c.bad);

    /* f is NaN for x1 > 1.1: Rosenbrock's minimum (1, 1) is still found
     * and no candidate is ever NaN. */
    p = problem("rosenbrock2");
    c = (counted){p, 0, 0, 1.1, 0};
    rc = run(p, "", bq_target(p), &c, &r, x);
    CHECK(rc == DESCENT_STOP_F_TARGET && c.bad == 0, "NaN region: stop %s, f = %g, %ld bad", descent_stop_name(rc),
          r.f, c.bad);
    /* NaN everywhere right of the start: the run ends by its own criteria
     * with finite points. */
    c = (counted){p, 0, 0, p->x0[0], 0};
    rc = run(p, "", -INFINITY, &c, &r, x);
    CHECK(rc > 0 && c.bad == 0 && c.evals < 1000, "NaN half-space: stop %s after %ld, %ld bad", descent_stop_name(rc),
          c.evals, c.bad);
}

/* ---- scale: BOBYQA on u = x / scale ----------------------------------- */

static double rosen_x0_scaled(void *ctx, const double *x, double *grad, size_t n)
{
    (void)grad;
    long *evals = ctx;
    ++*evals;
    double u[2] = {x[0] / 1024, x[1]};
    return bqp_rosenbrock(u, n);
}

static void test_scale(void)
{
    /* Rosenbrock in (x1 / 1024, x2) with scale = (1024, 1) is the plain run
     * on Rosenbrock, point for point (powers of two scale exactly). */
    const bq_problem *p = problem("rosenbrock2");
    counted c = {p, 0, 0, INFINITY, 0};
    descent_minimize_result r, rs;
    double x[10];
    int rc = run(p, "", -INFINITY, &c, &r, x);
    double xs[2] = {-1.2 * 1024, 1};
    long evals = 0;
    descent_minimize_settings s;
    descent_minimize_default_settings(&s);
    s.max_iter = 0;
    s.max_evals = 100000;
    descent_error e;
    int rcs = descent_minimize("BOBYQA(rhobeg=0.5, rhoend=1e-8, scale=(1024, 1))", NULL, rosen_x0_scaled, &evals, xs,
                               2, &s, &rs, &e);
    CHECK(rc == rcs && evals == c.evals && xs[0] == 1024 * x[0] && xs[1] == x[1] && rs.f == r.f,
          "scaled run: %s after %ld, x = (%.17g, %.17g); plain: %s after %ld, x = (%.17g, %.17g)",
          descent_stop_name(rcs), evals, xs[0], xs[1], descent_stop_name(rc), c.evals, x[0], x[1]);
}

/* ---- ask/tell and checkpoints ------------------------------------------ */

static const char *CKPT_SPEC = "BOBYQA(rhobeg=0.5, rhoend=1e-7, lower=(-2, -2, -2, -2), upper=(2, 2, 2, 2))";

/* Ask/tell steps of Wood from (-1, 1, -1, 1) (inside the box): each ask's
 * candidate appended to trace. */
static int steps(descent_population *p, int count, double *trace, int *len)
{
    for (int k = 0; k < count; k++) {
        double cand[4];
        size_t lambda;
        int rc = descent_population_ask(p, cand, &lambda);
        if (rc != 0)
            return rc;
        if (lambda != 1)
            return -100;
        memcpy(trace + 4 * (*len), cand, sizeof cand);
        (*len)++;
        if ((rc = descent_population_tell(p, (double[]){bqp_wood(cand, 4)})) < 0)
            return rc;
    }
    return 0;
}

static descent_population *make(void)
{
    descent_population *p;
    descent_error e;
    if (descent_population_create(&p, CKPT_SPEC, 4, &e) < 0) {
        fprintf(stderr, "%s\n", e.message);
        return NULL;
    }
    descent_population_set_x0(p, (const double[]){-1, 1, -1, 1});
    return p;
}

static void test_checkpoint(void)
{
    enum { N1 = 37, N2 = 120 };
    static double full[4 * (N1 + N2 + 1)], part[4 * (N1 + N2 + 1)];
    int lf = 0, lp = 0;
    descent_population *a = make(), *b = make();
    CHECK(a && b, "create");
    if (!a || !b)
        return;
    CHECK(strcmp(descent_population_name(a), "BOBYQA") == 0, "name %s", descent_population_name(a));
    CHECK(steps(a, N1 + N2, full, &lf) == 0, "uninterrupted run: %s", descent_population_errmsg(a));
    CHECK(steps(b, N1, part, &lp) == 0, "first part");
    size_t len;
    CHECK(descent_population_save_mem(b, NULL, 0, &len) == 0, "size");
    unsigned char *img = malloc(len), *bad = malloc(len);
    CHECK(descent_population_save_mem(b, img, len, &len) == 0, "save");
    /* Every truncation and a flipped byte in the middle are refused, and the
     * population keeps its state. */
    descent_population *c = make();
    int refused = 0;
    for (size_t cut = 0; cut < len; cut += 1 + cut / 16)
        refused += descent_population_load_mem(c, img, cut) < 0;
    size_t tries = 0;
    for (size_t cut = 0; cut < len; cut += 1 + cut / 16)
        tries++;
    CHECK(refused == (int)tries, "%d of %zu truncated images refused", refused, tries);
    memcpy(bad, img, len);
    bad[len / 2] ^= 0x10;
    CHECK(descent_population_load_mem(c, bad, len) < 0, "corrupted image accepted");
    CHECK(descent_population_generation(c) == 0, "a refused load changed the population");
    /* The loaded copy asks the same points as the uninterrupted run. */
    CHECK(descent_population_load_mem(c, img, len) == 0, "load: %s", descent_population_errmsg(c));
    int lc = lp;
    static double cont[4 * (N1 + N2 + 1)];
    memcpy(cont, part, sizeof(double) * 4 * (size_t)lp);
    CHECK(steps(c, N2, cont, &lc) == 0, "resumed run: %s", descent_population_errmsg(c));
    CHECK(lc == lf && memcmp(cont, full, sizeof(double) * 4 * (size_t)lf) == 0, "resumed run differs");

    /* Saved between ask and tell: the pending point comes back. */
    descent_population *d = make(), *e2 = make();
    double cand[4], pend[4];
    size_t lambda;
    int ld = 0;
    static double tr[4 * (N1 + 2)];
    steps(d, N1, tr, &ld);
    descent_population_ask(d, cand, &lambda);
    size_t len2;
    descent_population_save_mem(d, NULL, 0, &len2);
    unsigned char *img2 = malloc(len2);
    descent_population_save_mem(d, img2, len2, &len2);
    CHECK(descent_population_load_mem(e2, img2, len2) == 0, "load pending");
    CHECK(descent_population_pending(e2, pend, &lambda) == 0 && lambda == 1 && memcmp(pend, cand, sizeof cand) == 0,
          "pending candidate lost");
    CHECK(descent_population_tell(e2, (double[]){bqp_wood(pend, 4)}) == 0, "tell after load");

    /* A checkpoint of another npt is refused with a message. */
    descent_population *o;
    descent_error err;
    descent_population_create(&o, "BOBYQA(rhobeg=0.5, npt=6)", 4, &err);
    CHECK(descent_population_load_mem(o, img, len) < 0 && strstr(descent_population_errmsg(o), "npt"),
          "other npt: %s", descent_population_errmsg(o));

    /* Run to the end: ask then returns the stop reason and no candidate. */
    int rc = 0, le = 0;
    static double rest[4 * 100000];
    while (rc == 0 && le < 99990)
        rc = steps(a, 1, rest, &le);
    CHECK(rc == DESCENT_STOP_RHOEND && descent_population_stop(a) == DESCENT_STOP_RHOEND, "end: %d", rc);
    double best[4];
    CHECK(descent_population_best(a, best) < 1e-10 && fabs(best[0] - 1) < 1e-5, "best f = %g",
          descent_population_best(a, NULL));
    CHECK(descent_population_ask(a, cand, &lambda) == DESCENT_STOP_RHOEND && lambda == 0, "ask after the end");
    free(img);
    free(img2);
    free(bad);
    descent_population_destroy(a);
    descent_population_destroy(b);
    descent_population_destroy(c);
    descent_population_destroy(d);
    descent_population_destroy(e2);
    descent_population_destroy(o);
}

/* Brown badly scaled by ask/tell, once straight through and once through a
 * save and a load into a fresh population before every ask: the same
 * points, rebuilds of the interpolation set included. */
static void test_checkpoint_every_step(void)
{
    const char *spec = "BOBYQA(rhobeg=0.5, rhoend=1e-8)";
    const double x0[2] = {1, 1};
    descent_population *a, *b;
    descent_error e;
    descent_population_create(&a, spec, 2, &e);
    descent_population_create(&b, spec, 2, &e);
    descent_population_set_x0(a, x0);
    descent_population_set_x0(b, x0);
    int same = 1, steps_run = 0, rc_a = 0, rc_b = 0;
    for (int k = 0; k < 400 && same && rc_a == 0; k++) {
        size_t len, lambda;
        descent_population_save_mem(b, NULL, 0, &len);
        unsigned char *img = malloc(len);
        descent_population_save_mem(b, img, len, &len);
        descent_population *c;
        descent_population_create(&c, spec, 2, &e);
        int rl = descent_population_load_mem(c, img, len);
        free(img);
        descent_population_destroy(b);
        b = c;
        if (rl < 0) {
            same = 0;
            break;
        }
        double ca[2], cb[2];
        rc_a = descent_population_ask(a, ca, &lambda);
        rc_b = descent_population_ask(b, cb, &lambda);
        if (rc_a != rc_b || (rc_a == 0 && memcmp(ca, cb, sizeof ca) != 0)) {
            same = 0;
            break;
        }
        if (rc_a != 0)
            break;
        descent_population_tell(a, (double[]){bqp_brown_badly(ca, 2)});
        descent_population_tell(b, (double[]){bqp_brown_badly(cb, 2)});
        steps_run++;
    }
    CHECK(same && rc_a == rc_b, "run with a checkpoint before every ask differs at step %d", steps_run);
    CHECK(descent_population_best(a, NULL) < 1e-8 && steps_run > 50, "Brown badly scaled by ask/tell: f = %g after %d",
          descent_population_best(a, NULL), steps_run);
    descent_population_destroy(a);
    descent_population_destroy(b);
}

/* ---- argument errors ---------------------------------------------------- */

static void expect_error(const char *spec, size_t n, const char *needle)
{
    descent_minimizer *m = NULL;
    descent_error e;
    int rc = descent_minimizer_create(&m, spec, n, &e);
    CHECK(rc < 0 && strstr(e.message, needle), "%s: rc %d, message '%s'", spec, rc, rc < 0 ? e.message : "");
    descent_minimizer_destroy(m);
}

static double sphere(void *ctx, const double *x, double *grad, size_t n)
{
    (void)ctx;
    (void)grad;
    return bqp_sphere(x, n);
}

static void test_errors(void)
{
    expect_error("BOBYQA(rhobeg=0.1, rhoend=0.5)", 3, "must not exceed rhobeg");
    expect_error("BOBYQA(npt=4)", 3, "[5, 10]");
    expect_error("BOBYQA(npt=11)", 3, "[5, 10]");
    expect_error("BOBYQA(npt=5.5)", 3, "npt must be an integer");
    expect_error("BOBYQA(rhobeg=0)", 3, "rhobeg");
    expect_error("BOBYQA(rhobeg=-1)", 3, "rhobeg");
    expect_error("BOBYQA()", 1, "at least 2 variables");
    expect_error("BOBYQA(sigma0=1)", 3, "sigma0");
    expect_error("BOBYQA(scale=0)", 3, "scale[0] = 0 must be a positive");
    expect_error("BOBYQA(scale=(1, 2))", 3, "list of 3 positive numbers");
    /* Bounds closer than 2 rhobeg: the run refuses to start. */
    double x[3] = {0, 0, 0};
    descent_error e;
    descent_minimize_result r;
    int rc = descent_minimize("BOBYQA(rhobeg=1, lower=(-1, -1, -1), upper=(1, 1, 0.5))", NULL, sphere, NULL, x, 3,
                              NULL, &r, &e);
    CHECK(rc == DESCENT_ERR_INVALID && strstr(e.message, "variable 2") && strstr(e.message, "2 rhobeg"),
          "narrow bounds: rc %d, '%s'", rc, e.message);
}

/* ---- the CLI -------------------------------------------------------------- */

/* A finished BOBYQA answers through the one stop query of every
 * population method: stopped() and its older name agree, every later ask
 * returns the reason with lambda = 0, and the run ends within a bound. */
static void test_stop_query(void)
{
    descent_population *p;
    descent_error e;
    CHECK(descent_population_create(&p, "BOBYQA(rhobeg=0.5)", 2, &e) == 0, "%s", e.message);
    const double x0[2] = {1, 1};
    descent_population_set_x0(p, x0);
    int rc = 0, steps = 0;
    while (rc == 0 && steps < 5000) {
        double c[2];
        size_t l;
        if ((rc = descent_population_ask(p, c, &l)) == 0) {
            descent_population_tell(p, (double[]){bqp_beale(c, 2)});
            steps++;
        }
    }
    size_t l = 7;
    double c[2] = {NAN, NAN};
    CHECK(rc == DESCENT_STOP_RHOEND && steps < 5000 && descent_population_stopped(p) == rc &&
              descent_population_stop(p) == rc && descent_population_ask(p, c, &l) == rc && l == 0 && isnan(c[0]) &&
              descent_population_size(p) > 0,
          "rc %d after %d steps, stopped %d, stop %d, lambda %zu", rc, steps, descent_population_stopped(p),
          descent_population_stop(p), l);
    descent_population_destroy(p);
}

/* The CLI on Beale with BOBYQA(rhobeg=0.5) and the given budget flags,
 * under timeout: each run ends with the reason that stopped it (--max-iter
 * 0 is no budget: rhoend, near (3, 0.5)). */
static void test_cli(const char *cli)
{
    static const struct {
        const char *flag, *want;
        int at_minimum;
    } cases[] = {{"--max-iter 0", "stop=rhoend", 1}, {"--max-iter 1", "stop=max_iter", 0},
                 {"--max-evals 1", "stop=max_evals", 0}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        char cmd[1024], *out = NULL;
        snprintf(cmd, sizeof cmd, "timeout 60 '%s' minimize --fn 'beale()' --opt 'BOBYQA(rhobeg=0.5)' %s 2>&1", cli,
                 cases[k].flag);
        int status = t_run(cmd, &out);
        int near = !cases[k].at_minimum || (out && (strstr(out, "x = (3.0000") || strstr(out, "x = (2.9999")));
        CHECK(status == 0 && out && strstr(out, cases[k].want) && near, "%s: status %d (124: timed out), output:\n%s",
              cases[k].flag, status, out ? out : "?");
        free(out);
    }
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "tests";
    test_against_nlopt(dir);
    test_runs();
    test_scale();
    test_checkpoint();
    test_checkpoint_every_step();
    test_errors();
    test_stop_query();
    if (argc > 2)
        test_cli(argv[2]);
    return t_done();
}
