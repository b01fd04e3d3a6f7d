/* Reference evaluation counts of NLopt's LN_BOBYQA on the problems of
 * tests/bobyqa_problems.h: the number of evaluations until f first reaches
 * the target f* + 1e-8 max(1, |f*|) (stopval), with the initial step
 * rhobeg, rhoend = 1e-8 (xtol_rel = rhoend / rhobeg), npt = 2n + 1 (NLopt's
 * default) and a budget of 1e5. Prints the table that
 * tests/bobyqa_nlopt_counts.txt holds:
 *
 *   cc -O2 -I tests tools/bobyqa_nlopt_counts.c -lnlopt -lm -o /tmp/bq_nlopt
 *   /tmp/bq_nlopt > tests/bobyqa_nlopt_counts.txt
 *
 * (Debian's libnlopt-dev 2.7.1). */
#include "bobyqa_problems.h"

#include <nlopt.h>
#include <stdio.h>

typedef struct counted {
    const bq_problem *p;
    long evals;
} counted;

static double objective(unsigned n, const double *x, double *grad, void *data)
{
    (void)grad;
    counted *c = data;
    c->evals++;
    return c->p->f(x, n);
}

int main(void)
{
    int major, minor, bugfix;
    nlopt_version(&major, &minor, &bugfix);
    printf("# NLopt %d.%d.%d LN_BOBYQA: problem evaluations_to_target final_f (rhoend 1e-8, npt 2n+1)\n", major,
           minor, bugfix);
    for (size_t k = 0; k < BQ_NPROBLEMS; k++) {
        const bq_problem *p = &bq_problems[k];
        nlopt_opt opt = nlopt_create(NLOPT_LN_BOBYQA, (unsigned)p->n);
        counted c = {p, 0};
        nlopt_set_min_objective(opt, objective, &c);
        if (p->bounded) {
            nlopt_set_lower_bounds(opt, p->lo);
            nlopt_set_upper_bounds(opt, p->hi);
        }
        nlopt_set_initial_step1(opt, p->rhobeg);
        nlopt_set_xtol_rel(opt, 1e-8 / p->rhobeg);
        nlopt_set_stopval(opt, bq_target(p));
        nlopt_set_maxeval(opt, 100000);
        double x[10], f;
        for (size_t i = 0; i < p->n; i++)
            x[i] = p->x0[i];
        nlopt_result r = nlopt_optimize(opt, x, &f);
        printf("%s %ld %.17g %d\n", p->name, c.evals, f, (int)r);
        nlopt_destroy(opt);
    }
    return 0;
}
