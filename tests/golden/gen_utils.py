#!/usr/bin/python3
"""Golden data for the training utilities (docs/utilities.md), from torch 1.13:

  - weight-decay masks: PyTorch's usual idiom, two parameter groups with the
    biases (1-D tensors) at weight_decay=0, for SGD, Adam and AdamW;
  - parameter averages: torch.optim.swa_utils.AveragedModel, with its
    default (equal, SWA) average updated every other step and with an EMA
    avg_fn updated after every step;
  - Lookahead (Zhang et al. 2019, Algorithm 1): torch 1.13 has none, so the
    inner optimizer is torch's and the paper's rule is applied here in torch:
    after every k-th inner step  slow += alpha * (p - slow);  p = slow.

    /usr/bin/python3 tests/golden/gen_utils.py   # writes tests/golden/utils.txt

Every case has two tensors: tensor 0 of shape (3, 4) (a weight, 2-D) and
tensor 1 of shape (4,) (a bias, 1-D). Format ('#' lines are comments), read
as a script by tests/test_utils.c:

    case <id>
    opt <spec of the optimizer>        (for Lookahead: of the inner one)
    dtype f32 | f64
    util none | nodecay1d | ema <decay> | swa | lookahead <k> <alpha>
    init <t> <csv>                     initial parameters of tensor t
    grad <t> <csv>                     gradient of tensor t for the next step
    step                               one optimizer step
    swa_update                         AveragedModel.update_parameters (swa)
    param <t> <csv>                    expected parameters of tensor t now
    avg <t> <csv>                      expected average of tensor t now
    end

Deterministic: data from numpy Generators seeded with crc32(case id).
"""

import os
import zlib

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel

HERE = os.path.dirname(os.path.abspath(__file__))
SHAPES = ((3, 4), (4,))
STEPS = 8

CASES = [
    # id, optimizer spec (ours), torch class, torch kwargs, util
    ('nodecay_sgd', 'SGD(lr=0.1, momentum=0.9, weight_decay=0.1)', torch.optim.SGD,
     dict(lr=0.1, momentum=0.9, weight_decay=0.1), ('nodecay1d',)),
    ('nodecay_adam', 'Adam(lr=0.05, weight_decay=0.1)', torch.optim.Adam,
     dict(lr=0.05, weight_decay=0.1), ('nodecay1d',)),
    ('nodecay_adamw', 'AdamW(lr=0.05, weight_decay=0.5)', torch.optim.AdamW,
     dict(lr=0.05, weight_decay=0.5), ('nodecay1d',)),
    ('ema_sgd', 'SGD(lr=0.1, momentum=0.9)', torch.optim.SGD, dict(lr=0.1, momentum=0.9), ('ema', 0.9)),
    ('ema_adam', 'Adam(lr=0.05)', torch.optim.Adam, dict(lr=0.05), ('ema', 0.999)),
    ('swa_sgd', 'SGD(lr=0.1, momentum=0.9)', torch.optim.SGD, dict(lr=0.1, momentum=0.9), ('swa',)),
    ('lookahead_adamw', 'AdamW(lr=0.05, weight_decay=0.01)', torch.optim.AdamW,
     dict(lr=0.05, weight_decay=0.01), ('lookahead', 3, 0.5)),
    ('lookahead_sgd', 'SGD(lr=0.1, momentum=0.9)', torch.optim.SGD,
     dict(lr=0.1, momentum=0.9), ('lookahead', 5, 0.8)),
]


def fmt(t):
    return ','.join(repr(float(v)) for v in t.detach().reshape(-1).tolist())


class Pair(torch.nn.Module):
    def __init__(self, tensors):
        super().__init__()
        self.weight = torch.nn.Parameter(tensors[0])
        self.bias = torch.nn.Parameter(tensors[1])


def run(out, cid, spec, cls, kwargs, util, dtype):
    rng = np.random.Generator(np.random.PCG64(zlib.crc32(cid.encode())))
    tdt = torch.float64 if dtype == 'f64' else torch.float32
    init = [torch.tensor(rng.standard_normal(s), dtype=tdt) for s in SHAPES]
    model = Pair([t.clone() for t in init])
    params = [model.weight, model.bias]
    if util[0] == 'nodecay1d':
        opt = cls([{'params': [model.weight]}, {'params': [model.bias], 'weight_decay': 0.0}], **kwargs)
    else:
        opt = cls(params, **kwargs)
    avg = None
    if util[0] == 'ema':
        decay = util[1]
        avg = AveragedModel(model, avg_fn=lambda a, p, n: decay * a + (1 - decay) * p)
    elif util[0] == 'swa':
        avg = AveragedModel(model)
    slow = [p.detach().clone() for p in params] if util[0] == 'lookahead' else None
    out.write(f'case {cid}_{dtype}\nopt {spec}\ndtype {dtype}\nutil {" ".join(str(u) for u in util)}\n')
    for i, t in enumerate(init):
        out.write(f'init {i} {fmt(t)}\n')
    for step in range(1, STEPS + 1):
        for i, p in enumerate(params):
            p.grad = torch.tensor(rng.standard_normal(SHAPES[i]), dtype=tdt)
            out.write(f'grad {i} {fmt(p.grad)}\n')
        opt.step()
        out.write('step\n')
        if slow is not None and step % util[1] == 0:
            with torch.no_grad():
                for s, p in zip(slow, params):
                    s.add_(util[2] * (p - s))
                    p.copy_(s)
        update = util[0] == 'ema' or (util[0] == 'swa' and step % 2 == 0)
        if update:
            avg.update_parameters(model)
            if util[0] == 'swa':
                out.write('swa_update\n')
        for i, p in enumerate(params):
            out.write(f'param {i} {fmt(p)}\n')
        if avg is not None:
            for i, a in enumerate([avg.module.weight, avg.module.bias]):
                out.write(f'avg {i} {fmt(a)}\n')
    out.write('end\n\n')


def main():
    torch.set_num_threads(1)
    path = os.path.join(HERE, 'utils.txt')
    with open(path, 'w') as out:
        out.write(f'# Generated by gen_utils.py with torch {torch.__version__}; do not edit.\n\n')
        for cid, spec, cls, kwargs, util in CASES:
            for dtype in ('f64', 'f32'):
                run(out, cid, spec, cls, kwargs, util, dtype)
    print('wrote', path)


if __name__ == '__main__':
    main()
