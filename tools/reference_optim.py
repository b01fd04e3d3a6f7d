#!/usr/bin/python3
"""Reference implementations, in numpy, of the optimizers PyTorch 1.13 lacks,
and the generator of their golden trajectories.

Written from the papers and the optax documentation, independently of the C
code; run from the repository root:

    /usr/bin/python3 tools/reference_optim.py

writes tests/golden/optim_ref_f64.txt and tests/golden/optim_ref_f32.txt in
the format of tests/golden/optim_f64.txt (see tests/golden/gen_optim.py):
case / spec / params / grad x S / expect x S / end.  The f32 file runs the
same arithmetic in numpy float32 (hyperparameter-derived scalars are formed
in float64 and rounded to float32 once, as the library does).

Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms",
  Program 1; lion-pytorch; optax.lion):
    c = b1 m + (1 - b1) g
    p = p (1 - lr wd) - lr sign(c)
    m = b2 m + (1 - b2) g
Yogi (Zaheer et al. 2018, Algorithm 2; optax.yogi / scale_by_yogi):
    m, v start at initial_accumulator_value
    m = b1 m + (1 - b1) g
    v = v - (1 - b2) sign(v - g^2) g^2
    p = p - lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
AdaBelief (Zhuang et al. 2020, Algorithm 2; adabelief-pytorch 0.2 with
  weight_decouple=True, rectify=False):
    p = p (1 - lr wd)
    m = b1 m + (1 - b1) g
    s = b2 s + (1 - b2) (g - m)^2 + eps
    p = p - lr / (1 - b1^t) * m / (sqrt(s) / sqrt(1 - b2^t) + eps)
All three take maximize=True as the library does: g is negated first.

Issue 7 adds (each written from its reference's documentation or source
description, see docs/optimizers.md for the formulas):
FTRL (McMahan et al. 2013; Keras tf.keras.optimizers.Ftrl update_step),
ScheduleFreeSGD / ScheduleFreeAdamW (Defazio et al. 2024;
  optax.contrib.schedule_free_sgd / _adamw, with the eval params x),
AdaBelief(rectify=True) (adabelief-pytorch 0.2's RAdam-style rectification),
LAMB (You et al. 2019; optax.lamb) and Adafactor (torch.optim.Adafactor of
PyTorch 2.x, its documented algorithm with torch's lerp).  Cases with a
'shape' give the tensor's shape (Adafactor factors over the last two
dimensions); cases of the schedule-free optimizers also carry 'eval' lines,
the evaluation parameters x after each step.
"""

import math
import os
import zlib

import numpy as np

N = 8
S = 25
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, 'tests', 'golden')

DEFAULTS = {
    'Lion': dict(lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, maximize=False),
    'Yogi': dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-3, initial_accumulator_value=1e-6,
                 maximize=False),
    'AdaBelief': dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-16, weight_decay=0.0, maximize=False),
    'FTRL': dict(lr=1e-3, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 l2_shrinkage_regularization_strength=0.0, beta=0.0),
    'ScheduleFreeSGD': dict(lr=1.0, warmup_steps=0, b1=0.9, weight_decay=0.0, weight_lr_power=2.0),
    'ScheduleFreeAdamW': dict(lr=0.0025, warmup_steps=0, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0,
                              weight_lr_power=2.0),
    'LAMB': dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-6, eps_root=0.0, weight_decay=0.0),
    'Adafactor': dict(lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0.0, maximize=False),
}


class Lion:
    def __init__(self, p, dt, lr, betas, weight_decay, maximize):
        self.dt, self.maximize = dt, maximize
        self.decay = dt(1.0 - lr * weight_decay)
        self.neg_lr = dt(-lr)
        self.b1, self.omb1 = dt(betas[0]), dt(1.0 - betas[0])
        self.b2, self.omb2 = dt(betas[1]), dt(1.0 - betas[1])
        self.m = np.zeros_like(p)

    def step(self, p, g):
        if self.maximize:
            g = -g
        p = p * self.decay
        c = self.m * self.b1 + self.omb1 * g
        p = p + self.neg_lr * np.sign(c)
        self.m = self.m * self.b2 + self.omb2 * g
        return p


