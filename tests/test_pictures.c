/* Pictures: descent plot-paths, compare and train --plot write SVG and HTML
 * that a real parser accepts (libxml2's xmllint), that name and colour
 * every optimizer, and that are the same bytes when the command is run
 * again. Bad input exits with status 2.
 *
 * argv[1]: the tests source directory, argv[2]: the descent CLI. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *cli, *data;
static char tmp[512];
static int have_xmllint;

static const char *const palette[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7"};

static int run(const char *cmd)
{
    char *out = NULL;
    int st = t_run(cmd, &out);
    free(out);
    return st;
}

/* xmllint --noout (SVG, as XML) or --html --noout: no message at all. */
static void check_parses(const char *path, int html)
{
    if (!have_xmllint)
        return;
    char cmd[1200], *out = NULL;
    snprintf(cmd, sizeof cmd, "xmllint %s--noout '%s' 2>&1", html ? "--html " : "", path);
    int st = t_run(cmd, &out);
    CHECK(st == 0 && out && out[0] == '\0', "%s does not parse: %s", path, out ? out : "?");
    free(out);
}

static int same_file(const char *a, const char *b)
{
    size_t na, nb;
    char *x = t_read_file(a, &na), *y = t_read_file(b, &nb);
    int same = x && y && na == nb && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

/* index.html with the text of the time cells removed. */
static char *without_times(const char *path)
{
    char *s = t_read_file(path, NULL);
    if (!s)
        return NULL;
    const char *tag = "<td class=\"time\">";
    for (char *p = strstr(s, tag); p; p = strstr(p, tag)) {
        p += strlen(tag);
        char *end = strstr(p, "</td>");
        if (!end)
            break;
        memmove(p, end, strlen(end) + 1);
    }
    return s;
}

static void check_colours(const char *path, int n)
{
    char *s = t_read_file(path, NULL);
    CHECK(s != NULL, "cannot read %s", path);
    for (int i = 0; s && i < n; i++)
        CHECK(strstr(s, palette[i]) != NULL, "%s lacks colour %s", path, palette[i]);
    free(s);
}

static void test_plot_paths(void)
{
    static const char *const fns[] = {"rosenbrock()", "beale()", "booth()", "himmelblau()", "rastrigin()", "ackley()",
                                      "styblinski_tang()", "sphere()", "quadratic(cond=10)"};
    char cmd[2048], a[600], b[600];
    for (size_t k = 0; k < sizeof fns / sizeof fns[0]; k++) {
        snprintf(a, sizeof a, "%s/paths-%zu-a.svg", tmp, k);
        snprintf(b, sizeof b, "%s/paths-%zu-b.svg", tmp, k);
        for (int rep = 0; rep < 2; rep++) {
            snprintf(cmd, sizeof cmd,
                     "'%s' plot-paths --fn '%s' --opt 'SGD(lr=0.001, momentum=0.9)' --opt 'Adam(lr=0.1)' "
                     "--opt 'RMSprop(lr=0.01)' --opt 'NAG(lr=1e-3, momentum=0.9)' --steps 150 --out '%s' 2>/dev/null",
                     cli, fns[k], rep ? b : a);
            CHECK(run(cmd) == 0, "plot-paths on %s failed", fns[k]);
        }
        check_parses(a, 0);
        check_colours(a, 4);
        CHECK(same_file(a, b), "plot-paths on %s is not deterministic", fns[k]);
        char *s = t_read_file(a, NULL);
        CHECK(s && strstr(s, "<path fill=\"none\"") && strstr(s, "<polygon") && strstr(s, "NAG(lr=1e-3, momentum=0.9)"),
              "%s: no iso-lines, minimum marker or legend", fns[k]);
        free(s);
    }
    /* Himmelblau from its centre: all four minima are marked */
    snprintf(a, sizeof a, "%s/himmelblau.svg", tmp);
    snprintf(cmd, sizeof cmd, "'%s' plot-paths --fn 'himmelblau()' --x0 0,0 --opt 'Adam(lr=0.1)' --steps 10 --out '%s'",
             cli, a);
    CHECK(run(cmd) == 0, "plot-paths himmelblau");
    char *s = t_read_file(a, NULL);
    int stars = 0;
    for (const char *p = s; p && (p = strstr(p, "<polygon")); p++)
        stars++;
    CHECK(stars >= 4, "himmelblau: %d stars (3 minima and the legend's at least)", stars);
    free(s);
    /* a wildly diverging path is cut to the plot: the output stays finite and parses */
    snprintf(a, sizeof a, "%s/diverge.svg", tmp);
    snprintf(cmd, sizeof cmd, "'%s' plot-paths --fn 'rosenbrock()' --opt 'SGD(lr=0.1)' --opt 'Adam(lr=0.01)' --steps 50 "
             "--out '%s' 2>/dev/null", cli, a);
    CHECK(run(cmd) == 0, "plot-paths with a diverging SGD");
    check_parses(a, 0);
    s = t_read_file(a, NULL);
    CHECK(s && !strstr(s, "nan") && !strstr(s, "inf"), "diverging path wrote a non-finite number");
    free(s);
    /* LBFGS on Rastrigin (plot-paths sets gtol = 0) ends at the rounding
     * limit, a positive stop reason: the note says so, the run succeeds. */
    snprintf(a, sizeof a, "%s/rounding.svg", tmp);
    snprintf(cmd, sizeof cmd, "'%s' plot-paths --fn 'rastrigin()' --opt LBFGS --steps 100 --out '%s' 2>&1", cli, a);
    char *out = NULL;
    int st = t_run(cmd, &out);
    CHECK(st == 0 && out && strstr(out, "note: LBFGS stopped after") &&
              strstr(out, "no step decreases f any more (rounding_limit)"),
          "plot-paths at the rounding limit: status %d, output:\n%s", st, out ? out : "?");
    free(out);
}

static void test_errors(void)
{
    char cmd[2048];
    static const char *const bad[] = {
        "plot-paths --fn 'rosenbrock(dim=3)' --opt 'Adam()' --out X.svg",
        "plot-paths --fn 'nosuch()' --opt 'Adam()' --out X.svg",
        "plot-paths --fn 'booth()' --opt 'Adamm(lr=1)' --out X.svg",
        "plot-paths --fn 'booth()' --opt 'Adam()'",
        "plot-paths --fn 'booth()' --opt 'Adam()' --x0 1 --out X.svg",
        "plot-paths --fn 'booth()' --opt 'Adam()' --steps 0 --out X.svg",
        "compare --fn 'booth()' --opt 'Adam()'",
        "compare --fn 'booth()' --out D",
        "compare --fn 'booth()' --opt 'Adam()' --opt 'SGD(lr=0.1)' --sched 'StepLR(step_size=1)' --sched none "
        "--sched none --out D",
        "compare --fn 'booth()' --opt 'Adam()' --epochs 3 --out D",
        "compare --data nosuch.csv --target label --model 'softmax()' --opt 'Adam()' --epochs 1 --out D",
        "compare --data DATA --target label --model 'softmax()' --opt 'Adam(lr=-1)' --epochs 1 --out D",
        "train --data DATA --target label --model 'softmax()' --opt 'Adam()' --epochs 1 --plot",
        "compare --data DATA --target label --model 'softmax()' --opt 'Adam()' --opt 'SGD(lr=0.1)' --sched none "
        "--sched 'Nope()' --epochs 1 --out D",
    };
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        char args[1024];
        const char *d = strstr(bad[k], "DATA");
        if (d)
            snprintf(args, sizeof args, "%.*s%s%s", (int)(d - bad[k]), bad[k], data, d + 4);
        else
            snprintf(args, sizeof args, "%s", bad[k]);
        snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s >/dev/null 2>&1", tmp, cli, args);
        CHECK(run(cmd) == 2, "expected status 2: descent %s", args);
    }
    snprintf(cmd, sizeof cmd, "test -e '%s/X.svg' || test -e '%s/D'", tmp, tmp);
    CHECK(run(cmd) != 0, "a failed command left a file behind");
}

