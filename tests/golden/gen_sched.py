#!/usr/bin/python3
"""Golden-data generator for descent's learning-rate schedulers.

Writes tests/golden/sched.txt: for each case, the learning rate (and the
momentum / beta1, where the optimizer has one) that a PyTorch optimizer
*uses* for its t-th step, t = 0..N-1, in the loop

    opt = <optimizer>([param])          # from the `opt` spec
    sched = <scheduler>(opt, ...)       # from the `sched` spec; ctor does t=0 setup
    for t in range(N):
        record t, group['lr'], momentum
        opt.step()                      # zero gradient, harmless
        sched.step()                    # or sched.step(metrics[t]) for ReduceLROnPlateau

Momentum column: SGD and RMSprop -> group['momentum'] (printed even when 0);
Adam/AdamW/NAdam/Adamax/RAdam -> group['betas'][0]; Adagrad/Adadelta -> none.

Nested schedulers (SequentialLR / ChainedScheduler children) are constructed on
the same optimizer, in the order they appear in the spec, before the wrapper --
exactly as `SequentialLR(opt, schedulers=[A(opt, ...), B(opt, ...)], ...)` would
evaluate in Python.

Every spec string written to the file is re-parsed (with `ast`) and the torch
objects are built from that parse, so the spec text is literally what was run.

File format (one item per line, '#' lines are comments):

    case <unique-id>
    opt <optimizer spec>
    sched <schedule spec>
    steps <N>
    metrics <csv of N floats>          (ReduceLROnPlateau cases only)
    expect <t>,<lr>[,<momentum>]       (N lines, %.17g)
    end

Run from the repository root with the Debian PyTorch 1.13:

    /usr/bin/python3 tests/golden/gen_sched.py

Output is deterministic (no randomness, no timestamps).
"""

import ast
import math
import os
import warnings

warnings.simplefilter("ignore")

import torch  # noqa: E402
from torch.optim import lr_scheduler as L  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sched.txt")

SGD_LIKE = {"SGD", "RMSprop"}                     # 'momentum' key
ADAM_LIKE = {"Adam", "AdamW", "NAdam", "Adamax", "RAdam"}  # betas[0]
NO_MOMENTUM = {"Adagrad", "Adadelta"}


# --------------------------------------------------------------------------
# Spec representation, formatting and parsing
# --------------------------------------------------------------------------

class Call:
    def __init__(self, name, args=(), kwargs=()):
        self.name = name
        self.args = list(args)
        self.kwargs = list(kwargs)  # list of (key, value), order preserved

    def __eq__(self, other):
        return (isinstance(other, Call) and self.name == other.name
                and self.args == other.args and self.kwargs == other.kwargs)


def C(name, *args, **kwargs):
    return Call(name, args, kwargs.items())


def fmt(v):
    if isinstance(v, Call):
        parts = [fmt(a) for a in v.args]
        parts += ["%s=%s" % (k, fmt(x)) for k, x in v.kwargs]
        return "%s(%s)" % (v.name, ", ".join(parts))
    if v is None or isinstance(v, bool):
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        r = repr(v)
        assert r not in ("inf", "-inf", "nan"), v
        return r
    if isinstance(v, str):
        assert "'" not in v and "\\" not in v
        return "'" + v + "'"
    if isinstance(v, tuple):
        assert len(v) >= 2
        return "(" + ", ".join(fmt(x) for x in v) + ")"
    if isinstance(v, list):
        return "[" + ", ".join(fmt(x) for x in v) + "]"
    raise TypeError(type(v))


def _from_ast(node):
    if isinstance(node, ast.Call):
        assert isinstance(node.func, ast.Name)
        return Call(node.func.id, [_from_ast(a) for a in node.args],
                    [(k.arg, _from_ast(k.value)) for k in node.keywords])
    if isinstance(node, ast.List):
        return [_from_ast(e) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_from_ast(e) for e in node.elts)
    return ast.literal_eval(node)


def parse(s):
    return _from_ast(ast.parse(s, mode="eval").body)


# --------------------------------------------------------------------------
# Building torch objects from specs
# --------------------------------------------------------------------------

def build_opt(spec):
    assert not spec.args
    param = torch.zeros(4, requires_grad=True)
    param.grad = torch.zeros(4)
    cls = getattr(torch.optim, spec.name)
    return cls([param], **dict(spec.kwargs))


