/* descent plot-paths: the paths several optimizers take on a 2-D built-in
 * objective, drawn over its contour map (SVG). */
#include "cli.h"
#include "paths.h"
#include "svg.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_RUNS = 8, GRID = 201, SEARCH = 201, MAX_CANDIDATES = 24, MAX_MINIMA = 16 };

static void plot_paths_usage(FILE *out)
{
    fprintf(out,
            "usage: descent plot-paths --fn SPEC --opt SPEC [--opt SPEC ...] --out FILE.svg\n"
            "                          [--x0 a,b] [--steps N] [--sched SPEC]\n\n"
            "  --fn SPEC     a 2-D objective: rosenbrock(), beale(), booth(), himmelblau(), rastrigin(),\n"
            "                ackley(), styblinski_tang(), sphere(), quadratic(cond=10)\n"
            "  --opt SPEC    a method, as for descent minimize; up to %d, each drawn in its own colour\n"
            "  --x0 a,b      the start (default: the objective's standard start)\n"
            "  --steps N     iterations of each method (default 200; every method runs them all\n"
            "                unless f becomes non-finite or its line search cannot descend)\n"
            "  --sched SPEC  a learning-rate schedule for every method, stepped each iteration\n"
            "  --out FILE    the SVG to write\n\n"
            "The map shows iso-lines of f at log-spaced heights above its minimum on the grid\n"
            "(so narrow valleys show), the start (ring), the global minima (stars) and each\n"
            "path ending in a dot. The region covers the start, the minima and the paths; a path\n"
            "that runs far away is cut at the edge. The same command writes the same bytes.\n",
            MAX_RUNS);
}

/* ---- running the methods --------------------------------------------------------- */

static int record(void *ctx, const descent_minimize_progress *p)
{
    paths_trace *tr = ctx;
    if (tr->n == tr->cap) {
        size_t ncap = tr->cap ? 2 * tr->cap : 256;
        double *a[4] = {tr->f, tr->lr, tr->x0, tr->x1};
        for (int k = 0; k < 4; k++) {
            double *na = realloc(a[k], sizeof *na * ncap);
            if (!na)
                return 1; /* cancels the run; reported as out of memory */
            a[k] = na;
        }
        tr->f = a[0], tr->lr = a[1], tr->x0 = a[2], tr->x1 = a[3];
        tr->cap = ncap;
    }
    tr->f[tr->n] = p->f;
    tr->lr[tr->n] = p->lr;
    tr->x0[tr->n] = p->n > 0 ? p->x[0] : NAN;
    tr->x1[tr->n] = p->n > 1 ? p->x[1] : NAN;
    tr->n++;
    return 0;
}

void paths_trace_free(paths_trace *tr)
{
    free(tr->f);
    free(tr->lr);
    free(tr->x0);
    free(tr->x1);
    memset(tr, 0, sizeof *tr);
}

/* The objective, noting whether the method ever asked for a gradient: a
 * derivative-free method (CMA-ES, Nelder-Mead, ...) has no gradient norm
 * to show. */
typedef struct graded {
    descent_objective *obj;
    int asked;
} graded;

static double eval_noting_grad(void *ctx, const double *x, double *grad, size_t n)
{
    graded *g = ctx;
    g->asked |= grad != NULL;
    return descent_objective_eval(g->obj, x, grad, n);
}

