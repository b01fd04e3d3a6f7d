/* descent compare: run several optimizers on the same problem and write an
 * HTML report with SVG charts: training a model on a CSV data set (same
 * seed, so the same split, initialization and batches for each), or
 * minimizing a built-in objective from the same start. */
#include "cli.h"
#include "paths.h"
#include "svg.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

enum { MAX_RUNS = 8, MAX_POINTS = 1500 };

static void compare_usage(FILE *out)
{
    fprintf(out,
            "usage: descent compare --data FILE.csv --target COLUMN --model SPEC --opt SPEC [--opt SPEC ...]\n"
            "                       --epochs N [--sched SPEC] [--batch-size B|full] [--seed S] [--val F]\n"
            "                       [--target-loss X] --out DIR\n"
            "       descent compare --fn SPEC --opt SPEC [--opt SPEC ...] [--x0 a,b,...] [--steps N]\n"
            "                       [--sched SPEC] [--f-target X] --out DIR\n\n"
            "Writes DIR/index.html (open it in a browser) with its charts as SVG files beside it.\n"
            "One --sched applies to every optimizer; as many --sched as --opt pair up in order\n"
            "('none': no schedule for that one).\n\n"
            "Training (the options of descent train): every optimizer (up to %d) trains the same model from\n"
            "the same initialization on the same batches (one --seed). The report shows training (solid)\n"
            "and validation (dashed) loss against epoch, the learning rate against step, and a table of\n"
            "final losses, accuracy, time and the first epoch whose validation loss (training loss with\n"
            "--val 0) is at most the target loss: --target-loss X, by default 1.1 x the best final one.\n\n"
            "Objectives (the options of descent minimize): every method runs --steps iterations\n"
            "(default 200) from the same start; the report shows f - f* against iteration, the paths\n"
            "for a 2-D objective, and a table of final f, max |grad f|, evaluations and the first\n"
            "iteration with f <= the target: --f-target X, by default f* + 1.1 x (best final f - f*).\n\n"
            "Every file is the same byte for byte when the command is repeated, except the time\n"
            "cells (<td class=\"time\">) of the table in index.html.\n",
            MAX_RUNS);
}

typedef struct options {
    const char *data, *target, *model, *fn, *x0, *out;
    const char *opts[MAX_RUNS], *scheds[MAX_RUNS];
    int nopts, nscheds;
    long epochs, steps;
    descent_train_config cfg;
    double target_loss, f_target;
} options;

/* The schedule of run i, or NULL. */
static const char *sched_of(const options *o, int i)
{
    const char *sc = o->nscheds == 0 ? NULL : o->nscheds == 1 ? o->scheds[0] : o->scheds[i];
    return sc && strcmp(sc, "none") != 0 ? sc : NULL;
}

static int any_sched(const options *o)
{
    for (int i = 0; i < o->nopts; i++)
        if (sched_of(o, i))
            return 1;
    return 0;
}

/* ---- output helpers ------------------------------------------------------------- */

static void put_html(FILE *f, const char *s) { svg_put_escaped(f, s, strlen(s), 1); }

static void put_num(FILE *f, const char *fmt, double v)
{
    if (isfinite(v))
        fprintf(f, fmt, v);
    else if (isnan(v))
        fputs("&#8212;", f);
    else
        fputs(v > 0 ? "inf" : "-inf", f);
}

static void join(char *buf, size_t cap, const char *dir, const char *name)
{
    snprintf(buf, cap, "%s/%s", dir, name);
}

/* Add (x, y) to a chart, at most MAX_POINTS of them evenly spread (the last
 * always in). */
static int add_thinned(svg_chart *c, const char *name, size_t n, const double *x, const double *y, int colour,
                       int dashed)
{
    size_t stride = n > MAX_POINTS ? (n + MAX_POINTS - 1) / MAX_POINTS : 1, m = 0;
    double *tx = malloc(sizeof *tx * (n / stride + 2)), *ty = malloc(sizeof *ty * (n / stride + 2));
    if (!tx || !ty) {
        free(tx);
        free(ty);
        return -1;
    }
    for (size_t k = 0; k < n; k += stride, m++)
        tx[m] = x[k], ty[m] = y[k];
    if (n && (n - 1) % stride) {
        tx[m] = x[n - 1];
        ty[m++] = y[n - 1];
    }
    int rc = dashed ? svg_chart_add_series_dashed(c, name, m, tx, ty, colour)
                    : svg_chart_add_series(c, name, m, tx, ty, colour);
    free(tx);
    free(ty);
    return rc;
}

