/* LAMB and Adafactor, whose steps reduce over whole tensors (norms, row and
 * column means), threaded and vectorized: on tensors large enough to be
 * shared among threads and cut into many reduction groups, every
 * instruction set and 1, 2 and 3 threads give the bits of the portable
 * single-threaded step (parameters and the whole checkpoint), for 1-D
 * tensors, matrices and batches of matrices, f32 and f64; and the step is the
 * published update, computed here plainly in double from the same inputs. */
#include "internal.h"
#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define STEPS 2

typedef struct shape {
    int ndim;
    size_t dims[3];
} shape;

/* Sizes: above the threading and grouping thresholds (tensor_hooks.c,
 * kernels.h) with vector remainders, and small ones. */
static const shape shapes[] = {
    {1, {140007, 0, 0}}, {1, {7, 0, 0}},      {2, {371, 389, 0}},  {3, {2, 129, 517}},
    {2, {1, 5, 0}},      {2, {131101, 1, 0}}, {2, {1, 131111, 0}}, {2, {33, 17, 0}},
};
#define NS ((int)(sizeof shapes / sizeof shapes[0]))

static size_t numel(const shape *s)
{
    size_t n = 1;
    for (int d = 0; d < s->ndim; d++)
        n *= s->dims[d];
    return n;
}

static double p0(size_t i) { return 0.5 - (double)(i % 17) * 0.0625; }

/* Changes sign, size and sparsity with the step; some rows are all zero. */
static double grad_value(size_t i, int step, int tensor)
{
    unsigned h = (unsigned)(i * 2654435761u) ^ (unsigned)(step * 40503 + tensor * 977);
    if (h % 11 == 0 || (i / 389) % 29 == 5)
        return 0.0;
    return ((double)(h % 2001) - 1000.0) * 1e-3 * (1.0 + step);
}

typedef struct run {
    void *p[NS], *g[NS];
    unsigned char *image;
    size_t image_len;
} run;

static void free_run(run *r)
{
    for (int k = 0; k < NS; k++) {
        free(r->p[k]);
        free(r->g[k]);
    }
    free(r->image);
}

static void set(void *x, descent_dtype t, size_t i, double v)
{
    if (t == DESCENT_F64)
        ((double *)x)[i] = v;
    else
        ((float *)x)[i] = (float)v;
}

static double get(const void *x, descent_dtype t, size_t i)
{
    return t == DESCENT_F64 ? ((const double *)x)[i] : (double)((const float *)x)[i];
}

static int do_run(const char *spec, descent_dtype t, int isa, int threads, int steps, run *r)
{
    memset(r, 0, sizeof *r);
    descent_optimizer *opt;
    descent_error err;
    if (descent_create_from_spec(&opt, spec, NULL, &err) < 0) {
        fprintf(stderr, "%s: %s\n", spec, err.message);
        return -1;
    }
    descent_set_isa(opt, isa);
    descent_set_threads(opt, threads);
    int grp = descent_add_group(opt, NULL);
    size_t es = t == DESCENT_F64 ? 8 : 4;
    for (int k = 0; k < NS; k++) {
        size_t n = numel(&shapes[k]);
        r->p[k] = malloc(n * es);
        r->g[k] = malloc(n * es);
        for (size_t i = 0; i < n; i++)
            set(r->p[k], t, i, p0(i));
        descent_add_tensor_shaped(opt, grp, r->p[k], r->g[k], shapes[k].ndim, shapes[k].dims, t);
    }
    for (int s = 0; s < steps; s++) {
        for (int k = 0; k < NS; k++)
            for (size_t i = 0; i < numel(&shapes[k]); i++)
                set(r->g[k], t, i, grad_value(i, s, k));
        descent_step(opt);
    }
    descent_save_mem(opt, NULL, 0, &r->image_len);
    r->image = malloc(r->image_len);
    descent_save_mem(opt, r->image, r->image_len, &r->image_len);
    descent_destroy(opt);
    return 0;
}

