/* The C calls that attach LambdaLR and MultiplicativeLR with C functions
 * (descent_set_lambda_lr and the rest in include/descent.h): each builds
 * the spec kind(lr_lambda=...) with one callback per group and attaches it
 * through descent_set_schedule_callbacks, as a composed schedule would. */
#include "schedule.h"

#include <stdio.h>
#include <string.h>

/* kind(lr_lambda=[0, 1, ..., ng-1]) with table[g] for group g. */
static int attach_per_group(descent_optimizer *opt, const char *kind, const descent_lr_callback *table)
{
    int ng = descent_num_groups(opt);
    if (ng <= 0)
        return descent_set_schedule_callbacks(opt, kind, table, 0); /* its error: no group */
    char *spec = descent_mem_alloc(&opt->mem, 40 + 12 * (size_t)ng);
    if (!spec)
        return descent_opt_fail(opt, DESCENT_ERR_NOMEM, "out of memory attaching %s", kind);
    size_t len = (size_t)sprintf(spec, "%s(lr_lambda=[", kind);
    for (int g = 0; g < ng; g++)
        len += (size_t)sprintf(spec + len, "%s%d", g ? ", " : "", g);
    strcpy(spec + len, "])");
    int rc = descent_set_schedule_callbacks(opt, spec, table, ng);
    descent_mem_free(&opt->mem, spec);
    return rc;
}

static int attach_same(descent_optimizer *opt, const char *kind, descent_lr_lambda fn, void *user_data)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    if (!fn)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "%s: the callback fn is NULL", kind);
    int ng = descent_num_groups(opt);
    descent_lr_callback *table = descent_mem_alloc(&opt->mem, sizeof *table * (size_t)(ng > 0 ? ng : 1));
    if (!table)
        return descent_opt_fail(opt, DESCENT_ERR_NOMEM, "out of memory attaching %s", kind);
    for (int g = 0; g < ng; g++)
        table[g] = (descent_lr_callback){fn, user_data};
    int rc = attach_per_group(opt, kind, table);
    descent_mem_free(&opt->mem, table);
    return rc;
}

static int attach_groups(descent_optimizer *opt, const char *kind, const descent_lr_callback *per_group)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    if (!per_group)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "%s: per_group must not be NULL", kind);
    return attach_per_group(opt, kind, per_group);
}

int descent_set_lambda_lr(descent_optimizer *opt, descent_lr_lambda fn, void *user_data)
{
    return attach_same(opt, "LambdaLR", fn, user_data);
}

int descent_set_multiplicative_lr(descent_optimizer *opt, descent_lr_lambda fn, void *user_data)
{
    return attach_same(opt, "MultiplicativeLR", fn, user_data);
}

int descent_set_lambda_lr_groups(descent_optimizer *opt, const descent_lr_callback *per_group)
{
    return attach_groups(opt, "LambdaLR", per_group);
}

int descent_set_multiplicative_lr_groups(descent_optimizer *opt, const descent_lr_callback *per_group)
{
    return attach_groups(opt, "MultiplicativeLR", per_group);
}