/* A log axis helps when the positive values span more than a decade. */
static int wants_log(const double *lo_hi)
{
    return lo_hi[0] > 0 && isfinite(lo_hi[0]) && lo_hi[1] / lo_hi[0] > 10;
}

static void span(double *lo_hi, size_t n, const double *v)
{
    for (size_t k = 0; k < n; k++)
        if (isfinite(v[k]) && v[k] > 0) {
            lo_hi[0] = v[k] < lo_hi[0] ? v[k] : lo_hi[0];
            lo_hi[1] = v[k] > lo_hi[1] ? v[k] : lo_hi[1];
        }
}

static FILE *open_html(const char *dir, const char *title, char *path, size_t cap)
{
    join(path, cap, dir, "index.html");
    FILE *f = fopen(path, "w");
    if (!f)
        return NULL;
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>", f);
    put_html(f, title);
    fputs("</title>\n<style>\n"
          "body { font-family: sans-serif; margin: 16px 24px; color: #222222; }\n"
          "h1 { font-size: 20px; margin: 0 0 4px 0; }\n"
          "h2 { font-size: 16px; margin: 20px 0 6px 0; }\n"
          "p { margin: 4px 0; max-width: 900px; }\n"
          "table { border-collapse: collapse; margin: 8px 0; }\n"
          "th, td { border: 1px solid #bbbbbb; padding: 3px 8px; text-align: right; }\n"
          "th { background: #f0f0f0; }\n"
          "td.spec { text-align: left; font-family: monospace; }\n"
          ".swatch { display: inline-block; width: 14px; height: 14px; vertical-align: middle; }\n"
          "</style>\n</head>\n<body>\n<h1>", f);
    put_html(f, title);
    fputs("</h1>\n", f);
    return f;
}

static int close_file(FILE *f) { return (ferror(f) | fclose(f)) ? -1 : 0; }

static void swatch(FILE *f, int colour)
{
    fprintf(f, "<span class=\"swatch\" style=\"background: %s\"></span>", svg_palette_colour(colour));
}

/* The first cells of a results row: colour swatch, spec, and schedule when
 * any run has one. */
static void row_head(FILE *f, const options *o, int i, int show_sched)
{
    fputs("<tr><td>", f);
    swatch(f, i);
    fputs("</td><td class=\"spec\">", f);
    put_html(f, o->opts[i]);
    if (show_sched) {
        fputs("</td><td class=\"spec\">", f);
        put_html(f, sched_of(o, i) ? sched_of(o, i) : "none");
    }
}

static void img(FILE *f, const char *file, const char *alt)
{
    fprintf(f, "<p><img src=\"%s\" alt=\"", file);
    put_html(f, alt);
    fputs("\"></p>\n", f);
}

static int make_dir(const char *cmd, const char *dir)
{
#ifdef _WIN32
    int made = mkdir(dir);
#else
    int made = mkdir(dir, 0777);
#endif
    if (made == 0 || errno == EEXIST) {
        struct stat st;
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
            return 0;
    }
    fprintf(stderr, "descent %s: --out: cannot create directory %s: %s\n", cmd, dir, strerror(errno));
    return -1;
}

/* ---- training ---------------------------------------------------------------------- */

typedef struct train_run {
    double *train, *val, *acc, *epoch; /* per epoch */
    double *lr;                        /* lr used by step k+1, k = 0 .. nlr-1 */
    size_t nlr, cap_lr;
    double seconds;
    int oom;
} train_run;

static int record_lr(void *ctx, const descent_train_progress *p)
{
    train_run *r = ctx;
    if (r->nlr == r->cap_lr) {
        size_t ncap = r->cap_lr ? 2 * r->cap_lr : 1024;
        double *n = realloc(r->lr, sizeof *n * ncap);
        if (!n) {
            r->oom = 1;
            return 1;
        }
        r->lr = n;
        r->cap_lr = ncap;
    }
    r->lr[r->nlr++] = p->lr;
    return 0;
}

