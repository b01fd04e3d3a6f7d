#!/usr/bin/python3
"""Golden-data generator for the descent optimizers.

Generates tests/golden/optim_f64.txt and tests/golden/optim_f32.txt: reference
trajectories computed by PyTorch's optimizers (single-tensor path,
foreach=False) for SGD, Adagrad, RMSprop, Adadelta, Adam, AMSGrad (our alias
for Adam(amsgrad=True)), AdamW, NAdam, Adamax and RAdam.

Run from the repository root with the Debian PyTorch:

    /usr/bin/python3 tests/golden/gen_optim.py

Last run with torch 1.13.0a0 (Debian python3-torch), numpy 1.24.2.
Output is deterministic: every case draws its data from its own numpy
Generator seeded with crc32(case id), so rerunning gives identical files.

File format (lines starting with '#' are comments; the first line records the
torch version):

    case <id>
    spec <constructor call, keyword args only, e.g. Adam(lr=0.01, amsgrad=True)>
    params <initial values, csv>
    grad <gradient for step 1, csv>      (S = 25 grad lines)
    expect <parameters after step 1>     (S = 25 expect lines)
    end

Each case optimizes one tensor of n = 8 elements.  At each step p.grad is set
to the pre-generated gradient (not computed from a loss) and opt.step() is
called.  The f64 file prints with %.17g, the f32 file with %.9g; the f32 data
are generated in float64, cast to float32, and those exact float32 values are
both printed and fed to torch.

Notes on torch 1.13 behaviour:
  * torch.set_default_dtype() is set to the file's dtype while generating.
    This matters only for NAdam, whose state['mu_product'] is created with
    torch.tensor(1.) (the default dtype) rather than the parameter's dtype;
    with the default float32 the f64 NAdam trajectories would carry float32
    rounding of mu_product.  The step counters (also default-dtype tensors)
    hold small integers and are exact either way.
  * SGD: lr is required; nesterov requires momentum > 0 and dampening == 0;
    the first momentum step sets buf = grad (no dampening).
  * maximize is accepted by SGD, Adagrad, RMSprop, Adadelta, Adam, AdamW and
    Adamax, but NOT by NAdam or RAdam in 1.13.
  * NAdam's spec lines carry legacy_mu_product=True, descent's switch for
    1.13's mu_product_next; the torch 2.x form is tested by
    tools/reference_torch2.py.
"""

import math
import os
import zlib

import numpy as np
import torch

N = 8          # elements per parameter tensor
S = 25         # steps per case

HERE = os.path.dirname(os.path.abspath(__file__))


# --------------------------------------------------------------------------
# case list: (id, optimizer name, kwargs, data options)
#   data options: scale  - gradient scale (default 1)
#                 zeros  - inject exact zeros (random entries, element 0 on
#                          the first steps, one whole step)
#                 decay  - per-step multiplicative factor on the gradient
#                          scale (decreasing gradients make AMSGrad/Adamax
#                          maxima matter)
#                 drift  - std of the per-element gradient mean (default 0.5)
# --------------------------------------------------------------------------
CASES = []


def case(cid, name, data=None, **kw):
    CASES.append((cid, name, kw, data or {}))


BIG = {'scale': 1e3}
SMALL = {'scale': 1e-4}
ZEROS = {'zeros': True}

# SGD -- lr is required in 1.13
case('sgd_lr', 'SGD', lr=0.1)
case('sgd_mom', 'SGD', lr=0.1, momentum=0.9)
case('sgd_mom_damp', 'SGD', lr=0.1, momentum=0.9, dampening=0.5)
case('sgd_nest', 'SGD', lr=0.05, momentum=0.9, nesterov=True)
case('sgd_nest_wd', 'SGD', lr=0.05, momentum=0.8, weight_decay=0.1, nesterov=True)
case('sgd_wd', 'SGD', lr=0.1, weight_decay=0.5)
case('sgd_max', 'SGD', lr=0.1, maximize=True)
case('sgd_mom_max', 'SGD', lr=0.1, momentum=0.9, maximize=True)
case('sgd_all', 'SGD', lr=0.02, momentum=0.5, dampening=0.3, weight_decay=0.05,
     maximize=True)
case('sgd_mom_zeros', 'SGD', ZEROS, lr=0.1, momentum=0.9, dampening=0.1)
case('sgd_big', 'SGD', BIG, lr=1e-4, momentum=0.9)
case('sgd_small', 'SGD', SMALL, lr=0.5, momentum=0.5, nesterov=True)

