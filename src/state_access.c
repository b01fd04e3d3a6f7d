/* Optimizer state by its PyTorch name: the C counterpart of opt.state[p]
 * (descent.h, "Optimizer state"). Buffers are named by the algorithm
 * tables' state_names; the per-tensor scalars are PyTorch's state['step'],
 * NAdam's state['mu_product'], ASGD's state['eta'] and state['mu'], and
 * optax's schedule-free max_lr and weight_sum. */
#include "internal.h"

#include <stddef.h>
#include <stdio.h>

static int tensor_of(const descent_optimizer *opt, int tensor, const descent_tensor **t)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    if (tensor < 0 || tensor >= opt->ntensors)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "tensor %d out of range (the optimizer has %d)", tensor,
                                opt->ntensors);
    *t = &opt->tensors[tensor];
    return 0;
}

/* The index of the buffer called name, or a status naming the buffers. */
static int buffer_index(const descent_optimizer *opt, const descent_tensor *t, int tensor, const char *name)
{
    const char *const *names = opt->algo->state_names;
    if (!name)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "state buffer name is NULL");
    for (int k = 0; k < t->nstate && names && names[k]; k++)
        if (strcmp(names[k], name) == 0)
            return k;
    char list[256] = "";
    size_t len = 0;
    for (int k = 0; k < t->nstate && names && names[k] && len < sizeof list; k++)
        len += (size_t)snprintf(list + len, sizeof list - len, "%s'%s'", k ? ", " : "", names[k]);
    return descent_opt_fail(opt, DESCENT_ERR_INVALID, "%s tensor %d has no state buffer '%s' (it has: %s)",
                            opt->algo->name, tensor, name, t->nstate ? list : "none");
}

/* The element type of a tensor's state (descent.h: f64 for f64 tensors,
 * f32 otherwise) and its size. */
static descent_dtype state_dtype(const descent_tensor *t) { return t->dtype == DESCENT_F64 ? DESCENT_F64 : DESCENT_F32; }
static size_t state_elem_size(const descent_tensor *t) { return descent_dtype_size(state_dtype(t)); }

/* The index of buffer name of tensor `tensor` (and the tensor), or a status. */
static int find_buffer(const descent_optimizer *opt, int tensor, const char *name, const descent_tensor **t)
{
    int rc = tensor_of(opt, tensor, t);
    return rc < 0 ? rc : buffer_index(opt, *t, tensor, name);
}

int descent_state_count(const descent_optimizer *opt, int tensor)
{
    const descent_tensor *t = NULL;
    int rc = tensor_of(opt, tensor, &t);
    return rc < 0 ? rc : t->nstate;
}

const char *descent_state_name(const descent_optimizer *opt, int tensor, int i)
{
    const descent_tensor *t = NULL;
    if (tensor_of(opt, tensor, &t) < 0 || i < 0 || i >= t->nstate || !opt->algo->state_names)
        return NULL;
    return opt->algo->state_names[i];
}

int descent_state_info(const descent_optimizer *opt, int tensor, const char *name, size_t *n, descent_dtype *dtype,
                       int *bits)
{
    const descent_tensor *t = NULL;
    int k = find_buffer(opt, tensor, name, &t);
    if (k < 0)
        return k;
    if (n)
        *n = t->state_n[k];
    if (dtype)
        *dtype = state_dtype(t);
    if (bits)
        *bits = t->state_bits == 8 ? 8 : 8 * (int)state_elem_size(t);
    return 0;
}

int descent_state_buffer(descent_optimizer *opt, int tensor, const char *name, void **data, size_t *n)
{
    const descent_tensor *t = NULL;
    int k = find_buffer(opt, tensor, name, &t);
    if (k < 0)
        return k;
    if (t->state_bits == 8)
        return descent_opt_fail(opt, DESCENT_ERR_STATE,
                                "state buffer '%s' of tensor %d is 8-bit block-quantized (state_bits=8): copy it "
                                "out and in with descent_state_read and descent_state_write",
                                name, tensor);
    if (data)
        *data = t->state[k];
    if (n)
        *n = t->state_n[k];
    return 0;
}

/* Bytes of the codes of an 8-bit buffer of n elements; its f32 block scales follow. */
static size_t q8_blocks(size_t n) { return (n + DESCENT_Q8_BLOCK - 1) / DESCENT_Q8_BLOCK; }
static size_t q8_codes_end(size_t n) { return descent_q8_bytes(n) - q8_blocks(n) * sizeof(float); }


/* Buffer k of tensor t for a copy of n values from or to data (not NULL). */
static int copy_target(const descent_optimizer *opt, int tensor, const char *name, const void *data, size_t n,
                       const descent_tensor **t, int *k)
{
    *k = find_buffer(opt, tensor, name, t);
    if (*k < 0)
        return *k;
    if (n != (*t)->state_n[*k])
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "state buffer '%s' of tensor %d has %zu elements, not %zu",
                                name, tensor, (*t)->state_n[*k], n);
    if (!data && n > 0)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "the array for state buffer '%s' is NULL", name);
    return n > 0 ? 0 : 1; /* 1: an empty buffer (Adafactor's column factor of a vector), nothing to copy */
}

