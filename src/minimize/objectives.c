/* Built-in test objectives with analytic gradients and known minima. Each
 * is a row of a table: its arguments, its function-and-gradient, its minimum
 * and its default starting point. Formulas are in docs/minimize.md. */
#include "args.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PI 3.14159265358979323846
#define MAX_DIM ((size_t)1 << 24)

typedef struct objective_def objective_def;

struct descent_objective {
    const objective_def *def;
    size_t dim;
    double cond;
    double *eig;       /* quadratic: the diagonal's eigenvalues */
    char name[64];
};

struct objective_def {
    const char *name;
    size_t fixed_dim;  /* 0: the dim argument decides */
    bool takes_cond;
    double (*eval)(const descent_objective *o, const double *x, double *g);
    double f_min;      /* per dimension when scales_with_dim */
    bool scales_with_dim;
    void (*argmin)(const descent_objective *o, double *x);
    void (*start)(const descent_objective *o, double *x);
};

static void fill(double *x, size_t n, double v)
{
    for (size_t i = 0; i < n; i++)
        x[i] = v;
}

static void zeros(const descent_objective *o, double *x) { fill(x, o->dim, 0); }
static void ones(const descent_objective *o, double *x) { fill(x, o->dim, 1); }

/* Rosenbrock, extended (chained) form:
 * f = sum_{i<n-1} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2. */
static double rosenbrock(const descent_objective *o, const double *x, double *g)
{
    double f = 0;
    if (g)
        fill(g, o->dim, 0);
    for (size_t i = 0; i + 1 < o->dim; i++) {
        double a = x[i + 1] - x[i] * x[i], b = 1 - x[i];
        f += 100 * a * a + b * b;
        if (g) {
            g[i] += -400 * x[i] * a - 2 * b;
            g[i + 1] += 200 * a;
        }
    }
    return f;
}

static void rosenbrock_start(const descent_objective *o, double *x)
{
    for (size_t i = 0; i < o->dim; i++)
        x[i] = i % 2 == 0 ? -1.2 : 1.0;
}

/* Beale: (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2. */
static double beale(const descent_objective *o, const double *v, double *g)
{
    (void)o;
    double x = v[0], y = v[1];
    double t1 = 1.5 - x + x * y, t2 = 2.25 - x + x * y * y, t3 = 2.625 - x + x * y * y * y;
    if (g) {
        g[0] = 2 * t1 * (y - 1) + 2 * t2 * (y * y - 1) + 2 * t3 * (y * y * y - 1);
        g[1] = 2 * t1 * x + 2 * t2 * 2 * x * y + 2 * t3 * 3 * x * y * y;
    }
    return t1 * t1 + t2 * t2 + t3 * t3;
}

static void beale_argmin(const descent_objective *o, double *x)
{
    (void)o;
    x[0] = 3;
    x[1] = 0.5;
}

/* Booth: (x + 2y - 7)^2 + (2x + y - 5)^2. */
static double booth(const descent_objective *o, const double *v, double *g)
{
    (void)o;
    double a = v[0] + 2 * v[1] - 7, b = 2 * v[0] + v[1] - 5;
    if (g) {
        g[0] = 2 * a + 4 * b;
        g[1] = 4 * a + 2 * b;
    }
    return a * a + b * b;
}

static void booth_argmin(const descent_objective *o, double *x)
{
    (void)o;
    x[0] = 1;
    x[1] = 3;
}

/* Himmelblau: (x^2 + y - 11)^2 + (x + y^2 - 7)^2; four minima with f = 0. */
static double himmelblau(const descent_objective *o, const double *v, double *g)
{
    (void)o;
    double x = v[0], y = v[1];
    double a = x * x + y - 11, b = x + y * y - 7;
    if (g) {
        g[0] = 4 * x * a + 2 * b;
        g[1] = 2 * a + 4 * y * b;
    }
    return a * a + b * b;
}

static void himmelblau_argmin(const descent_objective *o, double *x)
{
    (void)o;
    x[0] = 3;
    x[1] = 2;
}