# Adagrad
case('adagrad_default', 'Adagrad')
case('adagrad_lrdecay', 'Adagrad', lr=0.1, lr_decay=0.05)
case('adagrad_wd', 'Adagrad', lr=0.1, weight_decay=0.1)
case('adagrad_init', 'Adagrad', lr=0.1, initial_accumulator_value=0.5)
case('adagrad_eps', 'Adagrad', {'scale': 1e-3}, lr=0.1, eps=1e-3)
case('adagrad_max', 'Adagrad', lr=0.1, maximize=True)
case('adagrad_all', 'Adagrad', lr=0.2, lr_decay=0.1, weight_decay=0.05,
     initial_accumulator_value=0.1, eps=1e-6, maximize=True)
case('adagrad_zeros', 'Adagrad', ZEROS, lr=0.1)
case('adagrad_big', 'Adagrad', BIG, lr=0.5, lr_decay=0.01)
case('adagrad_small', 'Adagrad', SMALL, lr=0.05, weight_decay=0.01)

# RMSprop
case('rmsprop_default', 'RMSprop')
case('rmsprop_alpha', 'RMSprop', lr=0.01, alpha=0.9)
case('rmsprop_eps', 'RMSprop', {'scale': 1e-3}, lr=0.01, eps=1e-3)
case('rmsprop_wd', 'RMSprop', lr=0.01, weight_decay=0.1)
case('rmsprop_mom', 'RMSprop', lr=0.01, momentum=0.9)
case('rmsprop_cent', 'RMSprop', lr=0.01, centered=True)
case('rmsprop_cent_mom', 'RMSprop', lr=0.01, momentum=0.9, centered=True)
case('rmsprop_max', 'RMSprop', lr=0.01, maximize=True)
case('rmsprop_all', 'RMSprop', lr=0.005, alpha=0.5, eps=1e-6, weight_decay=0.05,
     momentum=0.5, centered=True, maximize=True)
case('rmsprop_mom_zeros', 'RMSprop', ZEROS, lr=0.01, momentum=0.8)
case('rmsprop_cent_big', 'RMSprop', BIG, lr=0.01, centered=True)
case('rmsprop_small', 'RMSprop', SMALL, lr=0.001, alpha=0.9, momentum=0.9)

# Adadelta
case('adadelta_default', 'Adadelta')
case('adadelta_lr', 'Adadelta', lr=0.5)
case('adadelta_rho', 'Adadelta', lr=1.0, rho=0.5)
case('adadelta_eps', 'Adadelta', lr=1.0, eps=1e-3)
case('adadelta_wd', 'Adadelta', lr=1.0, weight_decay=0.1)
case('adadelta_max', 'Adadelta', lr=1.0, maximize=True)
case('adadelta_all', 'Adadelta', lr=2.0, rho=0.7, eps=1e-4, weight_decay=0.05,
     maximize=True)
case('adadelta_zeros', 'Adadelta', ZEROS, lr=1.0)
case('adadelta_big', 'Adadelta', BIG, lr=1.0, rho=0.95)
case('adadelta_small', 'Adadelta', SMALL, lr=10.0, eps=1e-8)

# Adam
case('adam_default', 'Adam')
case('adam_lr', 'Adam', lr=0.01)
case('adam_betas', 'Adam', lr=0.01, betas=(0.5, 0.9))
case('adam_beta1_zero', 'Adam', lr=0.1, betas=(0.0, 0.99))
case('adam_eps', 'Adam', {'scale': 1e-3}, lr=0.01, eps=1e-3)
case('adam_wd', 'Adam', lr=0.01, weight_decay=0.1)
case('adam_ams', 'Adam', {'decay': 0.85}, lr=0.01, amsgrad=True)
case('adam_max', 'Adam', lr=0.01, maximize=True)
case('adam_ams_wd', 'Adam', {'decay': 0.9}, lr=0.01, betas=(0.8, 0.99),
     weight_decay=0.1, amsgrad=True)
case('adam_all', 'Adam', {'decay': 0.9}, lr=0.05, betas=(0.5, 0.5), eps=1e-6,
     weight_decay=0.05, amsgrad=True, maximize=True)
case('adam_zeros', 'Adam', ZEROS, lr=0.01)
case('adam_ams_big', 'Adam', {'scale': 1e3, 'decay': 0.9}, lr=0.01, amsgrad=True)
case('adam_small', 'Adam', SMALL, lr=0.01, betas=(0.9, 0.999))

# AMSGrad: alias for Adam(amsgrad=True)
case('amsgrad_default', 'AMSGrad', {'decay': 0.85})
case('amsgrad_lr', 'AMSGrad', {'decay': 0.85}, lr=0.01)
case('amsgrad_betas_wd', 'AMSGrad', {'decay': 0.9}, lr=0.05, betas=(0.5, 0.9),
     weight_decay=0.1)
