/* The error contract of `descent replay`: bad input exits with status 2, a
 * message on stderr that names the file, line and column where there is one,
 * and nothing at all on stdout. argv[2] is the descent executable. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *cli;
static char dir[64];

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        CHECK(0, "cannot write %s", path);
        return;
    }
    fputs(text, f);
    fclose(f);
}

/* Run the CLI with args (file names are relative to dir); returns the exit
 * status and the captured stdout and stderr (malloc'd). */
static int run(const char *args, char **out, char **err)
{
    char cmd[2048], errpath[256];
    snprintf(errpath, sizeof errpath, "%s/stderr.txt", dir);
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s 2>'%s'", dir, cli, args, errpath);
    int st = t_run(cmd, out);
    *err = t_read_file(errpath, NULL);
    if (!*err)
        *err = calloc(1, 1);
    if (!*out)
        *out = calloc(1, 1);
    return st;
}

static int contains(const char *hay, const char *needle) { return hay && strstr(hay, needle) != NULL; }

/* A failing invocation: status 2, stdout empty, stderr containing each of
 * the NULL-terminated needles. */
static void expect_error(const char *what, const char *args, const char *const *needles)
{
    char *out, *err;
    int st = run(args, &out, &err);
    CHECK(st == 2, "%s: exit status %d, want 2 (stderr: %s)", what, st, err);
    CHECK(out[0] == '\0', "%s: stdout must be empty, got '%.200s'", what, out);
    CHECK(err[0] != '\0', "%s: no message on stderr", what);
    for (int i = 0; needles[i]; i++)
        CHECK(contains(err, needles[i]), "%s: stderr lacks '%s': %s", what, needles[i], err);
    free(out);
    free(err);
}

