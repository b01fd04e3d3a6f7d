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
format of tests/golden/optim_f64.txt, and tests/golden/sched_torch2.txt
(schedules nested as torch 2.x nests them) in the format of
tests/golden/sched.txt (case / spec / params / grad x S /
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

import math
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
    write_sched(os.path.join(OUT, 'sched_torch2.txt'))
    print('cases:', len(CASES), 'schedule cases:', len(SCHED_CASES))



# ---------------------------------------------------------------------------
# Learning-rate schedulers of torch 2.x, where nesting differs from 1.13.
#
# 2.x's LRScheduler runs its constructor's first step in "initial mode"
# (_is_initial); ExponentialLR, PolynomialLR and CosineAnnealingLR return the
# lr unchanged only in that mode, the others test last_epoch == 0.
# SequentialLR undoes its members' constructor steps recursively
# (recursive_undo: last_epoch -= 1 in every leaf, ChainedScheduler members
# included) and runs _initial_step() on its first member; on a
# ChainedScheduler that is a plain step() of every member, outside initial
# mode, from last_epoch -1 to 0.  1.13 could not nest a ChainedScheduler
# (it has no last_epoch there).  Only what these cases use is ported.

class Group:
    def __init__(self, lr):
        self.lr, self.initial_lr = lr, None


class Sched:
    def __init__(self, group):
        self.g = group
        if self.g.initial_lr is None:
            self.g.initial_lr = self.g.lr
        self.base = self.g.initial_lr
        self.last_epoch = -1
        self.initial_step()

    def initial_step(self):
        self.is_initial = True
        self.step()
        self.is_initial = False

    def step(self):
        self.last_epoch += 1
        self.g.lr = self.get_lr()

    def undo(self):
        self.last_epoch -= 1


class ConstantLR(Sched):
    def __init__(self, group, factor=1.0 / 3, total_iters=5):
        self.factor, self.total_iters = factor, total_iters
        super().__init__(group)

    def get_lr(self):
        if self.last_epoch == 0:
            return self.g.lr * self.factor
        if self.last_epoch != self.total_iters:
            return self.g.lr
        return self.g.lr * (1.0 / self.factor)


class LinearLR(Sched):
    def __init__(self, group, start_factor=1.0 / 3, end_factor=1.0, total_iters=5):
        self.s, self.e, self.total_iters = start_factor, end_factor, total_iters
        super().__init__(group)

    def get_lr(self):
        if self.last_epoch == 0:
            return self.g.lr * self.s
        if self.is_initial or self.last_epoch > self.total_iters:
            return self.g.lr
        return self.g.lr * (1.0 + (self.e - self.s) /
                            (self.total_iters * self.s + (self.last_epoch - 1) * (self.e - self.s)))


class ExponentialLR(Sched):
    def __init__(self, group, gamma):
        self.gamma = gamma
        super().__init__(group)

    def get_lr(self):
        return self.g.lr if self.is_initial else self.g.lr * self.gamma


class StepLR(Sched):
    def __init__(self, group, step_size, gamma=0.1):
        self.step_size, self.gamma = step_size, gamma
        super().__init__(group)

    def get_lr(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self.g.lr
        return self.g.lr * self.gamma

    def closed(self):
        return self.base * self.gamma ** (self.last_epoch // self.step_size)


class PolynomialLR(Sched):
    def __init__(self, group, total_iters=5, power=1.0):
        self.total_iters, self.power = total_iters, power
        super().__init__(group)

    def get_lr(self):
        if self.is_initial or self.last_epoch > self.total_iters:
            return self.g.lr
        f = ((1.0 - self.last_epoch / self.total_iters) /
             (1.0 - (self.last_epoch - 1) / self.total_iters)) ** self.power
        return self.g.lr * f


class CosineAnnealingLR(Sched):
    def __init__(self, group, T_max, eta_min=0.0):
        self.T_max, self.eta_min = T_max, eta_min
        self.step_count = 0
        super().__init__(group)

    def step(self):
        self.step_count += 1
        super().step()

    def get_lr(self):
        t, T, eta = self.last_epoch, self.T_max, self.eta_min
        if self.is_initial:
            return self.g.lr
        if self.step_count == 1 and t > 0:
            return eta + (self.base - eta) * (1 + math.cos(t * math.pi / T)) / 2
        if (t - 1 - T) % (2 * T) == 0:
            return self.g.lr + (self.base - eta) * (1 - math.cos(math.pi / T)) / 2
        return (1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T)) * (self.g.lr - eta) + eta


class ChainedScheduler:
    def __init__(self, group, schedulers):
        self.g, self.members = group, schedulers

    def step(self):
        for s in self.members:
            s.step()

    def initial_step(self):
        self.step()          # LRScheduler._initial_step: a step() of the chain

    def undo(self):
        for s in self.members:
            s.undo()


class SequentialLR:
    def __init__(self, group, schedulers, milestones):
        self.g, self.members, self.milestones = group, schedulers, milestones
        self.last_epoch = 0
        self.g.lr = self.g.initial_lr
        for s in self.members:
            s.undo()
        self.members[0].initial_step()

    def step(self):
        self.last_epoch += 1
        idx = sum(1 for m in self.milestones if m <= self.last_epoch)
        s = self.members[idx]
        if idx > 0 and self.milestones[idx - 1] == self.last_epoch:
            s.last_epoch = 0
            self.g.lr = s.closed()
        else:
            s.step()


SCHED_CASES = [
    # (id, base lr, spec, builder)
    ('t2_seq_chained_const_exp', 0.01,
     'SequentialLR([ChainedScheduler([ConstantLR(factor=0.5, total_iters=10), ExponentialLR(gamma=0.9)]), '
     'StepLR(step_size=2)], [4])',
     lambda g: SequentialLR(g, [ChainedScheduler(g, [ConstantLR(g, 0.5, 10), ExponentialLR(g, 0.9)]),
                                StepLR(g, 2)], [4])),
    ('t2_seq_chained_linear_poly', 0.1,
     'SequentialLR([ChainedScheduler([LinearLR(start_factor=0.2, total_iters=4), PolynomialLR(total_iters=8, power=2.0)]), '
     'StepLR(step_size=3, gamma=0.5)], [6])',
     lambda g: SequentialLR(g, [ChainedScheduler(g, [LinearLR(g, 0.2, 1.0, 4), PolynomialLR(g, 8, 2.0)]),
                                StepLR(g, 3, 0.5)], [6])),
    ('t2_seq_chained_cosine', 0.05,
     'SequentialLR([ChainedScheduler([CosineAnnealingLR(T_max=6, eta_min=0.001), ConstantLR(factor=0.5, total_iters=3)]), '
     'StepLR(step_size=2, gamma=0.8)], [5])',
     lambda g: SequentialLR(g, [ChainedScheduler(g, [CosineAnnealingLR(g, 6, 0.001), ConstantLR(g, 0.5, 3)]),
                                StepLR(g, 2, 0.8)], [5])),
    ('t2_seq_chained_cosine_t1', 0.05,
     'SequentialLR([ChainedScheduler([CosineAnnealingLR(T_max=1), ExponentialLR(gamma=0.5)]), '
     'StepLR(step_size=2, gamma=0.8)], [3])',
     lambda g: SequentialLR(g, [ChainedScheduler(g, [CosineAnnealingLR(g, 1), ExponentialLR(g, 0.5)]),
                                StepLR(g, 2, 0.8)], [3])),
]


def write_sched(path, steps=12):
    out = ['# generated by tools/reference_torch2.py (torch 2.x schedulers, numpy %s)' % np.__version__,
           '# expect t,lr: the lr the optimizer uses for step t (%.17g)']
    for cid, lr, spec, build in SCHED_CASES:
        g = Group(lr)
        sched = build(g)
        out += ['case ' + cid, 'opt Adagrad(lr=%r)' % lr, 'sched ' + spec, 'steps %d' % steps]
        for t in range(steps):
            out.append('expect %d,%.17g' % (t, g.lr))
            sched.step()
        out.append('end')
    with open(path, 'w') as f:
        f.write('\n'.join(out) + '\n')


if __name__ == '__main__':
    main()