case('amsgrad_eps_max', 'AMSGrad', {'decay': 0.9, 'zeros': True}, lr=0.01,
     eps=1e-6, maximize=True)

# AdamW (weight_decay default 1e-2, decoupled)
case('adamw_default', 'AdamW')
case('adamw_lr', 'AdamW', lr=0.01)
case('adamw_betas', 'AdamW', lr=0.01, betas=(0.5, 0.9))
case('adamw_eps', 'AdamW', {'scale': 1e-3}, lr=0.01, eps=1e-3)
case('adamw_wd', 'AdamW', lr=0.01, weight_decay=0.5)
case('adamw_wd0', 'AdamW', lr=0.01, weight_decay=0.0)
case('adamw_ams', 'AdamW', {'decay': 0.85}, lr=0.01, amsgrad=True)
case('adamw_max', 'AdamW', lr=0.01, maximize=True)
case('adamw_all', 'AdamW', {'decay': 0.9}, lr=0.05, betas=(0.8, 0.95), eps=1e-6,
     weight_decay=0.1, amsgrad=True, maximize=True)
case('adamw_zeros', 'AdamW', ZEROS, lr=0.01)
case('adamw_big', 'AdamW', BIG, lr=0.01, weight_decay=0.1)
case('adamw_small', 'AdamW', SMALL, lr=0.1, weight_decay=1.0)

# NAdam (no maximize in 1.13)
case('nadam_default', 'NAdam')
case('nadam_lr', 'NAdam', lr=0.01)
case('nadam_betas', 'NAdam', lr=0.01, betas=(0.5, 0.9))
case('nadam_eps', 'NAdam', {'scale': 1e-3}, lr=0.01, eps=1e-3)
case('nadam_wd', 'NAdam', lr=0.01, weight_decay=0.1)
case('nadam_mdecay', 'NAdam', lr=0.01, momentum_decay=0.1)
case('nadam_mdecay0', 'NAdam', lr=0.01, momentum_decay=0.0)
case('nadam_all', 'NAdam', lr=0.02, betas=(0.8, 0.99), eps=1e-6,
     weight_decay=0.05, momentum_decay=0.5)
case('nadam_zeros', 'NAdam', ZEROS, lr=0.01)
case('nadam_big', 'NAdam', BIG, lr=0.01, momentum_decay=1.0)
case('nadam_small', 'NAdam', SMALL, lr=0.01, weight_decay=0.01)

# Adamax (maximize accepted in 1.13)
case('adamax_default', 'Adamax')
case('adamax_lr', 'Adamax', lr=0.05)
case('adamax_beta1', 'Adamax', lr=0.05, betas=(0.5, 0.9))
case('adamax_beta2', 'Adamax', lr=0.05, betas=(0.9, 0.5))
case('adamax_eps', 'Adamax', {'scale': 1e-3}, lr=0.05, eps=1e-3)
case('adamax_wd', 'Adamax', lr=0.05, weight_decay=0.1)
case('adamax_max', 'Adamax', lr=0.05, maximize=True)
case('adamax_all', 'Adamax', lr=0.1, betas=(0.7, 0.8), eps=1e-6,
     weight_decay=0.05, maximize=True)
case('adamax_zeros', 'Adamax', ZEROS, lr=0.05)
case('adamax_big', 'Adamax', {'scale': 1e3, 'decay': 0.85}, lr=0.05)
case('adamax_small', 'Adamax', SMALL, lr=0.05, weight_decay=0.01)

# RAdam (no maximize in 1.13).  rho_inf = 2/(1-beta2) - 1; the rectified
# update is used only at steps where rho_t > 5.
case('radam_default', 'RAdam')                                  # rect from step 6
case('radam_beta1', 'RAdam', lr=0.01, betas=(0.5, 0.999))
case('radam_b2_09', 'RAdam', lr=0.01, betas=(0.9, 0.9))         # rho_inf 19
case('radam_b2_07', 'RAdam', lr=0.01, betas=(0.9, 0.7))         # rho_inf 5.67, late
case('radam_b2_06', 'RAdam', lr=0.01, betas=(0.9, 0.6))         # rho_inf 4: never
case('radam_b2_05', 'RAdam', lr=0.01, betas=(0.5, 0.5))         # rho_inf 3: never
case('radam_eps', 'RAdam', {'scale': 1e-3}, lr=0.01, eps=1e-3)
case('radam_wd', 'RAdam', lr=0.01, weight_decay=0.1)
case('radam_all', 'RAdam', lr=0.05, betas=(0.8, 0.99), eps=1e-6,
     weight_decay=0.05)
