/* The Moré-Garbow-Hillstrom comparison (docs/global.md): every minimizer
 * on the 35 problems from the standard starting points. A run counts as
 * solved when f <= f* + 1e-8 max(1, |f*|) within 10^4 evaluations (10^5
 * for derivative-free methods); its figure is the number of evaluations at
 * which f first met that bound. descent's methods run at their default
 * settings (the driver's gtol = 1e-8 on max |g_i|, or --gtol X; no
 * iteration limit); the other
 * libraries, where installed, with their defaults and no stopping test but
 * the budget (they run until they stop themselves: liblbfgs with
 * epsilon = 0, NLopt with maxeval only, GSL's vector_bfgs2 with step 0.01,
 * tol 0.1 until it reports no progress).
 *
 *     bench_mgh [--json FILE] [--svg FILE] [--only ID,ID,...] [--solvers a,b]
 *               [--add-grad SPEC] [--add-free SPEC]   one more descent column
 *               [--gtol X]                            descent's gtol
 *     bench_mgh --refine        f* to the rounding limit
 *     bench_mgh --lbfgs-grid    the table that chose LBFGS's defaults
 *
 * Prints the per-problem table (evaluations, or "-" for a failure) and the
 * Dolan-Moré performance profile rho(tau) = share of problems a solver
 * solves within tau times the fewest evaluations of any solver of its
 * group (gradient-based, derivative-free), at tau = 1, 2, 4, ... */
#include "descent.h"
#include "mgh.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef HAVE_LIBLBFGS
#include <lbfgs.h>
#endif
#ifdef HAVE_NLOPT
#include <nlopt.h>
#endif
#ifdef HAVE_GSL
#include <gsl/gsl_errno.h>
#include <gsl/gsl_multimin.h>
#endif

#define BUDGET_GRAD 10000L
#define BUDGET_FREE 100000L

/* The objective with the counters of one run. */
typedef struct run_ctx {
    const mgh_problem *p;
    double work[4096];
    long evals, budget, hit;  /* hit: evaluation at which f first met the bound (0: never) */
    double best;
    int nonfinite;
} run_ctx;

static double count_eval(run_ctx *c, const double *x, double *g)
{
    double f = mgh_eval(c->p, x, g, c->work);
    c->evals++;
    if (!isfinite(f))
        c->nonfinite = 1;
    if (f < c->best)
        c->best = f;
    if (!c->hit && c->evals <= c->budget && mgh_solved(c->p, f))
        c->hit = c->evals;
    return f;
}

static double descent_fn(void *ctx, const double *x, double *g, size_t n)
{
    (void)n;
    return count_eval(ctx, x, g);
}

typedef struct solver {
    const char *name;
    int derivative_free;
    /* Run from x; return a stop reason or status to print (may be NULL). */
    const char *(*run)(const struct solver *s, run_ctx *c, double *x);
    const char *spec; /* descent's spec, or the external method's name */
} solver;

static char reason_buf[128];
static double gtol_arg = -1; /* --gtol X: descent's gtol (< 0: the default) */

static const char *run_descent(const solver *s, run_ctx *c, double *x)
{
    descent_minimize_settings st;
    descent_minimize_default_settings(&st);
    st.max_iter = 0;
    st.max_evals = c->budget;
    if (gtol_arg >= 0)
        st.gtol = gtol_arg;
    descent_minimize_result r;
    descent_error err;
    int rc = descent_minimize(s->spec, NULL, descent_fn, c, x, c->p->n, &st, &r, &err);
    if (rc < 0)
        snprintf(reason_buf, sizeof reason_buf, "error: %.100s", err.message);
    else
        snprintf(reason_buf, sizeof reason_buf, "%s", descent_stop_name(rc));
    return reason_buf;
}

#ifdef HAVE_LIBLBFGS
static lbfgsfloatval_t ll_eval(void *ctx, const lbfgsfloatval_t *x, lbfgsfloatval_t *g, int n, lbfgsfloatval_t step)
{
    (void)n;
    (void)step;
    return count_eval(ctx, x, g);
}

