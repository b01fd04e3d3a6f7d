/* The generic optimizer: parameter groups, tensor registration, the step
 * driver and hyperparameter access. Algorithms plug in through their
 * descent_algo tables; nothing here knows any particular update rule. */
#include "internal.h"
#include "access.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Elements per unit of work handed to a thread: large enough that the
 * scheduling cost vanishes against the bytes moved, small enough to balance. */
#define CHUNK_ELEMS ((size_t)1 << 16)

int descent_create(descent_optimizer **out, const descent_hparams *hp, const descent_allocator *alloc,
                   descent_error *err)
{
    if (!out)
        return descent_fail(err, DESCENT_ERR_INVALID, "out must not be NULL");
    *out = NULL;
    if (!hp)
        return descent_fail(err, DESCENT_ERR_INVALID, "hp must not be NULL");
    descent_hparams full;
    int rc = descent_hparams_import(&full, hp, err);
    if (rc < 0)
        return rc;
    const descent_algo *algo = descent_find_algo(full.optimizer);
    if ((rc = descent_hparams_validate(algo, &full, err)) < 0)
        return rc;
    descent_mem mem;
    descent_mem_init(&mem, alloc);
    descent_optimizer *opt = descent_mem_alloc(&mem, sizeof *opt);
    if (!opt)
        return descent_fail(err, DESCENT_ERR_NOMEM, "out of memory creating %s", algo->name);
    opt->mem = mem;
    opt->algo = algo;
    opt->defaults = full;
    opt->threads = 1;
    opt->isa = descent_isa_detect();
    *out = opt;
    return 0;
}

int descent_create_from_spec(descent_optimizer **out, const char *spec, const descent_allocator *alloc,
                             descent_error *err)
{
    if (out)
        *out = NULL;
    descent_hparams hp;
    int k;
    double alpha;
    int rc = descent_optimizer_spec_parse(spec, alloc, &hp, &k, &alpha, err);
    if (rc < 0)
        return rc;
    rc = descent_create(out, &hp, alloc, err);
    if (rc == 0 && k > 0 && (rc = descent_set_lookahead(*out, k, alpha)) < 0) {
        descent_fail(err, rc, "%s", descent_errmsg(*out));
        descent_destroy(*out);
        *out = NULL;
    }
    return rc;
}

static void free_tensor(descent_optimizer *opt, descent_tensor *t)
{
    for (int k = 0; k < t->nstate && !t->arena; k++)
        descent_mem_free(&opt->mem, t->state[k]);
    descent_mem_free(&opt->mem, t->coeffs_buf);
    descent_mem_free(&opt->mem, t->master);
    descent_utils_free_tensor(opt, t);
}

void descent_destroy(descent_optimizer *opt)
{
    if (!opt)
        return;
    if (opt->schedule_ops)
        opt->schedule_ops->free(opt);
    for (int i = 0; i < opt->ntensors; i++)
        free_tensor(opt, &opt->tensors[i]);
    descent_mem_free(&opt->mem, opt->tensors);
    descent_mem_free(&opt->mem, opt->groups);
    descent_mem_free(&opt->mem, opt->chunks);
    descent_arena_free(opt);
    descent_mem mem = opt->mem;
    descent_mem_free(&mem, opt);
}

static void init_state(const descent_optimizer *opt, descent_tensor *t)
{
    t->storage->init(opt, t);
    memset(&t->scalars, 0, sizeof t->scalars);
    descent_utils_init_tensor(opt, t);
}

int descent_reset(descent_optimizer *opt)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    for (int i = 0; i < opt->ntensors; i++)
        init_state(opt, &opt->tensors[i]);
    opt->skipped_steps = 0;
    descent_utils_reset(opt);
    if (opt->schedule_ops)
        opt->schedule_ops->restart(opt);
    return 0;
}

const char *descent_name(const descent_optimizer *opt) { return opt ? opt->algo->name : NULL; }

int descent_num_groups(const descent_optimizer *opt) { return opt ? opt->ngroups : 0; }

int descent_num_tensors(const descent_optimizer *opt) { return opt ? opt->ntensors : 0; }

int descent_has_eval_params(const descent_optimizer *opt) { return opt && opt->algo->eval_params != NULL; }