case('radam_zeros', 'RAdam', ZEROS, lr=0.01)
case('radam_big', 'RAdam', BIG, lr=0.001)
case('radam_small', 'RAdam', SMALL, lr=0.1, betas=(0.5, 0.5))


# --------------------------------------------------------------------------

def fmt_val(v):
    if isinstance(v, bool):
        return 'True' if v else 'False'
    if isinstance(v, tuple):
        return '(' + ', '.join(fmt_val(x) for x in v) + ')'
    if isinstance(v, (int, float)):
        return repr(float(v))
    raise TypeError(v)


def spec_string(name, kw):
    args = ['%s=%s' % (k, fmt_val(v)) for k, v in kw.items()]
    if name == 'NAdam':
        # torch 1.13's mu_product_next (P_t mu_t mu_{t+1}); descent's default
        # is torch 2.x's P_t mu_{t+1} (tools/reference_torch2.py)
        args.append('legacy_mu_product=True')
    return name + '(' + ', '.join(args) + ')'


def make_optimizer(name, kw, p):
    kw = {k: (tuple(float(x) for x in v) if isinstance(v, tuple) else v)
          for k, v in kw.items()}
    if name == 'AMSGrad':
        return torch.optim.Adam([p], amsgrad=True, foreach=False, **kw)
    return getattr(torch.optim, name)([p], foreach=False, **kw)


def case_data(cid, data):
    """Initial params and S gradients in float64 (deterministic per case)."""
    rng = np.random.default_rng(zlib.crc32(cid.encode()))
    params = rng.standard_normal(N)
    mean = rng.standard_normal(N) * data.get('drift', 0.5)
    grads = rng.standard_normal((S, N)) + mean
    decay = data.get('decay', 1.0)
    grads *= data.get('scale', 1.0) * decay ** np.arange(S)[:, None]
    if data.get('zeros'):
        grads[rng.random((S, N)) < 0.25] = 0.0   # scattered zero entries
        grads[:6, 0] = 0.0                       # element 0 silent at first
        grads[9, :] = 0.0                        # one all-zero step
    return params, grads


def radam_rect_steps(betas):
    b2 = betas[1]
    rho_inf = 2 / (1 - b2) - 1
    out = []
    for step in range(1, S + 1):
        bc2 = 1 - b2 ** step
        rho_t = rho_inf - 2 * step * (b2 ** step) / bc2
        out.append(rho_t > 5.)
    return out


def run_case(cid, name, kw, data, dtype, npdtype, ffmt):
    params64, grads64 = case_data(cid, data)
    params = params64.astype(npdtype)
    grads = grads64.astype(npdtype)

    p = torch.tensor(params, dtype=dtype)
    opt = make_optimizer(name, kw, p)
    expects = []
    for s in range(S):
        p.grad = torch.tensor(grads[s], dtype=dtype)
        opt.step()
        expects.append(p.detach().numpy().copy())
    expects = np.array(expects)
    assert expects.dtype == npdtype
    assert np.all(np.isfinite(expects)), cid

    def csv(a):
        return ','.join(ffmt % float(x) for x in a)

    lines = ['case ' + cid, 'spec ' + spec_string(name, kw), 'params ' + csv(params)]
    lines += ['grad ' + csv(g) for g in grads]
    lines += ['expect ' + csv(e) for e in expects]
    lines.append('end')
    moved = float(np.max(np.abs(expects[-1].astype(np.float64) -
                                params.astype(np.float64))))
    return lines, moved


def write_file(path, dtype, npdtype, ffmt, verbose=False):
    old_default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        out = ['# generated by tests/golden/gen_optim.py with torch %s'
               % torch.__version__]
        for cid, name, kw, data in CASES:
            lines, moved = run_case(cid, name, kw, data, dtype, npdtype, ffmt)
            out += lines
            if verbose:
                extra = ''
                if name == 'RAdam':
                    r = radam_rect_steps(kw.get('betas', (0.9, 0.999)))
                    extra = ' rect_from=%s' % (r.index(True) + 1 if any(r) else 'never')
                print('  %-20s moved %.3g%s' % (cid, moved, extra))
        with open(path, 'w') as f:
            f.write('\n'.join(out) + '\n')
    finally:
        torch.set_default_dtype(old_default)


def main():
    np.random.seed(0)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids)), 'duplicate case ids'
    write_file(os.path.join(HERE, 'optim_f64.txt'), torch.float64, np.float64,
               '%.17g', verbose=True)
    write_file(os.path.join(HERE, 'optim_f32.txt'), torch.float32, np.float32,
               '%.9g')
    counts = {}
    for _, name, _, _ in CASES:
        counts[name] = counts.get(name, 0) + 1
    print('cases:', len(CASES), counts)


if __name__ == '__main__':
    main()