static int ll_progress(void *ctx, const lbfgsfloatval_t *x, const lbfgsfloatval_t *g, lbfgsfloatval_t fx,
                       lbfgsfloatval_t xnorm, lbfgsfloatval_t gnorm, lbfgsfloatval_t step, int n, int k, int ls)
{
    (void)x, (void)g, (void)fx, (void)xnorm, (void)gnorm, (void)step, (void)n, (void)k, (void)ls;
    const run_ctx *c = ctx;
    return c->evals >= c->budget;
}

static const char *run_liblbfgs(const solver *s, run_ctx *c, double *x)
{
    (void)s;
    lbfgs_parameter_t par;
    lbfgs_parameter_init(&par);
    par.epsilon = 0;
    lbfgsfloatval_t fx;
    int rc = lbfgs((int)c->p->n, x, &fx, ll_eval, ll_progress, c, &par);
    snprintf(reason_buf, sizeof reason_buf, "liblbfgs %d", rc);
    return reason_buf;
}
#endif

#ifdef HAVE_NLOPT
static double nl_eval(unsigned n, const double *x, double *g, void *ctx)
{
    (void)n;
    return count_eval(ctx, x, g);
}

static const char *run_nlopt(const solver *s, run_ctx *c, double *x)
{
    nlopt_algorithm alg = nlopt_algorithm_from_string(s->spec);
    nlopt_opt o = nlopt_create(alg, (unsigned)c->p->n);
    nlopt_set_min_objective(o, nl_eval, c);
    nlopt_set_maxeval(o, (int)c->budget);
    double f;
    nlopt_result rc = nlopt_optimize(o, x, &f);
    nlopt_destroy(o);
    snprintf(reason_buf, sizeof reason_buf, "%s", nlopt_result_to_string(rc));
    return reason_buf;
}
#endif

#ifdef HAVE_GSL
static double gsl_f(const gsl_vector *v, void *ctx)
{
    return count_eval(ctx, v->data, NULL);
}

static void gsl_df(const gsl_vector *v, void *ctx, gsl_vector *g)
{
    count_eval(ctx, v->data, g->data);
}

static void gsl_fdf(const gsl_vector *v, void *ctx, double *f, gsl_vector *g)
{
    *f = count_eval(ctx, v->data, g->data);
}

static const char *run_gsl(const solver *s, run_ctx *c, double *x)
{
    (void)s;
    const size_t n = c->p->n;
    gsl_set_error_handler_off();
    gsl_multimin_function_fdf fn = {gsl_f, gsl_df, gsl_fdf, n, c};
    gsl_vector *v = gsl_vector_alloc(n);
    memcpy(v->data, x, n * sizeof *x);
    gsl_multimin_fdfminimizer *m = gsl_multimin_fdfminimizer_alloc(gsl_multimin_fdfminimizer_vector_bfgs2, n);
    gsl_multimin_fdfminimizer_set(m, &fn, v, 0.01, 0.1);
    int st = GSL_CONTINUE;
    while (c->evals < c->budget && (st = gsl_multimin_fdfminimizer_iterate(m)) == GSL_SUCCESS)
        ;
    memcpy(x, m->x->data, n * sizeof *x);
    gsl_multimin_fdfminimizer_free(m);
    gsl_vector_free(v);
    snprintf(reason_buf, sizeof reason_buf, "gsl %s", gsl_strerror(st));
    return reason_buf;
}
#endif

static solver solvers[] = {
    {"LBFGS", 0, run_descent, "LBFGS"},
    {"HessianFree", 0, run_descent, "HessianFree"},
#ifdef HAVE_LIBLBFGS
    {"liblbfgs", 0, run_liblbfgs, "liblbfgs"},
#endif
#ifdef HAVE_NLOPT
    {"nlopt-LD_LBFGS", 0, run_nlopt, "LD_LBFGS"},
    {"nlopt-LD_TNEWTON_PRECOND_RESTART", 0, run_nlopt, "LD_TNEWTON_PRECOND_RESTART"},
#endif
#ifdef HAVE_GSL
    {"gsl-vector_bfgs2", 0, run_gsl, "gsl"},
#endif
    {"CMAES", 1, run_descent, "CMAES"},
    {"CMAES(restarts=9)", 1, run_descent, "CMAES(restarts=9)"},
    {"BOBYQA", 1, run_descent, "BOBYQA"},
#ifdef HAVE_NLOPT
    {"nlopt-LN_BOBYQA", 1, run_nlopt, "LN_BOBYQA"},
    {"nlopt-LN_NELDERMEAD", 1, run_nlopt, "LN_NELDERMEAD"},
#endif
    {NULL, 0, run_descent, NULL}, /* --add-grad SPEC / --add-free SPEC */
    {NULL, 1, run_descent, NULL},
};
#define NSOLVERS (int)(sizeof solvers / sizeof solvers[0])