#define NEEDLES(...) ((const char *const[]){__VA_ARGS__, NULL})

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s TESTS_DIR DESCENT_CLI\n", argv[0]);
        return 2;
    }
    /* Commands run from the temporary directory: make the path absolute. */
    static char cli_abs[4096];
    char cwd[2048];
    cli = argv[2];
    if (cli[0] != '/' && getcwd(cwd, sizeof cwd)) {
        snprintf(cli_abs, sizeof cli_abs, "%s/%s", cwd, argv[2]);
        cli = cli_abs;
    }
    snprintf(dir, sizeof dir, "/tmp/descent_cli_XXXXXX");
    if (!mkdtemp(dir)) {
        fprintf(stderr, "mkdtemp failed\n");
        return 1;
    }

    write_file("p.csv", "0.5,-1.0,2.0\n");
    write_file("g.csv", "0.1,-0.2,0.3\n0.2,0.1,-0.1\n-0.3,0.2,0.05\n");
    write_file("ragged.csv", "0.1,-0.2,0.3\n0.2,0.1\n-0.3,0.2,0.05\n");
    write_file("nonnum.csv", "0.1,-0.2,0.3\n0.2,abc,-0.1\n");
    write_file("missing.csv", "0.1,-0.2,0.3\n0.2,,-0.1\n");
    write_file("trailing.csv", "0.1,-0.2,0.3,\n");
    write_file("short.csv", "0.1,-0.2\n0.2,0.1\n");
    write_file("twolines.csv", "0.5,-1.0,2.0\n1,2,3\n");
    write_file("pbad.csv", "0.5,x1,2.0\n");

    /* The happy path first, so the failures below mean something. */
    {
        char *out, *err;
        int st = run("replay --opt 'SGD(lr=0.5)' --params p.csv --grads g.csv --dtype f64", &out, &err);
        CHECK(st == 0, "happy path: status %d, stderr %s", st, err);
        double p[3] = {0.5, -1.0, 2.0}, g[3][3] = {{0.1, -0.2, 0.3}, {0.2, 0.1, -0.1}, {-0.3, 0.2, 0.05}};
        char want[512] = "";
        for (int s = 0; s < 3; s++) {
            for (int j = 0; j < 3; j++) {
                p[j] = p[j] - 0.5 * g[s][j];
                size_t used = strlen(want);
                snprintf(want + used, sizeof want - used, "%s%.17g", j ? "," : "", p[j]);
            }
            strcat(want, "\n");
        }
        CHECK(strcmp(out, want) == 0, "happy path output:\n%s\nwant:\n%s", out, want);
        CHECK(err[0] == '\0', "happy path wrote to stderr: %s", err);
        free(out);
        free(err);
        st = run("replay --opt 'Adam(lr=0.1)' --params p.csv --grads g.csv", &out, &err);
        int lines = 0;
        for (char *c = out; *c; c++)
            lines += *c == '\n';
        CHECK(st == 0 && lines == 3, "f32 default: status %d, %d lines", st, lines);
        free(out);
        free(err);
    }

    /* Malformed CSV: file, line and column. */
    expect_error("ragged row", "replay --opt 'Adam(lr=0.1)' --params p.csv --grads ragged.csv",
                 NEEDLES("ragged.csv:2:", "ragged", "2 fields", "expected 3"));
    expect_error("non-number", "replay --opt 'Adam(lr=0.1)' --params p.csv --grads nonnum.csv",
                 NEEDLES("nonnum.csv:2:5:", "not a number", "abc"));
    expect_error("missing field", "replay --opt 'Adam(lr=0.1)' --params p.csv --grads missing.csv",
                 NEEDLES("missing.csv:2:5:", "missing value"));
    expect_error("trailing comma", "replay --opt 'Adam(lr=0.1)' --params p.csv --grads trailing.csv",
                 NEEDLES("trailing.csv:1:14:", "missing value"));
    expect_error("non-number in params", "replay --opt 'Adam(lr=0.1)' --params pbad.csv --grads g.csv",
                 NEEDLES("pbad.csv:1:5:", "x1"));
    /* Counts that do not match. */
    expect_error("param/grad count mismatch", "replay --opt 'Adam(lr=0.1)' --params p.csv --grads short.csv",
                 NEEDLES("short.csv:1", "2 values", "p.csv", "3 parameters"));
    expect_error("two lines of params", "replay --opt 'Adam(lr=0.1)' --params twolines.csv --grads g.csv",
                 NEEDLES("twolines.csv", "one line"));
    /* Files that are not there. */
    expect_error("missing params file", "replay --opt 'Adam(lr=0.1)' --params nope.csv --grads g.csv",
                 NEEDLES("nope.csv", "cannot open"));
    expect_error("missing grads file", "replay --opt 'Adam(lr=0.1)' --params p.csv --grads nope.csv",
                 NEEDLES("nope.csv", "cannot open"));
    /* A bad spec: the message quotes it and points at the fault. */
    expect_error("bad spec value", "replay --opt 'Adam(betas=(0.9, 1.5))' --params p.csv --grads g.csv",
                 NEEDLES("betas[1]", "1.5", "Adam(betas=(0.9, 1.5))", "                   ^^^"));
    expect_error("unknown optimizer", "replay --opt 'Adamm(lr=0.1)' --params p.csv --grads g.csv",
                 NEEDLES("unknown optimizer 'Adamm'", "^^^^^"));
    expect_error("spec syntax", "replay --opt 'Adam(lr=0.1' --params p.csv --grads g.csv", NEEDLES("unclosed", "^"));
    /* Bad usage. */
    expect_error("bad --dtype", "replay --opt 'Adam(lr=0.1)' --params p.csv --grads g.csv --dtype f16",
                 NEEDLES("--dtype", "f16"));
    expect_error("bad --shape", "replay --opt 'Adafactor()' --params p.csv --grads g.csv --shape 3,x",
                 NEEDLES("--shape", "3,x"));
    expect_error("--shape of another size", "replay --opt 'Adafactor()' --params p.csv --grads g.csv --shape 5,7",
                 NEEDLES("--shape has 35 elements", "p.csv"));
    expect_error("missing --opt", "replay --params p.csv --grads g.csv", NEEDLES("--opt"));
    expect_error("flag without value", "replay --opt 'Adam(lr=0.1)' --params p.csv --grads", NEEDLES("--grads"));
    expect_error("unknown option", "replay --opt 'Adam(lr=0.1)' --params p.csv --grads g.csv --bogus",
                 NEEDLES("--bogus"));
    expect_error("unknown command", "frobnicate", NEEDLES("frobnicate"));

    /* Help goes to stdout with status 0. */
    {
        char *out, *err;
        int st = run("--help", &out, &err);
        CHECK(st == 0 && contains(out, "replay"), "descent --help: status %d, stdout '%.100s'", st, out);
        free(out);
        free(err);
        st = run("replay --help", &out, &err);
        CHECK(st == 0 && contains(out, "--params") && contains(out, "--dtype"),
              "descent replay --help: status %d, stdout '%.100s'", st, out);
        free(out);
        free(err);
    }

    const char *names[] = {"p.csv", "g.csv", "ragged.csv", "nonnum.csv", "missing.csv", "trailing.csv",
                           "short.csv", "twolines.csv", "pbad.csv", "stderr.txt"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        remove(path);
    }
    rmdir(dir);
    return t_done();
}