int paths_run(const char *cmd, descent_objective *obj, const char *spec, const char *sched, const double *x,
              long steps, paths_trace *tr)
{
    memset(tr, 0, sizeof *tr);
    size_t n = descent_objective_dim(obj);
    descent_error err;
    descent_minimizer *m = NULL;
    if (descent_minimizer_create(&m, spec, n, &err) < 0)
        return cli_usage_error(cmd, "--opt '%s': %s", spec, err.message);
    if (sched && descent_minimizer_set_schedule(m, sched) < 0) {
        int rc = cli_usage_error(cmd, "--sched with '%s': %s", spec, descent_minimizer_errmsg(m));
        descent_minimizer_destroy(m);
        return rc;
    }
    double *xx = malloc(n * sizeof *xx);
    if (!xx) {
        descent_minimizer_destroy(m);
        fprintf(stderr, "descent %s: out of memory\n", cmd);
        return CLI_FAIL;
    }
    memcpy(xx, x, n * sizeof *xx);
    descent_minimize_settings s;
    descent_minimize_default_settings(&s);
    s.max_iter = steps;
    s.gtol = 0;
    s.progress = record;
    s.progress_ctx = tr;
    descent_minimize_result r;
    graded g = {obj, 0};
    int st = descent_minimizer_run(m, eval_noting_grad, &g, xx, &s, &r);
    descent_minimizer_destroy(m);
    free(xx);
    tr->reason = st;
    tr->grad_norm = g.asked ? r.grad_norm : NAN;
    tr->evaluations = r.evaluations;
    if (st == DESCENT_STOP_CANCELLED || st == DESCENT_ERR_NOMEM) {
        fprintf(stderr, "descent %s: out of memory\n", cmd);
        return CLI_FAIL;
    }
    /* The rounding limit is a positive stop reason (the path ends short of
     * --steps at its best point); a failure is named by its status. */
    if (st < 0 || st == DESCENT_STOP_ROUNDING)
        fprintf(stderr, "descent %s: note: %s stopped after %zu iterations: %s%s%s\n", cmd, spec,
                tr->n ? tr->n - 1 : 0, st == DESCENT_STOP_ROUNDING ? "no step decreases f any more (" : "",
                descent_stop_name(st), st == DESCENT_STOP_ROUNDING ? ")" : "");
    return 0;
}

/* ---- the picture ----------------------------------------------------------------- */

typedef struct box {
    double xlo, xhi, ylo, yhi;
} box;

static void box_add(box *b, double x, double y)
{
    b->xlo = x < b->xlo ? x : b->xlo;
    b->xhi = x > b->xhi ? x : b->xhi;
    b->ylo = y < b->ylo ? y : b->ylo;
    b->yhi = y > b->yhi ? y : b->yhi;
}

static int in_box(const box *b, double x, double y)
{
    return x >= b->xlo && x <= b->xhi && y >= b->ylo && y <= b->yhi;
}

static double eval2(descent_objective *obj, double x, double y)
{
    double v[2] = {x, y};
    return descent_objective_eval(obj, v, NULL, 2);
}

typedef struct candidate {
    double f, x, y;
} candidate;

static int by_f(const void *a, const void *b)
{
    const candidate *p = a, *q = b;
    if (p->f != q->f)
        return p->f < q->f ? -1 : 1;
    if (p->y != q->y)
        return p->y < q->y ? -1 : 1;
    return p->x < q->x ? -1 : p->x > q->x;
}

/* The global minima inside b: the one the objective reports, and every
 * local minimum of a grid over b that L-BFGS polishes down to the same
 * f* (Himmelblau's four, for instance). Returns how many went into mx, my. */
static int find_minima(descent_objective *obj, const box *b, double *mx, double *my)
{
    double fstar, xs[2];
    descent_objective_minimum(obj, &fstar, xs);
    int nmin = 0;
    mx[nmin] = xs[0];
    my[nmin++] = xs[1];
    double *g = malloc(sizeof *g * SEARCH * SEARCH);
    candidate *cand = malloc(sizeof *cand * SEARCH * SEARCH);
    if (!g || !cand) {
        free(g);
        free(cand);
        return nmin;
    }
    double dx = (b->xhi - b->xlo) / (SEARCH - 1), dy = (b->yhi - b->ylo) / (SEARCH - 1);
    for (int j = 0; j < SEARCH; j++)
        for (int i = 0; i < SEARCH; i++)
            g[j * SEARCH + i] = eval2(obj, b->xlo + i * dx, b->ylo + j * dy);
    int nc = 0;
    for (int j = 1; j + 1 < SEARCH; j++)
        for (int i = 1; i + 1 < SEARCH; i++) {
            double v = g[j * SEARCH + i];
            int is_min = isfinite(v);
            for (int dj = -1; dj <= 1 && is_min; dj++)
                for (int di = -1; di <= 1 && is_min; di++)
                    if ((di || dj) && !(v <= g[(j + dj) * SEARCH + i + di]))
                        is_min = 0;
            if (is_min)
                cand[nc++] = (candidate){v, b->xlo + i * dx, b->ylo + j * dy};
        }
    qsort(cand, (size_t)nc, sizeof *cand, by_f);
    double tol = 1e-6 * (1 + fabs(fstar)), near = 1e-3 * (b->xhi - b->xlo + b->yhi - b->ylo);
    descent_minimize_settings s;
    descent_minimize_default_settings(&s);
    s.max_iter = 200;
    s.gtol = 1e-10;
    for (int k = 0; k < nc && k < MAX_CANDIDATES && nmin < MAX_MINIMA; k++) {
        double x[2] = {cand[k].x, cand[k].y};
        descent_minimize_result r;
        descent_error err;
        descent_minimize("LBFGS()", NULL, descent_objective_eval, obj, x, 2, &s, &r, &err);
        double f = eval2(obj, x[0], x[1]);
        if (!(fabs(f - fstar) <= tol) || !in_box(b, x[0], x[1]))
            continue;
        int dup = 0;
        for (int q = 0; q < nmin && !dup; q++)
            dup = fabs(mx[q] - x[0]) + fabs(my[q] - x[1]) < near;
        if (!dup) {
            mx[nmin] = x[0];
            my[nmin++] = x[1];
        }
    }
    free(g);
    free(cand);
    return nmin;
}

