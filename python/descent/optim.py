"""descent's optimizers as torch.optim optimizers.

    import descent.optim
    opt = descent.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=1000)
    for x, y in data:
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
        sched.step()

Each class takes torch.optim's arguments (names and defaults) and updates CPU
tensors (float32, float64, bfloat16; contiguous) in place through their data
pointers. The values in param_groups are pushed to the library before each
step, so torch's lr schedulers work unchanged; state_dict() and
load_state_dict() use torch's layout. docs/python.md has the details.
"""
import ctypes
import inspect
import math
import weakref

from . import _lib
from ._lib import lib, DescentError, text

try:
    import torch
    _TorchOptimizer = torch.optim.Optimizer
except ImportError:  # descent.optim needs torch; the rest of the package does not
    torch = None
    _TorchOptimizer = object

# Arguments the library may know, and how to read and write them.
_BOOLS = {"nesterov", "maximize", "amsgrad", "centered", "rectify", "degenerated_to_sgd", "decoupled_weight_decay"}
_CHOICES = {"momentum_form": ["torch", "ewma", "accumulate", "direct"]}
_INTS = {"state_bits"}
_CANDIDATES = ["lr", "momentum", "dampening", "weight_decay", "betas", "eps", "eps_root", "alpha", "rho", "lr_decay",
               "initial_accumulator_value", "momentum_decay", "nesterov", "maximize", "amsgrad", "centered",
               "momentum_form", "etas", "step_sizes", "lambd", "t0", "learning_rate_power",
               "l1_regularization_strength", "l2_regularization_strength", "l2_shrinkage_regularization_strength",
               "beta", "beta2_decay", "d", "warmup_steps", "weight_lr_power", "rectify", "degenerated_to_sgd",
               "b1", "b2", "decoupled_weight_decay", "state_bits"]
# torch arguments that only pick an implementation: accepted, they change nothing.
_TORCH_ONLY = {"foreach": None, "fused": None, "capturable": False, "differentiable": False}
_NONFINITE = {"propagate": 0, "skip": 1, "error": 2, "report": 3}
_BF16 = {"nearest": 0, "stochastic": 1, "master": 2}


def _check(rc, h):
    if rc < 0:
        raise DescentError(text(lib.descent_errmsg(h)) or text(lib.descent_strerror(rc)), rc)
    return rc


def _create(spec):
    h = ctypes.c_void_p()
    err = _lib.Error()
    _lib.check_err(lib.descent_create_from_spec(ctypes.byref(h), spec.encode(), None, ctypes.byref(err)), err)
    return h


def _probe(name):
    """The arguments the library accepts for optimizer `name`, with their defaults, in order."""
    h = _create(name + "()")
    try:
        lib.descent_add_group(h, None)
        out = {}
        v, w = ctypes.c_double(), ctypes.c_double()
        for c in _CANDIDATES:
            if lib.descent_get(h, 0, (c + "[0]").encode(), ctypes.byref(v)) == 0:
                lib.descent_get(h, 0, (c + "[1]").encode(), ctypes.byref(w))
                out[c] = tuple(None if math.isnan(x) else x for x in (v.value, w.value))
            elif lib.descent_get(h, 0, c.encode(), ctypes.byref(v)) == 0:
                out[c] = _from_lib(c, v.value)
        return out
    finally:
        lib.descent_destroy(h)


def _from_lib(name, x):
    if name in _BOOLS:
        return bool(x)
    if name in _CHOICES:
        return _CHOICES[name][int(x)]
    if name in _INTS:
        return int(x)
    return x


def _to_lib(name, value):
    """(library name, float) pairs for one argument value."""
    if isinstance(value, (tuple, list)):
        return [("%s[%d]" % (name, i), math.nan if v is None else float(v)) for i, v in enumerate(value)]
    if name in _CHOICES:
        if value not in _CHOICES[name]:
            raise ValueError("%s must be one of %s, got %r" % (name, ", ".join(map(repr, _CHOICES[name])), value))
        return [(name, float(_CHOICES[name].index(value)))]
    if torch is not None and isinstance(value, torch.Tensor):
        value = value.item()
    return [(name, float(value))]


def _dtype_code(t):
    if t.dtype == torch.float32:
        return _lib.F32
    if t.dtype == torch.float64:
        return _lib.F64
    if t.dtype == torch.bfloat16:
        return _lib.BF16
    raise TypeError("descent.optim steps float32, float64 and bfloat16 tensors, got %s" % t.dtype)


