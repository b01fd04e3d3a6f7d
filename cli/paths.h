/* Shared by plot-paths and compare --fn: run minimizers on a built-in
 * objective recording every iterate, and draw their paths on a contour map
 * of a 2-D objective. */
#ifndef DESCENT_CLI_PATHS_H
#define DESCENT_CLI_PATHS_H

#include "descent.h"

#include <stddef.h>
#include <stdint.h>

/* One run: entry k is iteration k (0: the start). x0/x1 hold the first two
 * coordinates (NAN for a 1-D objective). */
typedef struct paths_trace {
    size_t n, cap;
    double *f, *lr, *x0, *x1;
    double grad_norm;       /* ||grad f||_inf at the last iterate */
    int64_t evaluations;
    int reason;             /* a descent_stop, or a negative status */
} paths_trace;

/* Run spec (with schedule sched, or NULL) from x for at most steps
 * iterations (gtol off) and record the iterates into *tr. Returns 0 when
 * the run ended by its budget, a criterion or a failure of the method
 * (non-finite f, a line search that cannot descend: tr->reason says which),
 * 2 with a message on stderr when spec or sched is invalid, 1 when out of
 * memory. */
int paths_run(const char *cmd, descent_objective *obj, const char *spec, const char *sched, const double *x,
              long steps, paths_trace *tr);
void paths_trace_free(paths_trace *tr);

/* The contour map of a 2-D objective with the runs' paths (names[i] in
 * palette colour i), the start x and the global minima; the region is
 * chosen from the start, the minima and the paths. Returns 0, or -1 with
 * errno set when the file cannot be written. */
int paths_picture(descent_objective *obj, const double *x, const paths_trace *tr, const char *const *names,
                  int nruns, const char *out);

#endif
