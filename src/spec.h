/* Spec strings such as "Adam(lr=1e-3, betas=(0.9, 0.99))": the parser
 * (spec.c) and the mapping onto hyperparameters (hparams.c, lookahead.c). Not installed. */
#ifndef DESCENT_SPEC_H
#define DESCENT_SPEC_H

#include "algo.h" /* descent_algo, for the hyperparameter mapping */

/* ---- spec strings ------------------------------------------------------ */

typedef enum spec_kind {
    SPEC_NUM, SPEC_BOOL, SPEC_STR, SPEC_NONE, SPEC_TUPLE, SPEC_LIST, SPEC_CALL, SPEC_NAME
} spec_kind;

typedef struct spec_node {
    spec_kind kind;
    size_t pos, end;         /* byte range in the source text */
    double num;
    bool is_int;             /* SPEC_NUM written without '.', 'e' */
    char *str;               /* SPEC_STR text, SPEC_CALL / SPEC_NAME name */
    int n;                   /* items (tuple, list, call arguments) */
    struct spec_node *items;
    char **keys;             /* SPEC_CALL: keyword of each argument or NULL */
} spec_node;

typedef struct spec_doc {
    const char *text;
    spec_node *root;
    descent_mem mem;
} spec_doc;

/* Parse text into doc->root. On error fills err with a message quoting the
 * text and pointing at the offending part. */
int descent_spec_parse(spec_doc *doc, const char *text, const descent_allocator *alloc,
                       descent_error *err);
void descent_spec_free(spec_doc *doc);
/* Format an error pointing at node's text: "<msg>\n  <text>\n  ^^^". */
int descent_spec_fail(const spec_doc *doc, const spec_node *node, descent_error *err,
                      int status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
/* descent_spec_fail with a long list (the known names) after the pointer
 * lines, so only the list is cut short when the message is full. */
int descent_spec_fail_list(const spec_doc *doc, const spec_node *node, descent_error *err, int status,
                           const char *list, const char *fmt, ...);
const char *descent_spec_kind_name(spec_kind k);

/* Fill hp from a parsed call node (name resolved to an algorithm). */
int descent_hparams_from_node(descent_hparams *hp, const spec_doc *doc, const spec_node *call,
                              descent_error *err);
/* Apply keyword arguments of a call (or an overrides list) onto hp. */
int descent_hparams_apply_args(descent_hparams *hp, const descent_algo *algo, const spec_doc *doc,
                               const spec_node *call, descent_error *err);

/* An optimizer spec that may be "Lookahead(optimizer=SPEC, k=, alpha=)"
 * (src/lookahead.c): the inner optimizer's hyperparameters into hp, and k, alpha
 * (k = 0 without Lookahead). */
int descent_optimizer_spec_parse(const char *spec, const descent_allocator *alloc, descent_hparams *hp,
                                 int *lookahead_k, double *lookahead_alpha, descent_error *err);

/* descent_hparams_parse with the caller's allocator. */
int descent_hparams_parse_with(descent_hparams *hp, const char *spec, const descent_allocator *alloc,
                               descent_error *err);

/* The entry of names[0..n) closest to word by edit distance, or NULL when
 * none is close: for "did you mean" hints in error messages. */
const char *descent_closest_name(const char *word, const char *const *names, int n);

/* Case-insensitive, '_'-insensitive name match ("adamw" == "AdamW"). */
bool descent_name_eq(const char *a, const char *b);

#endif
