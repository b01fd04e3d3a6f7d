#!/usr/bin/python3
"""Reference for descent's named LambdaLR recipes: the lambdas of Hugging
Face transformers (transformers/optimization.py: get_constant_schedule_with_warmup,
get_linear_schedule_with_warmup, get_cosine_schedule_with_warmup,
get_cosine_with_hard_restarts_schedule_with_warmup,
get_polynomial_decay_schedule_with_warmup, get_inverse_sqrt_schedule,
get_wsd_schedule), written again here in plain Python from that source, and
torch's LambdaLR: lr_t = initial_lr * lambda(t), t = 0, 1, ...

Run from the repository root:

    /usr/bin/python3 tools/reference_hf_schedules.py

writes tests/golden/sched_recipes.txt in the format of tests/golden/sched.txt.
"""

import math
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, 'tests', 'golden', 'sched_recipes.txt')


def ramp(t, W):
    return float(t) / float(max(1, W))


def constant(t, num_warmup_steps, lr_init):
    return ramp(t, num_warmup_steps) if t < num_warmup_steps else 1.0


def linear(t, num_warmup_steps, num_training_steps, lr_init):
    if t < num_warmup_steps:
        return ramp(t, num_warmup_steps)
    return max(0.0, float(num_training_steps - t) / float(max(1, num_training_steps - num_warmup_steps)))


def cosine(t, num_warmup_steps, num_training_steps, lr_init, num_cycles=0.5):
    if t < num_warmup_steps:
        return ramp(t, num_warmup_steps)
    progress = float(t - num_warmup_steps) / float(max(1, num_training_steps - num_warmup_steps))
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress)))


def hard_restarts(t, num_warmup_steps, num_training_steps, lr_init, num_cycles=1):
    if t < num_warmup_steps:
        return ramp(t, num_warmup_steps)
    progress = float(t - num_warmup_steps) / float(max(1, num_training_steps - num_warmup_steps))
    if progress >= 1.0:
        return 0.0
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * ((float(num_cycles) * progress) % 1.0))))


def polynomial(t, num_warmup_steps, num_training_steps, lr_init, lr_end=1e-7, power=1.0):
    assert lr_init > lr_end
    if t < num_warmup_steps:
        return ramp(t, num_warmup_steps)
    if t > num_training_steps:
        return lr_end / lr_init
    lr_range = lr_init - lr_end
    decay_steps = num_training_steps - num_warmup_steps
    pct_remaining = 1 - (t - num_warmup_steps) / decay_steps
    return (lr_range * pct_remaining ** power + lr_end) / lr_init


def inverse_sqrt(t, num_warmup_steps, lr_init, timescale=None):
    if timescale is None:
        timescale = num_warmup_steps or 10_000
    if t < num_warmup_steps:
        return ramp(t, num_warmup_steps)
    shift = timescale - num_warmup_steps
    return 1.0 / math.sqrt((t + shift) / timescale)


def wsd(t, num_warmup_steps, num_decay_steps, lr_init, num_training_steps=None, num_stable_steps=None,
        warmup_type='linear', decay_type='cosine', min_lr_ratio=0.0, num_cycles=0.5):
    if num_stable_steps is None:
        num_stable_steps = num_training_steps - num_warmup_steps - num_decay_steps
    if t < num_warmup_steps:
        progress = float(t) / float(max(1, num_warmup_steps))
        if warmup_type == 'linear':
            factor = progress
        elif warmup_type == 'cosine':
            factor = 0.5 * (1.0 - math.cos(math.pi * progress))
        else:
            factor = 1.0 - math.sqrt(1.0 - progress)
        return max(0.0, factor * (1.0 - min_lr_ratio) + min_lr_ratio)
    if t < num_warmup_steps + num_stable_steps:
        return 1.0
    if t < num_warmup_steps + num_stable_steps + num_decay_steps:
        progress = float(t - num_warmup_steps - num_stable_steps) / float(max(1, num_decay_steps))
        if decay_type == 'linear':
            factor = 1.0 - progress
        elif decay_type == 'cosine':
            factor = 0.5 * (1.0 + math.cos(math.pi * float(num_cycles) * 2.0 * progress))
        else:
            factor = 1.0 - math.sqrt(progress)
        return max(0.0, factor * (1.0 - min_lr_ratio) + min_lr_ratio)
    return min_lr_ratio


