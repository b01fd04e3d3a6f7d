#!/usr/bin/python3
"""Time PyTorch's optimizer steps beside `descent bench`, on the same sizes
and threads, printing the same JSON keys.

For each optimizer and thread count it times torch's single-tensor step
(foreach=False) and its foreach step (foreach=True); with --descent PATH it
first runs `PATH bench` for that optimizer and thread count, so the three
are measured side by side in one run, and the limit (the plain stream
kernel descent bench measures) fills limit_gbytes_per_s and
fraction_of_limit for torch too. --table prints a Markdown table of the
whole run after the JSON lines (on stderr with --json, else on stdout).

    /usr/bin/python3 tools/bench_torch.py --descent build/descent \\
        --n 67108864 --threads 1,2 --reps 5 --table

Run with Debian's python3-torch (1.13).
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch

STANDARD = ["SGD", "SGD(momentum=0.9)", "Adagrad", "RMSprop", "Adadelta", "Adam",
            "AdamW", "AMSGrad", "NAdam", "Adamax", "RAdam"]


def make_optimizer(spec, params, foreach):
    """Build torch's optimizer from a descent spec string (Python call syntax)."""
    def ctor(cls, **fixed):
        def make(**kw):
            args = dict(fixed)
            args.update(kw)
            return cls(params, foreach=foreach, **args)
        return make
    names = {
        "SGD": ctor(torch.optim.SGD, lr=1e-3),
        "Adagrad": ctor(torch.optim.Adagrad),
        "RMSprop": ctor(torch.optim.RMSprop),
        "Adadelta": ctor(torch.optim.Adadelta),
        "Adam": ctor(torch.optim.Adam),
        "AdamW": ctor(torch.optim.AdamW),
        "AMSGrad": ctor(torch.optim.Adam, amsgrad=True),
        "NAdam": ctor(torch.optim.NAdam),
        "Adamax": ctor(torch.optim.Adamax),
        "RAdam": ctor(torch.optim.RAdam),
        "True": True, "False": False,
    }
    call = spec if "(" in spec else spec + "()"
    return eval(call, {"__builtins__": {}}, names)  # noqa: S307 - specs are ours


def reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


CLOCK = {"cpu": False, "now": time.perf_counter}


def time_steps(opt, reps, threads):
    """Median seconds per step; each repetition lasts about 20 ms. With
    --clock cpu: process CPU time / threads, as descent bench --clock cpu."""
    now = CLOCK["now"]
    t0 = now()
    opt.step()
    once = (now() - t0) / (threads if CLOCK["cpu"] else 1)
    inner = max(1, min(1000, int(0.02 / once))) if once > 0 else 1000
    times = []
    for _ in range(reps):
        t0 = now()
        for _ in range(inner):
            opt.step()
        times.append((now() - t0) / inner / (threads if CLOCK["cpu"] else 1))
    return statistics.median(times)


def bench_torch(spec, n, tensors, threads, reps, foreach):
    torch.set_num_threads(threads)
    per = n // tensors
    sizes = [per] * (tensors - 1) + [n - per * (tensors - 1)]
    idx = [torch.arange(s, dtype=torch.float32) for s in sizes]
    params = [torch.nn.Parameter(((i % 29) - 13.5) * 0.01) for i in idx]
    for p, i in zip(params, idx):
        p.grad = ((i % 29) - 13.5) * 0.001
    del idx
    reset_peak_rss()  # from here: p and g resident, then the state and the step's temporaries
    opt = make_optimizer(spec, params, foreach)
    opt.step()  # allocates the state
    nstate = sum(1 for v in opt.state[params[0]].values()
                 if torch.is_tensor(v) and v.numel() == params[0].numel())
    state_bytes = sum(v.numel() * v.element_size() for p in params for v in opt.state[p].values()
                      if torch.is_tensor(v) and v.numel() == p.numel())
    rss = peak_rss_bytes()
    seconds = time_steps(opt, reps, threads)
    bytes_per_param = 3 * 4 + 2 * 4 * nstate
    return {
        "opt": spec, "impl": "torch-foreach" if foreach else "torch-single",
        "n": n, "tensors": tensors, "threads": threads, "dtype": "f32", "reps": reps,
        "seconds_per_step": seconds, "params_per_s": n / seconds, "bytes_per_param": bytes_per_param,
        "gbytes_per_s": n * bytes_per_param / seconds / 1e9,
        "limit_gbytes_per_s": None, "fraction_of_limit": None,
        "state_bytes": state_bytes, "state_bytes_per_param": state_bytes / n, "peak_rss_bytes": rss,
        "clock": "cpu" if CLOCK["cpu"] else "wall", "torch_version": torch.__version__,
    }