/* Rastrigin: 10 n + sum x_i^2 - 10 cos(2 pi x_i). */
static double rastrigin(const descent_objective *o, const double *x, double *g)
{
    double f = 10.0 * (double)o->dim;
    for (size_t i = 0; i < o->dim; i++) {
        f += x[i] * x[i] - 10 * cos(2 * PI * x[i]);
        if (g)
            g[i] = 2 * x[i] + 20 * PI * sin(2 * PI * x[i]);
    }
    return f;
}

static void rastrigin_start(const descent_objective *o, double *x) { fill(x, o->dim, 0.4); }

/* Ackley: -20 exp(-0.2 sqrt(mean x_i^2)) - exp(mean cos(2 pi x_i)) + 20 + e. */
static double ackley(const descent_objective *o, const double *x, double *g)
{
    double n = (double)o->dim, sq = 0, cs = 0;
    for (size_t i = 0; i < o->dim; i++) {
        sq += x[i] * x[i];
        cs += cos(2 * PI * x[i]);
    }
    double r = sqrt(sq / n), e1 = exp(-0.2 * r), e2 = exp(cs / n);
    if (g)
        for (size_t i = 0; i < o->dim; i++) {
            /* d/dx_i of the first term is 4 e1 x_i / (n r); 0 at r = 0 by symmetry. */
            double d1 = r > 0 ? 4 * e1 * x[i] / (n * r) : 0;
            g[i] = d1 + 2 * PI / n * e2 * sin(2 * PI * x[i]);
        }
    return -20 * e1 - e2 + 20 + exp(1.0);
}

static void ackley_start(const descent_objective *o, double *x) { fill(x, o->dim, 0.3); }

/* Styblinski-Tang: 1/2 sum x_i^4 - 16 x_i^2 + 5 x_i. */
static double styblinski_tang(const descent_objective *o, const double *x, double *g)
{
    double f = 0;
    for (size_t i = 0; i < o->dim; i++) {
        double t = x[i], t2 = t * t;
        f += 0.5 * (t2 * t2 - 16 * t2 + 5 * t);
        if (g)
            g[i] = 2 * t2 * t - 16 * t + 2.5;
    }
    return f;
}

/* The minimizer is the negative root of 2t^3 - 16t + 2.5 = 0 (Newton). */
static double styblinski_tang_root(void)
{
    double t = -2.9;
    for (int k = 0; k < 50; k++)
        t -= (2 * t * t * t - 16 * t + 2.5) / (6 * t * t - 16);
    return t;
}

static void styblinski_tang_argmin(const descent_objective *o, double *x)
{
    fill(x, o->dim, styblinski_tang_root());
}

/* Sphere: sum x_i^2. */
static double sphere(const descent_objective *o, const double *x, double *g)
{
    double f = 0;
    for (size_t i = 0; i < o->dim; i++) {
        f += x[i] * x[i];
        if (g)
            g[i] = 2 * x[i];
    }
    return f;
}

/* Quadratic: 1/2 sum lambda_i x_i^2, lambda_i = cond^(i/(n-1)) log-spaced
 * from 1 to cond: the Hessian's condition number is cond. */
static double quadratic(const descent_objective *o, const double *x, double *g)
{
    double f = 0;
    for (size_t i = 0; i < o->dim; i++) {
        f += 0.5 * o->eig[i] * x[i] * x[i];
        if (g)
            g[i] = o->eig[i] * x[i];
    }
    return f;
}

static const objective_def objectives[] = {
    {"rosenbrock", 0, false, rosenbrock, 0, false, ones, rosenbrock_start},
    {"beale", 2, false, beale, 0, false, beale_argmin, ones},
    {"booth", 2, false, booth, 0, false, booth_argmin, zeros},
    {"himmelblau", 2, false, himmelblau, 0, false, himmelblau_argmin, zeros},
    {"rastrigin", 0, false, rastrigin, 0, false, zeros, rastrigin_start},
    {"ackley", 0, false, ackley, 0, false, zeros, ackley_start},
    {"styblinski_tang", 0, false, styblinski_tang, NAN, true, styblinski_tang_argmin, zeros},
    {"sphere", 0, false, sphere, 0, false, zeros, ones},
    {"quadratic", 0, true, quadratic, 0, false, zeros, ones},
};
#define NOBJECTIVES (sizeof objectives / sizeof objectives[0])