# (id, lr, spec name, function, kwargs, steps)
CASES = [
    ('constant_w4', 0.1, 'ConstantWithWarmup', constant, dict(num_warmup_steps=4), 10),
    ('constant_w0', 0.1, 'ConstantWithWarmup', constant, dict(num_warmup_steps=0), 4),
    ('linear_w3_t12', 0.05, 'LinearWithWarmup', linear, dict(num_warmup_steps=3, num_training_steps=12), 16),
    ('linear_w0_t5', 0.05, 'LinearWithWarmup', linear, dict(num_warmup_steps=0, num_training_steps=5), 8),
    ('cosine_w2_t10', 0.1, 'CosineWithWarmup', cosine, dict(num_warmup_steps=2, num_training_steps=10), 14),
    ('cosine_cycles', 0.1, 'CosineWithWarmup', cosine,
     dict(num_warmup_steps=2, num_training_steps=20, num_cycles=1.5), 24),
    ('hard_restarts', 0.1, 'CosineWithHardRestartsWithWarmup', hard_restarts,
     dict(num_warmup_steps=3, num_training_steps=23, num_cycles=3), 26),
    ('polynomial', 0.01, 'PolynomialDecayWithWarmup', polynomial,
     dict(num_warmup_steps=2, num_training_steps=12, lr_end=1e-4, power=2.0), 16),
    ('polynomial_default', 0.01, 'PolynomialDecayWithWarmup', polynomial,
     dict(num_warmup_steps=4, num_training_steps=9), 12),
    ('inverse_sqrt', 0.1, 'InverseSqrt', inverse_sqrt, dict(num_warmup_steps=5), 20),
    ('inverse_sqrt_timescale', 0.1, 'InverseSqrt', inverse_sqrt, dict(num_warmup_steps=3, timescale=10), 20),
    ('inverse_sqrt_w0', 0.1, 'InverseSqrt', inverse_sqrt, dict(num_warmup_steps=0), 5),
    ('wsd_default', 0.1, 'WarmupStableDecay', wsd,
     dict(num_warmup_steps=3, num_decay_steps=4, num_training_steps=10), 13),
    ('wsd_stable', 0.1, 'WarmupStableDecay', wsd,
     dict(num_warmup_steps=2, num_decay_steps=5, num_stable_steps=3, warmup_type='cosine',
          decay_type='linear', min_lr_ratio=0.1), 13),
    ('wsd_sqrt', 0.1, 'WarmupStableDecay', wsd,
     dict(num_warmup_steps=4, num_decay_steps=6, num_training_steps=14, warmup_type='1-sqrt',
          decay_type='1-sqrt', min_lr_ratio=0.05), 16),
    ('wsd_cycles', 0.1, 'WarmupStableDecay', wsd,
     dict(num_warmup_steps=2, num_decay_steps=8, num_stable_steps=1, num_cycles=1.0, min_lr_ratio=0.2), 13),
]


def fmt(v):
    if isinstance(v, str):
        return "'%s'" % v
    return repr(v)


def main():
    out = ['# generated by tools/reference_hf_schedules.py (Hugging Face transformers lambdas x LambdaLR)',
           '# expect t,lr: the lr the optimizer uses for step t (%.17g)']
    for cid, lr, name, fn, kw, steps in CASES:
        spec = name + '(' + ', '.join('%s=%s' % (k, fmt(v)) for k, v in kw.items()) + ')'
        out += ['case ' + cid, 'opt Adagrad(lr=%r)' % lr, 'sched ' + spec, 'steps %d' % steps]
        for t in range(steps):
            out.append('expect %d,%.17g' % (t, lr * fn(t, lr_init=lr, **kw)))
        out.append('end')
    with open(OUT, 'w') as f:
        f.write('\n'.join(out) + '\n')
    print('cases:', len(CASES))


if __name__ == '__main__':
    main()
