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


CLASSES = {'Lion': Lion, 'Yogi': Yogi, 'AdaBelief': AdaBelief}
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


def fmt_val(v):
    if isinstance(v, bool):
        return 'True' if v else 'False'
    if isinstance(v, tuple):
        return '(' + ', '.join(fmt_val(x) for x in v) + ')'
    return repr(float(v))


def spec_string(name, kw):
    return name + '(' + ', '.join('%s=%s' % (k, fmt_val(v)) for k, v in kw.items()) + ')'


def case_data(cid, data):
    rng = np.random.default_rng(zlib.crc32(cid.encode()))
    params = rng.standard_normal(N)
    mean = rng.standard_normal(N) * data.get('drift', 0.5)
    grads = rng.standard_normal((S, N)) + mean
    grads *= data.get('scale', 1.0) * data.get('decay', 1.0) ** np.arange(S)[:, None]
    if data.get('zeros'):
        grads[rng.random((S, N)) < 0.25] = 0.0
        grads[:6, 0] = 0.0
        grads[9, :] = 0.0
    return params, grads


def run_case(cid, name, kw, data, dt):
    params64, grads64 = case_data(cid, data)
    params, grads = params64.astype(dt), grads64.astype(dt)
    args = dict(DEFAULTS[name])
    args.update(kw)
    opt = CLASSES[name](params, dt, **args)
    p, rows = params.copy(), []
    for s in range(S):
        p = opt.step(p, grads[s])
        assert p.dtype == dt, (cid, p.dtype)
        rows.append(p.copy())
    assert np.all(np.isfinite(rows)), cid
    return params, grads, rows


def write(path, dt, ffmt):
    out = ['# generated by tools/reference_optim.py with numpy %s' % np.__version__]
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