static int same(const run *a, const run *b, descent_dtype t)
{
    size_t es = t == DESCENT_F64 ? 8 : 4;
    for (int k = 0; k < NS; k++)
        if (memcmp(a->p[k], b->p[k], numel(&shapes[k]) * es) != 0)
            return 0;
    return a->image_len == b->image_len && memcmp(a->image, b->image, a->image_len) == 0;
}

static void check_paths(const char *spec)
{
    static const descent_dtype dtypes[] = {DESCENT_F32, DESCENT_F64};
    int best = descent_isa_detect();
    for (int d = 0; d < 2; d++) {
        run ref;
        if (do_run(spec, dtypes[d], DESCENT_ISA_PORTABLE, 1, STEPS, &ref) < 0) {
            CHECK(0, "%s: cannot create", spec);
            continue;
        }
        for (int k = DESCENT_ISA_PORTABLE + 1; k <= best + 3; k++) {
            /* each wider path on one thread; the widest on 2 and 3; the portable on 2 */
            int isa = k <= best ? k : k == best + 3 ? DESCENT_ISA_PORTABLE : best;
            int threads = k <= best ? 1 : k == best + 3 ? 2 : k - best + 1;
            run r;
            do_run(spec, dtypes[d], isa, threads, STEPS, &r);
            CHECK(same(&ref, &r, dtypes[d]), "%s %s: isa %d, %d threads differ from the portable path", spec,
                  dtypes[d] == DESCENT_F64 ? "f64" : "f32", isa, threads);
            free_run(&r);
        }
        free_run(&ref);
    }
}

/* ---- the update in double, from the step's own inputs ------------------- */

/* LAMB's first step from zero state (optax.lamb): m = (1 - b1) g,
 * v = (1 - b2) g^2, u = m_hat / (sqrt(v_hat + eps_root) + eps) + wd p,
 * p -= lr (||p|| / ||u||) u. */
static void lamb_reference(const double *p, const double *g, size_t n, double lr, double wd, double *out)
{
    const double b1 = 0.9, b2 = 0.999, eps = 1e-6;
    double *u = malloc(n * sizeof *u);
    double pn = 0, un = 0;
    for (size_t i = 0; i < n; i++) {
        double m = (1 - b1) * g[i] / (1 - b1), v = (1 - b2) * g[i] * g[i] / (1 - b2);
        u[i] = m / (sqrt(v) + eps) + wd * p[i];
        pn += p[i] * p[i];
        un += u[i] * u[i];
    }
    double r = pn == 0 || un == 0 ? 1 : sqrt(pn) / sqrt(un);
    for (size_t i = 0; i < n; i++)
        out[i] = p[i] - lr * r * u[i];
    free(u);
}

/* Adafactor's first step (torch.optim.Adafactor, w_1 = 1 so the state is
 * the first statistics): factored over the last two dimensions R x C,
 * V = row col / max(mean(row), eps1), U = g / sqrt(max(V, eps1^2)),
 * p -= max(eps2, RMS(p)) min(lr, 1) / max(1, RMS(U) / d) U. */