static void test_compare_training(void)
{
    char cmd[4096], dir[2][600], p[2][700];
    for (int rep = 0; rep < 2; rep++) {
        snprintf(dir[rep], sizeof dir[rep], "%s/report-%d", tmp, rep);
        snprintf(cmd, sizeof cmd,
                 "'%s' compare --data '%s' --target label --model 'softmax()' --opt 'SGD(lr=0.05, momentum=0.9)' "
                 "--opt 'Adam(lr=1e-2)' --opt 'AdamW(lr=1e-2, weight_decay=0.01)' --sched none --sched none "
                 "--sched 'LinearWarmup(warmup_period=20, schedule=CosineAnnealingLR(T_max=135))' --epochs 3 "
                 "--out '%s'",
                 cli, data, dir[rep]);
        char *out = NULL;
        int st = t_run(cmd, &out);
        CHECK(st == 0 && out && strstr(out, "index.html"), "compare (training) failed: %s", out ? out : "");
        free(out);
    }
    static const char *const files[] = {"loss.svg", "lr.svg", "results.csv"};
    for (int k = 0; k < 3; k++) {
        snprintf(p[0], sizeof p[0], "%s/%s", dir[0], files[k]);
        snprintf(p[1], sizeof p[1], "%s/%s", dir[1], files[k]);
        if (k < 2) {
            check_parses(p[0], 0);
            check_colours(p[0], 3);
        }
        CHECK(same_file(p[0], p[1]), "compare: %s differs between two runs", files[k]);
    }
    snprintf(p[0], sizeof p[0], "%s/index.html", dir[0]);
    snprintf(p[1], sizeof p[1], "%s/index.html", dir[1]);
    check_parses(p[0], 1);
    char *a = without_times(p[0]), *b = without_times(p[1]);
    CHECK(a && b && strcmp(a, b) == 0, "compare: index.html differs beyond its time cells");
    CHECK(a && strstr(a, "<img src=\"loss.svg\"") && strstr(a, "<img src=\"lr.svg\"") &&
              strstr(a, "AdamW(lr=1e-2, weight_decay=0.01)") && strstr(a, "epochs to target") &&
              strstr(a, "LinearWarmup"),
          "compare: index.html lacks a chart, a spec or the table");
    free(a);
    free(b);
    /* without a validation split (full batches), and for regression */
    static const char *const more[] = {"--target label --model 'softmax()' --val 0 --batch-size full",
                                       "--target p10 --model 'linear()'"};
    for (int k = 0; k < 2; k++) {
        snprintf(cmd, sizeof cmd, "'%s' compare --data '%s' %s --opt 'SGD(lr=0.01)' --opt 'Adam(lr=0.01)' "
                 "--epochs 2 --out '%s/more-%d' >/dev/null", cli, data, more[k], tmp, k);
        CHECK(run(cmd) == 0, "compare %s", more[k]);
        snprintf(p[0], sizeof p[0], "%s/more-%d/index.html", tmp, k);
        check_parses(p[0], 1);
        snprintf(p[0], sizeof p[0], "%s/more-%d/loss.svg", tmp, k);
        check_parses(p[0], 0);
        check_colours(p[0], 2);
    }
}