/* Is the descent method of this spec built into the library? */
static int available(const solver *s)
{
    if (s->run != run_descent)
        return 1;
    descent_minimizer *m;
    descent_error err;
    if (descent_minimizer_create(&m, s->spec, 2, &err) < 0)
        return 0;
    descent_minimizer_destroy(m);
    return 1;
}

static int in_list(const char *list, const char *name)
{
    if (!list)
        return 1;
    size_t len = strlen(name);
    for (const char *p = list; (p = strstr(p, name)) != NULL; p += len)
        if ((p == list || p[-1] == ',') && (p[len] == ',' || p[len] == '\0'))
            return 1;
    return 0;
}

static int in_ids(const char *ids, int id)
{
    if (!ids)
        return 1;
    for (const char *p = ids; *p;) {
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p)
            break;
        if (v == id)
            return 1;
        p = *end == ',' ? end + 1 : end;
    }
    return 0;
}

/* ---- f* to the rounding limit ------------------------------------------ */

static void refine(void)
{
    const char *specs[] = {"LBFGS(history_size=20)", "LBFGS", "HessianFree"};
    for (int k = 0; k < MGH_COUNT; k++) {
        const mgh_problem *p = &mgh_problems[k];
        double best = INFINITY;
        for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
            run_ctx *c = calloc(1, sizeof *c);
            c->p = p;
            c->budget = 1000000;
            c->best = INFINITY;
            double x[16];
            p->start(x, p->n);
            descent_minimize_settings st;
            descent_minimize_default_settings(&st);
            st.max_iter = 0;
            st.max_evals = 200000;
            st.gtol = 0;
            descent_minimize_result r;
            descent_error err;
            descent_minimize(specs[s], NULL, descent_fn, c, x, p->n, &st, &r, &err);
            if (c->best < best)
                best = c->best;
            free(c);
        }
        printf("%2d %-52s f* %-14.6g refined %.17g%s\n", p->id, p->name, p->fstar, best,
               p->fstar != 0 && fabs(best - p->fstar) > 5e-6 * fabs(p->fstar) ? "  (differs from the paper)" : "");
    }
}

/* ---- LBFGS defaults ------------------------------------------------------ */

static int solved_with(const char *spec, double gtol, int *evals_sum)
{
    int solved = 0;
    *evals_sum = 0;
    for (int k = 0; k < MGH_COUNT; k++) {
        run_ctx *c = calloc(1, sizeof *c);
        c->p = &mgh_problems[k];
        c->budget = BUDGET_GRAD;
        c->best = INFINITY;
        double x[16];
        c->p->start(x, c->p->n);
        descent_minimize_settings st;
        descent_minimize_default_settings(&st);
        st.max_iter = 0;
        st.max_evals = c->budget;
        st.gtol = gtol;
        descent_minimize_result r;
        descent_error err;
        descent_minimize(spec, NULL, descent_fn, c, x, c->p->n, &st, &r, &err);
        if (c->hit) {
            solved++;
            *evals_sum += (int)c->hit;
        }
        free(c);
    }
    return solved;
}

static void lbfgs_grid(void)
{
    static const int ms[] = {6, 10, 20, 30};
    static const double gtols[] = {1e-5, 1e-8, 0};
    printf("| history_size | gtol | solved /35 | evaluations summed over the solved |\n|---|---|---|---|\n");
    for (size_t a = 0; a < sizeof ms / sizeof ms[0]; a++)
        for (size_t b = 0; b < sizeof gtols / sizeof gtols[0]; b++) {
            char spec[64];
            snprintf(spec, sizeof spec, "LBFGS(history_size=%d)", ms[a]);
            int sum, solved = solved_with(spec, gtols[b], &sum);
            printf("| %d | %g | %d | %d |\n", ms[a], gtols[b], solved, sum);
        }
}

