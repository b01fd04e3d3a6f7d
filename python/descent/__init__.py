"""descent for Python: torch.optim drop-ins, scipy-style minimize and pycma-style ask/tell,
over the descent C library through ctypes.

    import descent
    descent.optim.AdamW(model.parameters(), lr=3e-4)          # needs torch
    descent.minimize(fun, x0, jac=grad, method="LBFGS")        # needs numpy
    es = descent.CMAES(x0, 0.5)                                # needs numpy

The library is found through $DESCENT_LIBRARY, then the checkout's build/,
then the installed libdescent (docs/python.md).
"""
from ._lib import DescentError, version

__version__ = "0.1.0"


def __getattr__(name):
    # Submodules load on first use, so `import descent` needs neither torch nor numpy.
    import importlib
    if name in ("optim", "lr_scheduler"):
        return importlib.import_module("." + name, __name__)
    if name in ("minimize", "OptimizeResult"):
        return getattr(importlib.import_module("._minimize", __name__), name)
    if name in ("CMAES", "DE", "PSO", "GA", "Population"):
        return getattr(importlib.import_module("._population", __name__), name)
    raise AttributeError("module 'descent' has no attribute %r" % name)


__all__ = ["DescentError", "version", "optim", "lr_scheduler", "minimize", "OptimizeResult",
           "CMAES", "DE", "PSO", "GA"]
