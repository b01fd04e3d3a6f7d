#!/usr/bin/python3
"""Golden-data generator for Rprop and ASGD (issue 7).

Writes tests/golden/optim_more_f64.txt and tests/golden/optim_more_f32.txt,
trajectories of torch.optim.Rprop and torch.optim.ASGD (single-tensor path,
foreach=False), in exactly the format of optim_f64.txt (see gen_optim.py):

    case <id> / spec <call> / params <csv> / grad <csv> x S / expect <csv> x S / end

and tests/golden/optim_more_ax_f64.txt / _f32.txt, the same cases for ASGD
with each 'expect' line holding ASGD's running average state['ax'] instead
of the parameters (the replay CLI prints parameters only).

Run from the repository root with the Debian PyTorch:

    /usr/bin/python3 tests/golden/gen_optim_more.py

Last run with torch 1.13.0a0 (Debian python3-torch), numpy 1.24.2.
Deterministic: each case draws its data from a numpy Generator seeded with
crc32(case id).  f32 data are generated in float64 and cast to float32.

Notes on torch 1.13 behaviour:
  * ASGD keeps state['eta'] and state['mu'] as tensors of the default dtype;
    the default dtype is set to the file's dtype while generating (as
    gen_optim.py does for NAdam), so the f64 file carries no float32
    rounding of eta.
  * Rprop requires 0 < etas[0] < 1 < etas[1]; step_sizes are not checked.
  * Both accept maximize in 1.13.
"""

import os
import zlib

import numpy as np
import torch

N = 8          # elements per parameter tensor
S = 25         # steps per case

HERE = os.path.dirname(os.path.abspath(__file__))

CASES = []


def case(cid, name, data=None, **kw):
    CASES.append((cid, name, kw, data or {}))


BIG = {'scale': 1e3}
SMALL = {'scale': 1e-4}
ZEROS = {'zeros': True}

# Rprop: random gradients around a per-element mean change sign often, so
# both factors, the skipped step after a sign change and the clamps occur.
case('rprop_default', 'Rprop')
case('rprop_lr', 'Rprop', lr=0.1)
case('rprop_etas', 'Rprop', lr=0.05, etas=(0.3, 1.5))
case('rprop_etas_mild', 'Rprop', lr=0.05, etas=(0.9, 1.01))
case('rprop_clamp_max', 'Rprop', {'drift': 3.0}, lr=0.02, etas=(0.5, 2.0),
     step_sizes=(1e-6, 0.1))
case('rprop_clamp_min', 'Rprop', {'drift': 0.0}, lr=0.01, etas=(0.1, 1.2),
     step_sizes=(1e-3, 50.0))
case('rprop_max', 'Rprop', lr=0.05, maximize=True)
case('rprop_all', 'Rprop', {'drift': 1.0}, lr=0.2, etas=(0.4, 1.3),
     step_sizes=(0.01, 0.5), maximize=True)
case('rprop_zeros', 'Rprop', ZEROS, lr=0.05)
case('rprop_big', 'Rprop', BIG, lr=0.05)
case('rprop_small', 'Rprop', SMALL, lr=0.05, step_sizes=(1e-4, 1.0))
case('rprop_equal_sizes', 'Rprop', lr=0.05, step_sizes=(0.02, 0.02))

# ASGD: t0 small makes mu (hence ax) move; lambd large makes the decay term
# and the eta schedule visible within 25 steps.
case('asgd_default', 'ASGD')
case('asgd_lr', 'ASGD', lr=0.1)
case('asgd_lambd', 'ASGD', lr=0.1, lambd=0.5)
case('asgd_alpha', 'ASGD', lr=0.1, lambd=0.2, alpha=0.3)
case('asgd_alpha0', 'ASGD', lr=0.1, lambd=0.2, alpha=0.0)
case('asgd_t0', 'ASGD', lr=0.05, t0=5.0)
case('asgd_t0_zero', 'ASGD', lr=0.05, lambd=0.1, t0=0.0)
case('asgd_t0_frac', 'ASGD', lr=0.05, t0=3.5)
case('asgd_wd', 'ASGD', lr=0.05, weight_decay=0.1)
case('asgd_max', 'ASGD', lr=0.05, maximize=True)
case('asgd_all', 'ASGD', lr=0.08, lambd=0.3, alpha=0.6, t0=2.0,
     weight_decay=0.05, maximize=True)
