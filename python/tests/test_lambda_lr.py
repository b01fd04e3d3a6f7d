"""descent.lr_scheduler.LambdaLR / MultiplicativeLR: the Python function called by libdescent through a
C callback (descent_set_schedule_callbacks), against torch's own classes."""
import math

import pytest

torch = pytest.importorskip("torch", reason="torch (python3-torch) is not installed: lr_scheduler tests skipped")
from descent import lr_scheduler  # noqa: E402
from descent._lib import DescentError  # noqa: E402


def two_groups():
    p, q = torch.nn.Parameter(torch.ones(2)), torch.nn.Parameter(torch.ones(3))
    return torch.optim.SGD([{"params": [p], "lr": 0.1}, {"params": [q], "lr": 0.05}], lr=0.1, momentum=0.9)


def run(opt, sched, steps):
    out = [[g["lr"] for g in opt.param_groups]]
    for _ in range(steps):
        opt.step()
        sched.step()
        out.append([g["lr"] for g in opt.param_groups])
        assert sched.get_last_lr() == out[-1]
    return out


def warmup(t):
    return t / 5 if t < 5 else max(0.0, (30 - t) / 25)


@pytest.mark.parametrize("name,lr_lambda", [
    ("LambdaLR", warmup),
    ("LambdaLR", [lambda t: t // 3, lambda t: 0.95 ** t]),
    ("MultiplicativeLR", lambda t: 0.95),
    ("MultiplicativeLR", [lambda t: 0.95, lambda t: (t + 1) / (t + 2)]),
])
def test_matches_torch(name, lr_lambda):
    o1, o2 = two_groups(), two_groups()
    ref = run(o1, getattr(torch.optim.lr_scheduler, name)(o1, lr_lambda), 35)
    got = run(o2, getattr(lr_scheduler, name)(o2, lr_lambda), 35)
    flat = [x for row in got for x in row]
    assert flat == pytest.approx([x for row in ref for x in row], rel=1e-15, abs=0)


def test_state_dict_resumes():
    o1, o2 = two_groups(), two_groups()
    s1 = lr_scheduler.MultiplicativeLR(o1, lambda t: (t + 1) / (t + 2))
    run(o1, s1, 7)
    s2 = lr_scheduler.MultiplicativeLR(o2, lambda t: (t + 1) / (t + 2))
    s2.load_state_dict(s1.state_dict())
    assert run(o1, s1, 10)[1:] == run(o2, s2, 10)[1:]


def test_bad_values_and_exceptions():
    opt = two_groups()
    with pytest.raises(DescentError, match="finite number >= 0"):
        lr_scheduler.LambdaLR(opt, lambda t: math.nan)
    s = lr_scheduler.LambdaLR(opt, lambda t: -1.0 if t == 2 else 1.0)
    run(opt, s, 1)
    with pytest.raises(DescentError, match="step 2"):
        s.step()
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.05]

    def boom(t):
        if t == 1:
            raise KeyError("from the lambda")
        return 1.0
    s = lr_scheduler.LambdaLR(two_groups(), boom)
    with pytest.raises(KeyError, match="from the lambda"):
        s.step()
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas"):
        lr_scheduler.LambdaLR(two_groups(), [warmup])
