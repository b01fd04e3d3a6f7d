"""descent.minimize against scipy.optimize's answers, ask/tell on standard functions, callbacks that
raise, and no leaks across 10^5 calls."""
import math
import os
import resource

import pytest

np = pytest.importorskip("numpy", reason="numpy (python3-numpy) is not installed")
import descent  # noqa: E402

GRADIENT_METHODS = ["LBFGS", "LBFGS(line_search_fn='backtracking')", "HessianFree", "NAG(lr=1e-3, momentum=0.9)",
                    "Adam(lr=0.02)", "SGD(lr=1e-3, momentum=0.9)", "RMSprop(lr=1e-3)", "AdamW(lr=0.02, weight_decay=0)"]


def rosen(x):
    return float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))


def rosen_der(x):
    g = np.zeros_like(x)
    g[:-1] = -400 * x[:-1] * (x[1:] - x[:-1] ** 2) - 2 * (1 - x[:-1])
    g[1:] += 200 * (x[1:] - x[:-1] ** 2)
    return g


def quadratic(x):
    return float(np.sum((np.arange(1, x.size + 1) * (x - 0.5)) ** 2))


def quadratic_der(x):
    return 2 * np.arange(1, x.size + 1) ** 2 * (x - 0.5)


@pytest.mark.parametrize("method", GRADIENT_METHODS)
def test_gradient_methods_against_scipy(method):
    scipy_opt = pytest.importorskip("scipy.optimize", reason="scipy (python3-scipy) is not installed")
    fun, jac, x0 = (rosen, rosen_der, [-1.2, 1.0]) if method.startswith(("LBFGS", "Hessian")) else \
        (quadratic, quadratic_der, [2.0, -1.0, 0.0])
    ref = scipy_opt.minimize(fun, x0, jac=jac, method="L-BFGS-B", options={"gtol": 1e-10, "ftol": 1e-15})
    r = descent.minimize(fun, x0, jac=jac, method=method, options={"maxiter": 20000, "gtol": 1e-7})
    assert r.success, r.message
    assert r.status == 1 and r.message == "gtol"
    assert np.allclose(r.x, ref.x, atol=1e-5), (r.x, ref.x)
    assert r.fun == pytest.approx(ref.fun, abs=1e-9)
    assert r.nit > 0 and r.nfev >= r.nit and r.jac.shape == (len(x0),)
    assert np.max(np.abs(r.jac)) <= 1e-7


def test_jac_true_and_finite_differences():
    def both(x):
        return rosen(x), rosen_der(x)
    r1 = descent.minimize(both, [-1.2, 1.0], jac=True, options={"gtol": 1e-9})
    r2 = descent.minimize(rosen, [-1.2, 1.0], options={"gtol": 1e-6})
    assert np.allclose(r1.x, [1, 1], atol=1e-8)
    assert np.allclose(r2.x, [1, 1], atol=1e-4)


def test_owlqn_l1():
    # min (x - 2)^2 + (y + 0.1)^2 + |x| + |y|: soft thresholding gives x = 1.5, y = 0.
    f = lambda x: float((x[0] - 2) ** 2 + (x[1] + 0.1) ** 2)  # noqa: E731
    g = lambda x: np.array([2 * (x[0] - 2), 2 * (x[1] + 0.1)])  # noqa: E731
    r = descent.minimize(f, [0.3, 0.3], jac=g, method="LBFGS", options={"l1": 1.0, "gtol": 1e-10})
    assert np.allclose(r.x, [1.5, 0.0], atol=1e-8), r.x


@pytest.mark.parametrize("method", ["CMAES", "DE", "PSO", "GA"])
def test_population_methods_in_minimize(method):
    target = 1e-4 if method == "GA" else 1e-8  # GA is slow to the last digits
    r = descent.minimize(lambda x: float(np.sum(x ** 2)), [1.0, -2.0, 0.5], method=method,
                         bounds=[(-5, 5)] * 3, options={"f_target": target, "maxiter": 5000, "seed": 3})
    assert r.success and r.message == "f_target", r
    assert r.fun <= target and r.jac is None


@pytest.mark.parametrize("cls,kw", [(descent.CMAES, dict(sigma0=0.5)), (descent.DE, {}), (descent.PSO, {}),
                                    (descent.GA, dict(maxiter=150))])
