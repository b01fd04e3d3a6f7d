/* Binding a spec call's arguments to named parameters, for the spec strings
 * of minimizers, objectives and models (optimizers use descriptor tables). */
#ifndef DESCENT_ARGS_H
#define DESCENT_ARGS_H

#include "../access.h"
#include "../common.h"
#include "../kernels.h"
#include "../spec.h"

/* out[k] receives the argument for names[k] (keyword or k-th positional) or
 * NULL. Unknown keywords, extra positionals and duplicates are errors that
 * point at the text; `what` names the callee in messages. */
int descent_args_bind(const spec_doc *doc, const spec_node *call, const char *what, const char *const *names,
                      const spec_node **out, descent_error *err);

/* A number in [lo, hi] (lo excluded when lo_open); v NULL keeps *out. */
int descent_args_real(const spec_doc *doc, const spec_node *v, const char *name, double lo, bool lo_open, double hi,
                      double *out, descent_error *err);

/* An integer in [lo, hi]; v NULL keeps *out. */
int descent_args_size(const spec_doc *doc, const spec_node *v, const char *name, size_t lo, size_t hi, size_t *out,
                      descent_error *err);

/* A quoted string among choices (NULL-terminated); *out receives its index. */
int descent_args_choice(const spec_doc *doc, const spec_node *v, const char *name, const char *const *choices,
                        int *out, descent_error *err);

#endif