class Yogi:
    def __init__(self, p, dt, lr, betas, eps, initial_accumulator_value, maximize):
        self.dt, self.maximize = dt, maximize
        self.betas, self.t = betas, 0
        self.b1, self.omb1, self.omb2 = dt(betas[0]), dt(1.0 - betas[0]), dt(1.0 - betas[1])
        self.eps, self.neg_lr = dt(eps), dt(-lr)
        self.m = np.full_like(p, initial_accumulator_value)
        self.v = np.full_like(p, initial_accumulator_value)

    def step(self, p, g):
        if self.maximize:
            g = -g
        self.t += 1
        bc1 = self.dt(1.0 - self.betas[0] ** self.t)
        bc2 = self.dt(1.0 - self.betas[1] ** self.t)
        self.m = self.m * self.b1 + self.omb1 * g
        g2 = g * g
        self.v = self.v - self.omb2 * np.sign(self.v - g2) * g2
        update = (self.m / bc1) / (np.sqrt(self.v / bc2) + self.eps)
        return p + self.neg_lr * update


class AdaBelief:
    def __init__(self, p, dt, lr, betas, eps, weight_decay, maximize):
        self.dt, self.maximize = dt, maximize
        self.lr, self.betas, self.t = lr, betas, 0
        self.decay = dt(1.0 - lr * weight_decay)
        self.b1, self.omb1 = dt(betas[0]), dt(1.0 - betas[0])
        self.b2, self.omb2 = dt(betas[1]), dt(1.0 - betas[1])
        self.eps = dt(eps)
        self.m = np.zeros_like(p)
        self.s = np.zeros_like(p)

    def step(self, p, g):
        if self.maximize:
            g = -g
        self.t += 1
        bc2_sqrt = self.dt(math.sqrt(1.0 - self.betas[1] ** self.t))
        neg_step = self.dt(-(self.lr / (1.0 - self.betas[0] ** self.t)))
        p = p * self.decay
        self.m = self.m * self.b1 + self.omb1 * g
        r = g - self.m
        self.s = self.s * self.b2 + self.omb2 * r * r
        self.s = self.s + self.eps
        denom = np.sqrt(self.s) / bc2_sqrt + self.eps
        return p + neg_step * (self.m / denom)


class AdaBeliefRectified(AdaBelief):
    """adabelief-pytorch 0.2, rectify=True: RAdam's rho_t decides between the
    rectified adaptive step, an SGD-like step (degenerated_to_sgd) or none."""

    def __init__(self, p, dt, lr, betas, eps, weight_decay, maximize, rectify=False,
                 degenerated_to_sgd=True):
        super().__init__(p, dt, lr, betas, eps, weight_decay, maximize)
        self.rectify, self.degenerated_to_sgd = rectify, degenerated_to_sgd

    def step(self, p, g):
        if not self.rectify:
            return super().step(p, g)
        if self.maximize:
            g = -g
        self.t += 1
        b1, b2 = self.betas
        p = p * self.decay
        self.m = self.m * self.b1 + self.omb1 * g
        r = g - self.m
        self.s = self.s * self.b2 + self.omb2 * r * r
        self.s = self.s + self.eps
        b2t = b2 ** self.t
        rho_inf = 2 / (1 - b2) - 1
        rho = rho_inf - 2 * self.t * b2t / (1 - b2t)
        if rho >= 5:
            size = math.sqrt((1 - b2t) * (rho - 4) / (rho_inf - 4) * (rho - 2) / rho * rho_inf
                             / (rho_inf - 2)) / (1 - b1 ** self.t)
            return p + self.dt(-size * self.lr) * (self.m / (np.sqrt(self.s) + self.eps))
        if self.degenerated_to_sgd:
            return p + self.dt(-(1.0 / (1 - b1 ** self.t)) * self.lr) * self.m
        return p


