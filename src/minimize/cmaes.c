/* CMA-ES: Hansen's (mu/mu_w, lambda) evolution strategy with cumulative
 * step-size adaptation and rank-one + rank-mu covariance updates, following
 * "The CMA Evolution Strategy: A Tutorial" (Hansen, arXiv:1604.00772,
 * 2016), with its default parameters (table 1, positive weights only):
 *
 *   lambda = 4 + floor(3 ln n), mu = floor(lambda / 2)
 *   w_i ∝ ln((lambda + 1) / 2) - ln i (i = 1..mu), sum w_i = 1, mu_eff = 1 / sum w_i^2
 *   c_sigma = (mu_eff + 2) / (n + mu_eff + 5)
 *   d_sigma = 1 + 2 max(0, sqrt((mu_eff - 1) / (n + 1)) - 1) + c_sigma
 *   c_c = (4 + mu_eff / n) / (n + 4 + 2 mu_eff / n)
 *   c_1 = 2 / ((n + 1.3)^2 + mu_eff)
 *   c_mu = min(1 - c_1, 2 (mu_eff - 2 + 1 / mu_eff) / ((n + 2)^2 + mu_eff))
 *
 * Sampling: y_k = B D z_k, z_k ~ N(0, I), x_k = m + sigma y_k. Update:
 *   y_w = sum w_i y_{i:lambda},  m += sigma y_w
 *   p_sigma = (1 - c_sigma) p_sigma + sqrt(c_sigma (2 - c_sigma) mu_eff) C^{-1/2} y_w
 *   h_sigma = [ |p_sigma| / sqrt(1 - (1 - c_sigma)^(2 (g + 1))) < (1.4 + 2 / (n + 1)) E|N(0, I)| ]
 *   p_c = (1 - c_c) p_c + h_sigma sqrt(c_c (2 - c_c) mu_eff) y_w
 *   C = (1 - c_1 - c_mu) C + c_1 (p_c p_c' + (1 - h_sigma) c_c (2 - c_c) C) + c_mu sum w_i y_i y_i'
 *   sigma *= exp(c_sigma / d_sigma (|p_sigma| / E|N(0, I)| - 1))
 * with E|N(0, I)| ≈ sqrt(n) (1 - 1/(4n) + 1/(21 n^2)). C = B D^2 B' is
 * decomposed (Jacobi) lazily, once every lambda / (10 n (c_1 + c_mu))
 * generations.
 *
 * Bounds: a candidate outside the box is projected onto it and the update
 * uses the projected point (y = (x - m) / sigma).
 *
 * Termination (Hansen's tutorial, appendix B.3, with pycma's names), tested
 * after every generation, in this order:
 *   tolx:          sigma sqrt(C_ii) < 1e-12 sigma0 and sigma |p_c,i| < 1e-12 sigma0 for all i
 *   tolupsigma:    sigma / sigma0 > 1e20 sqrt(max eigenvalue of C) (or sigma not finite)
 *   tolfun:        the best values of the last 10 + ceil(30 n / lambda)
 *                  generations and all values of this one span < 1e-12
 *   tolstagnation: over the last W = min(20000, max(120 + 30 n / lambda,
 *                  g / 5)) generations the median of the most recent 30% of
 *                  the best values and that of the median values are both
 *                  not below the medians of the first 30% (tested every
 *                  W/100 + 1 generations)
 *   noeffectcoord: adding 0.2 sigma sqrt(C_ii) leaves some m_i unchanged
 *   noeffectaxis:  adding 0.1 sigma d_k b_k (k = g mod n) leaves m unchanged
 *   tolconditioncov: cond(C) = (max d / min d)^2 > 1e14.
 * The last three describe the limits of double precision, not convergence:
 * while the best value still falls (a new best within the last
 * 10 + ceil(30 n / lambda) generations) they wait, up to cond(C) = 1e20
 * (below which sampling stays finite).
 *
 * IPOP (Auger & Hansen, CEC 2005): with restarts = K > 0, a criterion
 * restarts the run with twice the population, sigma0 and C = I, from a point
 * drawn uniformly in the initial region (the bounds, or x0 +- 2 sigma0 in
 * every coordinate), up to K times; the last run stops with the criterion's
 * name (DESCENT_STOP_TOLX, ...), and its distribution is no longer updated,
 * so asking again samples from the last finite one.
 */
