"""descent.minimize: scipy.optimize.minimize's call shape over every minimizer of libdescent."""
import ctypes
import math

import numpy as np

from . import _lib
from ._lib import lib, text, DescentError

# scipy-style option names -> the library's stopping settings.
_SETTINGS = {"maxiter": "max_iter", "max_iter": "max_iter", "maxfev": "max_evals", "max_evals": "max_evals",
             "gtol": "gtol", "ftol": "ftol_rel", "ftol_rel": "ftol_rel", "xtol": "xtol_rel",
             "xtol_rel": "xtol_rel", "f_target": "f_target", "max_time": "max_seconds", "max_seconds": "max_seconds"}
_POPULATION = ("CMAES", "DE", "PSO", "GA")
_CONVERGED = (1, 2, 3, 4)  # gtol, ftol, xtol, f_target


class OptimizeResult(dict):
    """scipy.optimize.OptimizeResult's shape: a dict whose keys are also attributes
    (x, fun, jac, nit, nfev, status, message, success)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name)

    __setattr__ = dict.__setitem__

    def __repr__(self):
        return "\n".join("%10s: %r" % (k, v) for k, v in self.items())


def _fmt(v):
    if isinstance(v, bool):
        return "True" if v else "False"
    if v is None:
        return "None"
    if isinstance(v, str):
        return "'%s'" % v
    if isinstance(v, (list, tuple, np.ndarray)):
        return "[" + ", ".join(_fmt(float(u)) for u in v) + "]"
    return repr(float(v)) if isinstance(v, float) else str(v)


def spec_of(method, options):
    """A spec string from a method name (or a whole spec) and keyword arguments."""
    if not options:
        return method if "(" in method else method + "()"
    args = ", ".join("%s=%s" % (k, _fmt(v)) for k, v in options.items())
    if "(" in method:
        head = method.rstrip()[:-1].rstrip()
        return head + (", " if not head.endswith("(") else "") + args + ")"
    return "%s(%s)" % (method, args)


class _Objective:
    """The C objective over a Python function; an exception stops the run and is re-raised."""

    def __init__(self, fun, jac, args, n, needs_grad):
        self.fun, self.jac, self.args, self.n = fun, jac, args, n
        self.error = None
        self.needs_grad = needs_grad
        self.cfunc = _lib.OBJECTIVE_FN(self._call)

    def value_and_grad(self, x, want_grad):
        if self.jac is True:
            f, g = self.fun(x, *self.args)
            return float(f), (np.asarray(g, dtype=float) if want_grad else None)
        f = float(self.fun(x, *self.args))
        if not want_grad:
            return f, None
        if callable(self.jac):
            return f, np.asarray(self.jac(x, *self.args), dtype=float)
        # Central differences, h = eps^(1/3) max(1, |x_i|) (Nocedal & Wright, sec. 8.1).
        g = np.empty(self.n)
        for i in range(self.n):
            h = 6.0554544523933395e-06 * max(1.0, abs(x[i]))
            xp, xm = x.copy(), x.copy()
            xp[i] += h
            xm[i] -= h
            g[i] = (float(self.fun(xp, *self.args)) - float(self.fun(xm, *self.args))) / (2 * h)
        return f, g

    def _call(self, ctx, x_ptr, g_ptr, n):
        if self.error is not None:
            return math.nan
        try:
            x = np.ctypeslib.as_array(x_ptr, (n,)).copy()
            f, g = self.value_and_grad(x, bool(g_ptr))
            if g_ptr:
                if g.shape != (n,):
                    raise ValueError("jac returned shape %s, expected (%d,)" % (g.shape, n))
                np.ctypeslib.as_array(g_ptr, (n,))[:] = g
            return f
        except BaseException as e:  # noqa: B902 - re-raised by minimize()
            self.error = e
            return math.nan


def minimize(fun, x0, args=(), jac=None, method="LBFGS", bounds=None, callback=None, options=None):
    """Minimize fun(x, *args) from x0 with a libdescent minimizer.

    method: "LBFGS", "HessianFree", "NAG", any optimizer ("Adam", "SGD", ...), a population method
    ("CMAES", "DE", "PSO", "GA"), or a whole spec string such as "Adam(lr=0.01)".
    jac: a function returning the gradient, True when fun returns (f, gradient), or None for central
    differences (population methods use no gradient).
    bounds: [(lo, hi)] * n, for the population methods.
    options: stopping criteria (maxiter, maxfev, gtol, ftol, xtol, f_target, max_time; the library's
    defaults otherwise: maxiter 1000, gtol 1e-5) and the method's own arguments (e.g. history_size,
    sigma0, popsize, seed, lr).
    callback(xk) is called after each iteration; returning True stops the run.
    Returns an OptimizeResult with x, fun, jac, nit, nfev, status, message, success.
    """
    x = np.array(x0, dtype=np.float64).ravel().copy()
    n = x.size
    options = dict(options or {})
    settings = _lib.MinimizeSettings()
    lib.descent_minimize_default_settings_sized(ctypes.byref(settings), ctypes.sizeof(settings))
    for k in list(options):
        if k in _SETTINGS:
            v = options.pop(k)
            setattr(settings, _SETTINGS[k], v if v is not None else 0)
    schedule = options.pop("schedule", None)
    name = method.split("(")[0].strip()
    population = name in _POPULATION
    if bounds is not None:
        b = np.asarray(bounds, dtype=float)
        options["lower"], options["upper"] = list(b[:, 0]), list(b[:, 1])
    if population and name == "CMAES" and "sigma0" not in options and "(" not in method:
        pass  # the library's default sigma0
    spec = spec_of(method, options)
    h = ctypes.c_void_p()
    err = _lib.Error()
    _lib.check_err(lib.descent_minimizer_create(ctypes.byref(h), spec.encode(), n, ctypes.byref(err)), err)
    obj = _Objective(fun, jac, tuple(args), n, not population)
    cancel = {"user": False}

    def progress(ctx, p):
        if obj.error is not None:
            return 1
        if callback is not None and p.contents.iteration > 0:
            try:
                if callback(np.ctypeslib.as_array(p.contents.x, (n,)).copy()):
                    cancel["user"] = True
                    return 1
            except BaseException as e:  # noqa: B902
                obj.error = e
                return 1
        return 0

    pfn = _lib.PROGRESS_FN(progress)
    settings.progress = pfn
    try:
        if schedule:
            rc = lib.descent_minimizer_set_schedule(h, schedule.encode())
            if rc < 0:
                raise DescentError(text(lib.descent_minimizer_errmsg(h)), rc)
        res = _lib.MinimizeResult()
        xp = x.ctypes.data_as(_lib.c_double_p)
        rc = lib.descent_minimizer_run(h, obj.cfunc, None, xp, ctypes.byref(settings), ctypes.byref(res))
        if obj.error is not None:
            raise obj.error
        msg = text(lib.descent_minimizer_errmsg(h)) if rc < 0 else text(lib.descent_stop_name(rc))
        if rc < 0 and rc not in (-4, -7):  # a stall (STATE) or non-finite f is a result; others are errors
            raise DescentError(msg or text(lib.descent_strerror(rc)), rc)
    finally:
        lib.descent_minimizer_destroy(h)
    g = None
    if not population:
        try:
            _, g = obj.value_and_grad(x.copy(), True)
        except BaseException:
            g = None
    return OptimizeResult(x=x, fun=res.f, jac=g, nit=int(res.iterations), nfev=int(res.evaluations), status=rc,
                          message=msg or text(lib.descent_stop_name(rc)), success=rc in _CONVERGED,
                          grad_norm=res.grad_norm, method=spec)