def build_sched(spec, opt):
    def conv(v):
        if isinstance(v, Call):
            return build_sched(v, opt)
        if isinstance(v, list):
            return [conv(x) for x in v]
        if isinstance(v, tuple):
            return tuple(conv(x) for x in v)
        return v

    # Evaluate arguments left to right (Python call-evaluation order), so
    # nested schedulers are constructed in spec order, before the wrapper.
    args = [conv(a) for a in spec.args]
    kwargs = {}
    for k, v in spec.kwargs:
        kwargs[k] = conv(v)
    cls = getattr(L, spec.name)
    if spec.name == "ChainedScheduler":
        return cls(*args, **kwargs)
    return cls(opt, *args, **kwargs)


def momentum_of(opt_name, group):
    if opt_name in SGD_LIKE:
        return group["momentum"]
    if opt_name in ADAM_LIKE:
        return group["betas"][0]
    assert opt_name in NO_MOMENTUM, opt_name
    return None


def g17(x):
    return "%.17g" % float(x)


def run_case(opt_s, sched_s, n, metrics):
    opt_spec, sched_spec = parse(opt_s), parse(sched_s)
    assert fmt(opt_spec) == opt_s and fmt(sched_spec) == sched_s
    opt = build_opt(opt_spec)
    sched = build_sched(sched_spec, opt)
    plateau = isinstance(sched, L.ReduceLROnPlateau)
    assert plateau == (metrics is not None)
    rows = []
    for t in range(n):
        g = opt.param_groups[0]
        m = momentum_of(opt_spec.name, g)
        row = "%d,%s" % (t, g17(g["lr"]))
        if m is not None:
            row += "," + g17(m)
        rows.append(row)
        opt.step()
        if plateau:
            sched.step(metrics[t])
        else:
            sched.step()
    return rows


# --------------------------------------------------------------------------
# Case definitions
# --------------------------------------------------------------------------

CASES = []  # (id, opt Call, sched Call, N, metrics or None)
COMMENTS = []


def add(cid, opt, sched, n, metrics=None):
    assert 30 <= n <= 120, (cid, n)
    if metrics is not None:
        metrics = [float(x) for x in metrics]
        assert len(metrics) == n
    CASES.append((cid, opt, sched, n, metrics))


SGD = C("SGD", lr=0.1)
SGDM = C("SGD", lr=0.1, momentum=0.9)
ADAM = C("Adam", lr=0.001, betas=(0.9, 0.999))


def step_cases():
    add("steplr_basic", SGDM, C("StepLR", step_size=3, gamma=0.5), 30)
    add("steplr_default_gamma", SGD, C("StepLR", step_size=10), 45)
    add("steplr_step1", C("Adagrad", lr=0.05), C("StepLR", step_size=1, gamma=0.9), 40)
    add("steplr_gamma_gt1", C("RMSprop", lr=0.01, momentum=0.5),
        C("StepLR", step_size=7, gamma=1.5), 35)
    add("steplr_adamw", C("AdamW", lr=0.003, betas=(0.85, 0.99)),
        C("StepLR", step_size=12, gamma=0.3), 50)


def multistep_cases():
    add("multisteplr_basic", SGDM, C("MultiStepLR", milestones=[5, 12, 20], gamma=0.5), 30)
    add("multisteplr_default_gamma", ADAM, C("MultiStepLR", milestones=[10, 25]), 40)
    # duplicate milestones: torch uses a Counter -> gamma**count at that epoch
    add("multisteplr_duplicate", SGD, C("MultiStepLR", milestones=[4, 4, 15, 30, 30, 30], gamma=0.7), 40)
    add("multisteplr_adadelta", C("Adadelta", lr=1.0, rho=0.9),
        C("MultiStepLR", milestones=[1, 2, 3, 40], gamma=0.8), 50)


def exponential_cases():
    add("exponentiallr_basic", SGDM, C("ExponentialLR", gamma=0.9), 40)
    add("exponentiallr_slow", C("NAdam", lr=0.002, betas=(0.9, 0.999)),
        C("ExponentialLR", gamma=0.99), 120)
    add("exponentiallr_adadelta", C("Adadelta", lr=1.0), C("ExponentialLR", gamma=0.95), 30)
    add("exponentiallr_gamma1", SGD, C("ExponentialLR", gamma=1.0), 30)