def _check_param(p, what="parameter"):
    if not isinstance(p, torch.Tensor):
        raise TypeError("descent.optim: a %s must be a torch.Tensor, got %s" % (what, type(p).__name__))
    if p.device.type != "cpu":
        raise ValueError("descent.optim steps CPU tensors in place; this %s is on %s (use torch.optim for it)"
                         % (what, p.device))
    if p.is_sparse:
        raise ValueError("descent.optim: sparse %s is not supported" % what)
    if not p.is_contiguous():
        raise ValueError("descent.optim: the %s of shape %s is not contiguous (call .contiguous() on it "
                         "before creating the optimizer)" % (what, tuple(p.shape)))
    if p.numel() == 0:
        raise ValueError("descent.optim: the %s has no elements" % what)
    return _dtype_code(p)


_STORAGE = {_lib.F32: (ctypes.c_float, "float32"), _lib.F64: (ctypes.c_double, "float64")}


class Optimizer(_TorchOptimizer):
    """Base of descent's optimizers: a torch.optim.Optimizer whose step runs in libdescent.

    Optimizer-wide extras (keyword arguments): nonfinite ('propagate', 'skip', 'error', 'report'),
    threads (step threads, results identical for any count), bf16_rounding ('nearest', 'stochastic',
    'master') and bf16_seed. Per-group extras are the library's hyperparameters, e.g. state_bits=8,
    eps_root, momentum_form.
    """

    _name = None        # the library's name
    _lib_args = {}      # library arguments and defaults
    _torch_args = {}    # torch's other arguments (implementation choices) and defaults
    _positional = []    # argument order after params, as torch takes them

    def __init__(self, params, *args, nonfinite="propagate", threads=1, bf16_rounding="nearest", bf16_seed=0,
                 **kwargs):
        if torch is None:
            raise ImportError("descent.optim needs torch (python3-torch); descent.minimize and descent.CMAES do not")
        if len(args) > len(self._positional):
            raise TypeError("%s takes at most %d positional arguments after params"
                            % (self._name, len(self._positional)))
        for k, v in zip(self._positional, args):
            if k in kwargs:
                raise TypeError("%s got multiple values for argument %r" % (self._name, k))
            kwargs[k] = v
        defaults = dict(self._lib_args)
        defaults.update(self._torch_args)
        for k in kwargs:
            if k not in defaults:
                raise TypeError("%s has no argument %r (it takes %s)" % (self._name, k, ", ".join(defaults)))
        defaults.update(kwargs)
        self._check_torch_only(defaults)
        self._h = None
        self._h = _create(self._name + "()")
        self._params = []       # registration order = tensor index = state_dict index
        self._ptrs = []         # (param pointer, grad pointer) last given to the library
        self._pushed = []       # per group: {lib name: value} last pushed
        self._zeros = {}
        self.last_step_nonfinite = False
        if nonfinite not in _NONFINITE:
            raise ValueError("nonfinite must be one of %s, got %r" % (", ".join(map(repr, _NONFINITE)), nonfinite))
        if bf16_rounding not in _BF16:
            raise ValueError("bf16_rounding must be one of %s, got %r" % (", ".join(map(repr, _BF16)), bf16_rounding))
        _check(lib.descent_set_nonfinite_policy(self._h, _NONFINITE[nonfinite]), self._h)
        _check(lib.descent_set_threads(self._h, int(threads)), self._h)
        _check(lib.descent_set_bf16_options(self._h, _BF16[bf16_rounding], int(bf16_seed)), self._h)
        self._nonfinite = nonfinite
        super().__init__(params, defaults)
        self.state = _StateView(self)

    def _check_torch_only(self, group):
        for k in ("capturable", "differentiable", "fused"):
            if group.get(k):
                raise ValueError("%s(%s=True) is a torch implementation choice descent cannot honour "
                                 "(it steps CPU tensors in its own kernels); leave it False" % (self._name, k))

    def __del__(self):
        h = getattr(self, "_h", None)
        if h:
            lib.descent_destroy(h)
            self._h = None

    def __getstate__(self):
        raise TypeError("descent.optim optimizers do not pickle; save state_dict() instead")

    # ---- groups and tensors -------------------------------------------------

    def add_param_group(self, param_group):
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        self._check_torch_only(group)
        g = _check(lib.descent_add_group(self._h, None), self._h)
        self._pushed.append({})
        self._push_group(g, group)
        for p in group["params"]:
            code = _check_param(p)
            shape = list(p.shape) or [1]
            arr = (ctypes.c_size_t * len(shape))(*shape)
            _check(lib.descent_add_tensor_shaped(self._h, g, p.data_ptr(), p.data_ptr(), len(shape), arr, code),
                   self._h)
            self._params.append(p)
            self._ptrs.append((p.data_ptr(), p.data_ptr()))

    def _push_group(self, g, group):
        pushed = self._pushed[g]
        for k in self._lib_args:
            v = group.get(k)
            if isinstance(v, list):
                v = tuple(v)
            if k in pushed and pushed[k] == v:
                continue
            for name, x in _to_lib(k, v):
                _check(lib.descent_set(self._h, g, name.encode(), x), self._h)
            pushed[k] = v

    def _sync(self):
        """Push param_groups' values and the tensors' current data and grad pointers."""
        for g, group in enumerate(self.param_groups):
            self._push_group(g, group)
        missing = []
        for i, p in enumerate(self._params):
            gr = p.grad
            if gr is None:
                missing.append(i)
                continue
            if gr.is_sparse:
                raise ValueError("descent.optim does not take sparse gradients (tensor %d)" % i)
            if gr.dtype != p.dtype or gr.device.type != "cpu" or not gr.is_contiguous() or gr.shape != p.shape:
                raise ValueError("descent.optim: the gradient of tensor %d must be a contiguous CPU tensor of the "
                                 "parameter's dtype and shape (%s %s), got %s %s%s"
                                 % (i, p.dtype, tuple(p.shape), gr.dtype, tuple(gr.shape),
                                    "" if gr.is_contiguous() else " (not contiguous)"))
            ptrs = (p.data_ptr(), gr.data_ptr())
            if ptrs != self._ptrs[i]:
                if p.device.type != "cpu" or not p.is_contiguous():
                    _check_param(p)
                _check(lib.descent_set_tensor_data(self._h, i, ptrs[0], ptrs[1]), self._h)
                self._ptrs[i] = ptrs
        return missing

    # ---- the step -----------------------------------------------------------

    def step(self, closure=None):
        """One step over every parameter with a gradient; returns closure()'s loss, if any."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        missing = self._sync()
        if missing:
            if len(missing) == len(self._params):
                return loss  # as torch: parameters without gradients are not stepped
            return self._step_some(missing, loss)
        self._run_step()
        return loss

    def _run_step(self):
        rc = lib.descent_step(self._h)
        if rc < 0:
            raise DescentError(text(lib.descent_errmsg(self._h)), rc)
        self.last_step_nonfinite = rc in (1, 3)
        return rc

    def _step_some(self, missing, loss):
        """Step with some gradients None: torch leaves those tensors and their state alone, so
        they step on a zero gradient and are then put back as they were."""
        saved = []
        for i in missing:
            p = self._params[i]
            z = torch.zeros_like(p)
            self._zeros[i] = z
            _check(lib.descent_set_tensor_data(self._h, i, p.data_ptr(), z.data_ptr()), self._h)
            self._ptrs[i] = (p.data_ptr(), z.data_ptr())
            saved.append((i, p.detach().clone(), self._read_state(i)))
        try:
            self._run_step()
        finally:
            for i, p0, st in saved:
                self._params[i].data.copy_(p0)
                self._write_state(i, st)
            self._zeros.clear()
        return loss

    # ---- state --------------------------------------------------------------

    def _buffers(self, i):
        names = [text(lib.descent_state_name(self._h, i, k)) for k in range(lib.descent_state_count(self._h, i))]
        if self._name == "RMSprop" and not self._group_of(i).get("momentum"):
            names = [n for n in names if n != "momentum_buffer"]  # allocated for centered, unused
        return names

    def _group_of(self, i):
        n = 0
        for group in self.param_groups:
            n += len(group["params"])
            if i < n:
                return group
        raise IndexError(i)

    def _scalar_names(self):
        return {"NAdam": ["mu_product"], "ASGD": ["eta", "mu"],
                "ScheduleFreeSGD": ["max_lr", "weight_sum"], "ScheduleFreeAdamW": ["max_lr", "weight_sum"]}.get(
                    self._name, [])

    def _scalar(self, i, name):
        v = ctypes.c_double()
        _check(lib.descent_state_get_scalar(self._h, i, name.encode(), ctypes.byref(v)), self._h)
        return v.value

    def _info(self, i, name):
        n, dt, bits = ctypes.c_size_t(), ctypes.c_int(), ctypes.c_int()
        _check(lib.descent_state_info(self._h, i, name.encode(), ctypes.byref(n), ctypes.byref(dt),
                                      ctypes.byref(bits)), self._h)
        return n.value, dt.value, bits.value

    def _state_shape(self, i, n):
        p = self._params[i]
        return p.shape if p.numel() == n else (n,)

    def _read_buffer(self, i, name):
        """A copy of buffer `name` of tensor i, as a torch tensor shaped like the parameter."""
        n, dt, _ = self._info(i, name)
        out = torch.empty(n, dtype=getattr(torch, _STORAGE[dt][1]))
        _check(lib.descent_state_read(self._h, i, name.encode(), out.data_ptr(), n), self._h)
        return out.view(self._state_shape(i, n))

    def _view_buffer(self, i, name):
        """The live buffer as a torch tensor sharing its memory (a copy for 8-bit state)."""
        n, dt, bits = self._info(i, name)
        if bits == 8:
            return self._read_buffer(i, name)
        ptr = ctypes.c_void_p()
        _check(lib.descent_state_buffer(self._h, i, name.encode(), ctypes.byref(ptr), None), self._h)
        ctype, tname = _STORAGE[dt]
        arr = (ctype * n).from_address(ptr.value)
        return torch.frombuffer(arr, dtype=getattr(torch, tname)).view(self._state_shape(i, n))

    def _read_state(self, i):
        st = {"step": self._scalar(i, "step")}
        for s in self._scalar_names():
            st[s] = self._scalar(i, s)
        for name in self._buffers(i):
            st[name] = self._read_buffer(i, name)
        return st

    def _write_state(self, i, st):
        for name in self._buffers(i):
            if name not in st or st[name] is None:
                raise KeyError("the state of tensor %d has no %r (a state_dict of another optimizer or other "
                               "settings?)" % (i, name))
            n, dt, _ = self._info(i, name)
            v = st[name]
            if not isinstance(v, torch.Tensor):
                v = torch.as_tensor(v)
            v = v.detach().to(device="cpu", dtype=getattr(torch, _STORAGE[dt][1])).contiguous()
            if v.numel() != n:
                raise ValueError("state %r of tensor %d has %d elements, expected %d" % (name, i, v.numel(), n))
            _check(lib.descent_state_write(self._h, i, name.encode(), v.data_ptr(), n), self._h)
        for s in self._scalar_names():
            if s in st:
                _check(lib.descent_state_set_scalar(self._h, i, s.encode(), float(st[s])), self._h)
        step = st.get("step")
        if step is None:
            step = 1  # torch 1.13's SGD keeps no step; only its being > 0 matters to descent's SGD
        _check(lib.descent_state_set_scalar(self._h, i, b"step", float(step)), self._h)

    def _torch_state(self, i, copy=True):
        """Tensor i's state as torch.optim keeps it ({} before its first step)."""
        step = self._scalar(i, "step")
        if step == 0:
            return {}
        st = {}
        if self._name == "SGD":
            bufs = self._buffers(i)
            if not bufs:
                return {"momentum_buffer": None}
        else:
            st["step"] = torch.tensor(float(step))
        for s in self._scalar_names():
            # float64 (torch keeps these in the default dtype, and casts them to the parameter's on loading)
            st[s] = torch.tensor(self._scalar(i, s), dtype=torch.float64)
        for name in self._buffers(i):
            st[name] = self._read_buffer(i, name) if copy else self._view_buffer(i, name)
        return st

    def state_dict(self):
        """torch's layout: {'state': {index: {'step': ..., 'exp_avg': ...}}, 'param_groups': [...]}."""
        state = {}
        for i in range(len(self._params)):
            st = self._torch_state(i)
            if st:
                state[i] = st
        groups, index = [], 0
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = list(range(index, index + len(group["params"])))
            index += len(group["params"])
            groups.append(packed)
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict):
        """Load a state_dict from this class or from the torch.optim optimizer of the same name."""
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups):
            raise ValueError("loaded state dict has %d parameter groups, this optimizer has %d"
                             % (len(groups), len(self.param_groups)))
        for mine, saved in zip(self.param_groups, groups):
            if len(saved["params"]) != len(mine["params"]):
                raise ValueError("loaded state dict contains a parameter group that doesn't match the size of "
                                 "optimizer's group (%d against %d)" % (len(saved["params"]), len(mine["params"])))
        states = {}
        for mine, saved in zip(self.param_groups, groups):
            for p, key in zip(mine["params"], saved["params"]):
                st = state_dict["state"].get(key)
                if st is None and isinstance(key, int):
                    st = state_dict["state"].get(str(key))
                states[len(states)] = st
        # Hyperparameters first (they decide the state layout), then the state.
        backup = [dict(g) for g in self.param_groups]
        try:
            for g, (mine, saved) in enumerate(zip(self.param_groups, groups)):
                for k, v in saved.items():
                    if k != "params":
                        mine[k] = v
                self._push_group(g, mine)
        except Exception:
            for g, b in enumerate(backup):
                self.param_groups[g].clear()
                self.param_groups[g].update(b)
                self._pushed[g].clear()
                self._push_group(g, self.param_groups[g])
            raise
        if any(not st for st in states.values()):
            _check(lib.descent_reset(self._h), self._h)  # tensors without saved state start afresh
        for i, st in states.items():
            if st:
                self._write_state(i, st)

    # ---- descent's extras ---------------------------------------------------

    @property
    def skipped_steps(self):
        """Steps skipped under nonfinite='skip'."""
        return lib.descent_skipped_steps(self._h)

    def state_bytes(self):
        """Bytes of optimizer state the library holds."""
        return lib.descent_state_bytes(self._h)

    def step_bytes(self):
        """Bytes one step must read and write at least (descent_step_bytes): divided by a
        step's time, the bandwidth it reached."""
        return lib.descent_step_bytes(self._h)


