"""descent's learning-rate schedules as torch lr schedulers, for any torch optimizer:

    from descent.lr_scheduler import from_spec, LinearWarmup, LambdaLR
    sched = from_spec(opt, "LinearWarmup(warmup_period=100, schedule=CosineAnnealingLR(T_max=1000))")
    sched = LinearWarmup(opt, warmup_period=100, schedule="CosineAnnealingLR(T_max=1000)")
    sched = LambdaLR(opt, lambda t: min(1.0, (t + 1) / 100))   # the function through a C callback
    ... opt.step(); sched.step()

The schedule runs in libdescent (every schedule of torch.optim.lr_scheduler by its spec, plus the
warmups); before the first step it sets each group's lr as torch's constructors do, and each
step() writes the next lr (and, for cyclic schedules, momentum or betas[0]) into param_groups.
"""
import ctypes
import math

from . import _lib
from ._lib import lib, text, DescentError

try:
    import torch
    _Base = torch.optim.lr_scheduler._LRScheduler
except ImportError:
    torch = None
    _Base = object


def _check(rc, h):
    if rc < 0:
        raise DescentError(text(lib.descent_errmsg(h)) or text(lib.descent_strerror(rc)), rc)
    return rc


class Schedule(_Base):
    """A descent schedule given by its spec string, as a torch LR scheduler of `optimizer`."""

    def __init__(self, optimizer, spec, last_epoch=-1, verbose=False):
        if torch is None:
            raise ImportError("descent.lr_scheduler needs torch (python3-torch)")
        self.spec = spec
        self._h = None
        h = ctypes.c_void_p()
        err = _lib.Error()
        # A stand-in optimizer holds the groups' lr and momentum (Adam's betas for optimizers with
        # betas, which the untuned warmups read); the schedule drives it, and step() copies its values.
        adam = "betas" in optimizer.param_groups[0]
        self._mname = "betas[0]" if adam else "momentum"
        _lib.check_err(lib.descent_create_from_spec(ctypes.byref(h), b"Adam()" if adam else b"SGD()", None,
                                                    ctypes.byref(err)), err)
        self._h = h
        self._momentum_key = []
        for group in optimizer.param_groups:
            g = _check(lib.descent_add_group(h, None), h)
            lr = group.get("initial_lr", group["lr"])  # torch: setdefault('initial_lr', lr), base_lrs from it
            _check(lib.descent_set(h, g, b"lr", float(lr)), h)
            key = "momentum" if "momentum" in group else "betas" if "betas" in group else None
            if adam and key == "betas":
                _check(lib.descent_set(h, g, b"betas[0]", float(group["betas"][0])), h)
                _check(lib.descent_set(h, g, b"betas[1]", float(group["betas"][1])), h)
            elif not adam and key == "momentum":
                _check(lib.descent_set(h, g, b"momentum", float(group["momentum"])), h)
            else:
                key = None
            self._momentum_key.append(key)
        self._attach(h, spec)
        self._momenta = [self._get(g, self._mname) for g in range(len(optimizer.param_groups))]
        super().__init__(optimizer, last_epoch, verbose)

    def _attach(self, h, spec):
        _check(lib.descent_set_schedule(h, spec.encode()), h)

    def __del__(self):
        if getattr(self, "_h", None):
            lib.descent_destroy(self._h)
            self._h = None

    def _get(self, g, name):
        v = ctypes.c_double()
        _check(lib.descent_get(self._h, g, name.encode(), ctypes.byref(v)), self._h)
        return v.value

    @property
    def needs_metric(self):
        """True when the schedule reads a metric (ReduceLROnPlateau inside): pass it to step()."""
        return bool(lib.descent_schedule_needs_metric(self._h))

    def get_lr(self):
        return [self._get(g, "lr") for g in range(len(self.optimizer.param_groups))]

    def step(self, metrics=None, epoch=None):
        if epoch is not None:
            raise ValueError("descent schedules step one at a time; epoch= is not supported")
        self._step_count = getattr(self, "_step_count", 0) + 1
        self.last_epoch += 1
        if self.last_epoch > 0:
            if metrics is None and self.needs_metric:
                raise ValueError("this schedule (%s) reads a metric: call step(metric)" % self.spec)
            m = float(metrics) if metrics is not None else math.nan
            _check(lib.descent_schedule_step(self._h, m), self._h)
        for g, group in enumerate(self.optimizer.param_groups):
            group["lr"] = self._get(g, "lr")
            key = self._momentum_key[g]
            m = self._get(g, self._mname)
            if key and m != self._momenta[g]:
                group[key] = m if key == "momentum" else (m,) + tuple(group[key][1:])
            self._momenta[g] = m
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self):
        size = ctypes.c_size_t()
        _check(lib.descent_save_mem(self._h, None, 0, ctypes.byref(size)), self._h)
        buf = ctypes.create_string_buffer(size.value)
        _check(lib.descent_save_mem(self._h, buf, size.value, ctypes.byref(size)), self._h)
        return {"spec": self.spec, "last_epoch": self.last_epoch, "_step_count": self._step_count,
                "base_lrs": list(self.base_lrs), "_last_lr": list(self._last_lr), "_momenta": list(self._momenta),
                "descent": bytes(buf.raw[:size.value])}

    def load_state_dict(self, state_dict):
        if state_dict.get("spec") != self.spec:
            raise ValueError("state_dict is of schedule %r, this is %r" % (state_dict.get("spec"), self.spec))
        data = state_dict["descent"]
        _check(lib.descent_load_mem(self._h, data, len(data)), self._h)
        for k in ("last_epoch", "_step_count", "base_lrs", "_last_lr", "_momenta"):
            setattr(self, k, state_dict[k])