#include "args.h"
#include "population.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct cmaes {
    size_t n;
    double sigma0;
    size_t popsize;     /* 0: the default lambda */
    size_t max_restarts;
    /* the current run */
    size_t lambda, mu, restarts;
    double *w, mueff, cs, ds, cc, c1, cmu, chin;
    double *mean, *ps, *pc, *C, *B, *D, *tmp, *tmp2, *Y, *A;
    size_t *order;
    double sigma;
    int64_t gen, eigen_gen;
    double *hist;       /* best value of each generation, a ring */
    size_t hist_cap, hist_len, hist_next;
    double *stag_best, *stag_med;  /* best and median value of each generation, a ring of STAG_CAP */
    size_t stag_len, stag_next;
    double best_ever;   /* of the current run */
    int64_t best_gen;   /* generation of the last new best */
    int stop;           /* the criterion that ended the last run (0: running) */
    bool alloc_failed;
} cmaes;

#define STAG_CAP 20000

static void cm_free_run(cmaes *s)
{
    free(s->w);
    free(s->Y);
    free(s->order);
    free(s->hist);
    s->w = s->Y = s->hist = NULL;
    s->order = NULL;
}

static void cm_destroy(void *state)
{
    cmaes *s = state;
    if (!s)
        return;
    cm_free_run(s);
    free(s->mean);
    free(s->ps);
    free(s->pc);
    free(s->C);
    free(s->B);
    free(s->D);
    free(s->tmp);
    free(s->tmp2);
    free(s->A);
    free(s->stag_best);
    free(s->stag_med);
    free(s);
}

static const char *const cm_names[] = {"sigma0", "popsize", "seed", "restarts", "lower", "upper", NULL};

static int cm_create(void **state, const spec_doc *doc, const spec_node *const *a, size_t n, descent_error *err)
{
    double sigma0 = 0.3;
    size_t popsize = 0, restarts = 0;
    int rc = descent_args_real(doc, a[0], "sigma0", 0, true, INFINITY, &sigma0, err);
    if (rc == 0 && a[1] && a[1]->kind != SPEC_NONE)
        rc = descent_args_size(doc, a[1], "popsize", 2, 1000000, &popsize, err);
    if (rc == 0 && popsize * n > ((size_t)1 << 26))
        rc = descent_spec_fail(doc, a[1], err, DESCENT_ERR_INVALID, "popsize %zu times n = %zu is too large", popsize,
                               n);
    if (rc == 0)
        rc = descent_args_size(doc, a[3], "restarts", 0, 100, &restarts, err);
    if (rc < 0)
        return rc;
    if (n > 20000)
        return descent_fail(err, DESCENT_ERR_INVALID,
                            "CMAES keeps an n x n covariance matrix: n = %zu is too large (at most 20000)", n);
    cmaes *s = calloc(1, sizeof *s);
    if (!s)
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory");
    s->n = n;
    s->sigma0 = sigma0;
    s->popsize = popsize;
    s->max_restarts = restarts;
    s->mean = calloc(n, sizeof(double));
    s->ps = calloc(n, sizeof(double));
    s->pc = calloc(n, sizeof(double));
    s->C = calloc(n * n, sizeof(double));
    s->B = calloc(n * n, sizeof(double));
    s->A = calloc(n * n, sizeof(double));
    s->D = calloc(n, sizeof(double));
    s->tmp = calloc(n, sizeof(double));
    s->tmp2 = calloc(n, sizeof(double));
    s->stag_best = calloc(STAG_CAP, sizeof(double));
    s->stag_med = calloc(STAG_CAP, sizeof(double));
    if (!s->mean || !s->ps || !s->pc || !s->C || !s->B || !s->A || !s->D || !s->tmp || !s->tmp2 || !s->stag_best ||
        !s->stag_med) {
        cm_destroy(s);
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory for CMAES over %zu variables", n);
    }
    *state = s;
    return 0;
}