static void train_run_free(train_run *r)
{
    free(r->train);
    free(r->val);
    free(r->acc);
    free(r->epoch);
    free(r->lr);
}

static int first_reach(const double *v, long n, double target)
{
    for (long k = 0; k < n; k++)
        if (v[k] <= target)
            return (int)k + 1;
    return 0;
}

static int write_training_report(const options *o, train_run *runs, size_t classes)
{
    const char *cmd = "compare";
    char path[4096];
    long E = o->epochs;
    int nv = o->cfg.val_fraction > 0;
    /* loss chart */
    double lh[2] = {INFINITY, 0};
    for (int i = 0; i < o->nopts; i++) {
        span(lh, (size_t)E, runs[i].train);
        span(lh, (size_t)E, runs[i].val);
    }
    int logy = wants_log(lh);
    char title[512];
    snprintf(title, sizeof title, "%s loss%s", o->model, logy ? " (log scale)" : "");
    svg_chart *c = svg_chart_begin(title, "epoch", nv ? "loss: training (solid), validation (dashed)" : "training loss",
                                   logy);
    svg_chart_legend_below(c);
    svg_chart_integer_x(c);
    if (!logy) {
        svg_chart_include_y(c, 0);
        svg_chart_include_y(c, 1.05 * lh[1]);
    }
    int ok = c != NULL;
    char name[600];
    for (int i = 0; i < o->nopts && ok; i++) {
        snprintf(name, sizeof name, "%s train", o->opts[i]);
        ok = add_thinned(c, name, (size_t)E, runs[i].epoch, runs[i].train, i, 0) == 0;
        if (ok && nv) {
            snprintf(name, sizeof name, "%s val", o->opts[i]);
            ok = add_thinned(c, name, (size_t)E, runs[i].epoch, runs[i].val, i, 1) == 0;
        }
    }
    join(path, sizeof path, o->out, "loss.svg");
    if (!ok || svg_chart_end(c, path) < 0) {
        if (!ok)
            svg_chart_free(c);
        fprintf(stderr, "descent %s: cannot write %s: %s\n", cmd, path, ok ? strerror(errno) : "out of memory");
        return CLI_FAIL;
    }
    /* lr chart: log when the optimizers' peak rates differ by more than 10x */
    double peaks[2] = {INFINITY, 0};
    for (int i = 0; i < o->nopts; i++) {
        double pk[2] = {INFINITY, 0};
        span(pk, runs[i].nlr, runs[i].lr);
        if (pk[1] > 0)
            span(peaks, 1, &pk[1]);
    }
    int loglr = wants_log(peaks);
    c = svg_chart_begin(loglr ? "learning rate against step (log scale)" : "learning rate against step",
                        "optimizer step", "learning rate", loglr);
    svg_chart_legend_below(c);
    svg_chart_integer_x(c);
    if (!loglr) {
        svg_chart_include_y(c, 0);
        svg_chart_include_y(c, 1.08 * peaks[1]);
    }
    ok = c != NULL;
    for (int i = 0; i < o->nopts && ok; i++) {
        size_t n = runs[i].nlr;
        double *x = malloc(sizeof *x * (n ? n : 1));
        ok = x != NULL;
        for (size_t k = 0; k < n && ok; k++)
            x[k] = (double)(k + 1);
        ok = ok && add_thinned(c, o->opts[i], n, x, runs[i].lr, i, 0) == 0;
        free(x);
    }
    join(path, sizeof path, o->out, "lr.svg");
    if (!ok || svg_chart_end(c, path) < 0) {
        if (!ok)
            svg_chart_free(c);
        fprintf(stderr, "descent %s: cannot write %s: %s\n", cmd, path, ok ? strerror(errno) : "out of memory");
        return CLI_FAIL;
    }
    /* the target: the best final (validation) loss x 1.1 unless given */
    double target = o->target_loss, best = INFINITY;
    for (int i = 0; i < o->nopts; i++) {
        double last = (nv ? runs[i].val : runs[i].train)[E - 1];
        best = last < best ? last : best;
    }
    int default_target = isnan(target);
    if (default_target)
        target = best * 1.1;
    /* results.csv: every number of the report but the times */
    join(path, sizeof path, o->out, "results.csv");
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "descent %s: cannot write %s: %s\n", cmd, path, strerror(errno));
        return CLI_FAIL;
    }
    fputs("optimizer,epoch,train_loss,val_loss,val_accuracy\n", f);
    for (int i = 0; i < o->nopts; i++)
        for (long e = 0; e < E; e++) {
            fputc('"', f);
            for (const char *s = o->opts[i]; *s; s++) {
                if (*s == '"')
                    fputc('"', f);
                fputc(*s, f);
            }
            fprintf(f, "\",%ld,%.9g,%.9g,%.9g\n", e + 1, runs[i].train[e], runs[i].val[e], runs[i].acc[e]);
        }
    if (close_file(f) < 0) {
        fprintf(stderr, "descent %s: error writing %s\n", cmd, path);
        return CLI_FAIL;
    }
    /* index.html */
    snprintf(title, sizeof title, "descent compare: %s on %s", o->model, o->data);
    f = open_html(o->out, title, path, sizeof path);
    if (!f) {
        fprintf(stderr, "descent %s: cannot write %s: %s\n", cmd, path, strerror(errno));
        return CLI_FAIL;
    }
    fprintf(f, "<p>Every optimizer trains the same model from the same initialization on the same batches "
               "(seed %llu): target column <code>", (unsigned long long)o->cfg.seed);
    put_html(f, o->target);
    fprintf(f, "</code>, %ld epochs, ", E);
    if (o->cfg.batch_size)
        fprintf(f, "batches of %zu", o->cfg.batch_size);
    else
        fputs("full batches", f);
    fprintf(f, ", %.3g of the rows held out for validation", o->cfg.val_fraction);
    fputs(".</p>\n", f);
    img(f, "loss.svg", "loss against epoch");
    int show_sched = any_sched(o);
    fputs("<h2>Results</h2>\n<table>\n<tr><th></th><th>optimizer</th>", f);
    if (show_sched)
        fputs("<th>schedule</th>", f);
    fputs("<th>final train loss</th>", f);
    if (nv) {
        fputs("<th>final val loss</th>", f);
        if (classes)
            fputs("<th>final val accuracy</th>", f);
        fputs("<th>best val loss (epoch)</th>", f);
    }
    fputs("<th>epochs to target</th><th>time (s)</th></tr>\n", f);
    for (int i = 0; i < o->nopts; i++) {
        row_head(f, o, i, show_sched);
        fputs("</td><td>", f);
        put_num(f, "%.4g", runs[i].train[E - 1]);
        if (nv) {
            fputs("</td><td>", f);
            put_num(f, "%.4g", runs[i].val[E - 1]);
            if (classes) {
                fputs("</td><td>", f);
                put_num(f, "%.4f", runs[i].acc[E - 1]);
            }
            long be = 0;
            for (long e = 1; e < E; e++)
                if (runs[i].val[e] < runs[i].val[be])
                    be = e;
            fputs("</td><td>", f);
            put_num(f, "%.4g", runs[i].val[be]);
            fprintf(f, " (%ld)", be + 1);
        }
        int reach = first_reach(nv ? runs[i].val : runs[i].train, E, target);
        fputs("</td><td>", f);
        if (reach)
            fprintf(f, "%d", reach);
        else
            fputs("not reached", f);
        fprintf(f, "</td><td class=\"time\">%.3f</td></tr>\n", runs[i].seconds);
    }
    fputs("</table>\n<p>Target loss: ", f);
    put_num(f, "%.4g", target);
    if (default_target)
        fprintf(f, " (1.1 &#215; the best final %s loss; set it with --target-loss)", nv ? "validation" : "training");
    fprintf(f, ". Epochs to target: the first epoch whose %s loss is at most the target. Times are wall time of "
               "training and validation on this machine; every other figure is the same on each run.</p>\n",
            nv ? "validation" : "training");
    fputs("<h2>Learning rate</h2>\n", f);
    img(f, "lr.svg", "learning rate against step");
    fputs("<p>The learning rate each optimizer step used. The numbers behind the loss chart are in "
          "<a href=\"results.csv\">results.csv</a>.</p>\n</body>\n</html>\n", f);
    if (close_file(f) < 0) {
        fprintf(stderr, "descent %s: error writing %s\n", cmd, path);
        return CLI_FAIL;
    }
    return CLI_OK;
}