class _StateView(dict):
    """opt.state: opt.state[p] is a dict of tensors that share the library's buffers (copies for
    8-bit state), as torch.optim's state. Empty before p's first step."""

    def __init__(self, opt):
        super().__init__()
        self._ref = weakref.ref(opt)  # no cycle: the optimizer's memory goes when its last reference does

    @property
    def _opt(self):
        opt = self._ref()
        if opt is None:
            raise ReferenceError("the optimizer of this state view no longer exists")
        return opt

    def _index(self, p):
        for i, q in enumerate(self._opt._params):
            if q is p:
                return i
        raise KeyError("not a parameter of this optimizer")

    def __getitem__(self, p):
        return self._opt._torch_state(self._index(p), copy=False)

    def get(self, p, default=None):
        try:
            return self[p]
        except KeyError:
            return default

    def __contains__(self, p):
        try:
            return bool(self[p])
        except KeyError:
            return False

    def keys(self):
        return [p for p in self._opt._params if self.get(p)]

    def __iter__(self):
        return iter(self.keys())

    def __len__(self):
        return len(self.keys())

    def items(self):
        return [(p, self[p]) for p in self.keys()]

    def values(self):
        return [self[p] for p in self.keys()]


def _make_class(name):
    lib_args = _probe(name)
    torch_args, positional = {}, []
    torch_cls = getattr(torch.optim, name, None) if torch is not None else None
    if torch_cls is not None and name != "Adafactor":
        sig = inspect.signature(torch_cls.__init__)
        for k, prm in list(sig.parameters.items())[2:]:
            if prm.kind in (prm.POSITIONAL_ONLY, prm.POSITIONAL_OR_KEYWORD):
                positional.append(k)
            if k in lib_args:
                continue
            default = prm.default if prm.default is not prm.empty else None
            torch_args[k] = default
    for k, v in _TORCH_ONLY.items():
        torch_args.setdefault(k, v)
    doc = "%s over libdescent. Arguments and defaults: %s." % (
        name, ", ".join("%s=%r" % kv for kv in list(lib_args.items()) + list(torch_args.items())))
    return type(name, (Optimizer,), {"_name": name, "_lib_args": lib_args, "_torch_args": torch_args,
                                     "_positional": positional, "__doc__": doc, "__module__": __name__})