void *descent_tensor_param(const descent_optimizer *opt, int tensor)
{
    return opt && tensor >= 0 && tensor < opt->ntensors ? opt->tensors[tensor].param : NULL;
}

void descent_group_replace_hparams(descent_optimizer *opt, int group, const descent_hparams *hp)
{
    opt->groups[group].hp = *hp;
    opt->groups[group].initial_lr = hp->lr;
}

int descent_tensor_view_of(const descent_optimizer *opt, int tensor, descent_tensor_view *v)
{
    if (!opt || tensor < 0 || tensor >= opt->ntensors)
        return DESCENT_ERR_INVALID;
    const descent_tensor *t = &opt->tensors[tensor];
    v->group = t->group;
    v->dtype = t->dtype;
    v->n = t->n;
    v->param = t->param;
    v->grad = (void *)(uintptr_t)t->grad;
    return 0;
}

void descent_default_hparams(const descent_optimizer *opt, descent_hparams *hp) { *hp = opt->defaults; }

const descent_allocator *descent_optimizer_allocator(const descent_optimizer *opt) { return &opt->mem.a; }

int descent_steps_whole_tensors(const descent_optimizer *opt) { return opt->algo->tensor_step != NULL; }

int descent_group_wants_q8(const descent_optimizer *opt, int group)
{
    return descent_q8_wanted(opt->algo, group < 0 ? &opt->defaults : &opt->groups[group].hp);
}

void descent_group_copy(descent_optimizer *dst, const descent_optimizer *src, int group)
{
    dst->groups[group] = src->groups[group];
}

void descent_tensor_copy_scalars(descent_optimizer *dst, int dst_tensor, const descent_optimizer *src, int src_tensor)
{
    dst->tensors[dst_tensor].scalars = src->tensors[src_tensor].scalars;
}

size_t descent_tensor_param_bytes(const descent_optimizer *opt, int tensor)
{
    if (!opt || tensor < 0 || tensor >= opt->ntensors)
        return 0;
    const descent_tensor *t = &opt->tensors[tensor];
    return t->n * (t->dtype == DESCENT_F64 ? sizeof(double) : t->dtype == DESCENT_BF16 ? sizeof(uint16_t) : sizeof(float));
}

/* Grow an array held in opt's allocator to at least need elements. */
static int grow(descent_optimizer *opt, void **arr, int *cap, int need, size_t elem)
{
    if (need <= *cap)
        return 0;
    int ncap = *cap ? *cap * 2 : 4;
    while (ncap < need)
        ncap *= 2;
    void *fresh = descent_mem_alloc(&opt->mem, (size_t)ncap * elem);
    if (!fresh)
        return DESCENT_ERR_NOMEM;
    if (*arr)
        memcpy(fresh, *arr, (size_t)*cap * elem);
    descent_mem_free(&opt->mem, *arr);
    *arr = fresh;
    *cap = ncap;
    return 0;
}

int descent_add_group(descent_optimizer *opt, const descent_hparams *hp)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    descent_hparams h = opt->defaults;
    descent_error e;
    if (hp && descent_hparams_import(&h, hp, &e) < 0)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "%s", e.message);
    if (hp && !descent_name_eq(h.optimizer, opt->algo->name))
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "group hyperparameters are for '%s', the optimizer is %s",
                                h.optimizer, opt->algo->name);
    h.optimizer = opt->algo->name;
    int rc = descent_hparams_validate(opt->algo, &h, &e);
    if (rc < 0)
        return descent_opt_fail(opt, rc, "%s", e.message);
    if (grow(opt, (void **)&opt->groups, &opt->groups_cap, opt->ngroups + 1, sizeof *opt->groups) < 0)
        return descent_opt_fail(opt, DESCENT_ERR_NOMEM, "out of memory adding a group");
    descent_group *g = &opt->groups[opt->ngroups];
    memset(g, 0, sizeof *g);
    g->hp = h;
    g->initial_lr = h.lr;
    return opt->ngroups++;
}

