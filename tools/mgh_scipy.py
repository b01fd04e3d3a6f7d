#!/usr/bin/env python3
"""scipy's L-BFGS-B on the Moré-Garbow-Hillstrom problems of bench/mgh,
with bench_mgh's rules (docs/global.md): solved when f <= f* + 1e-8
max(1, |f*|) within 10^4 evaluations, the figure being the evaluation at
which f first met that bound. scipy runs at its defaults (m = 10,
ftol = 2.2e-9, gtol = 1e-5) with maxfun = 10^4.

The problems are bench/mgh/mgh.c itself, compiled here into a shared
object and called through ctypes, so both programs evaluate the same code.

    ./build/bench/mgh/bench_mgh --json mgh.json
    python3 tools/mgh_scipy.py mgh.json     # adds scipy, prints the gradient profile
"""
import ctypes
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
from scipy.optimize import minimize

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "..", "bench", "mgh", "mgh.c")
BUDGET = 10000
TAUS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048]


class Problem(ctypes.Structure):
    _fields_ = [("id", ctypes.c_int), ("name", ctypes.c_char_p), ("n", ctypes.c_size_t), ("m", ctypes.c_size_t),
                ("fstar", ctypes.c_double), ("start", ctypes.c_void_p), ("residual", ctypes.c_void_p)]


def load():
    tmp = tempfile.mkdtemp()
    so = os.path.join(tmp, "libmgh.so")
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", so, SRC, "-lm"], check=True)
    lib = ctypes.CDLL(so)
    probs = (Problem * 35).in_dll(lib, "mgh_problems")
    lib.mgh_eval.restype = ctypes.c_double
    lib.mgh_eval.argtypes = [ctypes.POINTER(Problem), ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    return lib, probs


def run(lib, p):
    n = p.n
    start = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_size_t)(p.start)
    x0 = np.zeros(n)
    start(x0.ctypes.data, n)
    work = np.zeros(4096)
    bound = p.fstar + 1e-8 * max(1.0, abs(p.fstar))
    state = {"evals": 0, "hit": 0}

    def fg(x):
        x = np.ascontiguousarray(x, dtype=np.float64)
        g = np.zeros(n)
        f = lib.mgh_eval(ctypes.byref(p), x.ctypes.data, g.ctypes.data, work.ctypes.data)
        state["evals"] += 1
        if not state["hit"] and state["evals"] <= BUDGET and f <= bound:
            state["hit"] = state["evals"]
        return f, g

    minimize(fg, x0, jac=True, method="L-BFGS-B", options={"maxfun": BUDGET})
    return state["hit"] or -1


def main():
    lib, probs = load()
    data = json.load(open(sys.argv[1])) if len(sys.argv) > 1 else {"problems": []}
    rows = {r["id"]: r for r in data["problems"]}
    solved = 0
    for k in range(35):
        p = probs[k]
        e = run(lib, p)
        solved += e > 0
        rows.setdefault(p.id, {"id": p.id, "name": p.name.decode(), "evaluations": {}})
        rows[p.id]["evaluations"]["scipy-L-BFGS-B"] = e
        print("%-3d %-40s %8s" % (p.id, p.name.decode()[:40], e if e > 0 else "-"))
    print("solved %d/35" % solved)
    grad = [s for s in next(iter(rows.values()))["evaluations"]
            if s in ("LBFGS", "HessianFree", "scipy-L-BFGS-B") or s.startswith(("liblbfgs", "nlopt-LD", "gsl"))]
    print("\nperformance profile, gradient methods: rho(tau)")
    print("%-34s" % "solver" + "".join(" %5g" % t for t in TAUS))
    for s in grad:
        line = "%-34s" % s
        for t in TAUS:
            within = 0
            for r in rows.values():
                ev = r["evaluations"]
                if ev.get(s, -1) <= 0:
                    continue
                best = min(v for k2, v in ev.items() if k2 in grad and v > 0)
                within += ev[s] <= t * best
            line += " %5.3f" % (within / len(rows))
        print(line)


if __name__ == "__main__":
    main()