class FTRL:
    """Keras Ftrl: accumulator n, linear z, closed-form proximal step."""

    def __init__(self, p, dt, lr, learning_rate_power, initial_accumulator_value,
                 l1_regularization_strength, l2_regularization_strength,
                 l2_shrinkage_regularization_strength, beta):
        self.lr, self.k = dt(lr), dt(-learning_rate_power)
        self.shrink2 = dt(2 * l2_shrinkage_regularization_strength)
        self.l2x2 = dt(2 * (l2_regularization_strength + beta / (2.0 * lr)))
        self.l1 = dt(l1_regularization_strength)
        self.n = np.full_like(p, initial_accumulator_value)
        self.z = np.zeros_like(p)

    def step(self, p, g):
        g_shrunk = g + self.shrink2 * p
        n_new = self.n + g * g
        self.z = self.z + (g_shrunk - ((np.power(n_new, self.k) - np.power(self.n, self.k)) / self.lr) * p)
        quadratic = np.power(n_new, self.k) / self.lr + self.l2x2
        self.n = n_new
        return (np.clip(self.z, -self.l1, self.l1) - self.z) / quadratic


class ScheduleFree:
    """optax.contrib.schedule_free around sgd or the momentum-free AdamW
    (scale_by_rms with bias correction, eps outside the root)."""

    def __init__(self, p, dt, adam, lr, warmup_steps, b1, weight_decay, weight_lr_power,
                 b2=0.999, eps=1e-8):
        self.dt, self.adam = dt, adam
        self.lr, self.warmup, self.b1, self.b2 = lr, warmup_steps, b1, b2
        self.wd, self.power, self.eps = weight_decay, weight_lr_power, eps
        self.z = p.copy()
        self.nu = np.zeros_like(p)
        self.count = 1             # schedule_free's step_count
        self.base_count = 0        # the base optimizer's scale_by_schedule count
        self.max_lr, self.weight_sum = 0.0, 0.0
        self.x = p.copy()

    def sched(self, c):
        if not self.warmup or c >= self.warmup:
            return self.lr
        return (0.0 - self.lr) * (1.0 - c / self.warmup) + self.lr

    def step(self, y, g):
        dt = self.dt
        self.max_lr = max(self.max_lr, self.sched(self.count))
        weight = self.max_lr ** self.power
        total = self.weight_sum + weight
        ck = weight / total if total != 0 else 0.0
        self.weight_sum = total
        lr_base = self.sched(self.base_count)
        self.count += 1
        self.base_count += 1
        if self.adam:
            self.nu = dt(1 - self.b2) * (g * g) + dt(self.b2) * self.nu
            nu_hat = self.nu / dt(1 - self.b2 ** self.base_count)
            u = g / (np.sqrt(nu_hat) + dt(self.eps)) + dt(self.wd) * y
        else:
            u = g + dt(self.wd) * y
        z = self.z + dt(-lr_base) * u
        x_prev = (y - dt(1 - self.b1) * self.z) / dt(self.b1)
        x = dt(1 - ck) * x_prev + dt(ck) * z
        y = dt(self.b1) * x + dt(1 - self.b1) * z
        self.z = z
        self.x = (y - dt(1 - self.b1) * z) / dt(self.b1)   # schedule_free_eval_params
        return y


def ScheduleFreeSGD(p, dt, **kw):
    return ScheduleFree(p, dt, False, **kw)


def ScheduleFreeAdamW(p, dt, **kw):
    return ScheduleFree(p, dt, True, **kw)