int descent_add_group_spec(descent_optimizer *opt, const char *overrides)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    /* Parse "lr=0.1, momentum=0.9" as the arguments of a call. */
    size_t len = overrides ? strlen(overrides) : 0;
    char *call = descent_mem_alloc(&opt->mem, len + 4); /* zeroed: NUL-terminated */
    if (!call)
        return descent_opt_fail(opt, DESCENT_ERR_NOMEM, "out of memory");
    call[0] = 'g';
    call[1] = '(';
    if (len)
        memcpy(call + 2, overrides, len);
    call[len + 2] = ')';
    spec_doc doc;
    descent_error e;
    int rc = descent_spec_parse(&doc, call, &opt->mem.a, &e);
    descent_hparams h = opt->defaults;
    if (rc == 0) {
        rc = descent_hparams_apply_args(&h, opt->algo, &doc, doc.root, &e);
        descent_spec_free(&doc);
    }
    descent_mem_free(&opt->mem, call);
    if (rc < 0)
        return descent_opt_fail(opt, rc, "%s", e.message);
    return descent_add_group(opt, &h);
}

static int rebuild_chunks(descent_optimizer *opt)
{
    size_t count = 0;
    for (int i = 0; i < opt->ntensors; i++)
        count += (opt->tensors[i].n + CHUNK_ELEMS - 1) / CHUNK_ELEMS;
    if (count > (size_t)INT32_MAX)
        return DESCENT_ERR_NOMEM;
    descent_chunk *chunks = descent_mem_alloc(&opt->mem, (count ? count : 1) * sizeof *chunks);
    if (!chunks)
        return DESCENT_ERR_NOMEM;
    size_t k = 0;
    for (int i = 0; i < opt->ntensors; i++)
        for (size_t b = 0; b < opt->tensors[i].n; b += CHUNK_ELEMS) {
            chunks[k].tensor = i;
            chunks[k].begin = b;
            chunks[k].end = b + CHUNK_ELEMS < opt->tensors[i].n ? b + CHUNK_ELEMS : opt->tensors[i].n;
            k++;
        }
    descent_mem_free(&opt->mem, opt->chunks);
    opt->chunks = chunks;
    opt->nchunks = (int)count;
    return 0;
}

/* The storage adapter of a tensor of this dtype in this group (storage.c);
 * descent_rules_tensor has accepted the combination. */
static const descent_storage *storage_for(const descent_optimizer *opt, int group, descent_dtype dtype)
{
    if (descent_q8_wanted(opt->algo, &opt->groups[group].hp))
        return &descent_storage_q8;
    if (dtype == DESCENT_BF16)
        return &descent_storage_bf16;
    if (opt->algo->tensor_step)
        return dtype == DESCENT_F64 ? &descent_storage_whole_f64 : &descent_storage_whole_f32;
    return dtype == DESCENT_F64 ? &descent_storage_f64 : &descent_storage_f32;
}

int descent_add_tensor(descent_optimizer *opt, int group, void *param, const void *grad, size_t n,
                       descent_dtype dtype)
{
    return descent_add_tensor_shaped(opt, group, param, grad, 1, &n, dtype);
}

int descent_tensor_shape(const descent_optimizer *opt, int tensor, size_t *shape)
{
    if (!opt || tensor < 0 || tensor >= opt->ntensors)
        return DESCENT_ERR_INVALID;
    const descent_tensor *t = &opt->tensors[tensor];
    if (shape)
        memcpy(shape, t->shape, (size_t)t->ndim * sizeof *shape);
    return t->ndim;
}

