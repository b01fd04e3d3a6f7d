"""descent.optim against torch.optim (Debian's torch 1.13, single-tensor path) on a small model
over 50 steps, two parameter groups and a torch scheduler, in float64."""
import math

import pytest

torch = pytest.importorskip("torch", reason="torch (python3-torch) is not installed: descent.optim tests skipped")
import descent  # noqa: E402
import descent.optim  # noqa: E402

# (name, arguments for both, group-1 overrides). Each case leaves foreach=False on torch's side.
CASES = [
    ("SGD", dict(lr=0.05), dict(lr=0.02)),
    ("SGD", dict(lr=0.05, momentum=0.9, weight_decay=1e-2), dict(momentum=0.5, dampening=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, maximize=False), dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), weight_decay=1e-3), dict(lr=0.02)),
    ("Adam", dict(lr=0.01, amsgrad=True), dict(eps=1e-6)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1), dict(weight_decay=0.0)),
    ("AdamW", dict(lr=0.01, amsgrad=True, maximize=True), dict(lr=0.003)),
    ("Adagrad", dict(lr=0.1, lr_decay=1e-3, weight_decay=1e-3), dict(lr=0.05)),
    ("RMSprop", dict(lr=0.01, alpha=0.9), dict(lr=0.02)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True, weight_decay=1e-3), dict(momentum=0.5)),
    ("Adadelta", dict(lr=1.0, rho=0.95, weight_decay=1e-3), dict(lr=0.5)),
    ("Adamax", dict(lr=0.01, weight_decay=1e-3), dict(lr=0.02)),
    ("RAdam", dict(lr=0.01, weight_decay=1e-3), dict(lr=0.02)),
    ("Rprop", dict(lr=0.01, etas=(0.4, 1.3)), dict(step_sizes=(1e-5, 1.0))),
    ("ASGD", dict(lr=0.01, t0=20, lambd=1e-3, weight_decay=1e-3), dict(lr=0.02)),
    ("NAdam", dict(lr=0.01, weight_decay=1e-3), dict(momentum_decay=5e-3)),
]


def model_and_data(dtype):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Tanh(), torch.nn.Linear(7, 1)).to(dtype)
    X = torch.randn(64, 5, dtype=dtype)
    y = torch.sin(X.sum(1, keepdim=True))
    return model, X, y


def train(make_opt, steps=50, dtype=torch.float64, sched=True, start=None, model_data=None):
    model, X, y = model_data or model_and_data(dtype)
    if start is not None:
        with torch.no_grad():
            for p, q in zip(model.parameters(), start):
                p.copy_(q)
    opt = make_opt([{"params": model[0].parameters()}, {"params": model[2].parameters()}])
    s = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[g["lr"] for g in opt.param_groups], total_steps=steps,
                                            cycle_momentum=False) if sched else None
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = ((model(X) - y) ** 2).mean()
        loss.backward()
        opt.step()
        if s:
            s.step()
        losses.append(loss.item())
    return [p.detach().clone() for p in model.parameters()], losses, opt


def factory(cls, args, group1, torch_side):
    def make(groups):
        groups[1].update(group1)
        kw = dict(args)
        if torch_side:
            kw["foreach"] = False
        return cls(groups, **kw)
    return make


@pytest.fixture
def f64_default():
    # torch keeps NAdam's and ASGD's scalar state (mu_product, eta, mu) in the default dtype.
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def nadam_matches_torch_113():
    """descent's NAdam follows torch 2.x by default where 2.x changed the formula; compare only if it
    reproduces Debian's torch 1.13 on one step pair."""
    a, _, _ = train(factory(torch.optim.NAdam, dict(lr=0.1), {}, True), steps=3, sched=False)
    b, _, _ = train(factory(descent.optim.NAdam, dict(lr=0.1), {}, False), steps=3, sched=False)
    return max((x - y).abs().max().item() for x, y in zip(a, b)) < 1e-12