def polynomial_cases():
    add("polynomiallr_linear", SGDM, C("PolynomialLR", total_iters=20, power=1.0), 30)
    add("polynomiallr_quadratic", ADAM, C("PolynomialLR", total_iters=25, power=2.0), 35)
    add("polynomiallr_sqrt", SGD, C("PolynomialLR", total_iters=30, power=0.5), 40)
    add("polynomiallr_defaults", C("Adamax", lr=0.002, betas=(0.9, 0.999)), C("PolynomialLR"), 30)
    add("polynomiallr_long", C("RAdam", lr=0.001, betas=(0.9, 0.999)),
        C("PolynomialLR", total_iters=100, power=3.0), 110)


def cyclic_cases():
    add("cycliclr_triangular_sgd", SGDM,
        C("CyclicLR", base_lr=0.001, max_lr=0.01, step_size_up=5), 40)
    add("cycliclr_triangular_asym", SGDM,
        C("CyclicLR", base_lr=0.01, max_lr=0.1, step_size_up=4, step_size_down=10,
          mode="triangular", base_momentum=0.85, max_momentum=0.95), 60)
    add("cycliclr_triangular2", SGDM,
        C("CyclicLR", base_lr=0.001, max_lr=0.1, step_size_up=4, mode="triangular2"), 48)
    add("cycliclr_triangular2_asym", C("RMSprop", lr=0.01, momentum=0.5),
        C("CyclicLR", base_lr=0.0005, max_lr=0.005, step_size_up=3, step_size_down=7,
          mode="triangular2", base_momentum=0.6, max_momentum=0.95), 60)
    add("cycliclr_exp_range", SGDM,
        C("CyclicLR", base_lr=0.001, max_lr=0.01, step_size_up=6, mode="exp_range",
          gamma=0.97), 72)
    add("cycliclr_exp_range_asym", SGDM,
        C("CyclicLR", base_lr=0.002, max_lr=0.02, step_size_up=8, step_size_down=3,
          mode="exp_range", gamma=0.99, cycle_momentum=True, base_momentum=0.8,
          max_momentum=0.9), 66)
    # gamma is ignored outside exp_range
    add("cycliclr_gamma_ignored", SGDM,
        C("CyclicLR", base_lr=0.001, max_lr=0.006, step_size_up=5, mode="triangular",
          gamma=0.5), 30)
    add("cycliclr_no_cycle_momentum_sgd", SGDM,
        C("CyclicLR", base_lr=0.001, max_lr=0.01, step_size_up=5, cycle_momentum=False), 40)
    add("cycliclr_no_cycle_momentum_adam", ADAM,
        C("CyclicLR", base_lr=0.0001, max_lr=0.001, step_size_up=5, step_size_down=5,
          mode="triangular2", cycle_momentum=False), 50)
    add("cycliclr_no_cycle_momentum_radam", C("RAdam", lr=0.001, betas=(0.95, 0.999)),
        C("CyclicLR", base_lr=0.0001, max_lr=0.002, step_size_up=7, mode="exp_range",
          gamma=0.98, cycle_momentum=False), 56)
    add("cycliclr_sgd_zero_momentum", SGD,
        C("CyclicLR", base_lr=0.01, max_lr=0.05, step_size_up=2, step_size_down=4,
          base_momentum=0.0, max_momentum=0.5), 36)
    add("cycliclr_adagrad", C("Adagrad", lr=0.01),
        C("CyclicLR", base_lr=0.001, max_lr=0.01, step_size_up=3, cycle_momentum=False), 30)
    COMMENTS.append(
        "# CyclicLR with an Adam-family optimizer and cycle_momentum=True raises ValueError"
        " in torch 1.13 (it only checks for a 'momentum' key; no beta1 cycling), so such"
        " cases are absent.")


