/* The element-wise optimizers beyond Adam and SGD (Rprop, ASGD, Lion, Yogi,
 * AdaBelief, FTRL), beyond their golden trajectories (test_golden_optim):
 *  - ASGD's running average ax against torch 1.13 (optim_more_ax_*.txt);
 *  - checkpoints continue bit for bit (ASGD's eta and mu, Rprop's step
 *    sizes), threads equal one thread, reset equals a fresh optimizer;
 *  - lazily created state takes the lr of the first step, as in PyTorch;
 *  - every argument is bounded, through spec strings and descent_set;
 *  - FTRL against the values Keras's own test publishes
 *    (keras/src/optimizers/ftrl_test.py), and argument errors naming the
 *    value. */
#include "descent.h"
#include "testutil.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static descent_optimizer *make(const char *spec) { return t_make_opt(spec); }

#define MAXN 64
#define MAXSTEPS 64

static const char *const CONFIGS[] = {
    "Rprop(lr=0.05)",
    "Rprop(lr=0.05, etas=(0.3, 1.5), step_sizes=(1e-3, 0.2), maximize=True)",
    "ASGD(lr=0.05, lambd=0.1, t0=3)",
    "ASGD(lr=0.05, weight_decay=0.01, alpha=0.5, t0=0, maximize=True)",
    "Lion(lr=0.01, weight_decay=0.1)",
    "Lion(lr=0.01, betas=(0.5, 0.9), maximize=True)",
    "Yogi(lr=0.05)",
    "Yogi(lr=0.05, initial_accumulator_value=0.3, eps=1e-6, maximize=True)",
    "AdaBelief(lr=0.01)",
    "AdaBelief(lr=0.01, weight_decay=0.1, eps=1e-8, maximize=True)",
};
#define NCONFIGS ((int)(sizeof CONFIGS / sizeof CONFIGS[0]))

/* ---- ASGD's average against torch -------------------------------------- */

typedef struct golden_case {
    char id[128], spec[512];
    int n, steps;
    double params[MAXN], grads[MAXSTEPS][MAXN], expect[MAXSTEPS][MAXN];
} golden_case;

static int next_case(char **cursor, golden_case *c)
{
    int expects = 0;
    memset(c, 0, sizeof *c);
    char key[8192];
    const char *v;
    while (t_next_field(cursor, key, sizeof key, &v)) {
        if (strcmp(key, "case") == 0)
            snprintf(c->id, sizeof c->id, "%.120s", v);
        else if (strcmp(key, "spec") == 0)
            snprintf(c->spec, sizeof c->spec, "%.500s", v);
        else if (strcmp(key, "params") == 0)
            c->n = t_parse_csv(v, c->params, MAXN);
        else if (strcmp(key, "grad") == 0 && c->steps < MAXSTEPS)
            t_parse_csv(v, c->grads[c->steps++], MAXN);
        else if (strcmp(key, "expect") == 0 && expects < MAXSTEPS)
            t_parse_csv(v, c->expect[expects++], MAXN);
        else if (strcmp(key, "end") == 0)
            return expects == c->steps && c->n > 0;
    }
    return 0;
}

/* The average is optimizer state: read it from the checkpoint image, where
 * the single state buffer "ax" is the last n values before the schedule
 * length and checksum (u64 + u32). */
static double ax_from_image(const unsigned char *img, size_t len, int n, int j, descent_dtype dt)
{
    size_t elem = dt == DESCENT_F64 ? 8 : 4;
    size_t at = len - 4 - 8 - (size_t)n * elem + (size_t)j * elem;
    uint64_t u = 0; /* the image is little-endian on every machine */
    for (size_t k = 0; k < elem; k++)
        u |= (uint64_t)img[at + k] << (8 * k);
    if (dt == DESCENT_F64) {
        double v;
        memcpy(&v, &u, 8);
        return v;
    }
    uint32_t u32 = (uint32_t)u;
    float f;
    memcpy(&f, &u32, 4);
    return f;
}