@pytest.mark.parametrize("name,args,group1", CASES, ids=[c[0] + str(i) for i, c in enumerate(CASES)])
def test_matches_torch(name, args, group1, f64_default):
    if name == "NAdam" and not nadam_matches_torch_113():
        pytest.xfail("descent's NAdam follows torch 2.x (mu_product_next = P_t mu_{t+1}); Debian's torch 1.13 "
                     "uses P_t mu_t mu_{t+1}")
    ref, ref_losses, _ = train(factory(getattr(torch.optim, name), args, group1, True))
    got, losses, _ = train(factory(getattr(descent.optim, name), args, group1, False))
    assert len(got) == 4
    for a, b in zip(ref, got):
        assert (a - b).abs().max().item() <= 1e-10 * max(1.0, a.abs().max().item())
    assert (ref_losses[-1] > ref_losses[0]) == bool(args.get("maximize"))
    assert losses == pytest.approx(ref_losses, rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("name,args", [("AdamW", dict(lr=0.01, weight_decay=0.1)), ("SGD", dict(lr=0.05, momentum=0.9)),
                                       ("ASGD", dict(lr=0.01, t0=5)), ("RMSprop", dict(lr=0.01, momentum=0.5)),
                                       ("Adagrad", dict(lr=0.1)), ("Rprop", dict(lr=0.01))])
def test_state_dict_moves_torch_descent_torch(name, args, f64_default):
    """20 steps with torch, 20 with descent, 10 with torch again: the same numbers as 50 with torch."""
    tc, dc = getattr(torch.optim, name), getattr(descent.optim, name)
    model, X, y = model_and_data(torch.float64)
    start = [p.detach().clone() for p in model.parameters()]

    def run(opt, n):
        for _ in range(n):
            opt.zero_grad()
            ((model(X) - y) ** 2).mean().backward()
            opt.step()

    def groups():
        return [{"params": model[0].parameters()}, {"params": model[2].parameters(), "lr": args["lr"] / 2}]

    o1 = tc(groups(), foreach=False, **args)
    run(o1, 20)
    o2 = dc(groups(), **args)
    o2.load_state_dict(o1.state_dict())
    assert name == "SGD" or o2.state[model[0].weight]["step"].item() == 20
    run(o2, 20)
    sd = o2.state_dict()
    o3 = tc(groups(), foreach=False, **args)
    o3.load_state_dict(sd)
    run(o3, 10)
    got = [p.detach().clone() for p in model.parameters()]

    with torch.no_grad():
        for p, q in zip(model.parameters(), start):
            p.copy_(q)
    ref = tc(groups(), foreach=False, **args)
    run(ref, 50)
    for a, b in zip(model.parameters(), got):
        assert (a.detach() - b).abs().max().item() <= 1e-10


def test_state_view_is_live():
    p = torch.nn.Parameter(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64))
    opt = descent.optim.Adam([p], lr=0.1)
    assert len(opt.state) == 0 and p not in opt.state
    p.grad = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64)
    opt.step()
    st = opt.state[p]
    assert st["step"].item() == 1
    assert torch.allclose(st["exp_avg"], 0.1 * p.grad, rtol=1e-15, atol=0)
    st["exp_avg"].zero_()  # writes the library's buffer
    assert opt.state[p]["exp_avg"].abs().max().item() == 0
    assert set(opt.state_dict()["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}


def test_grad_none_is_skipped_like_torch(f64_default):
    torch.manual_seed(1)
    ps = [torch.nn.Parameter(torch.randn(3)) for _ in range(2)]
    qs = [torch.nn.Parameter(p.detach().clone()) for p in ps]
    a = torch.optim.Adam(ps, lr=0.1, weight_decay=0.1, foreach=False)
    b = descent.optim.Adam(qs, lr=0.1, weight_decay=0.1)
    for step in range(6):
        for opt, params in ((a, ps), (b, qs)):
            opt.zero_grad(set_to_none=True)
            loss = (params[0] ** 2).sum() + (0 if step % 2 else (params[1] ** 3).sum())
            loss.backward()
            opt.step()
    for p, q in zip(ps, qs):
        assert torch.allclose(p, q, rtol=1e-12, atol=1e-14)
    assert b.state[qs[1]]["step"].item() == a.state[ps[1]]["step"].item() == 3


def test_closure_and_add_param_group(f64_default):
    w = torch.nn.Parameter(torch.tensor([3.0, -2.0]))
    opt = descent.optim.SGD([w], lr=0.1)
    extra = torch.nn.Parameter(torch.tensor([1.0]))
    opt.add_param_group({"params": [extra], "lr": 0.5})

    def closure():
        opt.zero_grad()
        loss = (w ** 2).sum() + (extra ** 2).sum()
        loss.backward()
        return loss
    loss = opt.step(closure)
    assert loss.item() == pytest.approx(14.0)
    assert w.tolist() == pytest.approx([3.0 * 0.8, -2.0 * 0.8])
    assert extra.item() == pytest.approx(0.0)


def test_bf16_and_f32():
    torch.manual_seed(2)
    for dtype in (torch.bfloat16, torch.float32):
        p = torch.nn.Parameter(torch.randn(100).to(dtype))
        q = torch.nn.Parameter(p.detach().clone())
        a = torch.optim.AdamW([p], lr=0.01, foreach=False)
        b = descent.optim.AdamW([q], lr=0.01)
        for _ in range(10):
            for opt, x in ((a, p), (b, q)):
                opt.zero_grad()
                (x.float() ** 2).sum().backward()
                opt.step()
        assert q.dtype == dtype
        diff = (p.float() - q.float()).abs().max().item()
        # f32: the same operations; bf16: descent keeps f32 state and rounds once per step, torch
        # keeps bf16 state, so they may differ by a few bf16 steps.
        assert diff <= (1e-6 if dtype == torch.float32 else 0.05), diff
        assert b.state[q]["exp_avg"].dtype == torch.float32


def test_state_bits_8_and_extras():
    torch.manual_seed(3)
    p = torch.nn.Parameter(torch.randn(5000))
    q = torch.nn.Parameter(p.detach().clone())
    a = descent.optim.AdamW([p], lr=0.01)
    b = descent.optim.AdamW([q], lr=0.01, state_bits=8, eps_root=0.0)
    for _ in range(20):
        for opt, x in ((a, p), (b, q)):
            opt.zero_grad()
            (x ** 2).sum().backward()
            opt.step()
    assert (p - q).abs().max().item() < 0.05
    assert b.state_bytes() < a.state_bytes() / 3
    assert a.step_bytes() == 28 * 5000  # p read and written, g read, two f32 moments read and written
    assert b.step_bytes() < a.step_bytes() * 0.6
    assert b.state[q]["exp_avg"].dtype == torch.float32  # dequantized copy
    m = descent.optim.SGD([torch.nn.Parameter(torch.ones(2))], lr=0.1, momentum=0.9, momentum_form="ewma")
    assert m.param_groups[0]["momentum_form"] == "ewma"


def test_nonfinite_policies():
    p = torch.nn.Parameter(torch.ones(4))
    opt = descent.optim.Adam([p], lr=0.1, nonfinite="skip")
    p.grad = torch.tensor([1.0, float("nan"), 1.0, 1.0])
    opt.step()
    assert p.tolist() == [1.0] * 4 and opt.skipped_steps == 1 and opt.last_step_nonfinite
    opt = descent.optim.Adam([p], lr=0.1, nonfinite="error")
    with pytest.raises(descent.DescentError, match="non-finite|NaN|nan"):
        opt.step()


def test_errors():
    with pytest.raises(ValueError, match="contiguous"):
        descent.optim.Adam([torch.nn.Parameter(torch.ones(3, 4).t())])
    with pytest.raises(TypeError, match="float16"):
        descent.optim.Adam([torch.nn.Parameter(torch.ones(3, dtype=torch.float16))])
    with pytest.raises(TypeError, match="no argument 'betaz'"):
        descent.optim.Adam([torch.nn.Parameter(torch.ones(3))], betaz=(0.9, 0.9))
    with pytest.raises(descent.DescentError, match="betas"):
        descent.optim.Adam([torch.nn.Parameter(torch.ones(3))], betas=(1.5, 0.9))
    with pytest.raises(ValueError, match="capturable"):
        descent.optim.Adam([torch.nn.Parameter(torch.ones(3))], capturable=True)
    p = torch.nn.Parameter(torch.ones(3))
    opt = descent.optim.Adam([p], lr=0.1)
    opt.param_groups[0]["lr"] = -1.0
    p.grad = torch.ones(3)
    with pytest.raises(descent.DescentError, match="lr"):
        opt.step()
    opt.param_groups[0]["lr"] = 0.1
    p.grad = torch.ones(6)[::2]
    with pytest.raises(ValueError, match="gradient of tensor 0"):
        opt.step()
    p.grad = torch.ones(3)
    opt.step()
    assert opt.state[p]["step"].item() == 1
    bad = {"state": {}, "param_groups": []}
    with pytest.raises(ValueError, match="parameter groups"):
        opt.load_state_dict(bad)


def test_every_torch_scheduler_runs():
    p = torch.nn.Parameter(torch.ones(3))
    scheds = [
        lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda t: 1 / (1 + t)),
        lambda o: torch.optim.lr_scheduler.MultiplicativeLR(o, lambda t: 0.9),
        lambda o: torch.optim.lr_scheduler.StepLR(o, 3),
        lambda o: torch.optim.lr_scheduler.MultiStepLR(o, [2, 4]),
        lambda o: torch.optim.lr_scheduler.ConstantLR(o),
        lambda o: torch.optim.lr_scheduler.LinearLR(o),
        lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.9),
        lambda o: torch.optim.lr_scheduler.PolynomialLR(o),
        lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, 5),
        lambda o: torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, 3),
        lambda o: torch.optim.lr_scheduler.CyclicLR(o, 0.01, 0.1, cycle_momentum=True),
        lambda o: torch.optim.lr_scheduler.OneCycleLR(o, 0.1, total_steps=10),
        lambda o: torch.optim.lr_scheduler.ReduceLROnPlateau(o, patience=0),
        lambda o: torch.optim.lr_scheduler.SequentialLR(o, [torch.optim.lr_scheduler.LinearLR(o, total_iters=3),
                                                            torch.optim.lr_scheduler.ExponentialLR(o, 0.9)], [3]),
        lambda o: torch.optim.lr_scheduler.ChainedScheduler([torch.optim.lr_scheduler.StepLR(o, 2),
                                                             torch.optim.lr_scheduler.ExponentialLR(o, 0.9)]),
        lambda o: torch.optim.swa_utils.SWALR(o, swa_lr=0.05, anneal_epochs=3),
    ]
    for make in scheds:
        lrs = {}
        for mod in (torch.optim, descent.optim):
            with torch.no_grad():
                p.fill_(1.0)
            opt = mod.SGD([p], lr=0.1, momentum=0.9)
            s = make(opt)
            seen = []
            for _ in range(8):
                opt.zero_grad()
                (p ** 2).sum().backward()
                opt.step()
                s.step(1.0) if isinstance(s, torch.optim.lr_scheduler.ReduceLROnPlateau) else s.step()
                seen.append((opt.param_groups[0]["lr"], p.detach().clone()))
            lrs[mod] = seen
        for (la, pa), (lb, pb) in zip(lrs[torch.optim], lrs[descent.optim]):
            assert la == lb
            assert torch.allclose(pa, pb, rtol=1e-6, atol=0)