def test_ask_tell_sphere_and_rosenbrock(cls, kw):
    for f, x0, target in ((lambda x: float(np.sum(x ** 2)), [1.0, 2.0, -1.0, 0.5], 1e-8),
                          (rosen, [-1.2, 1.0], 1e-6)):
        es = cls(x0, seed=1, ftarget=target, bounds=[-5, 5], **kw)
        while not es.stop():
            X = es.ask()
            es.tell(X, [f(x) for x in X])
        if cls is descent.GA:
            assert es.result.fun < 1e-2  # GA is slow to the last digits; it must still get close
        else:
            assert es.result.fun <= target, (cls, es.result)
            assert "ftarget" in es.stop()
        assert es.result.evaluations >= es.iterations > 0


def test_cmaes_pycma_loop_stops_on_tolfun():
    es = descent.CMAES([3.0] * 4, 1.0, seed=2)
    while not es.stop():
        X = es.ask()
        es.tell(X, [float(np.sum(x ** 2)) for x in X])
    assert "tolfun" in es.stop()
    assert es.result.fun < 1e-9 and np.allclose(es.result.x, 0, atol=1e-4)


def test_exceptions_propagate():
    class Boom(Exception):
        pass

    for method in ("LBFGS", "Adam(lr=0.1)", "CMAES", "HessianFree"):
        calls = []

        def bad(x):
            calls.append(1)
            if len(calls) == 5:
                raise Boom("from the objective")
            return rosen(x)
        with pytest.raises(Boom, match="from the objective"):
            descent.minimize(bad, [-1.2, 1.0], jac=rosen_der, method=method)
        assert len(calls) == 5  # nothing called after the exception

    def stop_cb(xk):
        raise Boom("from the callback")
    with pytest.raises(Boom, match="from the callback"):
        descent.minimize(rosen, [-1.2, 1.0], jac=rosen_der, callback=stop_cb)
    calls = []
    r = descent.minimize(rosen, [-1.2, 1.0], jac=rosen_der, callback=lambda xk: calls.append(xk) or len(calls) >= 3)
    assert len(calls) == 3 and r.message == "cancelled" and not r.success
    es = descent.CMAES([1.0, 1.0], 0.5)

    def f(x):
        raise Boom("in optimize")
    with pytest.raises(Boom):
        es.optimize(f)


def test_errors():
    with pytest.raises(descent.DescentError, match="Nope"):
        descent.minimize(rosen, [1.0, 2.0], method="Nope")
    with pytest.raises(descent.DescentError, match="lr"):
        descent.minimize(rosen, [1.0, 2.0], method="Adam", options={"lr": -1})
    es = descent.CMAES([1.0, 1.0], 0.5)
    with pytest.raises(descent.DescentError):
        es.tell([], [])
    X = es.ask()
    with pytest.raises(ValueError, match="solutions of the last ask"):
        es.tell(X[:-1], [0.0] * (len(X) - 1))
    with pytest.raises(descent.DescentError):
        descent.CMAES([1.0, 1.0], -1.0)


def _rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc to read the resident set size")
def test_no_leaks_over_1e5_calls():
    """10^5 library calls through each path (objective callbacks, ask/tell, create/destroy) leave the
    resident set where a warm-up left it."""
    es = descent.CMAES([1.0] * 3, 0.5, seed=1)

    def cycle(n):
        nonlocal es
        for _ in range(n // 1000):  # create, run with callbacks, destroy
            descent.minimize(quadratic, [1.0, 2.0], jac=quadratic_der, method="Adam(lr=0.1)",
                             options={"maxiter": 3, "gtol": 0})
        for _ in range(n // 4):  # size, ask twice, tell: four library calls
            X = es.ask()
            es.tell(X, [1.0] * len(X))
            if es.iterations % 100 == 0:
                es = descent.CMAES([1.0] * 3, 0.5, seed=1)
    import gc
    cycle(20000)
    gc.collect()
    before = _rss_kib()
    cycle(100000)
    gc.collect()
    grown = _rss_kib() - before
    assert grown < 2048, "resident set grew by %d KiB over 10^5 calls" % grown