int descent_add_tensor_shaped(descent_optimizer *opt, int group, void *param, const void *grad, int ndim,
                              const size_t *shape, descent_dtype dtype)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    if (ndim < 1 || ndim > DESCENT_MAX_DIMS || !shape)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "ndim must be in [1, %d] with a shape, got %d",
                                DESCENT_MAX_DIMS, ndim);
    size_t n = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] != 0 && n > SIZE_MAX / shape[d])
            return descent_opt_fail(opt, DESCENT_ERR_INVALID, "shape overflows size_t at dimension %d", d);
        n *= shape[d];
    }
    if (group < 0 || group >= opt->ngroups)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "group must be in [0, %d), got %d", opt->ngroups, group);
    if (dtype != DESCENT_F32 && dtype != DESCENT_F64 && dtype != DESCENT_BF16)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "dtype must be DESCENT_F32, DESCENT_F64 or DESCENT_BF16, got %d",
                                (int)dtype);
    if (n > 0 && (!param || !grad))
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "param and grad must not be NULL for a tensor of %zu elements", n);
    if (n > SIZE_MAX / 8 / DESCENT_MAX_STATE)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "tensor of %zu elements is too large", n);
    int rc = descent_rules_tensor(opt, group, dtype, descent_utils_active(opt));
    if (rc < 0)
        return rc;
    descent_error fit;
    if (descent_hparams_fit_dtype(opt->algo, &opt->groups[group].hp, dtype, &fit) < 0)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "group %d: %s", group, fit.message);
    const descent_storage *storage = storage_for(opt, group, dtype);
    if (grow(opt, (void **)&opt->tensors, &opt->tensors_cap, opt->ntensors + 1, sizeof *opt->tensors) < 0)
        return descent_opt_fail(opt, DESCENT_ERR_NOMEM, "out of memory registering a tensor");
    descent_tensor *t = &opt->tensors[opt->ntensors];
    memset(t, 0, sizeof *t);
    t->group = group;
    t->dtype = dtype;
    t->n = n;
    t->ndim = ndim;
    memcpy(t->shape, shape, (size_t)ndim * sizeof *shape);
    t->param = param;
    t->grad = grad;
    t->nstate = opt->algo->state_count(&opt->groups[group].hp);
    t->storage = storage;
    t->state_bits = storage == &descent_storage_q8 ? 8 : 0;
    t->coeffs = t->coeffs_buf = descent_mem_alloc(&opt->mem, opt->algo->coeffs_size);
    int ok = t->coeffs != NULL;
    /* Small tensors' state goes to the arena, one buffer after another;
     * buffer k holds state_n[k] elements (n unless the algorithm's sizes
     * depend on the shape). */
    size_t state_bytes[DESCENT_MAX_STATE], state_total = 0;
    for (int k = 0; k < t->nstate; k++) {
        t->state_n[k] = opt->algo->state_size ? opt->algo->state_size(ndim, shape, k) : n;
        state_bytes[k] = storage->buffer_bytes(t->state_n[k]);
        state_total += (state_bytes[k] + DESCENT_ALIGN - 1) / DESCENT_ALIGN * DESCENT_ALIGN;
    }
    size_t arena_mark = descent_arena_mark(opt);
    const descent_arena_slab *arena_head = opt->arena;
    if (ok && t->nstate > 0 && n > 0 && state_total <= DESCENT_ARENA_MAX) {
        unsigned char *base = descent_arena_take(opt, state_total);
        ok = base != NULL;
        t->arena = 1;
        for (int k = 0; ok && k < t->nstate; k++) {
            t->state[k] = base;
            base += (state_bytes[k] + DESCENT_ALIGN - 1) / DESCENT_ALIGN * DESCENT_ALIGN;
        }
    }
    for (int k = 0; ok && !t->arena && k < t->nstate; k++) {
        t->state[k] = descent_mem_alloc(&opt->mem, state_bytes[k]);
        ok = t->state[k] != NULL;
    }
    if (ok && dtype == DESCENT_BF16 && (opt->bf16_flags & DESCENT_BF16_MASTER)) {
        t->master = descent_mem_alloc(&opt->mem, n * sizeof(float));
        ok = t->master != NULL;
    }
    int urc = ok ? descent_utils_register(opt, t) : 0;
    if (urc < 0) {
        free_tensor(opt, t);
        return urc;
    }
    opt->ntensors++;
    if (!ok || rebuild_chunks(opt) < 0) {
        opt->ntensors--;
        free_tensor(opt, t);
        if (t->arena)
            descent_arena_rollback(opt, arena_mark, arena_head);
        rebuild_chunks(opt); /* restores the previous list or keeps it */
        return descent_opt_fail(opt, DESCENT_ERR_NOMEM, "out of memory allocating state for %zu elements", n);
    }
    init_state(opt, t);
    opt->grads_finite = 0; /* the new gradient is unchecked */
    return opt->ntensors - 1;
}

int descent_set_tensor_data(descent_optimizer *opt, int tensor, void *param, const void *grad)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    if (tensor < 0 || tensor >= opt->ntensors)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "tensor must be in [0, %d), got %d", opt->ntensors, tensor);
    if (opt->tensors[tensor].n > 0 && (!param || !grad))
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "param and grad must not be NULL");
    opt->tensors[tensor].param = param;
    opt->tensors[tensor].grad = grad;
    opt->grads_finite = 0; /* new gradient buffers are unchecked */
    if (opt->tensors[tensor].master)
        descent_bf16_widen(opt->tensors[tensor].master, param, opt->tensors[tensor].n);
    return 0;
}

