/* Every optimizer against trajectories recorded from PyTorch 1.13
 * (tests/golden/gen_optim.py) or computed by the numpy references
 * (tools/reference_optim.py) or the numpy ports of torch 2.x
 * (tools/reference_torch2.py), through the library and through
 * `descent replay`, in f64 and f32. Optional per-case lines: 'shape' (the
 * tensor's shape, replay --shape) and 'eval' (descent_eval_params after each
 * step, replay --eval). */
#include "descent.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAXN 64
#define MAXSTEPS 64

typedef struct golden_case {
    char id[128];
    char spec[512];
    int n, steps;
    int ndim;                  /* 0: no 'shape' line, a 1-D tensor of n */
    size_t shape[8];
    int nevals;                /* 'eval' lines: descent_eval_params after each step */
    double params[MAXN];
    double grads[MAXSTEPS][MAXN];
    double expect[MAXSTEPS][MAXN];
    double evals[MAXSTEPS][MAXN];
} golden_case;

/* Reads the next case from *cursor; returns 1 if one was read. */
static int next_case(char **cursor, golden_case *c)
{
    int expects = 0;
    memset(c, 0, sizeof *c);
    int in_case = 0;
    char key[8192];
    const char *v;
    while (t_next_field(cursor, key, sizeof key, &v)) {
        if (strcmp(key, "case") == 0) {
            snprintf(c->id, sizeof c->id, "%.120s", v);
            in_case = 1;
        } else if (strcmp(key, "spec") == 0) {
            snprintf(c->spec, sizeof c->spec, "%.500s", v);
        } else if (strcmp(key, "shape") == 0) {
            double dims[8];
            c->ndim = t_parse_csv(v, dims, 8);
            for (int k = 0; k < c->ndim; k++)
                c->shape[k] = (size_t)dims[k];
        } else if (strcmp(key, "eval") == 0 && c->nevals < MAXSTEPS) {
            t_parse_csv(v, c->evals[c->nevals++], MAXN);
        } else if (strcmp(key, "params") == 0) {
            c->n = t_parse_csv(v, c->params, MAXN);
        } else if (strcmp(key, "grad") == 0 && c->steps < MAXSTEPS) {
            t_parse_csv(v, c->grads[c->steps++], MAXN);
        } else if (strcmp(key, "expect") == 0 && expects < MAXSTEPS) {
            t_parse_csv(v, c->expect[expects++], MAXN);
        } else if (strcmp(key, "end") == 0 && in_case) {
            return expects == c->steps && c->n > 0 && (c->nevals == 0 || c->nevals == c->steps);
        }
    }
    return 0;
}

static void run_library(const golden_case *c, descent_dtype dtype, double rtol, double atol)
{
    descent_error err;
    descent_optimizer *opt;
    int rc = descent_create_from_spec(&opt, c->spec, NULL, &err);
    CHECK(rc == 0, "%s: %s: %s", c->id, c->spec, err.message);
    if (rc < 0)
        return;
    double p64[MAXN], g64[MAXN];
    float p32[MAXN], g32[MAXN];
    for (int j = 0; j < c->n; j++) {
        p64[j] = c->params[j];
        p32[j] = (float)c->params[j];
    }
    int g = descent_add_group(opt, NULL);
    void *param = dtype == DESCENT_F64 ? (void *)p64 : (void *)p32;
    void *grad = dtype == DESCENT_F64 ? (void *)g64 : (void *)g32;
    size_t n = (size_t)c->n;
    CHECK(descent_add_tensor_shaped(opt, g, param, grad, c->ndim ? c->ndim : 1, c->ndim ? c->shape : &n, dtype) == 0,
          "%s", descent_errmsg(opt));
    int worst_step = -1, eval_bad = 0;
    double worst = 0;
    for (int s = 0; s < c->steps; s++) {
        for (int j = 0; j < c->n; j++) {
            g64[j] = c->grads[s][j];
            g32[j] = (float)c->grads[s][j];
        }
        descent_step(opt);
        for (int j = 0; j < c->n; j++) {
            double got = dtype == DESCENT_F64 ? p64[j] : p32[j];
            double want = c->expect[s][j];
            if (!t_close(got, want, rtol, atol)) {
                double e = fabs(got - want) / (fabs(want) + atol);
                if (e > worst) {
                    worst = e;
                    worst_step = s;
                }
            }
        }
        if (c->nevals) {
            double x64[MAXN];
            float x32[MAXN];
            CHECK(descent_eval_params(opt, 0, dtype == DESCENT_F64 ? (void *)x64 : (void *)x32) == 0, "%s: eval",
                  c->id);
            for (int j = 0; j < c->n; j++)
                eval_bad += !t_close(dtype == DESCENT_F64 ? x64[j] : x32[j], c->evals[s][j], rtol, atol);
        }
    }
    CHECK(eval_bad == 0, "%s (%s): %d evaluation parameters differ", c->id, dtype == DESCENT_F64 ? "f64" : "f32",
          eval_bad);
    CHECK(worst_step < 0, "%s (%s) %s: first disagreement at step %d, relative error %.3g", c->id,
          dtype == DESCENT_F64 ? "f64" : "f32", c->spec, worst_step + 1, worst);
    descent_destroy(opt);
}