int descent_state_read(const descent_optimizer *opt, int tensor, const char *name, void *out, size_t n)
{
    const descent_tensor *t = NULL;
    int k = 0, rc = copy_target(opt, tensor, name, out, n, &t, &k);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    if (t->state_bits != 8) {
        memcpy(out, t->state[k], n * state_elem_size(t));
        return 0;
    }
    const unsigned char *codes = t->state[k];
    const float *absmax = (const float *)(codes + q8_codes_end(n));
    for (size_t b = 0; b < n; b += DESCENT_Q8_BLOCK) {
        size_t len = n - b < DESCENT_Q8_BLOCK ? n - b : DESCENT_Q8_BLOCK;
        descent_q8_dequantize(opt->algo->state_q8[k], (float *)out + b, len, codes + b, absmax + b / DESCENT_Q8_BLOCK,
                              opt->isa);
    }
    return 0;
}

int descent_state_write(descent_optimizer *opt, int tensor, const char *name, const void *in, size_t n)
{
    const descent_tensor *t = NULL;
    int k = 0, rc = copy_target(opt, tensor, name, in, n, &t, &k);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    if (t->state_bits != 8) {
        memmove(t->state[k], in, n * state_elem_size(t));
        return 0;
    }
    /* Quantize block by block (absmax scaling, nearest code), as a step stores it. */
    unsigned char *codes = t->state[k];
    float *absmax = (float *)(codes + q8_codes_end(n));
    for (size_t b = 0; b < n; b += DESCENT_Q8_BLOCK) {
        size_t len = n - b < DESCENT_Q8_BLOCK ? n - b : DESCENT_Q8_BLOCK;
        descent_q8_quantize(opt->algo->state_q8[k], (const float *)in + b, len, codes + b,
                            absmax + b / DESCENT_Q8_BLOCK, opt->isa);
    }
    return 0;
}

/* The scalar called name in the tensor's scalars, as the algorithm's table
 * declares them, or NULL. step is handled apart. */
static double *scalar_field(const descent_optimizer *opt, descent_tensor_scalars *s, const char *name)
{
    for (const descent_scalar_desc *d = opt->algo->scalars; d && d->name; d++)
        if (strcmp(d->name, name) == 0)
            return (double *)(void *)((unsigned char *)s + d->offset);
    return NULL;
}

const size_t descent_scalar_slots[DESCENT_SCALAR_SLOTS] = {offsetof(descent_tensor_scalars, mu_product),
                                                           offsetof(descent_tensor_scalars, eta),
                                                           offsetof(descent_tensor_scalars, mu)};

int descent_scalars_check(const descent_algo *algo, const descent_tensor_scalars *ts, const char **bad_name,
                          double *bad_value)
{
    for (int k = 0; k < DESCENT_SCALAR_SLOTS; k++) {
        double v = descent_scalar_slot(ts, k);
        const descent_scalar_desc *d = algo->scalars;
        while (d && d->name && d->offset != descent_scalar_slots[k])
            d++;
        int declared = d && d->name;
        if (!isfinite(v) || (declared && !(v >= d->lo && v <= d->hi))) {
            if (bad_name)
                *bad_name = declared ? d->name : "an unused scalar";
            if (bad_value)
                *bad_value = v;
            return DESCENT_ERR_INVALID;
        }
    }
    return 0;
}

static int no_scalar(const descent_optimizer *opt, const char *name)
{
    char has[256] = "'step'";
    size_t len = strlen(has);
    for (const descent_scalar_desc *d = opt->algo->scalars; d && d->name && len < sizeof has; d++)
        len += (size_t)snprintf(has + len, sizeof has - len, ", '%s'", d->name);
    return descent_opt_fail(opt, DESCENT_ERR_INVALID, "%s has no state scalar '%s' (it has: %s)", opt->algo->name,
                            name ? name : "(null)", has);
}

int descent_state_get_scalar(const descent_optimizer *opt, int tensor, const char *name, double *value)
{
    const descent_tensor *t = NULL;
    int rc = tensor_of(opt, tensor, &t);
    if (rc < 0)
        return rc;
    if (!value)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "value is NULL");
    if (name && strcmp(name, "step") == 0) {
        *value = (double)t->scalars.step;
        return 0;
    }
    descent_tensor_scalars s = t->scalars;
    const double *f = name ? scalar_field(opt, &s, name) : NULL;
    if (!f)
        return no_scalar(opt, name);
    *value = *f;
    return 0;
}

int descent_state_set_scalar(descent_optimizer *opt, int tensor, const char *name, double value)
{
    const descent_tensor *ct = NULL;
    int rc = tensor_of(opt, tensor, &ct);
    if (rc < 0)
        return rc;
    descent_tensor *t = &opt->tensors[tensor];
    if (name && strcmp(name, "step") == 0) {
        /* A count: a whole number in [0, 2^53]. */
        if (!(value >= 0 && value <= 9007199254740992.0) || value != floor(value))
            return descent_opt_fail(opt, DESCENT_ERR_INVALID, "step must be a whole number >= 0, got %g", value);
        t->scalars.step = (int64_t)value;
        return 0;
    }
    double *f = name ? scalar_field(opt, &t->scalars, name) : NULL;
    if (!f)
        return no_scalar(opt, name);
    /* The same values a checkpoint load accepts (the table's bounds). */
    descent_tensor_scalars trial = t->scalars;
    *scalar_field(opt, &trial, name) = value;
    if (descent_scalars_check(opt->algo, &trial, NULL, NULL) < 0) {
        const descent_scalar_desc *d = opt->algo->scalars;
        while (strcmp(d->name, name) != 0)
            d++;
        if (isinf(d->lo) && isinf(d->hi))
            return descent_opt_fail(opt, DESCENT_ERR_INVALID, "state scalar '%s' must be finite, got %g", name, value);
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "state scalar '%s' must be finite and in [%g, %g], got %g",
                                name, d->lo, d->hi, value);
    }
    *f = value;
    return 0;
}