case('asgd_zeros', 'ASGD', ZEROS, lr=0.05, t0=4.0)
case('asgd_big', 'ASGD', BIG, lr=1e-4, lambd=1.0, t0=10.0)
case('asgd_small', 'ASGD', SMALL, lr=10.0, lambd=1e-3, t0=1.0)


def fmt_val(v):
    if isinstance(v, bool):
        return 'True' if v else 'False'
    if isinstance(v, tuple):
        return '(' + ', '.join(fmt_val(x) for x in v) + ')'
    if isinstance(v, (int, float)):
        return repr(float(v))
    raise TypeError(v)


def spec_string(name, kw):
    return name + '(' + ', '.join('%s=%s' % (k, fmt_val(v)) for k, v in kw.items()) + ')'


def case_data(cid, data):
    """Initial params and S gradients in float64 (deterministic per case)."""
    rng = np.random.default_rng(zlib.crc32(cid.encode()))
    params = rng.standard_normal(N)
    mean = rng.standard_normal(N) * data.get('drift', 0.5)
    grads = rng.standard_normal((S, N)) + mean
    grads *= data.get('scale', 1.0)
    if data.get('zeros'):
        grads[rng.random((S, N)) < 0.25] = 0.0   # scattered zero entries
        grads[:6, 0] = 0.0                       # element 0 silent at first
        grads[9, :] = 0.0                        # one all-zero step
    return params, grads


def run_case(cid, name, kw, data, dtype, npdtype):
    params64, grads64 = case_data(cid, data)
    params = params64.astype(npdtype)
    grads = grads64.astype(npdtype)
    p = torch.tensor(params, dtype=dtype)
    kw = {k: (tuple(float(x) for x in v) if isinstance(v, tuple) else v)
          for k, v in kw.items()}
    opt = getattr(torch.optim, name)([p], foreach=False, **kw)
    expects, axs = [], []
    for s in range(S):
        p.grad = torch.tensor(grads[s], dtype=dtype)
        opt.step()
        expects.append(p.detach().numpy().copy())
        if name == 'ASGD':
            axs.append(opt.state[p]['ax'].numpy().copy())
    assert np.all(np.isfinite(expects)), cid
    return params, grads, np.array(expects), np.array(axs)


def block(cid, name, kw, params, grads, rows, ffmt):
    def csv(a):
        return ','.join(ffmt % float(x) for x in a)
    lines = ['case ' + cid, 'spec ' + spec_string(name, kw), 'params ' + csv(params)]
    lines += ['grad ' + csv(g) for g in grads]
    lines += ['expect ' + csv(e) for e in rows]
    lines.append('end')
    return lines


def write_files(suffix, dtype, npdtype, ffmt, verbose=False):
    old_default = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        head = '# generated by tests/golden/gen_optim_more.py with torch %s' % torch.__version__
        out = [head]
        ax_out = [head, '# expect lines hold ASGD state["ax"], not the parameters']
        for cid, name, kw, data in CASES:
            params, grads, expects, axs = run_case(cid, name, kw, data, dtype, npdtype)
            out += block(cid, name, kw, params, grads, expects, ffmt)
            if name == 'ASGD':
                ax_out += block(cid, name, kw, params, grads, axs, ffmt)
            if verbose:
                moved = float(np.max(np.abs(expects[-1].astype(np.float64) - params)))
                print('  %-20s moved %.3g' % (cid, moved))
        with open(os.path.join(HERE, 'optim_more_%s.txt' % suffix), 'w') as f:
            f.write('\n'.join(out) + '\n')
        with open(os.path.join(HERE, 'optim_more_ax_%s.txt' % suffix), 'w') as f:
            f.write('\n'.join(ax_out) + '\n')
    finally:
        torch.set_default_dtype(old_default)


def main():
    torch.set_num_threads(1)
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids)), 'duplicate case ids'
    write_files('f64', torch.float64, np.float64, '%.17g', verbose=True)
    write_files('f32', torch.float32, np.float32, '%.9g')
    counts = {}
    for _, name, _, _ in CASES:
        counts[name] = counts.get(name, 0) + 1
    print('cases:', len(CASES), counts)


if __name__ == '__main__':
    main()