/* Round a coordinate for printing in the note. */
static void fmt_point(char *buf, size_t cap, double x, double y) { snprintf(buf, cap, "(%.4g, %.4g)", x, y); }

int paths_picture(descent_objective *obj, const double *x, const paths_trace *tr, const char *const *names,
                  int nruns, const char *out)
{
    /* core: the start and the reported minimum; limit: the core grown by
     * 1.5 times its size (at least 2) on every side, the farthest a path may pull
     * the region */
    double fstar, xs[2];
    descent_objective_minimum(obj, &fstar, xs);
    box core = {x[0], x[0], x[1], x[1]};
    box_add(&core, xs[0], xs[1]);
    double s = fmax(fmax(core.xhi - core.xlo, core.yhi - core.ylo), 2);
    s *= 1.5;
    box limit = {core.xlo - s, core.xhi + s, core.ylo - s, core.yhi + s};
    double mx[MAX_MINIMA], my[MAX_MINIMA];
    int nmin = find_minima(obj, &limit, mx, my);
    box r = core;
    for (int k = 0; k < nmin; k++)
        box_add(&r, mx[k], my[k]);
    for (int i = 0; i < nruns; i++)
        for (size_t k = 0; k < tr[i].n; k++)
            if (in_box(&limit, tr[i].x0[k], tr[i].x1[k]))
                box_add(&r, tr[i].x0[k], tr[i].x1[k]);
    /* pad by 8%, and keep the sides within a factor 2 of each other */
    double w = r.xhi - r.xlo, h = r.yhi - r.ylo, big = fmax(fmax(w, h), 0.5);
    w = fmax(w, big / 2);
    h = fmax(h, big / 2);
    double cx = (r.xlo + r.xhi) / 2, cy = (r.ylo + r.yhi) / 2;
    box reg = {cx - 0.58 * w, cx + 0.58 * w, cy - 0.58 * h, cy + 0.58 * h};

    char title[256], note[512], start[64], fs[64];
    snprintf(title, sizeof title, "%s: optimizer paths", descent_objective_name(obj));
    fmt_point(start, sizeof start, x[0], x[1]);
    snprintf(fs, sizeof fs, "%.4g", fstar);
    size_t most = 0;
    int same = 1;
    for (int i = 0; i < nruns; i++) {
        most = tr[i].n > most ? tr[i].n : most;
        same = same && tr[i].n == tr[0].n;
    }
    snprintf(note, sizeof note, "%s%zu iterations each from %s; log-spaced iso-lines of f - min f; "
             "global minimum f* = %s", same ? "" : "up to ", most ? most - 1 : 0, start, fs);
    svg_contour *c = svg_contour_begin(title, "x0", "x1", reg.xlo, reg.xhi, reg.ylo, reg.yhi);
    double *g = malloc(sizeof *g * GRID * GRID);
    int ok = c && g && svg_contour_set_note(c, note) == 0;
    if (ok) {
        for (int j = 0; j < GRID; j++)
            for (int i = 0; i < GRID; i++)
                g[j * GRID + i] = eval2(obj, reg.xlo + (reg.xhi - reg.xlo) * i / (GRID - 1),
                                        reg.ylo + (reg.yhi - reg.ylo) * j / (GRID - 1));
        ok = svg_contour_set_grid(c, GRID, GRID, g) == 0;
    }
    for (int i = 0; i < nruns && ok; i++)
        ok = svg_contour_add_path(c, names[i], tr[i].n, tr[i].x0, tr[i].x1, i) == 0;
    for (int k = 0; k < nmin && ok; k++)
        ok = svg_contour_add_marker(c, mx[k], my[k], SVG_MARK_MINIMUM) == 0;
    if (ok)
        ok = svg_contour_add_marker(c, x[0], x[1], SVG_MARK_START) == 0;
    free(g);
    if (!ok) {
        svg_contour_free(c);
        errno = ENOMEM;
        return -1;
    }
    return svg_contour_end(c, out);
}

