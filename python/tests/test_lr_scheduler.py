"""descent.lr_scheduler: descent's schedules driving torch optimizers."""
import math

import pytest

torch = pytest.importorskip("torch", reason="torch (python3-torch) is not installed: lr_scheduler tests skipped")
import descent  # noqa: E402
from descent import lr_scheduler  # noqa: E402


def lrs(opt, sched, steps, metric=None):
    out = [opt.param_groups[0]["lr"]]
    for _ in range(steps):
        opt.step()
        sched.step(metric) if metric is not None else sched.step()
        out.append(opt.param_groups[0]["lr"])
    return out


def sgd(lr=0.1, momentum=0.9):
    return torch.optim.SGD([torch.nn.Parameter(torch.ones(2))], lr=lr, momentum=momentum)


@pytest.mark.parametrize("spec,make", [
    ("CosineAnnealingLR(T_max=10, eta_min=0.01)", lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 10, 0.01)),
    ("StepLR(step_size=3, gamma=0.5)", lambda o: torch.optim.lr_scheduler.StepLR(o, 3, 0.5)),
    ("ExponentialLR(gamma=0.9)", lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.9)),
    ("LinearLR(start_factor=0.25, total_iters=4)", lambda o: torch.optim.lr_scheduler.LinearLR(o, 0.25, total_iters=4)),
    ("OneCycleLR(max_lr=0.5, total_steps=25)", lambda o: torch.optim.lr_scheduler.OneCycleLR(o, 0.5, total_steps=25)),
    ("CosineAnnealingWarmRestarts(T_0=4, T_mult=2)",
     lambda o: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, 4, 2)),
])
def test_torch_schedules_by_spec_match_torch(spec, make):
    o1, o2 = sgd(), sgd()
    ref = lrs(o1, make(o1), 24)
    got = lrs(o2, lr_scheduler.from_spec(o2, spec), 24)
    assert got == pytest.approx(ref, rel=1e-12, abs=1e-15)
    if spec.startswith("OneCycle"):
        assert o1.param_groups[0]["momentum"] == pytest.approx(o2.param_groups[0]["momentum"], rel=1e-12)


def test_linear_warmup_formula_with_adam():
    # pytorch_warmup's LinearWarmup: the inner schedule's lr times min(1, (t + 1) / warmup_period).
    opt = torch.optim.Adam([torch.nn.Parameter(torch.ones(2))], lr=0.1)
    s = lr_scheduler.LinearWarmup(opt, warmup_period=5, schedule="CosineAnnealingLR(T_max=20)")
    got = lrs(opt, s, 15)
    want = [0.1 * (1 + math.cos(math.pi * t / 20)) / 2 * min(1.0, (t + 1) / 5) for t in range(16)]
    assert got == pytest.approx(want, rel=1e-12)
    assert s.get_last_lr() == [got[-1]]


def test_state_dict_resumes_and_plateau_needs_metric():
    o1, o2 = sgd(), sgd()
    s1 = lr_scheduler.from_spec(o1, "OneCycleLR(max_lr=0.5, total_steps=30)")
    lrs(o1, s1, 10)
    s2 = lr_scheduler.from_spec(o2, "OneCycleLR(max_lr=0.5, total_steps=30)")
    s2.load_state_dict(s1.state_dict())
    assert lrs(o1, s1, 10)[1:] == lrs(o2, s2, 10)[1:]
    o3 = sgd()
    p = lr_scheduler.from_spec(o3, "ReduceLROnPlateau(patience=1, factor=0.5)")
    assert p.needs_metric
    with pytest.raises(ValueError, match="metric"):
        p.step()
    assert lrs(o3, p, 4, metric=1.0)[-1] == pytest.approx(0.05)
    with pytest.raises(descent.DescentError, match="Nope"):
        lr_scheduler.from_spec(sgd(), "Nope(x=1)")


def test_with_descent_optimizer():
    import descent.optim
    p = torch.nn.Parameter(torch.ones(3))
    opt = descent.optim.AdamW([p], lr=0.01)
    s = lr_scheduler.from_spec(opt, "LinearWarmup(warmup_period=3, schedule=ExponentialLR(gamma=0.5))")
    for _ in range(4):
        p.grad = torch.ones(3)
        opt.step()
        s.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01 * 0.5 ** 4)