def bench_descent(path, spec, n, tensors, threads, reps):
    out = subprocess.run([path, "bench", "--opt", spec, "--n", str(n), "--tensors", str(tensors),
                          "--threads", str(threads), "--reps", str(reps), "--json",
                          "--clock", "cpu" if CLOCK["cpu"] else "wall"],
                         check=True, capture_output=True, text=True).stdout
    row = json.loads(out.strip().splitlines()[-1])
    row["impl"] = "descent"
    return row


def table(rows):
    """Markdown: per optimizer and threads, descent vs the limit vs torch."""
    by = {}
    for r in rows:
        by.setdefault((r["opt"], r["threads"]), {})[r["impl"]] = r
    lines = ["| optimizer | threads | limit GB/s | descent GB/s | descent / limit | torch single GB/s "
             "| torch foreach GB/s | descent / single | descent / foreach | state B/param |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def f(x, fmt):
        return "–" if x is None else fmt.format(x)
    for (spec, threads), g in by.items():
        d, s, fe = g.get("descent"), g.get("torch-single"), g.get("torch-foreach")
        lim = d["limit_gbytes_per_s"] if d else None
        lines.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
            spec, threads, f(lim, "{:.1f}"), f(d and d["gbytes_per_s"], "{:.1f}"),
            f(d and d["fraction_of_limit"], "{:.2f}"),
            f(s and s["gbytes_per_s"], "{:.2f}"), f(fe and fe["gbytes_per_s"], "{:.2f}"),
            f(d and s and s["seconds_per_step"] / d["seconds_per_step"], "{:.1f}x"),
            f(d and fe and fe["seconds_per_step"] / d["seconds_per_step"], "{:.1f}x"),
            f(d and d["state_bytes"] / d["n"], "{:g}")))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--opt", action="append", help="spec, repeatable (default: the standard set)")
    ap.add_argument("--n", type=int, default=1 << 24)
    ap.add_argument("--tensors", type=int, default=1)
    ap.add_argument("--threads", default="1", help="comma list of thread counts")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--modes", default="single,foreach", help="comma list: single, foreach")
    ap.add_argument("--descent", help="path of the descent binary to run beside torch")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="cpu: process CPU time / threads (stable on a shared machine)")
    ap.add_argument("--json", action="store_true", help="JSON lines (default when --table is absent)")
    ap.add_argument("--table", action="store_true", help="print a Markdown table of the run")
    args = ap.parse_args()
    specs = args.opt or STANDARD
    CLOCK["cpu"] = args.clock == "cpu"
    CLOCK["now"] = time.process_time if CLOCK["cpu"] else time.perf_counter
    rows = []
    for threads in [int(t) for t in args.threads.split(",")]:
        for spec in specs:
            group = []
            if args.descent:
                group.append(bench_descent(args.descent, spec, args.n, args.tensors, threads, args.reps))
            for mode in args.modes.split(","):
                group.append(bench_torch(spec, args.n, args.tensors, threads, args.reps, mode == "foreach"))
            limit = group[0]["limit_gbytes_per_s"] if args.descent else None
            for r in group:
                if limit and r["impl"] != "descent":
                    r["limit_gbytes_per_s"] = limit
                    r["fraction_of_limit"] = r["gbytes_per_s"] / limit
                if args.json or not args.table:
                    print(json.dumps(r), flush=True)
            rows += group
    if args.table:
        print(table(rows), file=sys.stderr if args.json else sys.stdout)


if __name__ == "__main__":
    main()