static void test_compare_fn(void)
{
    char cmd[4096], dir[2][600], p[2][700];
    for (int rep = 0; rep < 2; rep++) {
        snprintf(dir[rep], sizeof dir[rep], "%s/fn-%d", tmp, rep);
        snprintf(cmd, sizeof cmd,
                 "'%s' compare --fn 'rosenbrock()' --opt 'SGD(lr=1e-3, momentum=0.9)' --opt 'Adam(lr=0.02)' "
                 "--opt 'LBFGS()' --steps 300 --out '%s' 2>/dev/null",
                 cli, dir[rep]);
        CHECK(run(cmd) == 0, "compare --fn failed");
    }
    static const char *const files[] = {"f.svg", "paths.svg", "lr.svg", "index.html"};
    for (int k = 0; k < 4; k++) {
        snprintf(p[0], sizeof p[0], "%s/%s", dir[0], files[k]);
        snprintf(p[1], sizeof p[1], "%s/%s", dir[1], files[k]);
        check_parses(p[0], k == 3);
        CHECK(same_file(p[0], p[1]), "compare --fn: %s differs between two runs", files[k]);
    }
    snprintf(p[0], sizeof p[0], "%s/f.svg", dir[0]);
    check_colours(p[0], 3);
    snprintf(p[0], sizeof p[0], "%s/index.html", dir[0]);
    char *s = t_read_file(p[0], NULL);
    CHECK(s && strstr(s, "iterations to target") && strstr(s, "LBFGS()") && strstr(s, "paths.svg"),
          "compare --fn: index.html lacks the table or the paths");
    free(s);
    /* a 10-D objective: no paths picture */
    snprintf(cmd, sizeof cmd, "'%s' compare --fn 'sphere(dim=10)' --opt 'Adam(lr=0.1)' --steps 20 --out '%s/fn10' "
             ">/dev/null && test ! -e '%s/fn10/paths.svg'", cli, tmp, tmp);
    CHECK(run(cmd) == 0, "compare --fn on a 10-D objective");
    snprintf(p[0], sizeof p[0], "%s/fn10/index.html", tmp);
    check_parses(p[0], 1);
}

static void test_train_plot(void)
{
    char cmd[4096], a[600], b[600];
    snprintf(a, sizeof a, "%s/train-a.svg", tmp);
    snprintf(b, sizeof b, "%s/train-b.svg", tmp);
    for (int rep = 0; rep < 2; rep++) {
        snprintf(cmd, sizeof cmd, "'%s' train --data '%s' --target label --model 'softmax()' --opt 'Adam(lr=1e-2)' "
                 "--epochs 3 --plot '%s' >/dev/null", cli, data, rep ? b : a);
        CHECK(run(cmd) == 0, "train --plot failed");
    }
    check_parses(a, 0);
    check_colours(a, 2);
    CHECK(same_file(a, b), "train --plot is not deterministic");
    char *s = t_read_file(a, NULL);
    CHECK(s && strstr(s, "training loss") && strstr(s, "validation loss") && strstr(s, ">epoch<"),
          "train --plot: legend or axis label missing");
    free(s);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_pictures TESTS_DIR CLI\n");
        return 2;
    }
    cli = argv[2];
    static char data_path[1024];
    snprintf(data_path, sizeof data_path, "%s/../data/digits.csv", argv[1]);
    data = data_path;
    snprintf(tmp, sizeof tmp, "/tmp/descent_pictures_XXXXXX");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    have_xmllint = run("command -v xmllint >/dev/null 2>&1") == 0;
    if (!have_xmllint)
        printf("note: xmllint (libxml2-utils) is not installed: the parser checks are skipped\n");
    test_errors();
    test_plot_paths();
    test_compare_training();
    test_compare_fn();
    test_train_plot();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    run(cmd);
    return t_done();
}