def onecycle_cases():
    add("onecyclelr_defaults_sgd", SGDM, C("OneCycleLR", max_lr=0.1, total_steps=50), 50)
    add("onecyclelr_linear_sgd", SGDM,
        C("OneCycleLR", max_lr=0.05, total_steps=40, pct_start=0.25, anneal_strategy="linear",
          base_momentum=0.8, max_momentum=0.9, div_factor=10.0, final_div_factor=100.0), 40)
    add("onecyclelr_three_phase_cos", SGDM,
        C("OneCycleLR", max_lr=0.2, total_steps=60, pct_start=0.3, anneal_strategy="cos",
          three_phase=True), 60)
    add("onecyclelr_three_phase_linear", C("RMSprop", lr=0.01, momentum=0.9),
        C("OneCycleLR", max_lr=0.01, total_steps=45, pct_start=0.2, anneal_strategy="linear",
          cycle_momentum=True, base_momentum=0.85, max_momentum=0.95, div_factor=20.0,
          final_div_factor=1000.0, three_phase=True), 45)
    add("onecyclelr_adam", ADAM,
        C("OneCycleLR", max_lr=0.003, total_steps=40), 40)
    add("onecyclelr_adamw_linear", C("AdamW", lr=0.001, betas=(0.9, 0.98)),
        C("OneCycleLR", max_lr=0.001, total_steps=55, pct_start=0.4, anneal_strategy="linear",
          base_momentum=0.8, max_momentum=0.95, three_phase=False), 55)
    add("onecyclelr_adamax_three_phase", C("Adamax", lr=0.002, betas=(0.9, 0.999)),
        C("OneCycleLR", max_lr=0.004, total_steps=33, pct_start=0.35, three_phase=True,
          div_factor=5.0, final_div_factor=50.0), 33)
    add("onecyclelr_no_cycle_momentum_sgd", SGDM,
        C("OneCycleLR", max_lr=0.1, total_steps=30, cycle_momentum=False), 30)
    add("onecyclelr_no_cycle_momentum_adam", ADAM,
        C("OneCycleLR", max_lr=0.01, total_steps=32, anneal_strategy="linear",
          cycle_momentum=False), 32)
    add("onecyclelr_adagrad", C("Adagrad", lr=0.01),
        C("OneCycleLR", max_lr=0.05, total_steps=35, cycle_momentum=False), 35)
    # non-integer phase boundary: pct_start * total_steps - 1 = 10.1
    add("onecyclelr_fractional_phase", SGD,
        C("OneCycleLR", max_lr=0.5, total_steps=37, pct_start=0.3), 37)
    add("onecyclelr_pct_start_1", SGDM,
        C("OneCycleLR", max_lr=0.1, total_steps=30, pct_start=0.9, anneal_strategy="linear"), 30)
    # total_steps inferred as epochs * steps_per_epoch
    add("onecyclelr_epochs_steps", SGDM,
        C("OneCycleLR", max_lr=0.1, epochs=4, steps_per_epoch=10, pct_start=0.25), 40)


def cosine_cases():
    add("cosineannealinglr_basic", SGDM, C("CosineAnnealingLR", T_max=10), 50)
    add("cosineannealinglr_eta_min", ADAM, C("CosineAnnealingLR", T_max=20, eta_min=0.0001), 100)
    add("cosineannealinglr_tmax_odd", SGD, C("CosineAnnealingLR", T_max=7, eta_min=0.01), 40)
    add("cosineannealinglr_short", C("Adadelta", lr=1.0),
        C("CosineAnnealingLR", T_max=3, eta_min=0.1), 30)
    add("cosineannealinglr_single", C("RMSprop", lr=0.01),
        C("CosineAnnealingLR", T_max=40, eta_min=0.0), 45)


def warm_restart_cases():
    add("cosinewarmrestarts_tmult1", SGDM, C("CosineAnnealingWarmRestarts", T_0=10), 35)
    add("cosinewarmrestarts_tmult1_eta", ADAM,
        C("CosineAnnealingWarmRestarts", T_0=7, T_mult=1, eta_min=0.0001), 50)
    add("cosinewarmrestarts_tmult2", SGDM,
        C("CosineAnnealingWarmRestarts", T_0=5, T_mult=2, eta_min=0.001), 80)
    add("cosinewarmrestarts_tmult3", C("Adagrad", lr=0.1),
        C("CosineAnnealingWarmRestarts", T_0=3, T_mult=3, eta_min=0.0), 60)
    add("cosinewarmrestarts_t0_1", SGD, C("CosineAnnealingWarmRestarts", T_0=1, T_mult=2), 40)


