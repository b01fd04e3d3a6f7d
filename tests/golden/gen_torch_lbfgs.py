#!/usr/bin/env python3
"""Golden trajectories of torch.optim.LBFGS (torch 1.13, float64) for
tests/test_global.c: extended Rosenbrock (n = 4, from (-1.2, 1, -1.2, 1)),
several settings, a few step(closure) calls each. One line per step:
    config_index step loss func_evals n_iter x0 x1 x2 x3
Run with Debian's interpreter: /usr/bin/python3 tests/golden/gen_torch_lbfgs.py > tests/golden/torch_lbfgs.txt
"""
import torch

torch.set_default_dtype(torch.float64)

CONFIGS = [
    ("LBFGS()", {}),
    ("LBFGS(line_search_fn='strong_wolfe')", {"line_search_fn": "strong_wolfe"}),
    ("LBFGS(lr=0.5, max_iter=5, history_size=3)", {"lr": 0.5, "max_iter": 5, "history_size": 3}),
    ("LBFGS(max_iter=7, max_eval=9, history_size=2, line_search_fn='strong_wolfe')",
     {"max_iter": 7, "max_eval": 9, "history_size": 2, "line_search_fn": "strong_wolfe"}),
    ("LBFGS(lr=0.1, tolerance_change=1e-3)", {"lr": 0.1, "tolerance_change": 1e-3}),
]
STEPS = 6


def rosen(x):
    t1 = 1 - x[0::2]
    t2 = 10 * (x[1::2] - x[0::2] ** 2)
    return (t1 * t1 + t2 * t2).sum()


print("# torch %s, %d steps per config; config step loss func_evals n_iter x..." % (torch.__version__, STEPS))
for k, (spec, kw) in enumerate(CONFIGS):
    print("# %d %s" % (k, spec))
    x = torch.tensor([-1.2, 1.0, -1.2, 1.0], requires_grad=True)
    opt = torch.optim.LBFGS([x], **kw)

    def closure():
        opt.zero_grad()
        loss = rosen(x)
        loss.backward()
        return loss

    for step in range(STEPS):
        loss = opt.step(closure)
        st = opt.state[x]
        print("%d %d %.17g %d %d %s" % (k, step, float(loss), st["func_evals"], st["n_iter"],
                                         " ".join("%.17g" % v for v in x.detach().tolist())))