@pytest.mark.parametrize("kw", [{}, {"line_search_fn": "strong_wolfe", "history_size": 5}])
def test_lbfgs_matches_torch(kw, f64_default):
    """torch's LBFGS sums its dot products in another order than descent's, so the runs agree to
    rounding amplified over the iterations (1e-8 after 3 steps of 20 iterations), not to the bit."""
    def run(cls):
        model, X, y = model_and_data(torch.float64)
        opt = cls(model.parameters(), **kw)
        losses = []
        for _ in range(3):
            def closure():
                opt.zero_grad()
                loss = ((model(X) - y) ** 2).mean()
                loss.backward()
                return loss
            losses.append(float(opt.step(closure)))
        return [p.detach().clone() for p in model.parameters()], losses, opt
    ref, ref_losses, topt = run(torch.optim.LBFGS)
    got, losses, dopt = run(descent.optim.LBFGS)
    for a, b in zip(ref, got):
        assert (a - b).abs().max().item() <= 1e-8
    assert losses == pytest.approx(ref_losses, rel=1e-10)
    assert dopt.n_iter == topt.state[topt._params[0]]["n_iter"]


def test_lbfgs_closure_exception_propagates():
    p = torch.nn.Parameter(torch.ones(3, dtype=torch.float64))
    opt = descent.optim.LBFGS([p])
    calls = []

    def closure():
        calls.append(1)
        if len(calls) == 3:
            raise ArithmeticError("closure failed")
        opt.zero_grad()
        loss = ((p - 2) ** 4).sum()
        loss.backward()
        return loss
    with pytest.raises(ArithmeticError, match="closure failed"):
        opt.step(closure)
    assert len(calls) == 3
    with pytest.raises(ValueError, match="parameter groups"):
        descent.optim.LBFGS([{"params": [p]}, {"params": [torch.nn.Parameter(torch.ones(1))]}])