class LAMB:
    """optax.lamb: scale_by_adam, + weight_decay p, trust ratio, -lr."""

    def __init__(self, p, dt, lr, betas, eps, eps_root, weight_decay):
        self.dt, self.lr, self.betas = dt, lr, betas
        self.eps, self.eps_root, self.wd = dt(eps), dt(eps_root), dt(weight_decay)
        self.m, self.v, self.t = np.zeros_like(p), np.zeros_like(p), 0

    def step(self, p, g):
        dt, (b1, b2) = self.dt, self.betas
        self.t += 1
        self.m = dt(1 - b1) * g + dt(b1) * self.m
        self.v = dt(1 - b2) * (g * g) + dt(b2) * self.v
        m_hat = self.m / dt(1 - b1 ** self.t)
        v_hat = self.v / dt(1 - b2 ** self.t)
        u = m_hat / (np.sqrt(v_hat + self.eps_root) + self.eps) + self.wd * p
        p_norm = np.linalg.norm(p.astype(np.float64))
        u_norm = np.linalg.norm(u.astype(np.float64))
        ratio = 1.0 if p_norm == 0 or u_norm == 0 else p_norm / u_norm
        return p + dt(-self.lr) * (dt(ratio) * u)


def torch_lerp(a, b, w):
    """torch.lerp on CPU: a + w (b - a) for |w| < 0.5, else b - (b - a) (1 - w)."""
    if abs(w) < 0.5:
        return a + w * (b - a)
    return b - (b - a) * (w.dtype.type(1) - w)


class Adafactor:
    """torch.optim.Adafactor (2.x), the algorithm of its documentation."""

    def __init__(self, p, dt, lr, beta2_decay, eps, d, weight_decay, maximize, shape):
        self.dt, self.lr, self.decay_rate = dt, lr, beta2_decay
        eps1 = np.finfo(dt).eps if eps[0] is None else eps[0]
        self.eps1, self.eps2, self.d = float(eps1), eps[1], d
        self.wd, self.maximize, self.shape, self.t = weight_decay, maximize, shape, 0
        if len(shape) >= 2:
            self.row = np.zeros(shape[:-1], dtype=dt)
            self.col = np.zeros(shape[:-2] + (shape[-1],), dtype=dt)
        else:
            self.var = np.zeros(shape, dtype=dt)

    def step(self, p, g):
        dt = self.dt
        p, g = p.reshape(self.shape), g.reshape(self.shape)
        if self.maximize:
            g = -g
        self.t += 1
        w = dt(self.t ** self.decay_rate)
        rho = min(self.lr, 1 / self.t ** 0.5)
        rms = np.linalg.norm(p.astype(np.float64).ravel()) / math.sqrt(p.size)
        alpha = max(self.eps2, rms) * rho
        if self.wd != 0:
            p = p * dt(1 - self.lr * self.wd)
        g64 = g.astype(np.float64)
        if len(self.shape) >= 2:
            row_mean = ((g64 * g64).sum(axis=-1) / self.shape[-1]).astype(dt)
            col_mean = ((g64 * g64).sum(axis=-2) / self.shape[-2]).astype(dt)
            self.row = torch_lerp(self.row, row_mean, w)
            self.col = torch_lerp(self.col, col_mean, w)
            r_mean = (self.row.astype(np.float64).sum(axis=-1) / self.shape[-2]).astype(dt)
            r_mean = np.maximum(r_mean, dt(self.eps1))
            v = self.row[..., :, None] * self.col[..., None, :] / r_mean[..., None, None]
        else:
            self.var = torch_lerp(self.var, g * g, w)
            v = self.var
        u = (dt(1) / np.sqrt(np.maximum(v, dt(self.eps1 * self.eps1)))) * g
        u_rms = np.linalg.norm(u.astype(np.float64).ravel()) / (math.sqrt(u.size) * self.d)
        return (p + dt(-alpha / max(1.0, u_rms)) * u).ravel()


CLASSES = {'Lion': Lion, 'Yogi': Yogi, 'AdaBelief': AdaBeliefRectified, 'FTRL': FTRL,
           'ScheduleFreeSGD': ScheduleFreeSGD, 'ScheduleFreeAdamW': ScheduleFreeAdamW,
           'LAMB': LAMB, 'Adafactor': Adafactor}
CASES = []


def case(cid, name, data=None, **kw):
    CASES.append((cid, name, kw, data or {}))


BIG = {'scale': 1e3}
SMALL = {'scale': 1e-4}
ZEROS = {'zeros': True}

