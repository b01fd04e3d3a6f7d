/* The optional whole-tensor hooks of descent_algo (issue 7): the step of
 * optimizers whose update reduces over a tensor (LAMB, Adafactor) and the
 * evaluation parameters of the schedule-free optimizers. */
#include "internal.h"

#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

void descent_tensor_args_of(const descent_optimizer *opt, int tensor, descent_tensor_args *a)
{
    const descent_tensor *t = &opt->tensors[tensor];
    memset(a, 0, sizeof *a);
    a->coeffs = t->coeffs;
    a->dtype = t->dtype;
    a->n = t->n;
    a->ndim = t->ndim;
    a->shape = t->shape;
    a->param = t->param;
    a->grad = descent_step_grad(t); /* the accumulated mean under gradient accumulation */
    for (int k = 0; k < t->nstate; k++) {
        a->state[k] = t->state[k];
        a->state_n[k] = t->state_n[k];
    }
    a->isa = opt->isa;
    a->threads = 1;
}

/* Below this many elements in all, tensors step on the calling thread (as
 * descent_step's chunk loop). */
#define PARALLEL_MIN_ELEMS ((size_t)1 << 17)

/* A tensor of at least PARALLEL_MIN_ELEMS elements steps alone, its step
 * sharing the tensor among all threads; the smaller ones step one tensor per
 * thread at a time. Each tensor's reductions run in an order fixed by its
 * size (kernels.h), so every thread count gives the same bits. */
void descent_run_tensor_steps(const descent_optimizer *opt)
{
    int nt = opt->ntensors;
    size_t small = 0;
    for (int i = 0; i < nt; i++) {
        if (opt->tensors[i].n < PARALLEL_MIN_ELEMS) {
            small += opt->tensors[i].n;
            continue;
        }
        descent_tensor_args a;
        descent_tensor_args_of(opt, i, &a);
        a.threads = opt->threads;
        opt->algo->tensor_step(&a);
    }
    (void)small; /* without OpenMP */
#ifdef _OPENMP
    if (opt->threads > 1 && nt > 1 && small >= PARALLEL_MIN_ELEMS) {
        int threads = opt->threads < nt ? opt->threads : nt;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
        for (int i = 0; i < nt; i++) {
            if (opt->tensors[i].n >= PARALLEL_MIN_ELEMS)
                continue;
            descent_tensor_args a;
            descent_tensor_args_of(opt, i, &a);
            opt->algo->tensor_step(&a);
        }
        return;
    }
#endif
    for (int i = 0; i < nt; i++) {
        if (opt->tensors[i].n >= PARALLEL_MIN_ELEMS)
            continue;
        descent_tensor_args a;
        descent_tensor_args_of(opt, i, &a);
        opt->algo->tensor_step(&a);
    }
}

int descent_eval_params(const descent_optimizer *opt, int tensor, void *out)
{
    if (!opt)
        return DESCENT_ERR_INVALID;
    if (tensor < 0 || tensor >= opt->ntensors)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "tensor must be in [0, %d), got %d", opt->ntensors, tensor);
    const descent_tensor *t = &opt->tensors[tensor];
    if (t->n > 0 && !out)
        return descent_opt_fail(opt, DESCENT_ERR_INVALID, "out must not be NULL for a tensor of %zu elements", t->n);
    size_t elem = t->dtype == DESCENT_F64 ? sizeof(double) : t->dtype == DESCENT_BF16 ? sizeof(uint16_t) : sizeof(float);
    if (!opt->algo->eval_params || t->scalars.step == 0) {
        if (t->n > 0 && out != t->param)
            memcpy(out, t->param, t->n * elem);
        return 0;
    }
    descent_tensor_args a;
    descent_tensor_args_of(opt, tensor, &a);
    if (t->dtype != DESCENT_BF16) {
        opt->algo->eval_params(&opt->groups[t->group].hp, &t->scalars, &a, out);
        return 0;
    }
    /* bf16: the f32 state against the f32 parameters (the master copy when
     * there is one), rounded to nearest even. */
    float *y = t->master ? NULL : descent_mem_alloc(&opt->mem, t->n * sizeof(float));
    float *x = descent_mem_alloc(&opt->mem, t->n * sizeof(float));
    if ((!t->master && !y) || !x) {
        descent_mem_free(&opt->mem, y);
        descent_mem_free(&opt->mem, x);
        return descent_opt_fail(opt, DESCENT_ERR_NOMEM, "out of memory for the evaluation parameters");
    }
    if (!t->master)
        descent_bf16_widen(y, t->param, t->n);
    a.dtype = DESCENT_F32;
    a.param = t->master ? t->master : y;
    opt->algo->eval_params(&opt->groups[t->group].hp, &t->scalars, &a, x);
    descent_bf16_narrow(out, x, t->n);
    descent_mem_free(&opt->mem, y);
    descent_mem_free(&opt->mem, x);
    return 0;
}