def _rss_kib():
    import os
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


def test_no_leaks_over_5e4_calls():
    """25000 steps with a scheduler (descent_set and descent_step each: 5 x 10^4 library calls), state
    views and state_dict round trips every 100 steps, and 250 optimizers created and dropped leave the
    resident set where a warm-up left it."""
    import os
    if not os.path.exists("/proc/self/statm"):
        pytest.skip("needs /proc to read the resident set size")
    p = torch.nn.Parameter(torch.ones(16))
    p.grad = torch.full((16,), 0.01)

    def cycle(steps):
        opt = descent.optim.Adam([p], lr=0.1)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1.0 / (1 + t))
        for i in range(steps):
            opt.step()
            sched.step()
            if i % 100 == 0:
                opt.state[p]["exp_avg"].sum()
                opt.load_state_dict(opt.state_dict())
                opt = descent.optim.Adam([p], lr=0.1)
                sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1.0 / (1 + t))
    import gc
    cycle(5000)
    gc.collect()  # torch's schedulers and optimizers reference each other: count what gc cannot free
    before = _rss_kib()
    cycle(25000)
    gc.collect()
    grown = _rss_kib() - before
    assert grown < 2048, "resident set grew by %d KiB" % grown


EVERY = [n for n in descent.optim.__all__ if n not in ("Optimizer", "DescentError", "LBFGS")]