def from_spec(optimizer, spec, last_epoch=-1):
    """A descent schedule from its spec string, e.g.
    "LinearWarmup(warmup_period=100, schedule=CosineAnnealingLR(T_max=1000))"."""
    return Schedule(optimizer, spec, last_epoch)


def _arg(k, v):
    if isinstance(v, str) and k in ("schedule", "schedulers"):
        return "%s=%s" % (k, v)  # a nested spec
    if isinstance(v, (list, tuple)) and k == "schedulers":
        return "%s=[%s]" % (k, ", ".join(v))
    if isinstance(v, str):
        return "%s='%s'" % (k, v)
    if isinstance(v, bool) or v is None:
        return "%s=%s" % (k, v)
    if isinstance(v, (list, tuple)):
        return "%s=[%s]" % (k, ", ".join(repr(x) for x in v))
    return "%s=%r" % (k, v)


def _named(name, doc):
    def __init__(self, optimizer, last_epoch=-1, **kwargs):
        Schedule.__init__(self, optimizer, "%s(%s)" % (name, ", ".join(_arg(k, v) for k, v in kwargs.items())),
                          last_epoch)
    return type(name, (Schedule,), {"__init__": __init__, "__doc__": doc, "__module__": __name__})


LinearWarmup = _named("LinearWarmup", "Linear warmup over warmup_period steps around `schedule` (a spec string).")
ExponentialWarmup = _named("ExponentialWarmup", "Exponential warmup (warmup_period) around `schedule`.")
UntunedLinearWarmup = _named("UntunedLinearWarmup", "Ma & Yarats' untuned linear warmup (2 / (1 - beta2) steps).")
UntunedExponentialWarmup = _named("UntunedExponentialWarmup", "Ma & Yarats' untuned exponential warmup.")
GradualWarmup = _named("GradualWarmup", "Goyal et al.'s gradual warmup (multiplier, total_epoch, after).")


# double (*descent_lr_lambda)(int64_t step, void *user_data)
LR_LAMBDA = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_int64, ctypes.c_void_p)


class _Callback(ctypes.Structure):  # descent_lr_callback
    _fields_ = [("fn", LR_LAMBDA), ("user_data", ctypes.c_void_p)]


lib.descent_set_schedule_callbacks.restype = ctypes.c_int
lib.descent_set_schedule_callbacks.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(_Callback),
                                               ctypes.c_int]


class _CallbackSchedule(Schedule):
    """torch's LambdaLR / MultiplicativeLR run by libdescent, lr_lambda called through a C callback
    (descent_set_schedule_callbacks): lr_lambda is a function of the step, or a list of one per group.
    The function must return a finite number >= 0 (torch accepts any number; here NaN, inf or a
    negative value raises and leaves the lr as it was). An exception raised by the function is
    raised again from the constructor or step()."""

    _kind = None

    def __init__(self, optimizer, lr_lambda, last_epoch=-1, verbose=False):
        n = len(optimizer.param_groups)
        if isinstance(lr_lambda, (list, tuple)):
            if len(lr_lambda) != n:
                raise ValueError("Expected {} lr_lambdas, but got {}".format(n, len(lr_lambda)))
            fns = list(lr_lambda)
        else:
            fns = [lr_lambda] * n
        self.lr_lambdas = fns
        self._pending = None
        # The CFUNCTYPE objects and the table must outlive every call the library makes:
        # kept on self for the life of the schedule.
        self._cfuncs = [LR_LAMBDA(self._wrap(f)) for f in fns]
        self._table = (_Callback * n)(*[_Callback(c, None) for c in self._cfuncs])
        spec = "%s(lr_lambda=[%s])" % (self._kind, ", ".join(str(g) for g in range(n)))
        try:
            Schedule.__init__(self, optimizer, spec, last_epoch, verbose)
        except DescentError:
            self._reraise()
            raise

    def _wrap(self, f):
        def call(step, _user_data):
            try:
                return float(f(step))
            except BaseException as e:  # noqa: B902 - handed back to Python after the C call
                self._pending = e
                return math.nan
        return call

    def _reraise(self):
        e, self._pending = self._pending, None
        if e is not None:
            raise e

    def _attach(self, h, spec):
        _check(lib.descent_set_schedule_callbacks(h, spec.encode(), self._table, len(self._cfuncs)), h)

    def step(self, metrics=None, epoch=None):
        try:
            Schedule.step(self, metrics, epoch)
        except DescentError:
            self._reraise()
            raise


class LambdaLR(_CallbackSchedule):
    """torch.optim.lr_scheduler.LambdaLR: lr = initial_lr * lr_lambda(t)."""
    _kind = "LambdaLR"


class MultiplicativeLR(_CallbackSchedule):
    """torch.optim.lr_scheduler.MultiplicativeLR: lr_t = lr_{t-1} * lr_lambda(t) for t > 0."""
    _kind = "MultiplicativeLR"


__all__ = ["Schedule", "from_spec", "LinearWarmup", "ExponentialWarmup", "UntunedLinearWarmup",
           "UntunedExponentialWarmup", "GradualWarmup", "LambdaLR", "MultiplicativeLR"]
