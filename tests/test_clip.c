/* Gradient clipping against torch.nn.utils.clip_grad_norm_ / clip_grad_value_
 * (tests/golden/gen_clip.py), hand-derived values, and argument checks. */
#include "descent.h"
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAXT 8
#define MAXN 64

typedef struct clip_case {
    char id[128], op[32], dtype[8];
    double args[2];
    int ntensors, n[MAXT], nnorms;
    double grad[MAXT][MAXN], after[MAXT][MAXN], norms[MAXT];
} clip_case;

static int next_case(char **cursor, clip_case *c)
{
    int after = 0;
    memset(c, 0, sizeof *c);
    char key[8192];
    const char *v;
    while (t_next_field(cursor, key, sizeof key, &v)) {
        if (strcmp(key, "case") == 0)
            snprintf(c->id, sizeof c->id, "%.120s", v);
        else if (strcmp(key, "op") == 0)
            snprintf(c->op, sizeof c->op, "%.30s", v);
        else if (strcmp(key, "dtype") == 0)
            snprintf(c->dtype, sizeof c->dtype, "%.6s", v);
        else if (strcmp(key, "args") == 0)
            t_parse_csv(v, c->args, 2);
        else if (strcmp(key, "grad") == 0 && c->ntensors < MAXT) {
            c->n[c->ntensors] = t_parse_csv(v, c->grad[c->ntensors], MAXN);
            c->ntensors++;
        } else if (strcmp(key, "norm") == 0)
            c->nnorms = t_parse_csv(v, c->norms, MAXT);
        else if (strcmp(key, "after") == 0 && after < MAXT)
            t_parse_csv(v, c->after[after++], MAXN);
        else if (strcmp(key, "end") == 0)
            return after == c->ntensors && c->ntensors > 0;
    }
    return 0;
}

static void run_case(const clip_case *c)
{
    descent_dtype dt = strcmp(c->dtype, "f64") == 0 ? DESCENT_F64 : DESCENT_F32;
    double rtol = dt == DESCENT_F64 ? 1e-13 : 2e-6, atol = dt == DESCENT_F64 ? 1e-300 : 1e-30;
    descent_error err;
    descent_optimizer *opt;
    CHECK(descent_create_from_spec(&opt, "SGD(lr=0.1)", NULL, &err) == 0, "%s", err.message);
    int g = descent_add_group(opt, NULL);
    static double p64[MAXT][MAXN], g64[MAXT][MAXN];
    static float p32[MAXT][MAXN], g32[MAXT][MAXN];
    for (int k = 0; k < c->ntensors; k++) {
        for (int i = 0; i < c->n[k]; i++) {
            g64[k][i] = c->grad[k][i];
            g32[k][i] = (float)c->grad[k][i];
            p64[k][i] = 0;
            p32[k][i] = 0;
        }
        void *pp = dt == DESCENT_F64 ? (void *)p64[k] : (void *)p32[k];
        void *gg = dt == DESCENT_F64 ? (void *)g64[k] : (void *)g32[k];
        CHECK(descent_add_tensor(opt, g, pp, gg, (size_t)c->n[k], dt) == k, "%s", descent_errmsg(opt));
    }
    double norms[MAXT];
    int rc;
    if (strcmp(c->op, "norm") == 0) {
        rc = descent_clip_grad_norm(opt, c->args[0], c->args[1], norms);
        CHECK(c->nnorms == 1 && t_close(norms[0], c->norms[0], rtol, atol), "%s: total norm %.17g, torch %.17g",
              c->id, norms[0], c->norms[0]);
    } else if (strcmp(c->op, "per_tensor") == 0) {
        rc = descent_clip_grad_norm_per_tensor(opt, c->args[0], c->args[1], norms);
        for (int k = 0; k < c->ntensors; k++)
            CHECK(t_close(norms[k], c->norms[k], rtol, atol), "%s: tensor %d norm %.17g, torch %.17g", c->id, k,
                  norms[k], c->norms[k]);
    } else {
        rc = descent_clip_grad_value(opt, c->args[0]);
    }
    CHECK(rc == 0, "%s: %s", c->id, descent_errmsg(opt));
    int bad = 0;
    for (int k = 0; k < c->ntensors; k++)
        for (int i = 0; i < c->n[k]; i++) {
            double got = dt == DESCENT_F64 ? g64[k][i] : g32[k][i];
            if (!t_close(got, c->after[k][i], rtol, atol)) {
                if (!bad)
                    fprintf(stderr, "%s: tensor %d [%d] = %.17g, torch %.17g\n", c->id, k, i, got, c->after[k][i]);
                bad++;
            }
        }
    CHECK(bad == 0, "%s: %d gradient values differ from torch", c->id, bad);
    descent_destroy(opt);
}