/* Set the strategy parameters for population lambda and start the
 * distribution at mean with sigma0 and C = I. When the buffers for a new
 * lambda cannot be allocated, the old population size is kept (an error
 * only when there is none). */
static int cm_alloc_run(cmaes *s, size_t lambda)
{
    const size_t n = s->n;
    if (lambda != s->lambda || !s->w) {
        size_t cap = 10 + (size_t)ceil(30.0 * (double)n / (double)lambda);
        double *w = calloc(lambda / 2, sizeof(double)), *Y = calloc(lambda * n, sizeof(double));
        size_t *order = calloc(lambda, sizeof(size_t));
        double *hist = calloc(cap, sizeof(double));
        if (w && Y && order && hist) {
            cm_free_run(s);
            s->w = w;
            s->Y = Y;
            s->order = order;
            s->hist = hist;
            s->hist_cap = cap;
            s->lambda = lambda;
        } else {
            free(w);
            free(Y);
            free(order);
            free(hist);
            if (!s->w)
                return DESCENT_ERR_NOMEM;
        }
    }
    return 0;
}

/* The weights and constants of population lambda (table 1): a function of
 * lambda and n alone, so checkpoints store lambda, not these. */
static void cm_strategy(cmaes *s)
{
    const size_t lambda = s->lambda;
    const double dn = (double)s->n;
    s->mu = lambda / 2;
    double sum = 0, sum2 = 0;
    for (size_t i = 0; i < s->mu; i++) {
        s->w[i] = log(((double)lambda + 1) / 2) - log((double)i + 1);
        sum += s->w[i];
    }
    for (size_t i = 0; i < s->mu; i++) {
        s->w[i] /= sum;
        sum2 += s->w[i] * s->w[i];
    }
    const double mueff = 1 / sum2;
    s->mueff = mueff;
    s->cs = (mueff + 2) / (dn + mueff + 5);
    s->ds = 1 + 2 * fmax(0, sqrt((mueff - 1) / (dn + 1)) - 1) + s->cs;
    s->cc = (4 + mueff / dn) / (dn + 4 + 2 * mueff / dn);
    s->c1 = 2 / ((dn + 1.3) * (dn + 1.3) + mueff);
    s->cmu = fmin(1 - s->c1, 2 * (mueff - 2 + 1 / mueff) / ((dn + 2) * (dn + 2) + mueff));
    s->chin = sqrt(dn) * (1 - 1 / (4 * dn) + 1 / (21 * dn * dn));
}

static int cm_start(cmaes *s, size_t lambda, const double *mean)
{
    const size_t n = s->n;
    if (cm_alloc_run(s, lambda) < 0)
        return DESCENT_ERR_NOMEM;
    cm_strategy(s);
    memcpy(s->mean, mean, n * sizeof *mean);
    memset(s->ps, 0, n * sizeof(double));
    memset(s->pc, 0, n * sizeof(double));
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++)
            s->C[i * n + j] = s->B[i * n + j] = i == j;
        s->D[i] = 1;
    }
    s->sigma = s->sigma0;
    s->gen = s->eigen_gen = 0;
    s->hist_len = s->hist_next = 0;
    s->stag_len = s->stag_next = 0;
    s->best_ever = INFINITY;
    s->best_gen = 0;
    s->stop = 0;
    return 0;
}

static size_t default_lambda(size_t n) { return 4 + (size_t)floor(3 * log((double)n)); }

static int cm_init(void *state, pop_ctx *c, descent_error *err)
{
    cmaes *s = state;
    s->restarts = 0;
    double *m = s->tmp2;
    memcpy(m, c->x0, s->n * sizeof *m);
    pop_clip(c, m);
    if (cm_start(s, s->popsize ? s->popsize : default_lambda(s->n), m) < 0)
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory for the CMAES population");
    return 0;
}

static size_t cm_size(const void *state) { return ((const cmaes *)state)->lambda; }

