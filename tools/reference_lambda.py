#!/usr/bin/python3
"""Reference for descent's callback schedules: torch.optim.lr_scheduler's
LambdaLR and MultiplicativeLR with a few lr_lambda functions, alone, per
parameter group and inside SequentialLR / ChainedScheduler.

    LambdaLR:          lr_t = initial_lr * lambda(t)
    MultiplicativeLR:  lr_t = lr_{t-1} * lambda(t) for t > 0, lr_0 = lr

torch 1.13 (Debian's python3-torch) and torch 2.x compute the same for every
case here except one: where SequentialLR hands over to a MultiplicativeLR at
a milestone with step(0), torch 2.x's get_lr multiplies by lambda(0) (it
multiplies whenever the scheduler is not in its constructor's initial step,
"not self._is_initial"), torch 1.13 only when last_epoch > 0. That case uses
MultiplicativeLR2 below, torch 2.x's get_lr written again on the 1.13 class.

Run from the repository root:

    /usr/bin/python3 tools/reference_lambda.py

writes tests/golden/sched_lambda.txt:

    case NAME groups G steps N
    lrs LR_0 ... LR_{G-1}           initial lr per group
    spec SPEC                       the C spec (lr_lambda=k indexes the table)
    lambdas NAME ...                the callback table, by the names below
    G numbers per line, N + 1 lines: the lr after construction, then after
    each step (get_last_lr(), checked equal to param_groups' lr)
    end

tests/test_lambda_sched.c writes the same functions in C under the same names.
"""

import math
import os

import torch
from torch.optim import lr_scheduler as L

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, 'tests', 'golden', 'sched_lambda.txt')


def hf_linear(t):
    """Hugging Face's get_linear_schedule_with_warmup lambda, W = 5, T = 30."""
    W, T = 5, 30
    if t < W:
        return float(t) / float(max(1, W))
    return max(0.0, float(T - t) / float(max(1, T - W)))