static void adafactor_reference(const double *p, const double *g, const shape *s, double lr, double eps1,
                                double *out)
{
    size_t n = numel(s);
    int fact = s->ndim >= 2;
    size_t R = fact ? s->dims[s->ndim - 2] : 1, C = fact ? s->dims[s->ndim - 1] : n, B = n / (R * C);
    double *v = malloc(n * sizeof *v), *row = malloc(R * sizeof *row), *col = malloc(C * sizeof *col);
    for (size_t b = 0; b < B; b++) {
        const double *gb = g + b * R * C;
        double rs = 0;
        for (size_t r = 0; r < R; r++) {
            row[r] = 0;
            for (size_t c = 0; c < C; c++)
                row[r] += gb[r * C + c] * gb[r * C + c] / (double)C;
            rs += row[r] / (double)R;
        }
        for (size_t c = 0; c < C; c++) {
            col[c] = 0;
            for (size_t r = 0; r < R; r++)
                col[c] += gb[r * C + c] * gb[r * C + c] / (double)R;
        }
        rs = rs > eps1 ? rs : eps1;
        for (size_t r = 0; r < R; r++)
            for (size_t c = 0; c < C; c++)
                v[b * R * C + r * C + c] = fact ? row[r] * col[c] / rs : gb[c] * gb[c];
    }
    double pn = 0, un = 0;
    for (size_t i = 0; i < n; i++) {
        double vi = v[i] > eps1 * eps1 ? v[i] : eps1 * eps1;
        v[i] = g[i] / sqrt(vi);
        pn += p[i] * p[i];
        un += v[i] * v[i];
    }
    double rms_p = sqrt(pn / (double)n), rms_u = sqrt(un / (double)n);
    double alpha = (rms_p > 1e-3 ? rms_p : 1e-3) * (lr < 1 ? lr : 1);
    double scale = alpha / (rms_u > 1 ? rms_u : 1);
    for (size_t i = 0; i < n; i++)
        out[i] = p[i] - scale * v[i];
    free(v);
    free(row);
    free(col);
}

static void check_reference(descent_dtype t)
{
    const double tol = t == DESCENT_F64 ? 1e-12 : 2e-6;
    const double eps1 = t == DESCENT_F64 ? 2.220446049250313e-16 : 1.1920928955078125e-07;
    for (int a = 0; a < 2; a++) {
        const char *spec = a == 0 ? "LAMB(lr=0.01, weight_decay=0.01)" : "Adafactor()";
        run r;
        if (do_run(spec, t, descent_isa_detect(), 2, 1, &r) < 0) {
            CHECK(0, "%s: cannot create", spec);
            continue;
        }
        for (int k = 0; k < NS; k++) {
            size_t n = numel(&shapes[k]);
            double *p = malloc(n * sizeof *p), *g = malloc(n * sizeof *g), *want = malloc(n * sizeof *want);
            for (size_t i = 0; i < n; i++) {
                p[i] = t == DESCENT_F64 ? p0(i) : (double)(float)p0(i);
                g[i] = t == DESCENT_F64 ? grad_value(i, 0, k) : (double)(float)grad_value(i, 0, k);
            }
            if (a == 0)
                lamb_reference(p, g, n, 0.01, 0.01, want);
            else
                adafactor_reference(p, g, &shapes[k], 0.01, eps1, want);
            double worst = 0, moved = 0;
            for (size_t i = 0; i < n; i++) {
                double got = get(r.p[k], t, i), e = fabs(got - want[i]);
                worst = e > worst ? e : worst;
                moved = fabs(want[i] - p[i]) > moved ? fabs(want[i] - p[i]) : moved;
            }
            /* to the rounding of the parameters (and of f32 arithmetic), far
             * below the step itself */
            CHECK(worst <= tol && moved > 100 * tol, "%s %s tensor %d: |p - reference| %g (step %g)", spec,
                  t == DESCENT_F64 ? "f64" : "f32", k, worst, moved);
            free(p);
            free(g);
            free(want);
        }
        free_run(&r);
    }
}

int main(void)
{
    static const char *const specs[] = {
        "LAMB(lr=0.01, weight_decay=0.01, eps_root=1e-8)",
        "Adafactor()",
        "Adafactor(lr=0.05, weight_decay=0.1, maximize=True, d=1.5, eps=(1e-20, 1e-3), beta2_decay=-0.5)",
    };
    for (size_t k = 0; k < sizeof specs / sizeof specs[0]; k++)
        check_paths(specs[k]);
    check_reference(DESCENT_F32);
    check_reference(DESCENT_F64);
    t_isa_covered(descent_isa_detect());
    return t_done();
}