__all__ = ["Optimizer", "DescentError"]
for _i in range(lib.descent_optimizer_count()):
    _n = text(lib.descent_optimizer_name(_i))
    globals()[_n] = _make_class(_n)
    __all__.append(_n)


class LBFGS(_TorchOptimizer):
    """torch.optim.LBFGS over libdescent (descent_lbfgs: torch 1.13's algorithm, in float64).

    LBFGS(params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
    history_size=100, line_search_fn=None); one parameter group, step(closure) required. The
    parameters are gathered into one float64 vector (float32 and float64 tensors), as torch flattens
    them; float32 parameters are therefore stepped in float64 and rounded when written back.
    """

    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7, tolerance_change=1e-9,
                 history_size=100, line_search_fn=None):
        if torch is None:
            raise ImportError("descent.optim needs torch (python3-torch)")
        defaults = dict(lr=lr, max_iter=max_iter, max_eval=max_eval, tolerance_grad=tolerance_grad,
                        tolerance_change=tolerance_change, history_size=history_size, line_search_fn=line_search_fn)
        self._h = None
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]
        for p in self._params:
            if _check_param(p) == _lib.BF16:
                raise TypeError("descent.optim.LBFGS steps float32 and float64 tensors, got bfloat16")
        self._n = sum(p.numel() for p in self._params)
        g = self.param_groups[0]
        spec = "LBFGS(lr=%r, max_iter=%d, max_eval=%s, tolerance_grad=%r, tolerance_change=%r, history_size=%d, " \
               "line_search_fn=%s)" % (float(g["lr"]), g["max_iter"], "None" if g["max_eval"] is None else
                                       int(g["max_eval"]), float(g["tolerance_grad"]), float(g["tolerance_change"]),
                                       g["history_size"], "None" if g["line_search_fn"] is None else
                                       "'%s'" % g["line_search_fn"])
        h = ctypes.c_void_p()
        err = _lib.Error()
        _lib.check_err(lib.descent_lbfgs_create(ctypes.byref(h), spec.encode(), self._n, ctypes.byref(err)), err)
        self._h = h
        self.spec = spec

    def __del__(self):
        if getattr(self, "_h", None):
            lib.descent_lbfgs_destroy(self._h)
            self._h = None

    def _scatter(self, x):
        offset = 0
        with torch.no_grad():
            for p in self._params:
                k = p.numel()
                p.copy_(x[offset:offset + k].view_as(p))
                offset += k

    def step(self, closure):
        """One torch LBFGS step (up to max_iter iterations); returns the loss at its start."""
        if closure is None:
            raise ValueError("LBFGS needs a closure that re-evaluates the model and returns the loss")
        x = torch.cat([p.detach().reshape(-1).to(torch.float64) for p in self._params])
        failure = []

        def fn(ctx, x_ptr, g_ptr, n):
            if failure:
                return math.nan
            try:
                xv = torch.frombuffer((ctypes.c_double * n).from_address(ctypes.addressof(x_ptr.contents)),
                                      dtype=torch.float64)
                self._scatter(xv)
                with torch.enable_grad():
                    loss = float(closure())
                gv = torch.frombuffer((ctypes.c_double * n).from_address(ctypes.addressof(g_ptr.contents)),
                                      dtype=torch.float64)
                offset = 0
                for p in self._params:
                    k = p.numel()
                    if p.grad is None:
                        gv[offset:offset + k] = 0
                    else:
                        gv[offset:offset + k] = p.grad.detach().reshape(-1).to(torch.float64)
                    offset += k
                return loss
            except BaseException as e:  # noqa: B902 - re-raised below
                failure.append(e)
                return math.nan

        cfn = _lib.OBJECTIVE_FN(fn)
        loss = ctypes.c_double()
        rc = lib.descent_lbfgs_step(self._h, cfn, None, x.numpy().ctypes.data_as(_lib.c_double_p),
                                    ctypes.byref(loss))
        if failure:
            raise failure[0]
        if rc < 0:
            raise DescentError(text(lib.descent_lbfgs_errmsg(self._h)), rc)
        self._scatter(x)
        return torch.tensor(loss.value)

    @property
    def func_evals(self):
        return lib.descent_lbfgs_func_evals(self._h)

    @property
    def n_iter(self):
        return lib.descent_lbfgs_n_iter(self._h)

    def state_dict(self):
        raise NotImplementedError("descent.optim.LBFGS keeps its history inside libdescent; it cannot be "
                                  "exported in torch.optim.LBFGS's layout")

    def load_state_dict(self, state_dict):
        raise NotImplementedError("descent.optim.LBFGS cannot load torch.optim.LBFGS's state")


__all__.append("LBFGS")
