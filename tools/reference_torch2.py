#!/usr/bin/python3
"""numpy ports of the PyTorch 2.x optimizers that differ from torch 1.13,
and the generator of their golden trajectories.

PyTorch 2.x is not installable here (Debian ships 1.13), so the single-tensor
paths (foreach=False) of torch/optim/nadam.py, radam.py and adam.py of a
recent 2.x release were read and their arithmetic written again in numpy,
operation for operation.  Run from the repository root:

    /usr/bin/python3 tools/reference_torch2.py

(`--check-1.13` instead runs the NAdam and RAdam ports switched to 1.13's
formula against the trajectories torch 1.13 recorded, a check of the ports.)
writes tests/golden/torch2_f64.txt and tests/golden/torch2_f32.txt in the
format of tests/golden/optim_f64.txt (case / spec / params / grad x S /
expect x S / end).  As tests/golden/gen_optim.py does for torch 1.13, the
trajectories are those of torch with its default dtype set to the file's
dtype: the scalar state (step, NAdam's mu_product) is a tensor of that dtype.

What 2.x changed, and what these cases pin down:

NAdam (Dozat 2016)
    mu_t = beta1 (1 - 0.5 * 0.96^(t psi));  P_t = P_{t-1} mu_t
    p -= lr (1 - mu_t) / (1 - P_t) * g / denom
    p -= lr mu_{t+1} / (1 - P_t mu_{t+1}) * m / denom
  1.13 wrote P_t mu_t mu_{t+1} in the last denominator.  2.x also adds
  maximize and decoupled_weight_decay (p *= 1 - lr wd before the update,
  g not augmented), and updates m with lerp_ (m + (1 - beta1)(g - m)).
RAdam (Liu et al. 2020)
  maximize and decoupled_weight_decay as above; m by lerp_; the rest as 1.13.
Adam
  decoupled_weight_decay=True makes Adam the AdamW of Loshchilov & Hutter;
  m by lerp_.

Spec lines may carry arguments pasted from PyTorch that only select a torch
implementation (foreach, fused, capturable, differentiable): the port ignores
them, as the library does.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from reference_optim import case_data, fmt_val  # noqa: E402

S = 25
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, 'tests', 'golden')

IMPLEMENTATION_ONLY = ('foreach', 'fused', 'capturable', 'differentiable')

DEFAULTS = {
    'NAdam': dict(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, momentum_decay=4e-3,
                  decoupled_weight_decay=False, maximize=False),
    'RAdam': dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                  decoupled_weight_decay=False, maximize=False),
    'Adam': dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                 maximize=False, decoupled_weight_decay=False),
}


def lerp(a, b, w, dt):
    """torch.lerp_ on CPU: a + w (b - a) for |w| < 0.5, else b - (b - a)(1 - w)."""
    w = dt(w)
    if abs(w) < 0.5:
        return a + w * (b - a)
    return b - (b - a) * (dt(1) - w)


class Torch2:
    """The prologue shared by the three: step, maximize, weight decay."""

    def __init__(self, p, dt, lr, weight_decay, decoupled_weight_decay, maximize):
        self.dt, self.lr, self.wd = dt, lr, weight_decay
        self.decoupled, self.maximize = decoupled_weight_decay, maximize
        self.step_t = 0

    def begin(self, p, g):
        dt = self.dt
        self.step_t += 1
        g = -g if self.maximize else g
        if self.wd != 0:
            if self.decoupled:
                p = p * dt(1 - self.lr * self.wd)
            else:
                g = g + dt(self.wd) * p
        return p, g


class NAdam(Torch2):
    def __init__(self, p, dt, lr, betas, eps, weight_decay, momentum_decay, decoupled_weight_decay,
                 maximize):
        super().__init__(p, dt, lr, weight_decay, decoupled_weight_decay, maximize)
        self.b1, self.b2, self.eps, self.psi = betas[0], betas[1], eps, momentum_decay
        self.m = np.zeros_like(p)
        self.v = np.zeros_like(p)
        self.mu_product = dt(1.0)     # a tensor of the default dtype
        self.legacy = False           # True: torch 1.13's P_t mu_t mu_{t+1} (--check-1.13)

    def step(self, p, g):
        dt = self.dt
        p, g = self.begin(p, g)
        t = float(self.step_t)
        bias_correction2 = 1 - self.b2 ** t
        mu = self.b1 * (1.0 - 0.5 * (0.96 ** (t * self.psi)))
        mu_next = self.b1 * (1.0 - 0.5 * (0.96 ** ((t + 1) * self.psi)))
        self.mu_product = dt(self.mu_product * dt(mu))
        self.m = lerp(self.m, g, 1 - self.b1, dt)
        self.v = self.v * dt(self.b2) + dt(1 - self.b2) * g * g
        denom = np.sqrt(self.v / dt(bias_correction2)) + dt(self.eps)
        mu_product = float(self.mu_product)
        mu_product_next = mu_product * mu_next
        if self.legacy:
            mu_product_next = mu_product * mu * mu_next
        p = p + dt(-self.lr * (1.0 - mu) / (1.0 - mu_product)) * (g / denom)
        p = p + dt((-self.lr * mu_next) / (1.0 - mu_product_next)) * (self.m / denom)
        return p


class RAdam(Torch2):
    def __init__(self, p, dt, lr, betas, eps, weight_decay, decoupled_weight_decay, maximize):
        super().__init__(p, dt, lr, weight_decay, decoupled_weight_decay, maximize)
        self.b1, self.b2, self.eps = betas[0], betas[1], eps
        self.m = np.zeros_like(p)
        self.v = np.zeros_like(p)

    def step(self, p, g):
        dt = self.dt
        p, g = self.begin(p, g)
        t = float(self.step_t)
        self.m = lerp(self.m, g, 1 - self.b1, dt)
        self.v = self.v * dt(self.b2) + dt(1 - self.b2) * g * g
        bias_correction1 = 1 - self.b1 ** t
        bias_correction2 = 1 - self.b2 ** t
        bias_corrected_exp_avg = self.m / dt(bias_correction1)
        rho_inf = 2 / (1 - self.b2) - 1
        rho_t = rho_inf - 2 * t * (self.b2 ** t) / bias_correction2
        if rho_t > 5.0:
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            adaptive_lr = dt(bias_correction2 ** 0.5) / (np.sqrt(self.v) + dt(self.eps))
            p = p - bias_corrected_exp_avg * dt(self.lr) * adaptive_lr * dt(rect)
        else:
            p = p - bias_corrected_exp_avg * dt(self.lr)
        return p


class Adam(Torch2):
    def __init__(self, p, dt, lr, betas, eps, weight_decay, amsgrad, maximize, decoupled_weight_decay):
        super().__init__(p, dt, lr, weight_decay, decoupled_weight_decay, maximize)
        self.b1, self.b2, self.eps, self.amsgrad = betas[0], betas[1], eps, amsgrad
        self.m = np.zeros_like(p)
        self.v = np.zeros_like(p)
        self.vmax = np.zeros_like(p)

    def step(self, p, g):
        dt = self.dt
        p, g = self.begin(p, g)
        t = float(self.step_t)
        self.m = lerp(self.m, g, 1 - self.b1, dt)
        self.v = self.v * dt(self.b2) + dt(1 - self.b2) * g * g
        step_size = self.lr / (1 - self.b1 ** t)
        bias_correction2_sqrt = (1 - self.b2 ** t) ** 0.5
        if self.amsgrad:
            self.vmax = np.maximum(self.vmax, self.v)
            v = self.vmax
        else:
            v = self.v
        denom = np.sqrt(v) / dt(bias_correction2_sqrt) + dt(self.eps)
        return p + dt(-step_size) * (self.m / denom)


CLASSES = {'NAdam': NAdam, 'RAdam': RAdam, 'Adam': Adam}

CASES = []


def case(cid, name, data=None, **kw):
    CASES.append((cid, name, kw, data or {}))


BIG = {'scale': 1e3}
SMALL = {'scale': 1e-4}
ZEROS = {'zeros': True}

# NAdam: the 1.13 cases of tests/golden/gen_optim.py under the 2.x formula,
# then what 2.x added.
case('t2_nadam_default', 'NAdam')
case('t2_nadam_lr', 'NAdam', lr=0.01)
case('t2_nadam_betas', 'NAdam', lr=0.01, betas=(0.5, 0.9))
case('t2_nadam_eps', 'NAdam', {'scale': 1e-3}, lr=0.01, eps=1e-3)
case('t2_nadam_wd', 'NAdam', lr=0.01, weight_decay=0.1)
case('t2_nadam_mdecay', 'NAdam', lr=0.01, momentum_decay=0.1)
case('t2_nadam_mdecay0', 'NAdam', lr=0.01, momentum_decay=0.0)
case('t2_nadam_all', 'NAdam', lr=0.02, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.05,
     momentum_decay=0.5)
case('t2_nadam_zeros', 'NAdam', ZEROS, lr=0.01)
case('t2_nadam_big', 'NAdam', BIG, lr=0.01, momentum_decay=1.0)
case('t2_nadam_small', 'NAdam', SMALL, lr=0.01, weight_decay=0.01)
case('t2_nadam_max', 'NAdam', lr=0.01, maximize=True)
case('t2_nadam_dwd', 'NAdam', lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)
case('t2_nadam_dwd_paste', 'NAdam', lr=0.01, decoupled_weight_decay=True, foreach=False)
case('t2_nadam_dwd_all', 'NAdam', {'decay': 0.9}, lr=0.02, betas=(0.8, 0.99), eps=1e-6,
     weight_decay=0.5, momentum_decay=0.5, decoupled_weight_decay=True, maximize=True)
case('t2_nadam_dwd_zeros', 'NAdam', ZEROS, lr=0.01, weight_decay=0.2, decoupled_weight_decay=True)

# RAdam: maximize and decoupled_weight_decay (the rest agrees with 1.13).
case('t2_radam_max', 'RAdam', lr=0.01, maximize=True)
case('t2_radam_dwd', 'RAdam', lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)
case('t2_radam_dwd_late', 'RAdam', lr=0.01, betas=(0.9, 0.7), weight_decay=0.3,
     decoupled_weight_decay=True)
case('t2_radam_dwd_all', 'RAdam', {'decay': 0.9}, lr=0.05, betas=(0.8, 0.99), eps=1e-6,
     weight_decay=0.5, decoupled_weight_decay=True, maximize=True, capturable=False)
case('t2_radam_dwd_zeros', 'RAdam', ZEROS, lr=0.01, weight_decay=0.2, decoupled_weight_decay=True)

# Adam(decoupled_weight_decay=True) is AdamW.
case('t2_adam_dwd', 'Adam', lr=1e-3, weight_decay=0.1, decoupled_weight_decay=True, fused=None)
case('t2_adam_dwd_lr', 'Adam', lr=0.01, weight_decay=0.5, decoupled_weight_decay=True)
case('t2_adam_dwd_ams', 'Adam', {'decay': 0.85}, lr=0.01, weight_decay=0.1, amsgrad=True,
     decoupled_weight_decay=True)
case('t2_adam_dwd_all', 'Adam', {'decay': 0.9}, lr=0.05, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1,
     amsgrad=True, maximize=True, decoupled_weight_decay=True, differentiable=False)
case('t2_adam_dwd0', 'Adam', lr=0.01, decoupled_weight_decay=True)


def spec_string(name, kw):
    return name + '(' + ', '.join('%s=%s' % (k, fmt_val(v)) for k, v in kw.items()) + ')'


def run_case(cid, name, kw, data, dt):
    params64, grads64 = case_data(cid, data)
    params, grads = params64.astype(dt), grads64.astype(dt)
    args = dict(DEFAULTS[name])
    args.update({k: v for k, v in kw.items() if k not in IMPLEMENTATION_ONLY})
    opt = CLASSES[name](params, dt, **args)
    p, rows = params.copy(), []
    for s in range(S):
        p = opt.step(p, grads[s])
        assert p.dtype == dt, (cid, p.dtype)
        rows.append(p.copy())
    assert np.all(np.isfinite(rows)), cid
    return params, grads, rows


def write(path, dt, ffmt):
    out = ['# generated by tools/reference_torch2.py with numpy %s' % np.__version__]
    for cid, name, kw, data in CASES:
        params, grads, rows = run_case(cid, name, kw, data, dt)

        def csv(a):
            return ','.join(ffmt % float(x) for x in a)
        out += ['case ' + cid, 'spec ' + spec_string(name, kw), 'params ' + csv(params)]
        out += ['grad ' + csv(g) for g in grads]
        out += ['expect ' + csv(r) for r in rows]
        out.append('end')
    with open(path, 'w') as f:
        f.write('\n'.join(out) + '\n')


def check_113():
    """The NAdam and RAdam ports, switched to 1.13's formula, against the
    trajectories torch 1.13 recorded (tests/golden/optim_*.txt): the ports
    differ from 1.13 only where 2.x does."""
    worst = 0.0
    for fname, dt in (('optim_f64.txt', np.float64), ('optim_f32.txt', np.float32)):
        text = open(os.path.join(OUT, fname)).read().split('\ncase ')[1:]
        for block in text:
            lines = block.split('\n')
            name = lines[1].split(' ', 1)[1].split('(')[0]
            if name not in ('NAdam', 'RAdam'):
                continue
            spec = lines[1].split(' ', 1)[1]
            kw = eval('dict(' + spec[len(name) + 1:])
            kw.pop('legacy_mu_product', None)
            rows = {k: [] for k in ('params', 'grad', 'expect')}
            for ln in lines:
                key = ln.split(' ', 1)[0]
                if key in rows:
                    rows[key].append(np.array([float(x) for x in ln.split(' ', 1)[1].split(',')], dtype=dt))
            args = dict(DEFAULTS[name])
            args.update(kw)
            opt = CLASSES[name](rows['params'][0], dt, **args)
            opt.legacy = True
            p = rows['params'][0]
            for g, e in zip(rows['grad'], rows['expect']):
                p = opt.step(p, g)
                err = float(np.max(np.abs(p.astype(np.float64) - e) / (np.abs(e) + 1e-14)))
                worst = max(worst, err if dt == np.float64 else 0.0)
                assert np.allclose(p, e, rtol=1e-12 if dt == np.float64 else 1e-5, atol=1e-14 if dt == np.float64 else 1e-6), \
                    (lines[0], err)
    print('ports agree with torch 1.13 on its NAdam and RAdam cases; worst f64 relative error %.3g' % worst)


def main():
    if '--check-1.13' in sys.argv:
        check_113()
        return
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids)), 'duplicate case ids'
    with np.errstate(over='raise', invalid='raise'):
        write(os.path.join(OUT, 'torch2_f64.txt'), np.float64, '%.17g')
        write(os.path.join(OUT, 'torch2_f32.txt'), np.float32, '%.9g')
    print('cases:', len(CASES))


if __name__ == '__main__':
    main()