case('lion_default', 'Lion')
case('lion_lr', 'Lion', lr=0.01)
case('lion_betas', 'Lion', lr=0.01, betas=(0.5, 0.9))
case('lion_beta1_zero', 'Lion', lr=0.01, betas=(0.0, 0.99))
case('lion_wd', 'Lion', lr=0.01, weight_decay=1.0)
case('lion_max', 'Lion', lr=0.01, maximize=True)
case('lion_all', 'Lion', lr=0.02, betas=(0.8, 0.95), weight_decay=0.5, maximize=True)
case('lion_zeros', 'Lion', ZEROS, lr=0.01)
case('lion_big', 'Lion', BIG, lr=0.01, weight_decay=0.1)
case('lion_small', 'Lion', SMALL, lr=0.01)

case('yogi_default', 'Yogi')
case('yogi_lr', 'Yogi', lr=0.05)
case('yogi_betas', 'Yogi', lr=0.05, betas=(0.5, 0.9))
case('yogi_eps', 'Yogi', {'scale': 1e-2}, lr=0.05, eps=1e-6)
case('yogi_init', 'Yogi', lr=0.05, initial_accumulator_value=0.5)
case('yogi_init_zero', 'Yogi', lr=0.05, initial_accumulator_value=0.0)
case('yogi_max', 'Yogi', lr=0.05, maximize=True)
case('yogi_all', 'Yogi', {'decay': 0.85}, lr=0.1, betas=(0.7, 0.8), eps=1e-4,
     initial_accumulator_value=0.1, maximize=True)
case('yogi_zeros', 'Yogi', ZEROS, lr=0.05)
case('yogi_big', 'Yogi', BIG, lr=0.05)
case('yogi_small', 'Yogi', SMALL, lr=0.05, eps=1e-8)

case('adabelief_default', 'AdaBelief')
case('adabelief_lr', 'AdaBelief', lr=0.01)
case('adabelief_betas', 'AdaBelief', lr=0.01, betas=(0.5, 0.9))
case('adabelief_eps', 'AdaBelief', {'scale': 1e-3}, lr=0.01, eps=1e-8)
case('adabelief_wd', 'AdaBelief', lr=0.01, weight_decay=0.5)
case('adabelief_max', 'AdaBelief', lr=0.01, maximize=True)
case('adabelief_all', 'AdaBelief', {'decay': 0.9}, lr=0.05, betas=(0.8, 0.95), eps=1e-10,
     weight_decay=0.1, maximize=True)
case('adabelief_zeros', 'AdaBelief', ZEROS, lr=0.01)
case('adabelief_big', 'AdaBelief', BIG, lr=0.01)
case('adabelief_small', 'AdaBelief', SMALL, lr=0.01, eps=1e-12)
case('adabelief_rectify', 'AdaBelief', lr=0.01, rectify=True)
case('adabelief_rectify_nosgd', 'AdaBelief', lr=0.01, rectify=True, degenerated_to_sgd=False)
case('adabelief_rectify_fast', 'AdaBelief', lr=0.01, betas=(0.9, 0.5), rectify=True)
case('adabelief_rectify_all', 'AdaBelief', {'decay': 0.9}, lr=0.05, betas=(0.8, 0.6), eps=1e-10,
     weight_decay=0.1, maximize=True, rectify=True)
case('adabelief_rectify_wd_nosgd', 'AdaBelief', lr=0.02, betas=(0.9, 0.7), weight_decay=0.5,
     rectify=True, degenerated_to_sgd=False)

case('ftrl_default', 'FTRL')
case('ftrl_lr', 'FTRL', lr=0.5)
case('ftrl_power', 'FTRL', lr=0.5, learning_rate_power=-0.25)
case('ftrl_power_zero', 'FTRL', lr=0.1, learning_rate_power=0.0)
case('ftrl_init', 'FTRL', lr=0.5, initial_accumulator_value=1.0)
case('ftrl_l1', 'FTRL', lr=0.5, l1_regularization_strength=0.3)
case('ftrl_l2', 'FTRL', lr=0.5, l2_regularization_strength=0.2)
case('ftrl_shrinkage', 'FTRL', lr=0.5, l2_shrinkage_regularization_strength=0.1)
case('ftrl_beta', 'FTRL', lr=0.5, beta=0.5)
case('ftrl_all', 'FTRL', lr=0.3, learning_rate_power=-0.7, initial_accumulator_value=0.5,
     l1_regularization_strength=0.05, l2_regularization_strength=0.1,
     l2_shrinkage_regularization_strength=0.05, beta=1.0)