static void asgd_average(const char *dir, const char *name, descent_dtype dt)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/%s", dir, name);
    char *text = t_read_file(path, NULL);
    CHECK(text != NULL, "cannot read %s", path);
    if (!text)
        return;
    double rtol = dt == DESCENT_F64 ? 1e-12 : 1e-5, atol = dt == DESCENT_F64 ? 1e-14 : 1e-6;
    golden_case *c = malloc(sizeof *c);
    char *cursor = text;
    int cases = 0;
    while (next_case(&cursor, c)) {
        descent_error err;
        descent_optimizer *opt;
        CHECK(descent_create_from_spec(&opt, c->spec, NULL, &err) == 0, "%s: %s", c->id, err.message);
        double p64[MAXN], g64[MAXN];
        float p32[MAXN], g32[MAXN];
        for (int j = 0; j < c->n; j++) {
            p64[j] = c->params[j];
            p32[j] = (float)c->params[j];
        }
        descent_add_group(opt, NULL);
        descent_add_tensor(opt, 0, dt == DESCENT_F64 ? (void *)p64 : (void *)p32,
                           dt == DESCENT_F64 ? (void *)g64 : (void *)g32, (size_t)c->n, dt);
        int bad = 0;
        for (int s = 0; s < c->steps; s++) {
            for (int j = 0; j < c->n; j++) {
                g64[j] = c->grads[s][j];
                g32[j] = (float)c->grads[s][j];
            }
            descent_step(opt);
            size_t len;
            descent_save_mem(opt, NULL, 0, &len);
            unsigned char *img = malloc(len);
            descent_save_mem(opt, img, len, &len);
            for (int j = 0; j < c->n; j++)
                if (!t_close(ax_from_image(img, len, c->n, j, dt), c->expect[s][j], rtol, atol))
                    bad++;
            free(img);
        }
        CHECK(bad == 0, "%s (%s): %d values of ax differ from torch", c->id, name, bad);
        descent_destroy(opt);
        cases++;
    }
    CHECK(cases >= 10, "%s: only %d cases", name, cases);
    printf("%s: %d cases\n", name, cases);
    free(c);
    free(text);
}

/* ---- contracts over every configuration -------------------------------- */

#define NT 3
typedef struct rig {
    descent_optimizer *opt;
    size_t n[NT];
    descent_dtype dt[NT];
    void *param[NT], *grad[NT];
} rig;


static void rig_make(rig *r, const char *spec, size_t big)
{
    memset(r, 0, sizeof *r);
    descent_error err;
    int rc = descent_create_from_spec(&r->opt, spec, NULL, &err);
    CHECK(rc == 0, "%s: %s", spec, err.message);
    descent_add_group(r->opt, NULL);
    descent_add_group_spec(r->opt, "lr=0.003");
    const size_t sizes[NT] = {7, big, 33};
    for (int t = 0; t < NT; t++) {
        r->n[t] = sizes[t];
        r->dt[t] = t == 1 ? DESCENT_F64 : DESCENT_F32;
        r->param[t] = calloc(r->n[t], t_dsize(r->dt[t]));
        r->grad[t] = calloc(r->n[t], t_dsize(r->dt[t]));
        for (size_t i = 0; i < r->n[t]; i++)
            t_set_elem(r->param[t], r->dt[t], i, cos(0.3 * (double)i + t));
        CHECK(descent_add_tensor(r->opt, t == 2 ? 1 : 0, r->param[t], r->grad[t], r->n[t], r->dt[t]) == t, "%s: %s",
              spec, descent_errmsg(r->opt));
    }
}

static void rig_free(rig *r)
{
    descent_destroy(r->opt);
    for (int t = 0; t < NT; t++) {
        free(r->param[t]);
        free(r->grad[t]);
    }
}

static void rig_run(rig *r, int from, int steps)
{
    for (int s = from; s < from + steps; s++) {
        for (int t = 0; t < NT; t++)
            for (size_t i = 0; i < r->n[t]; i++) {
                double p = t_get_elem(r->param[t], r->dt[t], i);
                t_set_elem(r->grad[t], r->dt[t], i, 0.3 * p + sin(0.7 * s + 0.37 * (double)i + t) * (1 + (double)(i % 3)));
            }
        CHECK(descent_step(r->opt) == 0, "step: %s", descent_errmsg(r->opt));
    }
}

static int rig_equal(const rig *a, const rig *b)
{
    for (int t = 0; t < NT; t++)
        if (memcmp(a->param[t], b->param[t], a->n[t] * t_dsize(a->dt[t])) != 0)
            return 0;
    return 1;
}