/* ---- the comparison ------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of v[0..n) (n > 0; v is sorted in place). */
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void svg_profile(const char *path, const char *title, int ns, const char *const *names, double (*rho)[12],
                        const double *taus, int ntau)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", path);
        return;
    }
    const double W = 640, H = 400, L = 60, R = 250, T = 40, B = 50;
    const char *colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"};
    fprintf(f,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%g\" height=\"%g\" font-family=\"sans-serif\" "
            "font-size=\"12\">\n<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n",
            W, H);
    fprintf(f, "<text x=\"%g\" y=\"22\" font-size=\"14\">%s</text>\n", L, title);
    const double pw = W - L - R, ph = H - T - B;
    for (int t = 0; t < ntau; t++) {
        double px = L + pw * t / (ntau - 1);
        fprintf(f, "<line x1=\"%.1f\" y1=\"%g\" x2=\"%.1f\" y2=\"%g\" stroke=\"#ddd\"/>\n", px, T, px, T + ph);
        fprintf(f, "<text x=\"%.1f\" y=\"%g\" text-anchor=\"middle\">%g</text>\n", px, T + ph + 16, taus[t]);
    }
    for (int k = 0; k <= 4; k++) {
        double py = T + ph * (1 - k / 4.0);
        fprintf(f, "<line x1=\"%g\" y1=\"%.1f\" x2=\"%g\" y2=\"%.1f\" stroke=\"#ddd\"/>\n", L, py, L + pw, py);
        fprintf(f, "<text x=\"%g\" y=\"%.1f\" text-anchor=\"end\">%.2f</text>\n", L - 6, py + 4, k / 4.0);
    }
    fprintf(f, "<text x=\"%g\" y=\"%g\" text-anchor=\"middle\">tau (evaluations / fewest, log2 scale)</text>\n",
            L + pw / 2, H - 10);
    fprintf(f, "<text x=\"14\" y=\"%g\" transform=\"rotate(-90 14 %g)\" text-anchor=\"middle\">rho(tau)</text>\n",
            T + ph / 2, T + ph / 2);
    for (int s = 0; s < ns; s++) {
        const char *col = colors[s % 8];
        fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\" points=\"", col);
        for (int t = 0; t < ntau; t++) {
            double px = L + pw * t / (ntau - 1), py = T + ph * (1 - rho[s][t]);
            if (t > 0)
                fprintf(f, "%.1f,%.1f ", px, T + ph * (1 - rho[s][t - 1]));
            fprintf(f, "%.1f,%.1f ", px, py);
        }
        fprintf(f, "\"/>\n<text x=\"%g\" y=\"%g\" fill=\"%s\">%s</text>\n", L + pw + 10, T + 14 + 18.0 * s, col,
                names[s]);
    }
    fprintf(f, "</svg>\n");
    fclose(f);
}

