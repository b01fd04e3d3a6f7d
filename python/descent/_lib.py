"""Loading libdescent through ctypes and declaring the calls used.

The library is looked for, in order:
  1. the file named by $DESCENT_LIBRARY;
  2. the checkout's build directory (../../build/libdescent.so relative to
     this package, as `make` leaves it);
  3. the installed library (ctypes.util.find_library("descent"), then the
     usual prefixes).
"""
import ctypes
import ctypes.util
import os

c_double_p = ctypes.POINTER(ctypes.c_double)
c_size_t_p = ctypes.POINTER(ctypes.c_size_t)


class DescentError(RuntimeError):
    """A negative status from the library, with the library's message."""

    def __init__(self, message, status=-1):
        super().__init__(message)
        self.status = status


class Error(ctypes.Structure):
    _fields_ = [("status", ctypes.c_int), ("message", ctypes.c_char * 512)]


class MinimizeProgress(ctypes.Structure):
    _fields_ = [("iteration", ctypes.c_int64), ("evaluations", ctypes.c_int64), ("f", ctypes.c_double),
                ("grad_norm", ctypes.c_double), ("lr", ctypes.c_double), ("seconds", ctypes.c_double),
                ("x", c_double_p), ("n", ctypes.c_size_t)]


PROGRESS_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(MinimizeProgress))
OBJECTIVE_FN = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_void_p, c_double_p, c_double_p, ctypes.c_size_t)


class MinimizeSettings(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("max_iter", ctypes.c_int64), ("max_evals", ctypes.c_int64),
                ("gtol", ctypes.c_double), ("ftol_rel", ctypes.c_double), ("xtol_rel", ctypes.c_double),
                ("f_target", ctypes.c_double), ("max_seconds", ctypes.c_double), ("progress", PROGRESS_FN),
                ("progress_ctx", ctypes.c_void_p)]


class MinimizeResult(ctypes.Structure):
    _fields_ = [("f", ctypes.c_double), ("grad_norm", ctypes.c_double), ("iterations", ctypes.c_int64),
                ("evaluations", ctypes.c_int64), ("reason", ctypes.c_int), ("seconds", ctypes.c_double)]


def _candidates():
    env = os.environ.get("DESCENT_LIBRARY")
    if env:
        return [env], True
    here = os.path.dirname(os.path.abspath(__file__))
    names = ["libdescent.so", "libdescent.dylib"]
    paths = [os.path.join(here, "..", "..", "build", n) for n in names]
    found = ctypes.util.find_library("descent")
    if found:
        paths.append(found)
    for prefix in ("/usr/local/lib", "/usr/lib", "/usr/local/lib64", "/usr/lib64"):
        paths += [os.path.join(prefix, n) for n in names]
    paths.append("libdescent.so.0")
    return paths, False


def _load():
    paths, from_env = _candidates()
    errors = []
    for p in paths:
        if os.sep in p and not os.path.exists(p):
            continue
        try:
            return ctypes.CDLL(p)
        except OSError as e:
            errors.append("%s: %s" % (p, e))
            if from_env:
                break
    where = "$DESCENT_LIBRARY=%s" % paths[0] if from_env else "the checkout's build/ and the installed libraries"
    raise ImportError("descent: cannot load libdescent from %s (build it with `make`, install it with "
                      "`make install`, or set DESCENT_LIBRARY to the .so)%s"
                      % (where, "".join("\n  " + e for e in errors)))


lib = _load()

_P = ctypes.c_void_p
_I = ctypes.c_int
_D = ctypes.c_double
_S = ctypes.c_size_t
_CS = ctypes.c_char_p
_EP = ctypes.POINTER(Error)