LAMBDAS = {
    'hf_linear': hf_linear,
    'floor3': lambda t: float(t // 3),          # torch's docs example "epoch // 30", shorter
    'pow095': lambda t: 0.95 ** t,
    'inv': lambda t: 1.0 / (1.0 + 0.1 * t),
    'const095': lambda t: 0.95,
    'const09': lambda t: 0.9,
    'ratio': lambda t: (t + 1.0) / (t + 2.0),    # step-dependent factor
    'halve10': lambda t: 0.5 if t % 10 == 0 else 1.0,
}


class MultiplicativeLR2(L.MultiplicativeLR):
    """torch 2.x's MultiplicativeLR.get_lr: lr * lambda(last_epoch) unless in
    the constructor's initial step (_initial_step under _initial_mode)."""
    _is_initial = False

    def _initial_step(self):
        self._is_initial = True
        try:
            super()._initial_step()
        finally:
            self._is_initial = False

    def get_lr(self):
        if not self._is_initial:
            return [g['lr'] * f(self.last_epoch) for f, g in zip(self.lr_lambdas, self.optimizer.param_groups)]
        return [g['lr'] for g in self.optimizer.param_groups]


def fns(names):
    return [LAMBDAS[n] for n in names]


# name, initial lrs, steps, C spec, callback table, torch construction
CASES = [
    ('lambda_warmup', [0.1], 36, 'LambdaLR(lr_lambda=0)', ['hf_linear'],
     lambda o, f: L.LambdaLR(o, f[0])),
    ('lambda_groups', [0.1, 0.05], 30, 'LambdaLR(lr_lambda=[0, 1])', ['floor3', 'pow095'],
     lambda o, f: L.LambdaLR(o, [f[0], f[1]])),
    ('lambda_same_two_groups', [0.1, 0.02], 25, 'LambdaLR(lr_lambda=0)', ['inv'],
     lambda o, f: L.LambdaLR(o, f[0])),
    ('mult_const', [0.1], 40, 'MultiplicativeLR(lr_lambda=0)', ['const095'],
     lambda o, f: L.MultiplicativeLR(o, f[0])),
    ('mult_groups', [0.1, 0.3], 35, 'MultiplicativeLR(lr_lambda=[0, 1])', ['const095', 'ratio'],
     lambda o, f: L.MultiplicativeLR(o, [f[0], f[1]])),
    ('mult_step_dependent', [0.2], 45, 'MultiplicativeLR(lr_lambda=0)', ['halve10'],
     lambda o, f: L.MultiplicativeLR(o, f[0])),
    ('seq_lambda_then_step', [0.1], 20,
     'SequentialLR(schedulers=[LambdaLR(lr_lambda=0), StepLR(step_size=4, gamma=0.5)], milestones=[5])',
     ['hf_linear'],
     lambda o, f: L.SequentialLR(o, [L.LambdaLR(o, f[0]), L.StepLR(o, 4, 0.5)], [5])),
    ('seq_mult_then_lambda', [0.1], 20,
     'SequentialLR(schedulers=[MultiplicativeLR(lr_lambda=0), LambdaLR(lr_lambda=1)], milestones=[6])',
     ['const09', 'inv'],
     lambda o, f: L.SequentialLR(o, [L.MultiplicativeLR(o, f[0]), L.LambdaLR(o, f[1])], [6])),
    ('seq_step_then_mult_torch2', [0.1], 16,
     'SequentialLR(schedulers=[StepLR(step_size=3, gamma=0.5), MultiplicativeLR(lr_lambda=0)], milestones=[4])',
     ['ratio'],
     lambda o, f: L.SequentialLR(o, [L.StepLR(o, 3, 0.5), MultiplicativeLR2(o, f[0])], [4])),
    ('chain_lambda_exp', [0.1, 0.4], 15,
     'ChainedScheduler(schedulers=[LambdaLR(lr_lambda=[0, 1]), ExponentialLR(gamma=0.9)])', ['inv', 'pow095'],
     lambda o, f: L.ChainedScheduler([L.LambdaLR(o, [f[0], f[1]]), L.ExponentialLR(o, 0.9)])),
    ('chain_mult_step', [0.1], 15,
     'ChainedScheduler(schedulers=[MultiplicativeLR(lr_lambda=0), StepLR(step_size=5, gamma=0.5)])', ['ratio'],
     lambda o, f: L.ChainedScheduler([L.MultiplicativeLR(o, f[0]), L.StepLR(o, 5, 0.5)])),
]


def run(lrs, steps, names, make):
    params = [torch.nn.Parameter(torch.zeros(1, dtype=torch.float64)) for _ in lrs]
    opt = torch.optim.SGD([{'params': [p], 'lr': lr} for p, lr in zip(params, lrs)], lr=lrs[0])
    sched = make(opt, fns(names))
    rows = [[g['lr'] for g in opt.param_groups]]
    for _ in range(steps):
        opt.step()
        sched.step()
        row = [g['lr'] for g in opt.param_groups]
        assert sched.get_last_lr() == row, (sched.get_last_lr(), row)
        rows.append(row)
    return rows


def main():
    out = ['# LambdaLR / MultiplicativeLR reference: tools/reference_lambda.py (torch %s)' % torch.__version__]
    for name, lrs, steps, spec, names, make in CASES:
        rows = run(lrs, steps, names, make)
        out.append('case %s groups %d steps %d' % (name, len(lrs), steps))
        out.append('lrs ' + ' '.join(repr(float(x)) for x in lrs))
        out.append('spec ' + spec)
        out.append('lambdas ' + ' '.join(names))
        for row in rows:
            assert all(math.isfinite(x) for x in row)
            out.append(' '.join(repr(float(x)) for x in row))
        out.append('end')
    with open(OUT, 'w') as f:
        f.write('\n'.join(out) + '\n')
    print('wrote %s (%d cases)' % (OUT, len(CASES)))


if __name__ == '__main__':
    main()