@pytest.mark.parametrize("name", EVERY)
def test_every_optimizer_resumes_from_its_state_dict(name):
    """10 steps, state_dict into a new optimizer, 10 more: bit for bit what 20 uninterrupted steps give
    (every state buffer and scalar goes through state_dict), in float32 and float64."""
    for dtype in (torch.float32, torch.float64):
        def run(split):
            model, X, y = model_and_data(dtype)
            groups = lambda: [{"params": model[0].parameters()}, {"params": model[2].parameters()}]  # noqa: E731
            cls = getattr(descent.optim, name)
            opt = cls(groups(), lr=0.01 if name not in ("ScheduleFreeSGD", "Adadelta") else 0.1)
            for i in range(20):
                if i == split:
                    sd = opt.state_dict()
                    opt = cls(groups(), lr=0.5)  # another lr: load_state_dict restores the group's
                    opt.load_state_dict(sd)
                opt.zero_grad()
                ((model(X) - y) ** 2).mean().backward()
                opt.step()
            return [p.detach().clone() for p in model.parameters()], opt
        a, oa = run(-1)
        b, ob = run(10)
        for p, q in zip(a, b):
            assert torch.equal(p, q), (name, dtype)
        assert oa.state_dict()["param_groups"] == ob.state_dict()["param_groups"]
        assert all(v.get("step", torch.tensor(20.0)).item() == 20 for v in ob.state_dict()["state"].values())


def test_bf16_state_dict_from_torch():
    """torch keeps bfloat16 state for bfloat16 parameters, descent float32: loading widens it exactly."""
    torch.manual_seed(4)
    p = torch.nn.Parameter(torch.randn(50).to(torch.bfloat16))
    a = torch.optim.Adam([p], lr=0.01, foreach=False)
    for _ in range(3):
        a.zero_grad()
        (p.float() ** 2).sum().backward()
        a.step()
    b = descent.optim.Adam([p], lr=0.01)
    b.load_state_dict(a.state_dict())
    st = b.state[p]
    assert st["exp_avg"].dtype == torch.float32 and st["step"].item() == 3
    assert torch.equal(st["exp_avg"], a.state[p]["exp_avg"].float())
    c = torch.optim.Adam([p], lr=0.01, foreach=False)
    c.load_state_dict(b.state_dict())
    assert c.state[p]["exp_avg"].dtype == torch.bfloat16
    assert torch.equal(c.state[p]["exp_avg"], a.state[p]["exp_avg"])