int64_t descent_step_count(const descent_optimizer *opt)
{
    return opt && opt->ntensors ? opt->tensors[0].scalars.step : 0;
}

int descent_set_threads(descent_optimizer *opt, int threads)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    if (threads < 1 || threads > 1024)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "threads must be in [1, 1024], got %d", threads);
    opt->threads = threads;
    return 0;
}

int descent_set_prefetch(descent_optimizer *opt, int block_bytes)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    if (block_bytes < -1 || block_bytes > 65536 || (block_bytes > 0 && block_bytes % 64 != 0))
        return descent_opt_fail(opt, DESCENT_ERR_INVALID,
                                "prefetch block must be -1 (off), 0 (default) or a multiple of 64 in [64, 65536], got %d",
                                block_bytes);
    opt->prefetch = block_bytes;
    return 0;
}

int descent_isa_detect(void)
{
#if DESCENT_HAVE_DISPATCH
    if (__builtin_cpu_supports("avx512f"))
        return DESCENT_ISA_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return DESCENT_ISA_AVX2;
#endif
    return DESCENT_ISA_PORTABLE;
}

int descent_set_isa(descent_optimizer *opt, int isa)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    int best = descent_isa_detect();
    opt->isa = isa < DESCENT_ISA_PORTABLE ? DESCENT_ISA_PORTABLE : isa > best ? best : isa;
    return opt->isa;
}

int descent_set_bf16_options(descent_optimizer *opt, unsigned flags, uint64_t seed)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    int rc = descent_rules_bf16_flags(opt, flags);
    if (rc < 0)
        return rc;
    opt->bf16_flags = flags;
    opt->bf16_seed = seed;
    return 0;
}

size_t descent_state_bytes(const descent_optimizer *opt)
{
    size_t bytes = 0;
    for (int i = 0; opt && i < opt->ntensors; i++) {
        const descent_tensor *t = &opt->tensors[i];
        if (t->master) /* bf16 with DESCENT_BF16_MASTER: the f32 copy of the parameters */
            bytes += t->n * sizeof(float);
        for (int k = 0; k < t->nstate; k++)
            bytes += t->storage->buffer_bytes(t->state_n[k]);
    }
    return bytes + (opt ? descent_utils_bytes(opt) : 0);
}

size_t descent_step_bytes(const descent_optimizer *opt)
{
    size_t bytes = 0;
    for (int i = 0; opt && i < opt->ntensors; i++) {
        const descent_tensor *t = &opt->tensors[i];
        size_t elem = descent_dtype_size(t->dtype);
        /* p read and written, g read; a bf16 master copy is read and
         * written in f32 and p only written. */
        bytes += t->master ? t->n * (2 * sizeof(float) + 2 * elem) : 3 * t->n * elem;
        for (int k = 0; k < t->nstate; k++)
            bytes += 2 * t->storage->buffer_bytes(t->state_n[k]);
        if (opt->algo->extra_pass_bytes)
            bytes += opt->algo->extra_pass_bytes(t->ndim, t->shape, t->n, elem);
    }
    return bytes;
}

/* ---- hyperparameter access --------------------------------------------- */

static int check_group(const descent_optimizer *opt, int group, int allow_all)
{
    if (group == -1 && allow_all)
        return 0;
    if (group < 0 || group >= opt->ngroups)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "group must be in [0, %d)%s, got %d", opt->ngroups,
                                allow_all ? " or -1 for all" : "", group);
    return 0;
}

int descent_get(const descent_optimizer *opt, int group, const char *name, double *value)
{
    if (!opt || !name || !value)
        return DESCENT_ERR_INVALID;
    int rc = check_group(opt, group, 0);
    if (rc < 0)
        return rc;
    int index;
    const hp_desc *d = descent_hp_find(opt->algo, name, &index);
    if (!d)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "%s has no hyperparameter '%s'", opt->algo->name, name);
    *value = descent_hp_read(&opt->groups[group].hp, d, index);
    return 0;
}