static void rig_copy(rig *dst, const rig *src)
{
    for (int t = 0; t < NT; t++)
        memcpy(dst->param[t], src->param[t], src->n[t] * t_dsize(src->dt[t]));
}

static void contracts(const char *spec)
{
    /* Checkpoint mid-run, continue; a fresh optimizer loading it continues alike. */
    rig a, b;
    rig_make(&a, spec, 40);
    rig_make(&b, spec, 40);
    rig_run(&a, 0, 7);
    size_t len;
    descent_save_mem(a.opt, NULL, 0, &len);
    unsigned char *img = malloc(len);
    CHECK(descent_save_mem(a.opt, img, len, &len) == 0, "%s: save", spec);
    rig_copy(&b, &a);
    CHECK(descent_load_mem(b.opt, img, len) == 0, "%s: load: %s", spec, descent_errmsg(b.opt));
    rig_run(&a, 7, 9);
    rig_run(&b, 7, 9);
    CHECK(rig_equal(&a, &b), "%s: checkpoint continuation differs", spec);
    /* Reset equals fresh. */
    rig c;
    rig_make(&c, spec, 40);
    CHECK(descent_reset(b.opt) == 0, "reset");
    rig_copy(&b, &c);
    rig_run(&b, 0, 6);
    rig_run(&c, 0, 6);
    CHECK(rig_equal(&b, &c), "%s: reset differs from a fresh optimizer", spec);
    free(img);
    rig_free(&a);
    rig_free(&b);
    rig_free(&c);
    /* Threads equal one thread (a tensor large enough to be split). */
    rig one, many;
    rig_make(&one, spec, 200000);
    rig_make(&many, spec, 200000);
    descent_set_threads(many.opt, 4);
    rig_run(&one, 0, 4);
    rig_run(&many, 0, 4);
    CHECK(rig_equal(&one, &many), "%s: 4 threads differ from 1", spec);
    rig_free(&one);
    rig_free(&many);
}

/* ---- first-step semantics ----------------------------------------------- */

static void lazy_state(void)
{
    /* PyTorch creates Rprop's step sizes and ASGD's eta at the first step,
     * from the lr of that moment: set the lr after registration. */
    descent_error err;
    descent_optimizer *opt;
    double p[2] = {1, 1}, g[2] = {1, -1};
    CHECK(descent_create_from_spec(&opt, "Rprop(lr=0.5)", NULL, &err) == 0, "%s", err.message);
    descent_add_group(opt, NULL);
    descent_add_tensor(opt, 0, p, g, 2, DESCENT_F64);
    descent_set_lr(opt, 0, 0.25);
    descent_step(opt); /* prev = 0: factor 1, step 0.25 */
    CHECK(p[0] == 0.75 && p[1] == 1.25, "Rprop first step %g %g", p[0], p[1]);
    descent_step(opt); /* same sign: 0.25 * 1.2 */
    CHECK(t_close(p[0], 0.75 - 0.3, 1e-15, 0), "Rprop second step %.17g", p[0]);
    g[0] = -1;
    descent_step(opt); /* sign change: step halves, no move, prev = 0 */
    CHECK(t_close(p[0], 0.45, 1e-15, 0), "Rprop sign change moved: %.17g", p[0]);
    descent_step(opt); /* prev = 0: step 0.15 in the new direction */
    CHECK(t_close(p[0], 0.6, 1e-15, 0), "Rprop after sign change %.17g", p[0]);
    descent_destroy(opt);

    CHECK(descent_create_from_spec(&opt, "ASGD(lr=0.5, lambd=0, t0=0)", NULL, &err) == 0, "%s", err.message);
    p[0] = 1, p[1] = 1, g[0] = 1, g[1] = 2;
    descent_add_group(opt, NULL);
    descent_add_tensor(opt, 0, p, g, 2, DESCENT_F64);
    descent_set_lr(opt, 0, 0.25);
    descent_step(opt); /* eta = 0.25 */
    CHECK(p[0] == 0.75 && p[1] == 0.5, "ASGD first step %g %g", p[0], p[1]);
    descent_destroy(opt);
}

/* ---- argument bounds ---------------------------------------------------- */

