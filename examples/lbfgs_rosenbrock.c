/* Minimizing the Rosenbrock function with L-BFGS through the minimize API.
 *
 *     f(x) = sum_{i=0}^{n-2} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2
 *
 * is written out below with its gradient, in the shape every descent
 * minimizer takes: return f(x) and, when grad is not NULL, write the
 * gradient in the same call. descent_minimize() creates the minimizer from
 * its spec string, runs it until a stopping criterion of the settings holds
 * and reports why it stopped. The minimum is f = 0 at x = (1, ..., 1); the
 * program exits 1 unless the run gets there.
 *
 * Build against an installed descent:
 *     cc lbfgs_rosenbrock.c $(pkg-config --cflags --libs descent) -lm
 */
#include "descent.h"
#include <math.h>
#include <stdio.h>

#define N 10

static double rosenbrock(void *ctx, const double *x, double *grad, size_t n)
{
    int *calls = ctx; /* ctx is whatever the caller passed: here a counter */
    ++*calls;
    double f = 0;
    if (grad)
        for (size_t i = 0; i < n; i++)
            grad[i] = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        double a = x[i + 1] - x[i] * x[i], b = 1 - x[i];
        f += 100 * a * a + b * b;
        if (grad) {
            grad[i] += -400 * a * x[i] - 2 * b;
            grad[i + 1] += 200 * a;
        }
    }
    return f;
}

/* Called at the start and after every iteration; a non-zero return would
 * cancel the run. */
static int progress(void *ctx, const descent_minimize_progress *p)
{
    (void)ctx;
    if (p->iteration % 10 == 0)
        printf("  iteration %3lld  evaluations %3lld  f %.6e  |grad|_inf %.3e\n", (long long)p->iteration,
               (long long)p->evaluations, p->f, p->grad_norm);
    return 0;
}

int main(void)
{
    double x[N];
    for (int i = 0; i < N; i++)
        x[i] = i % 2 ? 1.0 : -1.2; /* the classic start (-1.2, 1, -1.2, 1, ...) */

    descent_minimize_settings s;
    descent_minimize_default_settings(&s); /* max_iter 1000, gtol 1e-8 */
    s.gtol = 1e-9;                         /* stop when ||grad f||_inf <= 1e-9 */
    s.max_evals = 5000;
    s.progress = progress;

    int calls = 0;
    descent_minimize_result r;
    descent_error err;
    int rc = descent_minimize("LBFGS(history_size=6, line_search_fn='strong_wolfe')", NULL, rosenbrock, &calls, x, N,
                              &s, &r, &err);
    if (rc < 0) {
        fprintf(stderr, "descent_minimize: %s\n", err.message);
        return 1;
    }
    printf("stopped: %s after %lld iterations and %lld evaluations (the objective counted %d calls)\n",
           descent_stop_name(r.reason), (long long)r.iterations, (long long)r.evaluations, calls);
    printf("f = %.3e, |grad|_inf = %.3e, x = (", r.f, r.grad_norm);
    double worst = 0;
    for (int i = 0; i < N; i++) {
        printf("%s%.6f", i ? ", " : "", x[i]);
        worst = fmax(worst, fabs(x[i] - 1));
    }
    printf(")\n");
    return r.reason == DESCENT_STOP_GTOL && worst < 1e-6 ? 0 : 1;
}