static void hand_derived(void)
{
    descent_error err;
    descent_optimizer *opt;
    CHECK(descent_create_from_spec(&opt, "Adam", NULL, &err) == 0, "%s", err.message);
    int g = descent_add_group(opt, NULL);
    double pa[2] = {0, 0}, ga[2] = {3, 0};
    float pb[1] = {0}, gb[1] = {-4};
    descent_add_tensor(opt, g, pa, ga, 2, DESCENT_F64);
    descent_add_tensor(opt, g, pb, gb, 1, DESCENT_F32);
    double total = 0;
    /* ||(3, 0, -4)|| = 5; coef = 1 / (5 + 1e-6) */
    CHECK(descent_clip_grad_norm(opt, 1.0, 2.0, &total) == 0, "%s", descent_errmsg(opt));
    CHECK(total == 5.0, "total %g", total);
    CHECK(t_close(ga[0], 3.0 / (5.0 + 1e-6), 1e-15, 0) && ga[1] == 0, "ga[0] %.17g", ga[0]);
    CHECK(gb[0] == (float)-4 * (float)(1.0 / (5.0 + 1e-6)), "gb[0] %.9g", gb[0]);
    /* Already inside the ball: untouched, and the norm is reported. */
    ga[0] = 0.3, ga[1] = 0.4, gb[0] = 0;
    CHECK(descent_clip_grad_norm(opt, 1.0, 2.0, &total) == 0 && t_close(total, 0.5, 1e-15, 0), "total %g", total);
    CHECK(ga[0] == 0.3 && ga[1] == 0.4, "unclipped changed");
    /* inf-norm */
    ga[0] = -2, ga[1] = 1, gb[0] = 1.5f;
    CHECK(descent_clip_grad_norm(opt, 1.0, INFINITY, &total) == 0 && total == 2.0, "inf total %g", total);
    CHECK(t_close(ga[0], -2.0 / (2.0 + 1e-6), 1e-15, 0), "inf ga[0] %.17g", ga[0]);
    /* per tensor: (3, 4) -> norm 5 clipped to ~1; |-0.5| unchanged */
    ga[0] = 3, ga[1] = 4, gb[0] = -0.5f;
    double norms[2];
    CHECK(descent_clip_grad_norm_per_tensor(opt, 1.0, 2.0, norms) == 0, "%s", descent_errmsg(opt));
    CHECK(norms[0] == 5.0 && norms[1] == 0.5, "norms %g %g", norms[0], norms[1]);
    CHECK(t_close(ga[1], 4.0 / (5.0 + 1e-6), 1e-15, 0) && gb[0] == -0.5f, "per tensor %.17g %g", ga[1], gb[0]);
    /* by value, NaN kept */
    ga[0] = NAN, ga[1] = -7, gb[0] = 0.25f;
    CHECK(descent_clip_grad_value(opt, 0.5) == 0, "%s", descent_errmsg(opt));
    CHECK(isnan(ga[0]) && ga[1] == -0.5 && gb[0] == 0.25f, "value %g %g %g", ga[0], ga[1], gb[0]);
    /* non-finite total: error, gradients untouched */
    ga[0] = INFINITY, ga[1] = 1, gb[0] = 2;
    CHECK(descent_clip_grad_norm(opt, 1.0, 2.0, &total) == DESCENT_ERR_NONFINITE && isinf(total), "nonfinite");
    CHECK(ga[1] == 1 && gb[0] == 2, "nonfinite changed the gradients");
    CHECK(descent_clip_grad_norm_per_tensor(opt, 1.0, 2.0, norms) == DESCENT_ERR_NONFINITE, "per-tensor nonfinite");
    CHECK(ga[1] == 1 && t_close(gb[0], 2.0 / (2.0 + 1e-6), 1e-7, 0), "per-tensor nonfinite: other tensor %g", gb[0]);
    /* argument checks */
    CHECK(descent_clip_grad_norm(opt, -1.0, 2.0, NULL) == DESCENT_ERR_INVALID, "max_norm < 0");
    CHECK(strstr(descent_errmsg(opt), "max_norm") != NULL, "message: %s", descent_errmsg(opt));
    CHECK(descent_clip_grad_norm(opt, NAN, 2.0, NULL) == DESCENT_ERR_INVALID, "max_norm NaN");
    CHECK(descent_clip_grad_norm(opt, 1.0, 0.5, NULL) == DESCENT_ERR_INVALID, "norm_type < 1");
    CHECK(descent_clip_grad_norm(opt, 1.0, -INFINITY, NULL) == DESCENT_ERR_INVALID, "norm_type -inf");
    CHECK(descent_clip_grad_norm(opt, 1.0, NAN, NULL) == DESCENT_ERR_INVALID, "norm_type NaN");
    CHECK(descent_clip_grad_norm_per_tensor(opt, INFINITY, 2.0, NULL) == DESCENT_ERR_INVALID, "max_norm inf");
    CHECK(descent_clip_grad_value(opt, -0.1) == DESCENT_ERR_INVALID, "clip_value < 0");
    CHECK(descent_clip_grad_value(opt, NAN) == DESCENT_ERR_INVALID, "clip_value NaN");
    CHECK(descent_clip_grad_value(NULL, 1.0) == DESCENT_ERR_INVALID, "NULL opt");
    descent_destroy(opt);

    /* bf16 gradients (the upper half of a binary32): norms from the exact
     * values, results rounded to nearest even. 3 and 4 are exact in bf16. */
    CHECK(descent_create_from_spec(&opt, "SGD(lr=0.1)", NULL, &err) == 0, "%s", err.message);
    descent_add_group(opt, NULL);
    uint16_t pbf[3] = {0, 0, 0}, gbf[3] = {0x4040, 0x4080, 0xC120}; /* 3, 4, -10 */
    CHECK(descent_add_tensor(opt, 0, pbf, gbf, 2, DESCENT_BF16) == 0, "%s", descent_errmsg(opt));
    CHECK(descent_clip_grad_norm(opt, 1.0, 2.0, &total) == 0 && total == 5.0, "bf16 total %g", total);
    /* 3/(5+1e-6) = 0.59999988 and 4/(5+1e-6) = 0.79999984 round to the bf16
     * values 0.6001 (0x3F1A) and 0.8003 (0x3F4D), nearest even. */
    CHECK(gbf[0] == 0x3F1A && gbf[1] == 0x3F4D, "bf16 clipped %#x %#x", gbf[0], gbf[1]);
    CHECK(descent_add_tensor(opt, 0, pbf + 2, gbf + 2, 1, DESCENT_BF16) == 1, "%s", descent_errmsg(opt));
    CHECK(descent_clip_grad_value(opt, 2.0) == 0 && gbf[2] == 0xC000, "bf16 clamp %#x", gbf[2]); /* -2 */
    CHECK(descent_clip_grad_norm(opt, 1.0, INFINITY, &total) == 0 && total == 2.0, "bf16 inf %g", total);
    descent_destroy(opt);

    /* No tensors: a zero norm, nothing to do. */
    CHECK(descent_create_from_spec(&opt, "SGD(lr=0.1)", NULL, &err) == 0, "%s", err.message);
    total = -1;
    CHECK(descent_clip_grad_norm(opt, 1.0, 2.0, &total) == 0 && total == 0.0, "empty total %g", total);
    descent_destroy(opt);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "tests";
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/clip.txt", dir);
    char *text = t_read_file(path, NULL);
    CHECK(text != NULL, "cannot read %s", path);
    int cases = 0;
    if (text) {
        char *cursor = text;
        clip_case *c = malloc(sizeof *c);
        while (c && next_case(&cursor, c)) {
            run_case(c);
            cases++;
        }
        free(c);
        free(text);
    }
    CHECK(cases >= 30, "only %d clip cases read", cases);
    printf("clip.txt: %d cases\n", cases);
    hand_derived();
    return t_done();
}