static int compare_training(const options *o)
{
    const char *cmd = "compare";
    train_run runs[MAX_RUNS];
    memset(runs, 0, sizeof runs);
    int rc = CLI_OK;
    size_t classes = 0;
    /* every optimizer and schedule spec is checked before any training */
    /* Every run is set up before any trains: a bad spec, or a schedule too
     * short for the run, stops the command before the first step. A
     * schedule's omitted length is fitted to the run (config.epochs). */
    descent_trainer *trainers[MAX_RUNS] = {NULL};
    for (int i = 0; i < o->nopts && rc == CLI_OK; i++) {
        descent_train_config c = o->cfg;
        c.optimizer = o->opts[i];
        c.schedule = sched_of(o, i);
        c.epochs = (int)o->epochs;
        descent_error err;
        if (descent_trainer_create(&trainers[i], &c, &err) < 0)
            rc = cli_usage_error(cmd, "with --opt '%s'%s%s%s: %s", o->opts[i], c.schedule ? " --sched '" : "",
                                 c.schedule ? c.schedule : "", c.schedule ? "'" : "", err.message);
    }
    for (int i = 0; i < o->nopts && rc == CLI_OK; i++) {
        descent_trainer *t = trainers[i];
        trainers[i] = NULL;
        descent_trainer_info(t, NULL, NULL, NULL, &classes, NULL);
        train_run *r = &runs[i];
        size_t E = (size_t)o->epochs;
        r->train = malloc(sizeof(double) * E);
        r->val = malloc(sizeof(double) * E);
        r->acc = malloc(sizeof(double) * E);
        r->epoch = malloc(sizeof(double) * E);
        if (!r->train || !r->val || !r->acc || !r->epoch || record_lr(r, &(descent_train_progress){0}) != 0) {
            fprintf(stderr, "descent %s: out of memory\n", cmd);
            rc = CLI_FAIL;
        } else {
            /* record_lr stored a placeholder; the first step uses the initial rate */
            r->lr[0] = descent_get_lr(descent_trainer_optimizer(t), 0);
        }
        printf("%s:", o->opts[i]);
        fflush(stdout);
        for (size_t e = 0; e < E && rc == CLI_OK; e++) {
            descent_epoch_result er;
            int st = descent_trainer_epoch(t, record_lr, r, &er);
            if (st < 0 || r->oom) {
                fprintf(stderr, "\ndescent %s: %s: %s\n", cmd, o->opts[i],
                        r->oom ? "out of memory" : descent_trainer_errmsg(t));
                rc = CLI_FAIL;
                break;
            }
            r->train[e] = er.train_loss;
            r->val[e] = er.val_loss;
            r->acc[e] = er.val_accuracy;
            r->epoch[e] = (double)(e + 1);
            r->seconds += er.seconds;
        }
        if (rc == CLI_OK) {
            r->nlr--; /* the rate after the last step was never used */
            printf(" train_loss %.6g val_loss %.6g", r->train[E - 1], r->val[E - 1]);
            if (!isnan(r->acc[E - 1]))
                printf(" val_accuracy %.4f", r->acc[E - 1]);
            printf(" %.3fs\n", r->seconds);
        }
        descent_trainer_destroy(t);
    }
    for (int i = 0; i < o->nopts; i++)
        descent_trainer_destroy(trainers[i]);
    if (rc == CLI_OK && make_dir(cmd, o->out) < 0)
        rc = CLI_FAIL;
    if (rc == CLI_OK)
        rc = write_training_report(o, runs, classes);
    if (rc == CLI_OK)
        printf("wrote %s/index.html\n", o->out);
    for (int i = 0; i < o->nopts; i++)
        train_run_free(&runs[i]);
    return rc;
}

