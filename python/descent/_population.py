"""Population methods in pycma's ask/tell loop:

    es = descent.CMAES(x0, 0.5, seed=1)
    while not es.stop():
        X = es.ask()
        es.tell(X, [f(x) for x in X])
    es.result.x, es.result.fun
"""
import ctypes
import math
from collections import namedtuple

import numpy as np

from . import _lib
from ._lib import lib, text, DescentError
from ._minimize import spec_of

Result = namedtuple("Result", "x fun xbest fbest evaluations iterations stop")


class Population:
    """A libdescent population method (CMA-ES, DE, PSO, GA) stepped by ask and tell.

    Method arguments are the library's (docs/global.md), e.g. popsize, seed, restarts; bounds=[lo, hi]
    (numbers or lists) sets box bounds. Stopping options, pycma's names: maxfevals, maxiter
    (default 100 + 150 (n + 3)^2 / sqrt(popsize)), ftarget, tolfun (1e-11: the range of the last
    generation's values and of the best values of the last 10 + 30 n / popsize generations).
    """

    method = None

    def __init__(self, x0, bounds=None, maxfevals=math.inf, maxiter=None, ftarget=-math.inf, tolfun=1e-11,
                 **options):
        self.x0 = np.array(x0, dtype=np.float64).ravel().copy()
        self.n = n = self.x0.size
        self._h = None
        self.spec = spec_of(self.method, options)
        h = ctypes.c_void_p()
        err = _lib.Error()
        _lib.check_err(lib.descent_population_create(ctypes.byref(h), self.spec.encode(), n, ctypes.byref(err)), err)
        self._h = h
        self._check(lib.descent_population_set_x0(h, self.x0.ctypes.data_as(_lib.c_double_p)))
        if bounds is not None:
            lo = np.broadcast_to(np.asarray(bounds[0], dtype=float), (n,)).copy()
            hi = np.broadcast_to(np.asarray(bounds[1], dtype=float), (n,)).copy()
            self._check(lib.descent_population_set_bounds(h, lo.ctypes.data_as(_lib.c_double_p),
                                                          hi.ctypes.data_as(_lib.c_double_p)))
            self._bounds = (lo, hi)
        lam = self.popsize
        self.opts = dict(maxfevals=maxfevals, ftarget=ftarget, tolfun=tolfun,
                         maxiter=maxiter if maxiter is not None else 100 + 150 * (n + 3) ** 2 / math.sqrt(lam))
        self._asked = None
        self._history = []
        self._last = None

    def _check(self, rc):
        if rc < 0:
            raise DescentError(text(lib.descent_population_errmsg(self._h)), rc)
        return rc

    def __del__(self):
        if getattr(self, "_h", None):
            lib.descent_population_destroy(self._h)
            self._h = None

    @property
    def popsize(self):
        return int(lib.descent_population_size(self._h))

    def ask(self):
        """The next generation's candidates, a list of numpy arrays (asking again before tell is an error)."""
        lam = ctypes.c_size_t()
        self._check(lib.descent_population_ask(self._h, None, ctypes.byref(lam)))
        out = np.empty((lam.value, self.n))
        self._check(lib.descent_population_ask(self._h, out.ctypes.data_as(_lib.c_double_p), ctypes.byref(lam)))
        self._asked = out
        return [row.copy() for row in out]

    def tell(self, solutions, function_values):
        """The objective's values of the candidates of the last ask, in order."""
        if self._asked is None:
            raise DescentError("tell() without a pending ask()", -4)
        f = np.array([float(v) for v in function_values], dtype=np.float64)
        if len(solutions) != len(self._asked) or f.size != len(self._asked):
            raise ValueError("tell() needs the %d solutions of the last ask and one value each, got %d and %d"
                             % (len(self._asked), len(solutions), f.size))
        self._check(lib.descent_population_tell(self._h, f.ctypes.data_as(_lib.c_double_p)))
        self._asked = None
        finite = f[np.isfinite(f)]
        self._last = (finite.min() - 0.0, finite.max()) if finite.size else (math.inf, math.inf)
        self._history.append(self._last[0])

    def stop(self):
        """The stopping conditions met, as a dict (empty, hence false, while none is)."""
        out = {}
        o = self.opts
        if self.evaluations >= o["maxfevals"]:
            out["maxfevals"] = o["maxfevals"]
        if self.iterations >= o["maxiter"]:
            out["maxiter"] = o["maxiter"]
        if self.best_f <= o["ftarget"]:
            out["ftarget"] = o["ftarget"]
        k = 10 + int(math.ceil(30 * self.n / self.popsize))
        if self._last is not None and len(self._history) >= k:
            hist = self._history[-k:]
            spread = max(self._last[1], max(hist)) - min(self._last[0], min(hist))
            if spread <= o["tolfun"]:
                out["tolfun"] = o["tolfun"]
        return out

    def optimize(self, f, iterations=None):
        """Run the ask/tell loop on f until stop() (or for `iterations` generations); returns self."""
        i = 0
        while not self.stop() and (iterations is None or i < iterations):
            X = self.ask()
            self.tell(X, [f(x) for x in X])
            i += 1
        return self

    @property
    def best_f(self):
        return lib.descent_population_best(self._h, None)

    @property
    def best_x(self):
        x = np.empty(self.n)
        lib.descent_population_best(self._h, x.ctypes.data_as(_lib.c_double_p))
        return x

    @property
    def evaluations(self):
        return int(lib.descent_population_evaluations(self._h))

    @property
    def iterations(self):
        return int(lib.descent_population_generation(self._h))

    @property
    def result(self):
        x, f = self.best_x, self.best_f
        return Result(x=x, fun=f, xbest=x, fbest=f, evaluations=self.evaluations, iterations=self.iterations,
                      stop=self.stop())


class CMAES(Population):
    """Hansen's CMA-ES: CMAES(x0, sigma0, **options); options as Population, plus popsize, seed, restarts."""

    method = "CMAES"

    def __init__(self, x0, sigma0, **options):
        super().__init__(x0, sigma0=float(sigma0), **options)


class DE(Population):
    """Differential evolution: DE(x0, F=0.8, CR=0.9, strategy='rand1bin', popsize, seed, init_range, bounds)."""
    method = "DE"


class PSO(Population):
    """Global-best particle swarm: PSO(x0, popsize=40, inertia, c1, c2, seed, init_range, bounds)."""
    method = "PSO"


class GA(Population):
    """Real-coded genetic algorithm (SBX, polynomial mutation): GA(x0, popsize=100, seed, init_range, bounds)."""
    method = "GA"