_PROTOS = {
    "descent_version": (_CS, []),
    "descent_strerror": (_CS, [_I]),
    "descent_optimizer_count": (_I, []),
    "descent_optimizer_name": (_CS, [_I]),
    "descent_create_from_spec": (_I, [ctypes.POINTER(_P), _CS, _P, _EP]),
    "descent_destroy": (None, [_P]),
    "descent_reset": (_I, [_P]),
    "descent_errmsg": (_CS, [_P]),
    "descent_name": (_CS, [_P]),
    "descent_add_group": (_I, [_P, _P]),
    "descent_num_groups": (_I, [_P]),
    "descent_add_tensor": (_I, [_P, _I, _P, _P, _S, _I]),
    "descent_add_tensor_shaped": (_I, [_P, _I, _P, _P, _I, c_size_t_p, _I]),
    "descent_set_tensor_data": (_I, [_P, _I, _P, _P]),
    "descent_num_tensors": (_I, [_P]),
    "descent_step": (_I, [_P]),
    "descent_step_count": (ctypes.c_int64, [_P]),
    "descent_set_nonfinite_policy": (_I, [_P, _I]),
    "descent_skipped_steps": (ctypes.c_int64, [_P]),
    "descent_get": (_I, [_P, _I, _CS, c_double_p]),
    "descent_set": (_I, [_P, _I, _CS, _D]),
    "descent_get_lr": (_D, [_P, _I]),
    "descent_set_lr": (_I, [_P, _I, _D]),
    "descent_momentum_name": (_CS, [_P]),
    "descent_set_threads": (_I, [_P, _I]),
    "descent_set_bf16_options": (_I, [_P, ctypes.c_uint, ctypes.c_uint64]),
    "descent_state_bytes": (_S, [_P]),
    "descent_step_bytes": (_S, [_P]),
    "descent_state_count": (_I, [_P, _I]),
    "descent_state_name": (_CS, [_P, _I, _I]),
    "descent_state_info": (_I, [_P, _I, _CS, c_size_t_p, ctypes.POINTER(_I), ctypes.POINTER(_I)]),
    "descent_state_buffer": (_I, [_P, _I, _CS, ctypes.POINTER(_P), c_size_t_p]),
    "descent_state_read": (_I, [_P, _I, _CS, _P, _S]),
    "descent_state_write": (_I, [_P, _I, _CS, _P, _S]),
    "descent_state_get_scalar": (_I, [_P, _I, _CS, c_double_p]),
    "descent_state_set_scalar": (_I, [_P, _I, _CS, _D]),
    "descent_save_mem": (_I, [_P, _P, _S, c_size_t_p]),
    "descent_load_mem": (_I, [_P, _P, _S]),
    "descent_set_schedule": (_I, [_P, _CS]),
    "descent_schedule_step": (_I, [_P, _D]),
    "descent_schedule_needs_metric": (_I, [_P]),
    "descent_stop_name": (_CS, [_I]),
    "descent_minimize_default_settings_sized": (None, [ctypes.POINTER(MinimizeSettings), _S]),
    "descent_minimizer_create": (_I, [ctypes.POINTER(_P), _CS, _S, _EP]),
    "descent_minimizer_destroy": (None, [_P]),
    "descent_minimizer_errmsg": (_CS, [_P]),
    "descent_minimizer_run": (_I, [_P, OBJECTIVE_FN, _P, c_double_p, ctypes.POINTER(MinimizeSettings),
                                   ctypes.POINTER(MinimizeResult)]),
    "descent_minimizer_set_schedule": (_I, [_P, _CS]),
    "descent_population_create": (_I, [ctypes.POINTER(_P), _CS, _S, _EP]),
    "descent_population_destroy": (None, [_P]),
    "descent_population_errmsg": (_CS, [_P]),
    "descent_population_set_x0": (_I, [_P, c_double_p]),
    "descent_population_set_bounds": (_I, [_P, c_double_p, c_double_p]),
    "descent_population_size": (_S, [_P]),
    "descent_population_ask": (_I, [_P, c_double_p, c_size_t_p]),
    "descent_population_tell": (_I, [_P, c_double_p]),
    "descent_population_best": (_D, [_P, c_double_p]),
    "descent_population_generation": (ctypes.c_int64, [_P]),
    "descent_population_evaluations": (ctypes.c_int64, [_P]),
    "descent_lbfgs_create": (_I, [ctypes.POINTER(_P), _CS, _S, _EP]),
    "descent_lbfgs_destroy": (None, [_P]),
    "descent_lbfgs_errmsg": (_CS, [_P]),
    "descent_lbfgs_step": (_I, [_P, OBJECTIVE_FN, _P, c_double_p, c_double_p]),
    "descent_lbfgs_func_evals": (ctypes.c_int64, [_P]),
    "descent_lbfgs_n_iter": (ctypes.c_int64, [_P]),
}

for _name, (_res, _args) in _PROTOS.items():
    _f = getattr(lib, _name)
    _f.restype = _res
    _f.argtypes = _args

F32, F64, BF16 = 0, 1, 2


def text(b):
    return b.decode("utf-8", "replace") if b is not None else ""


def check_err(rc, err):
    """Raise for a constructor's negative status, with its descent_error message."""
    if rc < 0:
        raise DescentError(text(err.message) or text(lib.descent_strerror(rc)), rc)
    return rc


def version():
    return text(lib.descent_version())