/* ---- the command ------------------------------------------------------------------- */

static int plot_paths_run(int argc, char **argv)
{
    const char *cmd = "plot-paths", *fn = NULL, *x0 = NULL, *sched = NULL, *out = NULL, *opts[MAX_RUNS];
    int nopts = 0;
    long steps = 200;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v;
        if (!(v = cli_flag_value(cmd, argc, argv, &i)))
            return CLI_USAGE;
        if (strcmp(a, "--fn") == 0)
            fn = v;
        else if (strcmp(a, "--x0") == 0)
            x0 = v;
        else if (strcmp(a, "--sched") == 0)
            sched = v;
        else if (strcmp(a, "--out") == 0)
            out = v;
        else if (strcmp(a, "--opt") == 0) {
            if (nopts == MAX_RUNS)
                return cli_usage_error(cmd, "at most %d --opt", MAX_RUNS);
            opts[nopts++] = v;
        } else if (strcmp(a, "--steps") == 0) {
            if (cli_parse_long(cmd, a, v, 1, &steps))
                return CLI_USAGE;
            if (steps > 1000000)
                return cli_usage_error(cmd, "--steps must be at most 1000000, got %s", v);
        } else
            return cli_usage_error(cmd, "unknown option '%s' (see descent plot-paths --help)", a);
    }
    if (!fn || !nopts || !out)
        return cli_usage_error(cmd, "--fn, --opt and --out are required (see descent plot-paths --help)");
    descent_error err;
    descent_objective *obj;
    if (descent_objective_create(&obj, fn, &err) < 0)
        return cli_usage_error(cmd, "--fn: %s", err.message);
    if (descent_objective_dim(obj) != 2) {
        int rc = cli_usage_error(cmd, "--fn: %s has %zu variables; plot-paths draws 2-D objectives (dim=2)",
                                 descent_objective_name(obj), descent_objective_dim(obj));
        descent_objective_destroy(obj);
        return rc;
    }
    double x[2];
    descent_objective_start(obj, x);
    int rc = x0 ? cli_parse_x0(cmd, x0, x, 2) : CLI_OK;
    paths_trace tr[MAX_RUNS];
    memset(tr, 0, sizeof tr);
    for (int i = 0; i < nopts && rc == CLI_OK; i++)
        rc = paths_run(cmd, obj, opts[i], sched, x, steps, &tr[i]);
    if (rc == CLI_OK) {
        if (paths_picture(obj, x, tr, opts, nopts, out) < 0) {
            fprintf(stderr, "descent %s: cannot write %s: %s\n", cmd, out, strerror(errno));
            rc = CLI_FAIL;
        } else {
            for (int i = 0; i < nopts; i++) {
                size_t k = tr[i].n ? tr[i].n - 1 : 0;
                printf("%-32s %s  iterations %zu  f %.6g at (%.6g, %.6g)\n", opts[i], svg_palette_colour(i), k,
                       tr[i].n ? tr[i].f[k] : NAN, tr[i].n ? tr[i].x0[k] : NAN, tr[i].n ? tr[i].x1[k] : NAN);
            }
            printf("wrote %s\n", out);
        }
    }
    for (int i = 0; i < nopts; i++)
        paths_trace_free(&tr[i]);
    descent_objective_destroy(obj);
    return rc;
}

const cli_command cli_plot_paths = {"plot-paths", "draw optimizers' paths over a 2-D objective's contours (SVG)",
                                    plot_paths_run, plot_paths_usage};