case('ftrl_zeros', 'FTRL', ZEROS, lr=0.5, l1_regularization_strength=0.1)
case('ftrl_big', 'FTRL', BIG, lr=0.5, l1_regularization_strength=10.0)

case('sfsgd_default', 'ScheduleFreeSGD', {'scale': 0.05})
case('sfsgd_lr', 'ScheduleFreeSGD', lr=0.1)
case('sfsgd_warmup', 'ScheduleFreeSGD', lr=0.1, warmup_steps=5)
case('sfsgd_b1', 'ScheduleFreeSGD', lr=0.1, b1=0.5)
case('sfsgd_b1_one', 'ScheduleFreeSGD', lr=0.1, b1=1.0)
case('sfsgd_wd', 'ScheduleFreeSGD', lr=0.1, weight_decay=0.1)
case('sfsgd_power', 'ScheduleFreeSGD', lr=0.1, warmup_steps=8, weight_lr_power=1.0)
case('sfsgd_all', 'ScheduleFreeSGD', {'decay': 0.9}, lr=0.05, warmup_steps=3, b1=0.8,
     weight_decay=0.05, weight_lr_power=3.0)
case('sfadamw_default', 'ScheduleFreeAdamW')
case('sfadamw_lr', 'ScheduleFreeAdamW', lr=0.05)
case('sfadamw_warmup', 'ScheduleFreeAdamW', lr=0.05, warmup_steps=10)
case('sfadamw_betas', 'ScheduleFreeAdamW', lr=0.05, b1=0.5, b2=0.9)
case('sfadamw_eps', 'ScheduleFreeAdamW', {'scale': 1e-3}, lr=0.05, eps=1e-4)
case('sfadamw_wd', 'ScheduleFreeAdamW', lr=0.05, weight_decay=0.5)
case('sfadamw_all', 'ScheduleFreeAdamW', {'decay': 0.9}, lr=0.02, warmup_steps=4, b1=0.95, b2=0.99,
     eps=1e-6, weight_decay=0.1, weight_lr_power=1.5)
case('sfadamw_zeros', 'ScheduleFreeAdamW', ZEROS, lr=0.05)

case('lamb_default', 'LAMB')
case('lamb_lr', 'LAMB', lr=0.05)
case('lamb_betas', 'LAMB', lr=0.05, betas=(0.5, 0.9))
case('lamb_eps', 'LAMB', {'scale': 1e-3}, lr=0.05, eps=1e-3)
case('lamb_eps_root', 'LAMB', lr=0.05, eps=0.0, eps_root=1e-8)
case('lamb_wd', 'LAMB', lr=0.05, weight_decay=0.1)
case('lamb_all', 'LAMB', {'decay': 0.9}, lr=0.02, betas=(0.8, 0.95), eps=1e-8, eps_root=1e-10,
     weight_decay=0.01)
case('lamb_zeros', 'LAMB', ZEROS, lr=0.05)
case('lamb_2d', 'LAMB', {'shape': (3, 4)}, lr=0.05, weight_decay=0.01)