/* The same case through `descent replay`, compared line by line. */
static void run_cli(const golden_case *c, const char *cli, const char *dir, descent_dtype dtype, double rtol,
                    double atol)
{
    char ppath[512], gpath[512], cmd[2048];
    snprintf(ppath, sizeof ppath, "%s/p.csv", dir);
    snprintf(gpath, sizeof gpath, "%s/g.csv", dir);
    FILE *f = fopen(ppath, "w");
    for (int j = 0; j < c->n; j++)
        fprintf(f, j ? ",%.17g" : "%.17g", c->params[j]);
    fputc('\n', f);
    fclose(f);
    f = fopen(gpath, "w");
    for (int s = 0; s < c->steps; s++) {
        for (int j = 0; j < c->n; j++)
            fprintf(f, j ? ",%.17g" : "%.17g", c->grads[s][j]);
        fputc('\n', f);
    }
    fclose(f);
    char shape[128] = "";
    for (int k = 0; k < c->ndim; k++) {
        size_t used = strlen(shape);
        snprintf(shape + used, sizeof shape - used, "%s%zu", k ? "," : " --shape ", c->shape[k]);
    }
    /* The parameters, then (schedule-free) the evaluation parameters. */
    for (int eval = 0; eval <= (c->nevals > 0); eval++) {
        snprintf(cmd, sizeof cmd, "%s replay --opt \"%s\" --params %s --grads %s --dtype %s%s%s", cli, c->spec, ppath,
                 gpath, dtype == DESCENT_F64 ? "f64" : "f32", shape, eval ? " --eval" : "");
        char *out = NULL;
        int st = t_run(cmd, &out);
        CHECK(st == 0, "%s: replay exited %d", c->id, st);
        int bad = 0, lines = 0;
        char *p = out;
        while (p && *p && lines < c->steps) {
            double row[MAXN];
            int n = t_parse_csv(p, row, MAXN);
            if (n != c->n)
                bad++;
            for (int j = 0; j < n && j < c->n; j++)
                if (!t_close(row[j], eval ? c->evals[lines][j] : c->expect[lines][j], rtol, atol))
                    bad++;
            lines++;
            char *eol = strchr(p, '\n');
            p = eol ? eol + 1 : p + strlen(p);
        }
        CHECK(lines == c->steps && bad == 0, "%s: replay %s%s printed %d of %d lines, %d values off", c->id,
              dtype == DESCENT_F64 ? "f64" : "f32", eval ? " --eval" : "", lines, c->steps, bad);
        free(out);
    }
}

static void run_file(const char *dir, const char *name, descent_dtype dtype, const char *cli, const char *tmp,
                     int min_cases)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/%s", dir, name);
    char *text = t_read_file(path, NULL);
    CHECK(text != NULL, "cannot read %s", path);
    if (!text)
        return;
    /* f64 to 1e-12 relative; f32 to 1e-5 (PyTorch's vectorized float kernels
     * may contract to FMA where we do not). */
    double rtol = dtype == DESCENT_F64 ? 1e-12 : 1e-5;
    double atol = dtype == DESCENT_F64 ? 1e-14 : 1e-6;
    char *cursor = text;
    golden_case *c = malloc(sizeof *c);
    int cases = 0;
    while (next_case(&cursor, c)) {
        run_library(c, dtype, rtol, atol);
        if (cli && (!t_valgrind() || cases % T_VALGRIND_EVERY == 0))
            run_cli(c, cli, tmp, dtype, rtol, atol);
        cases++;
    }
    CHECK(cases >= min_cases, "%s: only %d cases read", name, cases);
    printf("%s: %d cases\n", name, cases);
    free(c);
    free(text);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "tests";
    const char *cli = argc > 2 ? argv[2] : NULL;
    char tmp[] = "/tmp/descent-golden-XXXXXX";
    if (!mkdtemp(tmp))
        return 1;
    run_file(dir, "optim_f64.txt", DESCENT_F64, cli, tmp, 50);
    run_file(dir, "optim_f32.txt", DESCENT_F32, cli, tmp, 50);
    /* Rprop and ASGD (tests/golden/gen_optim_more.py) */
    run_file(dir, "optim_more_f64.txt", DESCENT_F64, cli, tmp, 20);
    run_file(dir, "optim_more_f32.txt", DESCENT_F32, cli, tmp, 20);
    /* Lion, Yogi, AdaBelief, FTRL, ScheduleFreeSGD/AdamW, LAMB, Adafactor
     * against the numpy references (tools/reference_optim.py) */
    run_file(dir, "optim_ref_f64.txt", DESCENT_F64, cli, tmp, 86);
    run_file(dir, "optim_ref_f32.txt", DESCENT_F32, cli, tmp, 86);
    /* What torch 2.x changed (NAdam's mu_product, decoupled_weight_decay,
     * maximize), against the numpy ports of tools/reference_torch2.py */
    run_file(dir, "torch2_f64.txt", DESCENT_F64, cli, tmp, 26);
    run_file(dir, "torch2_f32.txt", DESCENT_F32, cli, tmp, 26);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmp);
    return t_done();
}