/* A change is refused when it would change the state layout of tensors
 * already registered in the group (e.g. momentum 0 -> 0.9 for SGD). */
static int set_one(descent_optimizer *opt, int group, const hp_desc *d, int index, double value, int apply)
{
    descent_hparams h = opt->groups[group].hp;
    descent_hp_write(&h, d, index, value);
    descent_error e;
    if (opt->algo->validate && opt->algo->validate(&h, &e) < 0)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "%s", e.message);
    /* The registration rule for the group's tensors (hparams.c). */
    if (descent_hparams_fit_dtype(opt->algo, &h, descent_group_float_dtype(opt, group), &e) < 0)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "group %d: %s", group, e.message);
    int before = opt->algo->state_count(&opt->groups[group].hp), after = opt->algo->state_count(&h);
    if (before != after)
        for (int i = 0; i < opt->ntensors; i++)
            if (opt->tensors[i].group == group && after > opt->tensors[i].nstate)
                return descent_opt_fail(opt, DESCENT_ERR_STATE,
                                        "cannot set %s to %g in group %d: its tensors were registered without the "
                                        "state this needs; set it before adding tensors",
                                        d->name, value, group);
    if (h.state_bits != opt->groups[group].hp.state_bits)
        for (int i = 0; i < opt->ntensors; i++)
            if (opt->tensors[i].group == group)
                return descent_opt_fail(opt, DESCENT_ERR_STATE,
                                        "cannot set state_bits to %g in group %d: its tensors' state is already "
                                        "allocated; set it before adding tensors",
                                        value, group);
    if (apply)
        opt->groups[group].hp = h;
    return 0;
}

int descent_set(descent_optimizer *opt, int group, const char *name, double value)
{
    if (!opt || !name)
        return DESCENT_ERR_INVALID;
    int rc = check_group(opt, group, 1);
    if (rc < 0)
        return rc;
    int index;
    const hp_desc *d = descent_hp_find(opt->algo, name, &index);
    if (!d)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "%s has no hyperparameter '%s'", opt->algo->name, name);
    descent_error e;
    if (descent_hp_check(d, index, value, &e) < 0)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "%s", e.message);
    int first = group == -1 ? 0 : group, last = group == -1 ? opt->ngroups - 1 : group;
    /* All groups or none: check every group, then change them all. Two
     * passes rather than a backup copy, so that setting (which schedules do
     * every step) allocates nothing and cannot fail for lack of memory. */
    for (int g = first; g <= last; g++)
        if ((rc = set_one(opt, g, d, index, value, 0)) < 0)
            return rc;
    for (int g = first; g <= last; g++)
        set_one(opt, g, d, index, value, 1);
    if (group == -1)
        descent_hp_write(&opt->defaults, d, index, value);
    return 0;
}

double descent_get_lr(const descent_optimizer *opt, int group)
{
    if (!opt || group < 0 || group >= opt->ngroups)
        return NAN;
    return opt->groups[group].hp.lr;
}

int descent_set_lr(descent_optimizer *opt, int group, double lr) { return descent_set(opt, group, "lr", lr); }

void descent_group_set_scheduled_lr(descent_optimizer *opt, int group, double lr) { opt->groups[group].hp.lr = lr; }

double descent_group_initial_lr(const descent_optimizer *opt, int group) { return opt->groups[group].initial_lr; }

void descent_group_set_initial_lr(descent_optimizer *opt, int group, double initial_lr)
{
    opt->groups[group].initial_lr = initial_lr;
}

const char *descent_momentum_name(const descent_optimizer *opt) { return opt ? opt->algo->momentum_name : NULL; }

int descent_get_hparams_sized(const descent_optimizer *opt, int group, descent_hparams *hp, size_t struct_size)
{
    if (!opt || !hp)
        return DESCENT_ERR_INVALID;
    int rc = check_group(opt, group, 0);
    if (rc < 0)
        return rc;
    descent_error e;
    if ((rc = descent_struct_size_check(struct_size, DESCENT_HPARAMS_MIN_SIZE, sizeof *hp, "descent_hparams",
                                        "descent_hparams_init", &e)) < 0)
        return descent_opt_fail((descent_optimizer *)opt, rc, "%s", e.message);
    descent_struct_out(hp, struct_size, &opt->groups[group].hp);
    return 0;
}
