/* The spec "Lookahead(optimizer=SPEC, k=5, alpha=0.5)": Lookahead (Zhang et
 * al. 2019, "Lookahead Optimizer: k steps forward, 1 step back") around any
 * other optimizer given as a nested spec. The defaults k = 5, alpha = 0.5
 * are the paper's. descent_set_lookahead and the update (the slow weights
 * in an auxiliary buffer, utils.c) follow the spec's parser. */
#include "passes.h"

#include <math.h>
#include <string.h>

static const char *const lookahead_args[] = {"optimizer", "k", "alpha"};

/* The arguments of a Lookahead call node into hp, k, alpha. */
static int lookahead_from_node(const spec_doc *doc, const spec_node *call, descent_hparams *hp, int *k, double *alpha,
                               descent_error *err)
{
    const spec_node *inner = NULL;
    *k = 5;
    *alpha = 0.5;
    for (int i = 0; call->kind == SPEC_CALL && i < call->n; i++) {
        const spec_node *v = &call->items[i];
        const char *key = call->keys[i];
        int which = key ? -1 : i; /* positional: optimizer, k, alpha in order */
        for (int j = 0; key && j < 3; j++)
            if (strcmp(key, lookahead_args[j]) == 0)
                which = j;
        if (which < 0 || which > 2) {
            const char *hint = key ? descent_closest_name(key, lookahead_args, 3) : NULL;
            if (!key)
                return descent_spec_fail(doc, v, err, DESCENT_ERR_SPEC,
                                         "Lookahead takes at most 3 arguments (it takes optimizer, k, alpha)");
            if (hint)
                return descent_spec_fail(doc, v, err, DESCENT_ERR_SPEC,
                                         "Lookahead has no argument '%s'; did you mean '%s'? (it takes optimizer, k, "
                                         "alpha)", key, hint);
            return descent_spec_fail(doc, v, err, DESCENT_ERR_SPEC,
                                     "Lookahead has no argument '%s' (it takes optimizer, k, alpha)", key);
        }
        if (which == 0) {
            inner = v;
        } else if (which == 1) {
            if (v->kind != SPEC_NUM || !v->is_int || !(v->num >= 1 && v->num <= 1000000))
                return descent_spec_fail(doc, v, err, DESCENT_ERR_INVALID,
                                         "Lookahead: k must be an integer in [1, 1000000]");
            *k = (int)v->num;
        } else {
            if (v->kind != SPEC_NUM || !(v->num >= 0 && v->num <= 1))
                return descent_spec_fail(doc, v, err, DESCENT_ERR_INVALID, "Lookahead: alpha must be in [0, 1]");
            *alpha = v->num;
        }
    }
    if (!inner)
        return descent_spec_fail(doc, call, err, DESCENT_ERR_SPEC,
                                 "Lookahead needs the inner optimizer: Lookahead(optimizer=AdamW(lr=1e-3), k=5, "
                                 "alpha=0.5)");
    if ((inner->kind == SPEC_CALL || inner->kind == SPEC_NAME) && descent_name_eq(inner->str, "Lookahead"))
        return descent_spec_fail(doc, inner, err, DESCENT_ERR_SPEC, "Lookahead cannot wrap another Lookahead");
    return descent_hparams_from_node(hp, doc, inner, err);
}

int descent_optimizer_spec_parse(const char *spec, const descent_allocator *alloc, descent_hparams *hp,
                                 int *lookahead_k, double *lookahead_alpha, descent_error *err)
{
    *lookahead_k = 0;
    *lookahead_alpha = 0;
    spec_doc doc;
    int rc = descent_spec_parse(&doc, spec, alloc, err);
    if (rc < 0)
        return rc;
    const spec_node *root = doc.root;
    if ((root->kind == SPEC_CALL || root->kind == SPEC_NAME) && descent_name_eq(root->str, "Lookahead"))
        rc = lookahead_from_node(&doc, root, hp, lookahead_k, lookahead_alpha, err);
    else
        rc = descent_hparams_from_node(hp, &doc, root, err);
    descent_spec_free(&doc);
    return rc;
}

/* ---- Lookahead ---------------------------------------------------------- */

int descent_set_lookahead(descent_optimizer *opt, int k, double alpha)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    if (k < 0 || k > 1000000)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "Lookahead k must be >= 1 (0 turns it off), got %d", k);
    if (k > 0 && !(alpha >= 0 && alpha <= 1))
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "Lookahead alpha must be in [0, 1], got %g", alpha);
    int rc = descent_aux_switch(opt, DESCENT_AUX_SLOW, k > 0, "Lookahead");
    if (rc < 0)
        return rc;
    opt->utils.lookahead_k = k;
    opt->utils.lookahead_alpha = k > 0 ? alpha : 0;
    opt->utils.lookahead_count = 0;
    return 0;
}

/* Zhang et al. 2019, Algorithm 1: after every k-th inner step
 *   phi = phi + alpha (theta - phi);  theta = phi
 * chunk by chunk, threaded (element-wise: the same bits for any threads). */
static int lookahead_chunk(const descent_optimizer *opt, int c, void *ctx, double *partial)
{
    const double alpha = *(const double *)ctx;
    const descent_chunk *ch = &opt->chunks[c];
    const descent_tensor *t = &opt->tensors[ch->tensor];
    *partial = 0;
    if (t->dtype == DESCENT_F64) {
        double *s = t->aux[DESCENT_AUX_SLOW], *p = t->param;
        for (size_t j = ch->begin; j < ch->end; j++)
            p[j] = s[j] = s[j] + alpha * (p[j] - s[j]);
    } else {
        float *s = t->aux[DESCENT_AUX_SLOW], *p = t->param;
        const float a = (float)alpha;
        for (size_t j = ch->begin; j < ch->end; j++)
            p[j] = s[j] = s[j] + a * (p[j] - s[j]);
    }
    return 0;
}

void descent_lookahead_sync(descent_optimizer *opt)
{
    double alpha = opt->utils.lookahead_alpha;
    descent_for_chunks(opt, 0, opt->nchunks, lookahead_chunk, &alpha, NULL);
}