int main(int argc, char **argv)
{
    const char *json = NULL, *svg = NULL, *only = NULL, *which = NULL;
    for (int a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--refine") == 0) {
            refine();
            return 0;
        }
        if (strcmp(argv[a], "--lbfgs-grid") == 0) {
            lbfgs_grid();
            return 0;
        }
        if (a + 1 < argc && strcmp(argv[a], "--json") == 0)
            json = argv[++a];
        else if (a + 1 < argc && strcmp(argv[a], "--svg") == 0)
            svg = argv[++a];
        else if (a + 1 < argc && strcmp(argv[a], "--only") == 0)
            only = argv[++a];
        else if (a + 1 < argc && strcmp(argv[a], "--solvers") == 0)
            which = argv[++a];
        else if (a + 1 < argc && strcmp(argv[a], "--gtol") == 0)
            gtol_arg = atof(argv[++a]);
        else if (a + 1 < argc && strcmp(argv[a], "--add-grad") == 0)
            solvers[NSOLVERS - 2].name = solvers[NSOLVERS - 2].spec = argv[++a];
        else if (a + 1 < argc && strcmp(argv[a], "--add-free") == 0)
            solvers[NSOLVERS - 1].name = solvers[NSOLVERS - 1].spec = argv[++a];
        else {
            fprintf(stderr,
                    "usage: bench_mgh [--json FILE] [--svg FILE] [--only ID,...] [--solvers NAME,...] [--add-grad SPEC] [--add-free SPEC] [--gtol X] | --refine | "
                    "--lbfgs-grid\n");
            return 2;
        }
    }
    int use[NSOLVERS], ns = 0;
    for (int s = 0; s < NSOLVERS; s++)
        if ((use[s] = solvers[s].name && available(&solvers[s]) && (in_list(which, solvers[s].name) || s >= NSOLVERS - 2)))
            ns++;
    static long evals[MGH_COUNT][NSOLVERS];
    static int nan_seen[NSOLVERS], errors[NSOLVERS];
    printf("%-3s %-34s", "id", "problem");
    for (int s = 0; s < NSOLVERS; s++)
        if (use[s])
            printf(" %10.10s", solvers[s].name);
    printf("\n");
    int nprob = 0;
    for (int k = 0; k < MGH_COUNT; k++) {
        const mgh_problem *p = &mgh_problems[k];
        if (!in_ids(only, p->id))
            continue;
        nprob++;
        printf("%-3d %-34.34s", p->id, p->name);
        for (int s = 0; s < NSOLVERS; s++) {
            if (!use[s])
                continue;
            run_ctx *c = calloc(1, sizeof *c);
            c->p = p;
            c->budget = solvers[s].derivative_free ? BUDGET_FREE : BUDGET_GRAD;
            c->best = INFINITY;
            double x[16];
            p->start(x, p->n);
            const char *why = solvers[s].run(&solvers[s], c, x);
            evals[k][s] = c->hit ? c->hit : -1;
            if (c->nonfinite)
                nan_seen[s]++;
            if (why && strncmp(why, "error", 5) == 0) {
                errors[s]++;
                fprintf(stderr, "%d %s: %s: %s\n", p->id, p->name, solvers[s].name, why);
            }
            /* MGH_VERBOSE=1: the failures; MGH_VERBOSE=2: every run. */
            const char *verbose = getenv("MGH_VERBOSE");
            if (verbose && (!c->hit || strcmp(verbose, "2") == 0))
                fprintf(stderr, "%d %s: %s: best f %.10g after %ld evaluations (bound met at %ld), %s\n", p->id,
                        p->name, solvers[s].name, c->best, c->evals, c->hit, why ? why : "");
            if (c->hit)
                printf(" %10ld", c->hit);
            else
                printf(" %10s", "-");
            free(c);
        }
        printf("\n");
    }
    printf("%-38s", "solved");
    for (int s = 0; s < NSOLVERS; s++)
        if (use[s]) {
            int solved = 0;
            for (int k = 0; k < MGH_COUNT; k++)
                solved += in_ids(only, k + 1) && evals[k][s] > 0;
            printf(" %7d/%-2d", solved, nprob);
        }
    printf("\n%-38s", "runs ending in an error");
    for (int s = 0; s < NSOLVERS; s++)
        if (use[s])
            printf(" %10d", errors[s]);
    printf("\n");
    /* Performance profiles per group. */
    static const double taus[12] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048};
    const int ntau = 12;
    FILE *jf = json ? fopen(json, "w") : NULL;
    if (jf) {
        fprintf(jf, "{\n  \"problems\": [");
        int first = 1;
        for (int k = 0; k < MGH_COUNT; k++)
            if (in_ids(only, k + 1)) {
                fprintf(jf, "%s\n    {\"id\": %d, \"name\": \"%s\", \"n\": %zu, \"m\": %zu, \"fstar\": %.17g, \"evaluations\": {",
                        first ? "" : ",", k + 1, mgh_problems[k].name, mgh_problems[k].n, mgh_problems[k].m,
                        mgh_problems[k].fstar);
                int f2 = 1;
                for (int s = 0; s < NSOLVERS; s++)
                    if (use[s]) {
                        fprintf(jf, "%s\"%s\": %ld", f2 ? "" : ", ", solvers[s].name, evals[k][s]);
                        f2 = 0;
                    }
                fprintf(jf, "}}");
                first = 0;
            }
        fprintf(jf, "\n  ],\n  \"profiles\": {");
    }
    for (int group = 0; group < 2; group++) {
        const char *gname = group ? "derivative-free" : "gradient";
        printf("\nperformance profile, %s methods: rho(tau)\n%-34s", gname, "solver");
        for (int t = 0; t < ntau; t++)
            printf(" %5g", taus[t]);
        printf("\n");
        double rho[NSOLVERS][12];
        const char *names[NSOLVERS];
        int gs = 0;
        for (int s = 0; s < NSOLVERS; s++) {
            if (!use[s] || solvers[s].derivative_free != group)
                continue;
            for (int t = 0; t < ntau; t++) {
                int within = 0;
                for (int k = 0; k < MGH_COUNT; k++) {
                    if (!in_ids(only, k + 1) || evals[k][s] < 0)
                        continue;
                    long best = -1;
                    for (int s2 = 0; s2 < NSOLVERS; s2++)
                        if (use[s2] && solvers[s2].derivative_free == group && evals[k][s2] > 0 &&
                            (best < 0 || evals[k][s2] < best))
                            best = evals[k][s2];
                    within += (double)evals[k][s] <= taus[t] * (double)best;
                }
                rho[gs][t] = nprob ? (double)within / nprob : 0;
            }
            names[gs] = solvers[s].name;
            printf("%-34s", solvers[s].name);
            for (int t = 0; t < ntau; t++)
                printf(" %5.3f", rho[gs][t]);
            printf("\n");
            if (jf) {
                fprintf(jf, "%s\n    \"%s\": [", gs == 0 && group == 0 ? "" : ",", solvers[s].name);
                for (int t = 0; t < ntau; t++)
                    fprintf(jf, "%s%.4f", t ? ", " : "", rho[gs][t]);
                fprintf(jf, "]");
            }
            gs++;
        }
        if (svg && gs > 0) {
            char path[1024];
            const char *dot = strrchr(svg, '.');
            size_t stem = dot ? (size_t)(dot - svg) : strlen(svg);
            snprintf(path, sizeof path, "%.*s-%s.svg", (int)stem, svg, group ? "free" : "gradient");
            char title[128];
            snprintf(title, sizeof title, "Moré-Garbow-Hillstrom, %d problems: %s methods", nprob, gname);
            svg_profile(path, title, gs, names, rho, taus, ntau);
        }
    }
    if (jf) {
        fprintf(jf, "\n  },\n  \"tau\": [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048]\n}\n");
        fclose(jf);
    }
    /* descent's method against its nearest peer, on the problems both
     * solve: the medians of their evaluations and of the per-problem ratio. */
    static const char *const pairs[][2] = {
        {"BOBYQA", "nlopt-LN_BOBYQA"}, {"LBFGS", "liblbfgs"}, {"HessianFree", "nlopt-LD_TNEWTON_PRECOND_RESTART"}};
    for (size_t q = 0; q < sizeof pairs / sizeof pairs[0]; q++) {
        int a = -1, b = -1;
        for (int s = 0; s < NSOLVERS; s++)
            if (use[s] && solvers[s].name) {
                if (strcmp(solvers[s].name, pairs[q][0]) == 0)
                    a = s;
                if (strcmp(solvers[s].name, pairs[q][1]) == 0)
                    b = s;
            }
        if (a < 0 || b < 0)
            continue;
        double ea[MGH_COUNT], eb[MGH_COUNT], ratio[MGH_COUNT];
        int both = 0;
        for (int k = 0; k < MGH_COUNT; k++)
            if (in_ids(only, k + 1) && evals[k][a] > 0 && evals[k][b] > 0) {
                ea[both] = (double)evals[k][a];
                eb[both] = (double)evals[k][b];
                ratio[both] = ea[both] / eb[both];
                both++;
            }
        if (both == 0)
            continue;
        printf("\n%s against %s on the %d problems both solve: median evaluations %g against %g, median ratio %.2f",
               pairs[q][0], pairs[q][1], both, median(ea, both), median(eb, both), median(ratio, both));
    }
    printf("\n");
    int any_nan = 0;
    for (int s = 0; s < NSOLVERS; s++)
        if (use[s] && solvers[s].run == run_descent && nan_seen[s]) {
            printf("%s: a non-finite f was evaluated on %d problems\n", solvers[s].name, nan_seen[s]);
            any_nan = 1;
        }
    (void)any_nan;
    return 0;
}