int descent_objective_create(descent_objective **out, const char *spec, descent_error *err)
{
    if (!out)
        return descent_fail(err, DESCENT_ERR_INVALID, "out must not be NULL");
    *out = NULL;
    spec_doc doc;
    int rc = descent_spec_parse(&doc, spec, NULL, err);
    if (rc < 0)
        return rc;
    const spec_node *call = doc.root;
    const objective_def *def = NULL;
    if (call->kind == SPEC_CALL || call->kind == SPEC_NAME)
        for (size_t i = 0; i < NOBJECTIVES && !def; i++)
            if (descent_name_eq(call->str, objectives[i].name))
                def = &objectives[i];
    if (!def) {
        char names[300] = "";
        for (size_t i = 0; i < NOBJECTIVES; i++) {
            size_t used = strlen(names);
            snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", objectives[i].name);
        }
        spec_node at = *call;
        if (call->str)
            at.end = at.pos + strlen(call->str);
        rc = descent_spec_fail(&doc, &at, err, DESCENT_ERR_SPEC, "unknown objective%s%s%s (known: %s)",
                               call->str ? " '" : "", call->str ? call->str : "", call->str ? "'" : "", names);
        descent_spec_free(&doc);
        return rc;
    }
    static const char *const dim_cond[] = {"dim", "cond", NULL};
    static const char *const dim_only[] = {"dim", NULL};
    static const char *const none[] = {NULL};
    const spec_node *args[2] = {NULL, NULL};
    size_t dim = def->fixed_dim ? def->fixed_dim : 2;
    double cond = 10;
    rc = descent_args_bind(&doc, call, def->name, def->fixed_dim ? none : def->takes_cond ? dim_cond : dim_only, args,
                           err);
    if (rc == 0)
        rc = descent_args_size(&doc, args[0], "dim", strcmp(def->name, "rosenbrock") == 0 ? 2 : 1, MAX_DIM, &dim, err);
    if (rc == 0)
        rc = descent_args_real(&doc, args[1], "cond", 1, false, 1e16, &cond, err);
    descent_spec_free(&doc);
    if (rc < 0)
        return rc;
    descent_objective *o = calloc(1, sizeof *o);
    if (!o)
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory");
    o->def = def;
    o->dim = dim;
    o->cond = cond;
    if (def->takes_cond) {
        o->eig = malloc(dim * sizeof *o->eig);
        if (!o->eig) {
            free(o);
            return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory");
        }
        for (size_t i = 0; i < dim; i++)
            o->eig[i] = dim == 1 ? 1.0 : pow(cond, (double)i / (double)(dim - 1));
        snprintf(o->name, sizeof o->name, "%s(dim=%zu, cond=%g)", def->name, dim, cond);
    } else if (def->fixed_dim) {
        snprintf(o->name, sizeof o->name, "%s()", def->name);
    } else {
        snprintf(o->name, sizeof o->name, "%s(dim=%zu)", def->name, dim);
    }
    *out = o;
    return 0;
}

void descent_objective_destroy(descent_objective *o)
{
    if (!o)
        return;
    free(o->eig);
    free(o);
}

double descent_objective_eval(void *objective, const double *x, double *grad, size_t n)
{
    const descent_objective *o = objective;
    if (!o || !x || n != o->dim)
        return NAN;
    return o->def->eval(o, x, grad);
}

const char *descent_objective_name(const descent_objective *o) { return o ? o->name : NULL; }

size_t descent_objective_dim(const descent_objective *o) { return o ? o->dim : 0; }

void descent_objective_minimum(const descent_objective *o, double *f_min, double *x_min)
{
    if (!o)
        return;
    if (f_min) {
        if (o->def->scales_with_dim) {
            double *x = malloc(o->dim * sizeof *x);
            *f_min = NAN;
            if (x) {
                o->def->argmin(o, x);
                *f_min = o->def->eval(o, x, NULL);
                free(x);
            }
        } else {
            *f_min = o->def->f_min;
        }
    }
    if (x_min)
        o->def->argmin(o, x_min);
}

void descent_objective_start(const descent_objective *o, double *x0)
{
    if (o && x0)
        o->def->start(o, x0);
}