static void bounds(void)
{
    static const char *const bad[] = {
        "Rprop(lr=-1)",
        "Rprop(etas=(0, 1.2))",
        "Rprop(etas=(1.0, 1.2))",
        "Rprop(etas=(0.5, 1.0))",
        "Rprop(etas=(0.5, 0.9))",
        "Rprop(step_sizes=(-1e-6, 50))",
        "Rprop(step_sizes=(1, 0.5))",
        "Rprop(step_sizes=(1e-6, inf))",
        "Rprop(weight_decay=0.1)",
        "ASGD(lr=-0.1)",
        "ASGD(lambd=-1e-4)",
        "ASGD(alpha=-0.75)",
        "ASGD(t0=-1)",
        "ASGD(weight_decay=-0.1)",
        "ASGD(lambd=nan)",
        "Lion(lr=-1e-4)",
        "Lion(betas=(1.0, 0.99))",
        "Lion(betas=(0.9, -0.1))",
        "Lion(weight_decay=-1)",
        "Lion(eps=1e-8)",
        "Yogi(eps=-1e-3)",
        "Yogi(initial_accumulator_value=-1e-6)",
        "Yogi(betas=(0.9, 1.0))",
        "Yogi(weight_decay=0.1)",
        "AdaBelief(eps=-1)",
        "AdaBelief(betas=(-0.1, 0.999))",
        "AdaBelief(weight_decay=-0.1)",
        "AdaBelief(lr=inf)",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        descent_error err;
        descent_optimizer *opt = NULL;
        int rc = descent_create_from_spec(&opt, bad[i], NULL, &err);
        CHECK(rc < 0 && opt == NULL, "%s accepted", bad[i]);
        descent_destroy(opt);
    }
    descent_error err;
    descent_optimizer *opt;
    CHECK(descent_create_from_spec(&opt, "Rprop", NULL, &err) == 0, "%s", err.message);
    descent_add_group(opt, NULL);
    CHECK(descent_set(opt, 0, "etas[0]", 1.5) == DESCENT_ERR_INVALID, "etas[0] = 1.5 accepted");
    CHECK(strstr(descent_errmsg(opt), "etas") != NULL, "message: %s", descent_errmsg(opt));
    CHECK(descent_set(opt, 0, "step_sizes[1]", 1e-9) == DESCENT_ERR_INVALID, "step_sizes[1] < [0] accepted");
    CHECK(descent_set(opt, 0, "etas[1]", 2.0) == 0, "etas[1] = 2: %s", descent_errmsg(opt));
    double v;
    CHECK(descent_get(opt, 0, "etas[1]", &v) == 0 && v == 2.0, "etas[1] read %g", v);
    CHECK(descent_get(opt, 0, "step_sizes[0]", &v) == 0 && v == 1e-6, "step_sizes[0] read %g", v);
    descent_destroy(opt);
    CHECK(descent_create_from_spec(&opt, "ASGD", NULL, &err) == 0, "%s", err.message);
    descent_add_group(opt, NULL);
    CHECK(descent_set(opt, 0, "t0", -5) == DESCENT_ERR_INVALID, "t0 = -5 accepted");
    CHECK(descent_get(opt, 0, "lambd", &v) == 0 && v == 1e-4, "lambd default %g", v);
    CHECK(descent_get(opt, 0, "t0", &v) == 0 && v == 1e6, "t0 default %g", v);
    descent_destroy(opt);

    /* Defaults as documented. */
    descent_hparams hp;
    CHECK(descent_hparams_init(&hp, "lion", &err) == 0 && hp.lr == 1e-4 && hp.betas[1] == 0.99, "Lion defaults");
    CHECK(descent_hparams_init(&hp, "Yogi", &err) == 0 && hp.lr == 1e-2 && hp.eps == 1e-3 &&
              hp.initial_accumulator_value == 1e-6, "Yogi defaults");
    CHECK(descent_hparams_init(&hp, "AdaBelief", &err) == 0 && hp.lr == 1e-3 && hp.eps == 1e-16, "AdaBelief defaults");
    CHECK(descent_hparams_init(&hp, "Rprop", &err) == 0 && hp.etas[0] == 0.5 && hp.step_sizes[1] == 50, "Rprop defaults");
    CHECK(descent_hparams_init(&hp, "ASGD", &err) == 0 && hp.alpha == 0.75 && hp.t0 == 1e6, "ASGD defaults");
}