/* ---- objectives ----------------------------------------------------------------------- */

static int write_fn_report(const options *o, descent_objective *obj, const double *x, paths_trace *tr)
{
    const char *cmd = "compare";
    char path[4096], title[512];
    double fstar;
    descent_objective_minimum(obj, &fstar, NULL);
    int gap = isfinite(fstar);
    /* f - f* on a log axis (f itself, linear, if f* were unknown) */
    svg_chart *c = svg_chart_begin(gap ? "f - f* against iteration (log scale)" : "f against iteration", "iteration",
                                   gap ? "f - f*" : "f", gap);
    svg_chart_legend_below(c);
    svg_chart_integer_x(c);
    int ok = c != NULL, any_lr = 0;
    for (int i = 0; i < o->nopts && ok; i++) {
        double *it = malloc(sizeof *it * (tr[i].n ? tr[i].n : 1)), *y = malloc(sizeof *y * (tr[i].n ? tr[i].n : 1));
        ok = it && y;
        for (size_t k = 0; k < tr[i].n && ok; k++) {
            it[k] = (double)k;
            y[k] = gap ? tr[i].f[k] - fstar : tr[i].f[k];
            any_lr |= isfinite(tr[i].lr[k]);
        }
        ok = ok && add_thinned(c, o->opts[i], tr[i].n, it, y, i, 0) == 0;
        free(it);
        free(y);
    }
    join(path, sizeof path, o->out, "f.svg");
    if (!ok || svg_chart_end(c, path) < 0) {
        if (!ok)
            svg_chart_free(c);
        fprintf(stderr, "descent %s: cannot write %s: %s\n", cmd, path, ok ? strerror(errno) : "out of memory");
        return CLI_FAIL;
    }
    if (any_lr) {
        c = svg_chart_begin("learning rate against iteration", "iteration", "learning rate", 0);
        svg_chart_legend_below(c);
        svg_chart_integer_x(c);
        svg_chart_include_y(c, 0);
        double top = 0;
        for (int i = 0; i < o->nopts; i++)
            for (size_t k = 0; k < tr[i].n; k++)
                top = tr[i].lr[k] > top ? tr[i].lr[k] : top;
        svg_chart_include_y(c, 1.08 * top);
        ok = c != NULL;
        for (int i = 0; i < o->nopts && ok; i++) {
            double *it = malloc(sizeof *it * (tr[i].n ? tr[i].n : 1));
            ok = it != NULL;
            for (size_t k = 0; k < tr[i].n && ok; k++)
                it[k] = (double)k;
            ok = ok && add_thinned(c, o->opts[i], tr[i].n, it, tr[i].lr, i, 0) == 0;
            free(it);
        }
        join(path, sizeof path, o->out, "lr.svg");
        if (!ok || svg_chart_end(c, path) < 0) {
            if (!ok)
                svg_chart_free(c);
            fprintf(stderr, "descent %s: cannot write %s: %s\n", cmd, path, ok ? strerror(errno) : "out of memory");
            return CLI_FAIL;
        }
    }
    int two_d = descent_objective_dim(obj) == 2;
    if (two_d) {
        join(path, sizeof path, o->out, "paths.svg");
        if (paths_picture(obj, x, tr, o->opts, o->nopts, path) < 0) {
            fprintf(stderr, "descent %s: cannot write %s: %s\n", cmd, path, strerror(errno));
            return CLI_FAIL;
        }
    }
    /* the target: f* + 1.1 (best final f - f*) unless given */
    double target = o->f_target, best = INFINITY;
    for (int i = 0; i < o->nopts; i++)
        if (tr[i].n && tr[i].f[tr[i].n - 1] < best)
            best = tr[i].f[tr[i].n - 1];
    int default_target = isnan(target);
    if (default_target)
        target = gap ? fstar + 1.1 * (best - fstar) : best;
    snprintf(title, sizeof title, "descent compare: %s", descent_objective_name(obj));
    FILE *f = open_html(o->out, title, path, sizeof path);
    if (!f) {
        fprintf(stderr, "descent %s: cannot write %s: %s\n", cmd, path, strerror(errno));
        return CLI_FAIL;
    }
    fprintf(f, "<p>Every method starts from (");
    size_t n = descent_objective_dim(obj);
    for (size_t k = 0; k < n && k < 8; k++)
        fprintf(f, "%s%.6g", k ? ", " : "", x[k]);
    fprintf(f, "%s) and runs up to %ld iterations", n > 8 ? ", ..." : "", o->steps);
    fputs("; f* = ", f);
    put_num(f, "%.6g", fstar);
    fputs(" is the known minimum.</p>\n", f);
    img(f, "f.svg", "f - f* against iteration");
    int show_sched = any_sched(o);
    fputs("<h2>Results</h2>\n<table>\n<tr><th></th><th>method</th>", f);
    if (show_sched)
        fputs("<th>schedule</th>", f);
    fputs("<th>final f</th><th>max |grad f|</th><th>evaluations</th><th>iterations to target</th>"
          "<th>stopped by</th></tr>\n", f);
    for (int i = 0; i < o->nopts; i++) {
        row_head(f, o, i, show_sched);
        fputs("</td><td>", f);
        put_num(f, "%.6g", tr[i].n ? tr[i].f[tr[i].n - 1] : NAN);
        fputs("</td><td>", f);
        put_num(f, "%.3g", tr[i].grad_norm);
        fprintf(f, "</td><td>%lld</td><td>", (long long)tr[i].evaluations);
        size_t reach = 0;
        int hit = 0;
        for (size_t k = 0; k < tr[i].n && !hit; k++)
            if (tr[i].f[k] <= target)
                reach = k, hit = 1;
        if (hit)
            fprintf(f, "%zu", reach);
        else
            fputs("not reached", f);
        fputs("</td><td>", f);
        put_html(f, descent_stop_name(tr[i].reason));
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n<p>Target: f &#8804; ", f);
    put_num(f, "%.6g", target);
    if (default_target)
        fputs(" (f* + 1.1 &#215; (the best final f &#8722; f*); set it with --f-target)", f);
    fputs(". Iterations to target: the first iteration whose f is at most the target (0: the start).</p>\n", f);
    if (two_d) {
        fputs("<h2>Paths</h2>\n", f);
        img(f, "paths.svg", "paths over the contour map");
    }
    if (any_lr) {
        fputs("<h2>Learning rate</h2>\n", f);
        img(f, "lr.svg", "learning rate against iteration");
    }
    fputs("</body>\n</html>\n", f);
    if (close_file(f) < 0) {
        fprintf(stderr, "descent %s: error writing %s\n", cmd, path);
        return CLI_FAIL;
    }
    return CLI_OK;
}

static int compare_fn(const options *o)
{
    const char *cmd = "compare";
    descent_error err;
    descent_objective *obj;
    if (descent_objective_create(&obj, o->fn, &err) < 0)
        return cli_usage_error(cmd, "--fn: %s", err.message);
    size_t n = descent_objective_dim(obj);
    double *x = malloc(sizeof *x * n);
    paths_trace tr[MAX_RUNS];
    memset(tr, 0, sizeof tr);
    int rc = x ? CLI_OK : CLI_FAIL;
    if (rc == CLI_OK) {
        descent_objective_start(obj, x);
        if (o->x0)
            rc = cli_parse_x0(cmd, o->x0, x, n);
    }
    for (int i = 0; i < o->nopts && rc == CLI_OK; i++) {
        rc = paths_run(cmd, obj, o->opts[i], sched_of(o, i), x, o->steps, &tr[i]);
        if (rc == CLI_OK)
            printf("%s: f %.9g after %zu iterations, %lld evaluations (%s)\n", o->opts[i],
                   tr[i].n ? tr[i].f[tr[i].n - 1] : NAN, tr[i].n ? tr[i].n - 1 : 0, (long long)tr[i].evaluations,
                   descent_stop_name(tr[i].reason));
    }
    if (rc == CLI_OK && make_dir(cmd, o->out) < 0)
        rc = CLI_FAIL;
    if (rc == CLI_OK)
        rc = write_fn_report(o, obj, x, tr);
    if (rc == CLI_OK)
        printf("wrote %s/index.html\n", o->out);
    for (int i = 0; i < o->nopts; i++)
        paths_trace_free(&tr[i]);
    free(x);
    descent_objective_destroy(obj);
    return rc;
}

/* ---- the command ------------------------------------------------------------------------ */

static int compare_run(int argc, char **argv)
{
    const char *cmd = "compare";
    options o;
    memset(&o, 0, sizeof o);
    descent_train_default_config(&o.cfg);
    o.epochs = -1;
    o.steps = 200;
    o.target_loss = NAN;
    o.f_target = NAN;
    int train_only = 0, fn_only = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v, **dst = NULL;
        if (!(v = cli_flag_value(cmd, argc, argv, &i)))
            return CLI_USAGE;
        long l;
        if (strcmp(a, "--data") == 0)
            dst = &o.data, train_only = 1;
        else if (strcmp(a, "--target") == 0)
            dst = &o.target, train_only = 1;
        else if (strcmp(a, "--model") == 0)
            dst = &o.model, train_only = 1;
        else if (strcmp(a, "--fn") == 0)
            dst = &o.fn;
        else if (strcmp(a, "--x0") == 0)
            dst = &o.x0, fn_only = 1;
        else if (strcmp(a, "--out") == 0)
            dst = &o.out;
        if (dst) {
            *dst = v;
            continue;
        }
        if (strcmp(a, "--opt") == 0) {
            if (o.nopts == MAX_RUNS)
                return cli_usage_error(cmd, "at most %d --opt", MAX_RUNS);
            o.opts[o.nopts++] = v;
        } else if (strcmp(a, "--sched") == 0) {
            if (o.nscheds == MAX_RUNS)
                return cli_usage_error(cmd, "at most %d --sched", MAX_RUNS);
            o.scheds[o.nscheds++] = v;
        } else if (strcmp(a, "--epochs") == 0) {
            train_only = 1;
            if (cli_parse_long(cmd, a, v, 1, &o.epochs))
                return CLI_USAGE;
            if (o.epochs > 1000000)
                return cli_usage_error(cmd, "--epochs must be at most 1000000, got %s", v);
        } else if (strcmp(a, "--steps") == 0) {
            fn_only = 1;
            if (cli_parse_long(cmd, a, v, 1, &o.steps))
                return CLI_USAGE;
            if (o.steps > 1000000)
                return cli_usage_error(cmd, "--steps must be at most 1000000, got %s", v);
        } else if (strcmp(a, "--batch-size") == 0) {
            train_only = 1;
            if (strcmp(v, "full") == 0)
                o.cfg.batch_size = 0;
            else if (cli_parse_long(cmd, a, v, 1, &l))
                return cli_usage_error(cmd, "--batch-size must be 'full' or an integer >= 1");
            else
                o.cfg.batch_size = (size_t)l;
        } else if (strcmp(a, "--seed") == 0) {
            train_only = 1;
            if (cli_parse_long(cmd, a, v, 0, &l))
                return CLI_USAGE;
            o.cfg.seed = (uint64_t)l;
        } else if (strcmp(a, "--val") == 0) {
            train_only = 1;
            if (cli_parse_double(cmd, a, v, &o.cfg.val_fraction))
                return CLI_USAGE;
            if (!(o.cfg.val_fraction >= 0 && o.cfg.val_fraction < 1))
                return cli_usage_error(cmd, "--val must be in [0, 1), got %s", v);
        } else if (strcmp(a, "--target-loss") == 0) {
            train_only = 1;
            if (cli_parse_double(cmd, a, v, &o.target_loss))
                return CLI_USAGE;
        } else if (strcmp(a, "--f-target") == 0) {
            fn_only = 1;
            if (cli_parse_double(cmd, a, v, &o.f_target))
                return CLI_USAGE;
        } else {
            return cli_usage_error(cmd, "unknown option '%s' (see descent compare --help)", a);
        }
    }
    if (!o.out)
        return cli_usage_error(cmd, "--out DIR is required (see descent compare --help)");
    if (!o.nopts)
        return cli_usage_error(cmd, "give at least one --opt (see descent compare --help)");
    if (o.nscheds > 1 && o.nscheds != o.nopts)
        return cli_usage_error(cmd, "give one --sched for all optimizers or one per --opt (%d --opt, %d --sched)",
                               o.nopts, o.nscheds);
    if (o.fn) {
        if (train_only)
            return cli_usage_error(cmd, "--fn compares minimizers: --data, --target, --model, --epochs, "
                                   "--batch-size, --seed, --val and --target-loss do not apply");
        return compare_fn(&o);
    }
    if (fn_only)
        return cli_usage_error(cmd, "--x0, --steps and --f-target need --fn");
    if (!o.data || !o.target || !o.model || o.epochs < 0)
        return cli_usage_error(cmd, "give --fn, or --data, --target, --model and --epochs (see descent compare --help)");
    o.cfg.data = o.data;
    o.cfg.target = o.target;
    o.cfg.model = o.model;
    return compare_training(&o);
}

const cli_command cli_compare = {"compare", "compare optimizers on a data set or objective: HTML report with charts",
                                 compare_run, compare_usage};