case('adafactor_default', 'Adafactor')
case('adafactor_2d', 'Adafactor', {'shape': (3, 4)})
case('adafactor_3d', 'Adafactor', {'shape': (2, 3, 2)}, lr=0.05)
case('adafactor_lr', 'Adafactor', {'shape': (4, 2)}, lr=0.1)
case('adafactor_decay_rate', 'Adafactor', {'shape': (3, 4)}, lr=0.05, beta2_decay=-0.5)
case('adafactor_eps', 'Adafactor', {'shape': (3, 4), 'scale': 1e-3}, lr=0.05, eps=(1e-3, 1e-2))
case('adafactor_eps1_1d', 'Adafactor', {'scale': 1e-3}, eps=(1e-4, 0.1))
case('adafactor_clip', 'Adafactor', {'shape': (2, 4)}, lr=0.05, d=2.0)
case('adafactor_wd', 'Adafactor', {'shape': (3, 4)}, lr=0.05, weight_decay=0.5)
case('adafactor_max', 'Adafactor', {'shape': (3, 4)}, lr=0.05, maximize=True)
case('adafactor_all', 'Adafactor', {'shape': (2, 2, 3), 'decay': 0.9}, lr=0.02, beta2_decay=-0.6,
     eps=(1e-20, 1e-2), d=1.5, weight_decay=0.1, maximize=True)
case('adafactor_zeros', 'Adafactor', dict(ZEROS, shape=(2, 4)), lr=0.05)
case('adafactor_zeros_1d', 'Adafactor', ZEROS, lr=0.05)


def fmt_val(v):
    if v is None:
        return 'None'
    if isinstance(v, bool):
        return 'True' if v else 'False'
    if isinstance(v, tuple):
        return '(' + ', '.join(fmt_val(x) for x in v) + ')'
    return repr(float(v))


def spec_string(name, kw):
    return name + '(' + ', '.join('%s=%s' % (k, fmt_val(v)) for k, v in kw.items()) + ')'


def case_data(cid, data):
    rng = np.random.default_rng(zlib.crc32(cid.encode()))
    n = int(np.prod(data['shape'])) if 'shape' in data else N
    params = rng.standard_normal(n)
    mean = rng.standard_normal(n) * data.get('drift', 0.5)
    grads = rng.standard_normal((S, n)) + mean
    grads *= data.get('scale', 1.0) * data.get('decay', 1.0) ** np.arange(S)[:, None]
    if data.get('zeros'):
        grads[rng.random((S, n)) < 0.25] = 0.0
        grads[:6, 0] = 0.0
        grads[9, :] = 0.0
    return params, grads


def run_case(cid, name, kw, data, dt):
    params64, grads64 = case_data(cid, data)
    params, grads = params64.astype(dt), grads64.astype(dt)
    args = dict(DEFAULTS[name])
    args.update(kw)
    if name == 'Adafactor':
        args['shape'] = tuple(data.get('shape', (len(params),)))
    opt = CLASSES[name](params, dt, **args)
    p, rows, evals = params.copy(), [], []
    for s in range(S):
        p = opt.step(p, grads[s])
        assert p.dtype == dt, (cid, p.dtype)
        rows.append(p.copy())
        if isinstance(opt, ScheduleFree):
            evals.append(opt.x.copy())
    assert np.all(np.isfinite(rows)), cid
    return params, grads, rows, evals


def write(path, dt, ffmt):
    out = ['# generated by tools/reference_optim.py with numpy %s' % np.__version__]
    for cid, name, kw, data in CASES:
        params, grads, rows, evals = run_case(cid, name, kw, data, dt)

        def csv(a):
            return ','.join(ffmt % float(x) for x in a)
        out += ['case ' + cid, 'spec ' + spec_string(name, kw)]
        if 'shape' in data:
            out.append('shape ' + ','.join(str(k) for k in data['shape']))
        out.append('params ' + csv(params))
        out += ['grad ' + csv(g) for g in grads]
        out += ['expect ' + csv(r) for r in rows]
        out += ['eval ' + csv(e) for e in evals]
        out.append('end')
    with open(path, 'w') as f:
        f.write('\n'.join(out) + '\n')


def main():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids)), 'duplicate case ids'
    write(os.path.join(OUT, 'optim_ref_f64.txt'), np.float64, '%.17g')
    write(os.path.join(OUT, 'optim_ref_f32.txt'), np.float32, '%.9g')
    counts = {}
    for _, name, _, _ in CASES:
        counts[name] = counts.get(name, 0) + 1
    print('cases:', len(CASES), counts)


if __name__ == '__main__':
    main()