static void cm_ask(void *state, pop_ctx *c, double *cand)
{
    cmaes *s = state;
    const size_t n = s->n;
    for (size_t k = 0; k < s->lambda; k++) {
        double *x = cand + k * n, *y = s->Y + k * n;
        for (size_t j = 0; j < n; j++)
            s->tmp[j] = s->D[j] * descent_rng_normal(&c->rng);
        for (size_t i = 0; i < n; i++) {
            double v = 0;
            for (size_t j = 0; j < n; j++)
                v += s->B[i * n + j] * s->tmp[j];
            x[i] = s->mean[i] + s->sigma * v;
            if (!isfinite(x[i]))
                x[i] = s->mean[i]; /* never a non-finite candidate */
        }
        pop_clip(c, x);
        for (size_t i = 0; i < n; i++)
            y[i] = (x[i] - s->mean[i]) / s->sigma;
    }
}

/* Sort order[] by f, ties by index (insertion sort: lambda is small). */
static void sort_order(size_t *order, const double *f, size_t l)
{
    for (size_t i = 0; i < l; i++)
        order[i] = i;
    for (size_t i = 1; i < l; i++) {
        size_t v = order[i], j = i;
        while (j > 0 && f[order[j - 1]] > f[v]) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
}

static void cm_decompose(cmaes *s)
{
    const size_t n = s->n;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            s->A[i * n + j] = 0.5 * (s->C[i * n + j] + s->C[j * n + i]);
    descent_jacobi_eigen(s->A, s->B, s->D, n);
    for (size_t i = 0; i < n; i++)
        s->D[i] = sqrt(fmax(s->D[i], 1e-300));
    s->eigen_gen = s->gen;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of the ring r (capacity STAG_CAP, newest at next - 1) over the
 * generations [from, to) counted back from the newest (0: newest). */
static double ring_median(const double *r, size_t next, size_t from, size_t to, double *work)
{
    size_t k = 0;
    for (size_t a = from; a < to; a++)
        work[k++] = r[(next + STAG_CAP - 1 - a) % STAG_CAP];
    qsort(work, k, sizeof *work, cmp_double);
    return k % 2 ? work[k / 2] : 0.5 * (work[k / 2 - 1] + work[k / 2]);
}

static bool cm_stagnation(cmaes *s)
{
    const double dn = (double)s->n, base = 120 + 30 * dn / (double)s->lambda;
    double w = fmax(base, 0.2 * (double)s->gen);
    size_t W = w > STAG_CAP ? STAG_CAP : (size_t)w;
    if ((double)s->gen <= base || s->stag_len < W)
        return false;
    /* Sorting 2 x 30% of W values is tested every W/100 + 1 generations
     * (a delay of at most 1% of the window). */
    if (s->gen % (int64_t)(W / 100 + 1) != 0)
        return false;
    size_t k = (size_t)ceil(0.3 * (double)W);
    double *work = malloc(k * sizeof *work);
    if (!work)
        return false;
    /* Recent 30%: ages [0, k); first 30%: ages [W - k, W). */
    bool best = ring_median(s->stag_best, s->stag_next, 0, k, work) >=
                ring_median(s->stag_best, s->stag_next, W - k, W, work);
    bool med = ring_median(s->stag_med, s->stag_next, 0, k, work) >=
               ring_median(s->stag_med, s->stag_next, W - k, W, work);
    free(work);
    return best && med;
}

/* The termination criterion that holds after this generation (f: its
 * values, sorted through order), or 0. */
static int cm_criterion(cmaes *s, const double *f)
{
    const size_t n = s->n;
    const double tolx = 1e-12 * s->sigma0;
    double dmax = 0, dmin = INFINITY;
    for (size_t i = 0; i < n; i++) {
        dmax = fmax(dmax, s->D[i]);
        dmin = fmin(dmin, s->D[i]);
    }
    bool small = true;
    for (size_t i = 0; i < n && small; i++)
        small = s->sigma * sqrt(s->C[i * n + i]) < tolx && s->sigma * fabs(s->pc[i]) < tolx;
    if (small)
        return DESCENT_STOP_TOLX;
    if (!isfinite(s->sigma) || s->sigma / s->sigma0 > 1e20 * dmax)
        return DESCENT_STOP_TOLUPSIGMA;
    if (s->hist_len >= s->hist_cap) {
        double lo = INFINITY, hi = -INFINITY;
        for (size_t i = 0; i < s->hist_len; i++) {
            lo = fmin(lo, s->hist[i]);
            hi = fmax(hi, s->hist[i]);
        }
        for (size_t k = 0; k < s->lambda; k++) {
            lo = fmin(lo, f[k]);
            hi = fmax(hi, f[k]);
        }
        if (hi - lo < 1e-12)
            return DESCENT_STOP_TOLFUN;
    }
    if (cm_stagnation(s))
        return DESCENT_STOP_TOLSTAGNATION;
    const double cond = dmax * dmax / (dmin * dmin);
    const bool falling = (double)(s->gen - s->best_gen) < (double)s->hist_cap;
    if (falling && cond <= 1e20)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s->mean[i] == s->mean[i] + 0.2 * s->sigma * sqrt(s->C[i * n + i]))
            return DESCENT_STOP_NOEFFECTCOORD;
    const size_t k = (size_t)(s->gen % (int64_t)n);
    bool none = true;
    for (size_t i = 0; i < n && none; i++)
        none = s->mean[i] == s->mean[i] + 0.1 * s->sigma * s->D[k] * s->B[i * n + k];
    if (none)
        return DESCENT_STOP_NOEFFECTAXIS;
    if (!(cond <= 1e14))
        return DESCENT_STOP_TOLCONDITIONCOV;
    return 0;
}

static void cm_tell(void *state, pop_ctx *c, const double *cand, const double *f)
{
    (void)cand;
    cmaes *s = state;
    const size_t n = s->n, mu = s->mu;
    if (s->stop)
        return; /* the last run has ended: keep its (finite) distribution */
    sort_order(s->order, f, s->lambda);
    /* y_w and the new mean. */
    double *yw = s->tmp;
    for (size_t i = 0; i < n; i++)
        yw[i] = 0;
    for (size_t k = 0; k < mu; k++) {
        const double *y = s->Y + s->order[k] * n;
        for (size_t i = 0; i < n; i++)
            yw[i] += s->w[k] * y[i];
    }
    for (size_t i = 0; i < n; i++)
        s->mean[i] += s->sigma * yw[i];
    /* C^{-1/2} y_w = B D^{-1} B' y_w. */
    double *z = s->tmp2;
    for (size_t j = 0; j < n; j++) {
        double v = 0;
        for (size_t i = 0; i < n; i++)
            v += s->B[i * n + j] * yw[i];
        z[j] = v / s->D[j];
    }
    const double kps = sqrt(s->cs * (2 - s->cs) * s->mueff);
    double psn = 0;
    for (size_t i = 0; i < n; i++) {
        double v = 0;
        for (size_t j = 0; j < n; j++)
            v += s->B[i * n + j] * z[j];
        s->ps[i] = (1 - s->cs) * s->ps[i] + kps * v;
        psn += s->ps[i] * s->ps[i];
    }
    psn = sqrt(psn);
    const double dn = (double)n;
    const bool hsig = psn / sqrt(1 - pow(1 - s->cs, 2.0 * (double)(s->gen + 1))) < (1.4 + 2 / (dn + 1)) * s->chin;
    const double kpc = hsig ? sqrt(s->cc * (2 - s->cc) * s->mueff) : 0;
    for (size_t i = 0; i < n; i++)
        s->pc[i] = (1 - s->cc) * s->pc[i] + kpc * yw[i];
    const double delta = hsig ? 0 : s->cc * (2 - s->cc);
    const double keep = 1 - s->c1 - s->cmu + s->c1 * delta;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j <= i; j++) {
            double rmu = 0;
            for (size_t k = 0; k < mu; k++) {
                const double *y = s->Y + s->order[k] * n;
                rmu += s->w[k] * y[i] * y[j];
            }
            double v = keep * s->C[i * n + j] + s->c1 * s->pc[i] * s->pc[j] + s->cmu * rmu;
            s->C[i * n + j] = s->C[j * n + i] = v;
        }
    s->sigma *= exp(s->cs / s->ds * (psn / s->chin - 1));
    s->gen++;
    if ((double)(s->gen - s->eigen_gen) > (double)s->lambda / ((s->c1 + s->cmu) * dn * 10))
        cm_decompose(s);
    /* The records of the termination criteria, and IPOP. */
    const double fbest = f[s->order[0]], fmed = f[s->order[s->lambda / 2]];
    s->hist[s->hist_next] = fbest;
    s->hist_next = (s->hist_next + 1) % s->hist_cap;
    if (s->hist_len < s->hist_cap)
        s->hist_len++;
    s->stag_best[s->stag_next] = fbest;
    s->stag_med[s->stag_next] = fmed;
    s->stag_next = (s->stag_next + 1) % STAG_CAP;
    if (s->stag_len < STAG_CAP)
        s->stag_len++;
    if (fbest < s->best_ever) {
        s->best_ever = fbest;
        s->best_gen = s->gen;
    }
    int why = cm_criterion(s, f);
    if (!why)
        return;
    if (s->restarts >= s->max_restarts) {
        s->stop = why;
        return;
    }
    double *m = s->tmp2;
    for (size_t i = 0; i < n; i++) {
        double a, b;
        if (c->lo) {
            a = c->lo[i];
            b = c->hi[i];
        } else {
            a = c->x0[i] - 2 * s->sigma0;
            b = c->x0[i] + 2 * s->sigma0;
        }
        m[i] = a + descent_rng_uniform(&c->rng) * (b - a);
    }
    /* Double lambda, up to 2^24 / n candidates per generation. */
    size_t lambda = s->lambda * 2 <= ((size_t)1 << 24) / n ? s->lambda * 2 : s->lambda;
    s->restarts++;
    cm_start(s, lambda, m); /* keeps the old buffers if new ones fail */
}

