/* CMA-ES in ask/tell form on a function of your own.
 *
 * Population methods need only function values. In ask/tell form the
 * program asks for a generation of candidate points, evaluates them however
 * it likes (here in a plain loop; it could be in parallel, on another
 * machine, or by a simulation), and tells the values back. The function
 * below is a rotated, badly scaled ellipsoid with its minimum 0 at
 * (1, 2, ..., N): a problem where a method that learns the shape of the
 * valley (CMA-ES adapts a covariance matrix) beats a plain random search.
 * The program exits 1 unless the best value found is below 1e-10.
 *
 * Build against an installed descent:
 *     cc cmaes_ask_tell.c $(pkg-config --cflags --libs descent) -lm
 */
#include "descent.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define N 6

/* f(x) = sum_i 10^(3 i/(N-1)) u_i^2, u = the coordinates of x - x* in a
 * rotated frame (pairs of axes turned by 30 degrees). */
static double ellipsoid(const double *x)
{
    double f = 0;
    for (int i = 0; i + 1 < N; i += 2) {
        double a = x[i] - (i + 1), b = x[i + 1] - (i + 2);
        double u = 0.8660254037844386 * a - 0.5 * b, v = 0.5 * a + 0.8660254037844386 * b;
        f += pow(10, 3.0 * i / (N - 1)) * u * u + pow(10, 3.0 * (i + 1) / (N - 1)) * v * v;
    }
    return f;
}

int main(void)
{
    descent_population *p;
    descent_error err;
    if (descent_population_create(&p, "CMAES(sigma0=1, seed=1)", N, &err) < 0) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    double x0[N] = {0}; /* the search starts around the origin */
    descent_population_set_x0(p, x0);

    size_t lambda = descent_population_size(p); /* candidates per generation */
    double *cand = malloc(lambda * N * sizeof *cand), *f = malloc(lambda * sizeof *f);
    if (!cand || !f)
        return 1;
    printf("CMA-ES, %zu candidates per generation\n", lambda);
    for (int gen = 0; gen < 2000 && descent_population_best(p, NULL) > 1e-10; gen++) {
        if (descent_population_ask(p, cand, &lambda) < 0) { /* lambda rows of N values */
            fprintf(stderr, "%s\n", descent_population_errmsg(p));
            return 1;
        }
        for (size_t k = 0; k < lambda; k++)
            f[k] = ellipsoid(cand + k * N);
        if (descent_population_tell(p, f) < 0) {
            fprintf(stderr, "%s\n", descent_population_errmsg(p));
            return 1;
        }
        if (gen % 50 == 0)
            printf("  generation %4d  best f %.3e\n", gen, descent_population_best(p, NULL));
    }

    double best_x[N];
    double best = descent_population_best(p, best_x);
    printf("%lld generations, %lld evaluations, best f = %.3e at x = (",
           (long long)descent_population_generation(p), (long long)descent_population_evaluations(p), best);
    for (int i = 0; i < N; i++)
        printf("%s%.5f", i ? ", " : "", best_x[i]);
    printf(")\n");
    free(cand);
    free(f);
    descent_population_destroy(p);
    return best <= 1e-10 ? 0 : 1;
}