def linear_constant_cases():
    add("linearlr_defaults", SGDM, C("LinearLR"), 30)
    add("linearlr_warmup", ADAM, C("LinearLR", start_factor=0.1, total_iters=10), 30)
    add("linearlr_decay", SGD, C("LinearLR", start_factor=1.0, end_factor=0.05, total_iters=25), 35)
    add("linearlr_partial", C("NAdam", lr=0.002, betas=(0.9, 0.999)),
        C("LinearLR", start_factor=0.25, end_factor=0.75, total_iters=20), 30)
    add("linearlr_tiny_start", C("RMSprop", lr=0.01, momentum=0.9),
        C("LinearLR", start_factor=0.001, end_factor=1.0, total_iters=50), 60)
    add("constantlr_defaults", SGDM, C("ConstantLR"), 30)
    add("constantlr_basic", ADAM, C("ConstantLR", factor=0.5, total_iters=4), 30)
    add("constantlr_third", SGD, C("ConstantLR", factor=0.3, total_iters=15), 30)
    add("constantlr_factor1", C("Adadelta", lr=1.0), C("ConstantLR", factor=1.0, total_iters=10), 30)
    add("constantlr_long", C("Adamax", lr=0.002, betas=(0.8, 0.999)),
        C("ConstantLR", factor=0.1, total_iters=40), 50)


def sequential_cases():
    add("sequentiallr_linear_exp", SGDM,
        C("SequentialLR", schedulers=[C("LinearLR", start_factor=0.1, total_iters=4),
                                      C("ExponentialLR", gamma=0.9)], milestones=[4]), 30)
    add("sequentiallr_constant_cosine", ADAM,
        C("SequentialLR", schedulers=[C("ConstantLR", factor=0.1, total_iters=5),
                                      C("CosineAnnealingLR", T_max=30, eta_min=1e-05)],
          milestones=[5]), 60)
    add("sequentiallr_three", SGDM,
        C("SequentialLR", schedulers=[C("LinearLR", start_factor=0.2, end_factor=1.0, total_iters=5),
                                      C("StepLR", step_size=4, gamma=0.5),
                                      C("ExponentialLR", gamma=0.95)],
          milestones=[5, 20]), 50)
    # first child cut short before its total_iters; second starts at its closed form
    add("sequentiallr_cut_short", SGD,
        C("SequentialLR", schedulers=[C("ConstantLR", factor=0.5, total_iters=10),
                                      C("LinearLR", start_factor=0.5, end_factor=0.1, total_iters=10)],
          milestones=[3]), 30)
    add("sequentiallr_linear_cosine_step", C("AdamW", lr=0.001, betas=(0.9, 0.999)),
        C("SequentialLR", schedulers=[C("LinearLR", start_factor=0.01, total_iters=8),
                                      C("CosineAnnealingLR", T_max=20, eta_min=0.0001),
                                      C("StepLR", step_size=5, gamma=0.3)],
          milestones=[8, 28]), 60)
    add("sequentiallr_multistep_poly", C("RMSprop", lr=0.01, momentum=0.9),
        C("SequentialLR", schedulers=[C("MultiStepLR", milestones=[3, 6], gamma=0.5),
                                      C("PolynomialLR", total_iters=20, power=2.0)],
          milestones=[10]), 40)
    add("sequentiallr_step_constant", C("Adagrad", lr=0.1),
        C("SequentialLR", schedulers=[C("StepLR", step_size=3, gamma=0.8),
                                      C("ConstantLR", factor=0.25, total_iters=6),
                                      C("CosineAnnealingLR", T_max=6)],
          milestones=[12, 20]), 45)
    add("sequentiallr_warmup_restarts", SGDM,
        C("SequentialLR", schedulers=[C("LinearLR", start_factor=0.1, total_iters=5),
                                      C("CosineAnnealingWarmRestarts", T_0=6, T_mult=2, eta_min=0.001)],
          milestones=[5]), 50)