static int cm_stop(const void *state) { return ((const cmaes *)state)->stop; }

/* ---- symmetric eigen decomposition ------------------------------------- */

void descent_jacobi_eigen(double *a, double *v, double *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            v[i * n + j] = i == j;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, diag = 0;
        for (size_t p = 0; p < n; p++) {
            diag += a[p * n + p] * a[p * n + p];
            for (size_t q = p + 1; q < n; q++)
                off += a[p * n + q] * a[p * n + q];
        }
        if (off <= 1e-30 * diag || off == 0)
            break;
        for (size_t p = 0; p < n; p++)
            for (size_t q = p + 1; q < n; q++) {
                double apq = a[p * n + q];
                if (apq == 0)
                    continue;
                /* The rotation that zeroes a_pq: t = tan(phi) is the smaller
                 * root of t^2 + 2 theta t - 1 = 0, theta = (a_qq - a_pp) / (2 a_pq). */
                double theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
                double t = (theta >= 0 ? 1 : -1) / (fabs(theta) + sqrt(theta * theta + 1));
                double cs = 1 / sqrt(t * t + 1), sn = t * cs;
                for (size_t k = 0; k < n; k++) {
                    double akp = a[k * n + p], akq = a[k * n + q];
                    a[k * n + p] = cs * akp - sn * akq;
                    a[k * n + q] = sn * akp + cs * akq;
                }
                for (size_t k = 0; k < n; k++) {
                    double apk = a[p * n + k], aqk = a[q * n + k];
                    a[p * n + k] = cs * apk - sn * aqk;
                    a[q * n + k] = sn * apk + cs * aqk;
                }
                for (size_t k = 0; k < n; k++) {
                    double vkp = v[k * n + p], vkq = v[k * n + q];
                    v[k * n + p] = cs * vkp - sn * vkq;
                    v[k * n + q] = sn * vkp + cs * vkq;
                }
            }
    }
    for (size_t i = 0; i < n; i++)
        w[i] = a[i * n + i];
}