/* keras/src/optimizers/ftrl_test.py: test_single_step and
 * test_correctness_with_golden (float32 variables). */
static void test_keras_ftrl(void)
{
    float p[4] = {1, 2, 3, 4}, g[4] = {1, 6, 7, 2};
    const double single[4] = {0.2218, 1.3954, 2.3651, 2.8814};
    descent_optimizer *opt = make("FTRL(lr=0.5)");
    if (!opt)
        return;
    descent_add_tensor(opt, 0, p, g, 4, DESCENT_F32);
    descent_step(opt);
    for (int i = 0; i < 4; i++)
        CHECK(t_close(p[i], single[i], 1e-4, 1e-4), "Keras single step [%d]: %g, expected %g", i, p[i], single[i]);
    descent_destroy(opt);

    static const double golden[5][10] = {
        {0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0},
        {-0.0034, -0.0077, -0.0118, -0.0157, -0.0194, -0.023, -0.0263, -0.0294, -0.0325, -0.0354},
        {-0.0078, -0.0162, -0.0242, -0.0317, -0.0387, -0.0454, -0.0516, -0.0575, -0.0631, -0.0685},
        {-0.0121, -0.0246, -0.0363, -0.0472, -0.0573, -0.0668, -0.0757, -0.0842, -0.0922, -0.0999},
        {-0.0164, -0.0328, -0.0481, -0.0623, -0.0753, -0.0875, -0.099, -0.1098, -0.1201, -0.1299},
    };
    float x[10], gx[10];
    for (int i = 0; i < 10; i++) {
        x[i] = 1.0f;
        gx[i] = 0.01f;
    }
    opt = make("FTRL(lr=0.05, learning_rate_power=-0.2, initial_accumulator_value=0.4, "
               "l1_regularization_strength=0.05, l2_regularization_strength=0.15, "
               "l2_shrinkage_regularization_strength=0.01, beta=0.3)");
    if (!opt)
        return;
    descent_add_tensor(opt, 0, x, gx, 10, DESCENT_F32);
    descent_step(opt);
    for (int i = 0; i < 10; i++)
        gx[i] = (float)(0.1 * (i + 1));
    int bad = 0;
    for (int s = 0; s < 5; s++) {
        for (int i = 0; i < 10; i++)
            bad += !t_close(x[i], golden[s][i], 5e-4, 5e-4);
        descent_step(opt);
    }
    CHECK(bad == 0, "Keras FTRL golden: %d values off", bad);
    descent_destroy(opt);
}

static void test_invalid_arguments(void)
{
    t_expect_spec_error("FTRL(lr=0)", "lr must be > 0");
    t_expect_spec_error("FTRL(learning_rate_power=0.5)", "learning_rate_power must be in [-inf, 0]");
    t_expect_spec_error("FTRL(initial_accumulator_value=-0.1)", "initial_accumulator_value must be >= 0");
    t_expect_spec_error("FTRL(l1_regularization_strength=-1)", "l1_regularization_strength must be >= 0");
    t_expect_spec_error("FTRL(l2_regularization_strength=-1)", "l2_regularization_strength must be >= 0");
    t_expect_spec_error("FTRL(l2_shrinkage_regularization_strength=-1)", "l2_shrinkage_regularization_strength");
    t_expect_spec_error("FTRL(beta=-1)", "beta must be >= 0");
    t_expect_spec_error("FTRL(weight_decay=0.1)", "FTRL has no argument 'weight_decay'");
    t_expect_spec_error("Adam(eps=(None, 1))", "eps must be a number");
    t_expect_spec_error("Lion(betas=(None, 0.9))", "betas[0] must be a number");
    t_expect_spec_error("AdaBelief(rectify=1)", "rectify must be True or False");
    t_expect_spec_error("AdaBelief(degenerated_to_sgd='yes')", "degenerated_to_sgd must be True or False");
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "tests";
    asgd_average(dir, "optim_more_ax_f64.txt", DESCENT_F64);
    asgd_average(dir, "optim_more_ax_f32.txt", DESCENT_F32);
    for (int i = 0; i < NCONFIGS; i++)
        contracts(CONFIGS[i]);
    lazy_state();
    bounds();
    test_keras_ftrl();
    test_invalid_arguments();
    return t_done();
}