def chained_cases():
    add("chained_constant_exp", SGDM,
        C("ChainedScheduler", [C("ConstantLR", factor=0.5, total_iters=3),
                               C("ExponentialLR", gamma=0.95)]), 30)
    add("chained_kw_linear_cosine", ADAM,
        C("ChainedScheduler", schedulers=[C("LinearLR", start_factor=0.25, total_iters=5),
                                          C("CosineAnnealingLR", T_max=20)]), 50)
    # eta_min > 0: the recursive cosine is not multiplicative, so composition is "odd"
    add("chained_linear_cosine_eta", SGDM,
        C("ChainedScheduler", [C("LinearLR", start_factor=0.1, total_iters=6),
                               C("CosineAnnealingLR", T_max=15, eta_min=0.01)]), 50)
    add("chained_three", SGD,
        C("ChainedScheduler", [C("StepLR", step_size=5, gamma=0.5),
                               C("ConstantLR", factor=0.2, total_iters=8),
                               C("ExponentialLR", gamma=0.98)]), 40)
    add("chained_kw_multistep_linear", C("RMSprop", lr=0.01, momentum=0.3),
        C("ChainedScheduler", schedulers=[C("MultiStepLR", milestones=[10, 20], gamma=0.1),
                                          C("LinearLR", start_factor=1.0, end_factor=0.5,
                                            total_iters=30)]), 40)
    add("chained_cosine_first", C("Adadelta", lr=1.0),
        C("ChainedScheduler", [C("CosineAnnealingLR", T_max=10, eta_min=0.05),
                               C("ConstantLR", factor=0.5, total_iters=4),
                               C("StepLR", step_size=7, gamma=0.5)]), 35)
    add("chained_poly_exp", C("NAdam", lr=0.002, betas=(0.9, 0.999)),
        C("ChainedScheduler", schedulers=[C("PolynomialLR", total_iters=15, power=1.0),
                                          C("ExponentialLR", gamma=0.9)]), 30)