static int cm_io(void *state, pop_io *io, descent_error *err)
{
    cmaes *s = state;
    const size_t n = s->n;
    size_t lambda = s->lambda, restarts = s->restarts;
    pop_io_size(io, &lambda);
    pop_io_size(io, &restarts);
    if (pop_io_bad(io))
        return 0; /* the caller reports the truncation */
    if (io->r) {
        if (lambda != 0 && (lambda < 2 || lambda > ((size_t)1 << 26) / n))
            return descent_fail(err, DESCENT_ERR_CHECKPOINT, "checkpoint has CMAES lambda = %zu", lambda);
        if (restarts > s->max_restarts)
            return descent_fail(err, DESCENT_ERR_CHECKPOINT,
                                "checkpoint has made %zu restarts, this CMAES allows %zu", restarts, s->max_restarts);
        if (lambda != 0 && (cm_alloc_run(s, lambda) < 0 || s->lambda != lambda))
            return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory for CMAES lambda = %zu", lambda);
        s->restarts = restarts;
        if (lambda != 0)
            cm_strategy(s);
    }
    if (lambda == 0)
        return 0; /* saved before the first generation: nothing more */
    pop_io_f64(io, &s->sigma, 1);
    pop_io_f64(io, s->mean, n);
    pop_io_f64(io, s->ps, n);
    pop_io_f64(io, s->pc, n);
    pop_io_f64(io, s->C, n * n);
    pop_io_f64(io, s->B, n * n);
    pop_io_f64(io, s->D, n);
    uint64_t gen = (uint64_t)s->gen, eigen_gen = (uint64_t)s->eigen_gen;
    pop_io_u64(io, &gen);
    pop_io_u64(io, &eigen_gen);
    s->gen = (int64_t)(gen & INT64_MAX);
    s->eigen_gen = (int64_t)(eigen_gen & INT64_MAX);
    size_t hist_len = s->hist_len, hist_next = s->hist_next;
    pop_io_size(io, &hist_len);
    pop_io_size(io, &hist_next);
    if (io->r && !pop_io_bad(io) && (hist_len > s->hist_cap || hist_next >= s->hist_cap))
        return descent_fail(err, DESCENT_ERR_CHECKPOINT, "checkpoint has a stagnation record of %zu/%zu of %zu",
                            hist_len, hist_next, s->hist_cap);
    s->hist_len = hist_len;
    s->hist_next = hist_next;
    pop_io_f64(io, s->hist, s->hist_cap);
    pop_io_f64(io, s->Y, lambda * n); /* the samples of an outstanding ask */
    if (io->r && io->version < 2) {
        /* An image from before the termination criteria: records start
         * afresh at this generation. */
        s->stag_len = s->stag_next = 0;
        s->best_ever = INFINITY;
        s->best_gen = s->gen;
        s->stop = 0;
        return 0;
    }
    /* The termination records (format version 2). */
    size_t stag_len = s->stag_len, stag_next = s->stag_next, stop = (size_t)s->stop;
    uint64_t best_gen = (uint64_t)s->best_gen;
    pop_io_size(io, &stag_len);
    pop_io_size(io, &stag_next);
    pop_io_size(io, &stop);
    pop_io_u64(io, &best_gen);
    pop_io_f64(io, &s->best_ever, 1);
    if (io->r && !pop_io_bad(io) &&
        (stag_len > STAG_CAP || stag_next >= STAG_CAP || (stag_len < STAG_CAP && stag_next != stag_len) ||
         (stop != 0 && (stop < DESCENT_STOP_TOLFUN || stop > DESCENT_STOP_TOLUPSIGMA)) ||
         best_gen > (uint64_t)s->gen || isnan(s->best_ever) || !(s->sigma > 0) || !isfinite(s->sigma)))
        return descent_fail(err, DESCENT_ERR_CHECKPOINT,
                            "checkpoint has an inconsistent CMAES state (sigma %g, records %zu/%zu, stop %zu)", s->sigma,
                            stag_len, stag_next, stop);
    s->stag_len = stag_len;
    s->stag_next = stag_next;
    s->stop = (int)stop;
    s->best_gen = (int64_t)best_gen;
    pop_io_f64(io, s->stag_best, stag_len);
    pop_io_f64(io, s->stag_med, stag_len);
    return 0;
}

const pop_method descent_pop_cmaes = {
    "CMAES", cm_names, cm_create, cm_destroy, cm_init, cm_size, cm_ask, cm_tell, cm_io, cm_stop, false,
};