def plateau_cases():
    def noisy_decline(n, start, rate, amp, period=5):
        # deterministic "noise": a fixed zig-zag pattern
        pat = [0.0, 1.0, -0.5, 0.75, -1.0, 0.25, -0.25][:max(period, 2)]
        return [round(start * (1.0 - rate) ** i + amp * pat[i % len(pat)], 6) for i in range(n)]

    # min/rel, defaults: loss falls then flat plateau -> reduce after 11 bad epochs
    m = [round(1.0 / (1 + 0.3 * i), 6) for i in range(15)] + [0.19] * 45
    add("plateau_min_rel_defaults", SGDM, C("ReduceLROnPlateau"), 60, m)

    # min/rel with a coarse threshold: slow declines (<5%/step) count as bad
    m = noisy_decline(60, 2.0, 0.02, 0.01)
    add("plateau_min_rel_noisy", SGDM,
        C("ReduceLROnPlateau", mode="min", factor=0.5, patience=2, threshold=0.05,
          threshold_mode="rel"), 60, m)

    # min/abs with cooldown
    pat = [0.0, 1.0, -0.5, 0.75, -1.0, 0.25, -0.25]
    m = [round(1.0 - 0.02 * i + 0.004 * pat[i % 7], 6) for i in range(15)] + \
        [round(0.7 - 0.002 * i + 0.004 * pat[i % 7], 6) for i in range(55)]
    add("plateau_min_abs_cooldown", ADAM,
        C("ReduceLROnPlateau", mode="min", factor=0.5, patience=3, threshold=0.01,
          threshold_mode="abs", cooldown=2), 70, m)

    # max/rel: accuracy rising then plateau with small wiggles
    m = [round(min(0.9, 0.5 + 0.05 * i) + 0.002 * ((-1) ** i), 6) for i in range(60)]
    add("plateau_max_rel", SGDM,
        C("ReduceLROnPlateau", mode="max", factor=0.3, patience=2, threshold=0.01,
          threshold_mode="rel"), 60, m)

    # max/abs with cooldown and min_lr reached
    m = [round(0.3 + 0.02 * i, 6) for i in range(10)] + \
        [round(0.5 + 0.003 * (i % 4), 6) for i in range(70)]
    add("plateau_max_abs_minlr", C("RMSprop", lr=0.05, momentum=0.9),
        C("ReduceLROnPlateau", mode="max", factor=0.5, patience=1, threshold=0.005,
          threshold_mode="abs", cooldown=3, min_lr=0.002), 80, m)

    # min/abs, patience 0, constant metric: reduce every step, clamped at min_lr
    # (0.1 -> 0.05 -> 0.025 -> 0.0125 -> 0.01 clamp, then no change)
    add("plateau_min_abs_clamp", SGD,
        C("ReduceLROnPlateau", mode="min", factor=0.5, patience=0, threshold=0.0,
          threshold_mode="abs", min_lr=0.01), 30, [1.0] * 30)

    # min_lr given as a one-element list
    add("plateau_min_lr_list", C("Adagrad", lr=0.1),
        C("ReduceLROnPlateau", mode="min", factor=0.2, patience=1, min_lr=[0.001]), 30,
        [round(1.0 + 0.1 * (i % 3), 6) for i in range(30)])

    # eps: reductions stop once old-new <= eps (0.1,0.05,0.025,0.0125 then stuck)
    add("plateau_eps_stop", SGDM,
        C("ReduceLROnPlateau", mode="min", factor=0.5, patience=0, eps=0.01), 30, [5.0] * 30)

    # eps larger than any possible reduction: lr never changes
    add("plateau_eps_never", ADAM,
        C("ReduceLROnPlateau", mode="min", factor=0.99, patience=1, eps=0.0001), 30,
        [float(i) for i in range(30)])

    # negative losses with rel threshold: best*(1-threshold) is *larger* than best
    # for negative best, so slightly worse values still count as "better".
    # A constant negative value is always "better" (-4 < -4 * 0.9); only the jump to
    # -1.0 produces bad epochs.
    m = [round(-10.0 + 0.3 * i, 6) for i in range(20)] + [-4.0] * 10 + [-1.0] * 20
    add("plateau_min_rel_negative", SGDM,
        C("ReduceLROnPlateau", mode="min", factor=0.5, patience=2, threshold=0.1,
          threshold_mode="rel"), 50, m)

    # max/rel with negative metrics
    m = [round(-5.0 + 0.4 * i, 6) for i in range(10)] + [round(-1.0 - 0.05 * i, 6) for i in range(30)]
    add("plateau_max_rel_negative", C("AdamW", lr=0.001, betas=(0.9, 0.999)),
        C("ReduceLROnPlateau", mode="max", factor=0.5, patience=1, threshold=0.05,
          threshold_mode="rel", cooldown=1), 40, m)

    # max/abs with everything spelled out, increases then decreases
    m = [round(0.1 * i, 6) for i in range(15)] + [round(1.4 - 0.05 * i, 6) for i in range(35)]
    add("plateau_max_abs_all_args", SGDM,
        C("ReduceLROnPlateau", mode="max", factor=0.1, patience=4, threshold=0.0001,
          threshold_mode="abs", cooldown=2, min_lr=1e-05, eps=1e-08), 50, m)

    # min/rel, equal values are never an improvement (strict <), threshold 0
    add("plateau_min_rel_zero_threshold", C("Adadelta", lr=1.0),
        C("ReduceLROnPlateau", mode="min", factor=0.5, patience=3, threshold=0.0,
          threshold_mode="rel", cooldown=5), 60,
        [round(3.0 - 0.1 * min(i, 10), 6) for i in range(60)])

    # long cooldown with patience 0: reductions every cooldown+1 steps
    add("plateau_cooldown_patience0", SGDM,
        C("ReduceLROnPlateau", factor=0.7, patience=0, cooldown=4, min_lr=0.0), 40,
        [2.0] * 40)


for fn in (step_cases, multistep_cases, exponential_cases, polynomial_cases, cyclic_cases,
           onecycle_cases, cosine_cases, warm_restart_cases, linear_constant_cases,
           sequential_cases, chained_cases, plateau_cases):
    fn()


def main():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids)), "duplicate case ids"
    lines = ["# generated by tests/golden/gen_sched.py with torch %s" % torch.__version__,
             "# expect t,lr[,momentum]: values the optimizer uses for step t (%.17g)"]
    lines += COMMENTS
    for cid, opt, sched, n, metrics in CASES:
        opt_s, sched_s = fmt(opt), fmt(sched)
        rows = run_case(opt_s, sched_s, n, metrics)
        lines.append("case " + cid)
        lines.append("opt " + opt_s)
        lines.append("sched " + sched_s)
        lines.append("steps %d" % n)
        if metrics is not None:
            lines.append("metrics " + ",".join(repr(x) for x in metrics))
        lines += ["expect " + r for r in rows]
        lines.append("end")
    with open(OUT, "w") as f:
        f.write("\n".join(lines) + "\n")
    print("wrote %s: %d cases" % (OUT, len(CASES)))


if __name__ == "__main__":
    main()
