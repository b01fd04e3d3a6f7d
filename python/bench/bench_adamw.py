"""descent.optim.AdamW against torch.optim.AdamW(foreach=True) on CPU.

    PYTHONPATH=python python3 python/bench/bench_adamw.py [--epochs 3] [--big 64]

1. A small MLP (784-512-256-10, 535k parameters, float32) trained on random data in batches of 64:
   the mean optimizer.step() time and the epoch time with each optimizer, the same model, data and
   seed. Both use torch's thread count for the step (descent: threads=torch.get_num_threads()).
2. One tensor of --big million float32 parameters stepped 10 times each way (after one warm-up step).
The parameters of both runs are compared at the end (same formulas; float32 rounding differs now
and then by an ulp).
"""
import argparse
import time

import torch

import descent.optim


def make_model():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(784, 512), torch.nn.ReLU(), torch.nn.Linear(512, 256),
                               torch.nn.ReLU(), torch.nn.Linear(256, 10))


def train(make_opt, X, y, epochs, batch):
    model = make_model()
    opt = make_opt(model.parameters())
    loss_fn = torch.nn.CrossEntropyLoss()
    step_times, epoch_times = [], []
    for _ in range(epochs):
        t0 = time.perf_counter()
        total = 0.0
        for i in range(0, len(X), batch):
            opt.zero_grad(set_to_none=False)
            loss = loss_fn(model(X[i:i + batch]), y[i:i + batch])
            loss.backward()
            total += loss.item() * len(X[i:i + batch])
            s = time.perf_counter()
            opt.step()
            step_times.append(time.perf_counter() - s)
        epoch_times.append(time.perf_counter() - t0)
    return model, step_times, epoch_times, total / len(X)


def big(make_opt, n, steps=10):
    p = torch.nn.Parameter(torch.zeros(n))
    p.grad = torch.full((n,), 1e-3)
    opt = make_opt([p])
    opt.step()
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.step()
    dt = (time.perf_counter() - t0) / steps
    head = p[:4].detach().clone()
    del opt, p
    return dt, head


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--rows", type=int, default=8192)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--big", type=int, default=64, help="millions of parameters of the big tensor")
    ap.add_argument("--threads", type=int, default=0, help="threads for both (0: torch's default)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    threads = torch.get_num_threads()
    g = torch.Generator().manual_seed(1)
    X = torch.randn(a.rows, 784, generator=g)
    y = torch.randint(0, 10, (a.rows,), generator=g)
    args = dict(lr=1e-3, betas=(0.9, 0.999), weight_decay=0.01)
    runs = {
        "torch.optim.AdamW(foreach=True)": lambda ps: torch.optim.AdamW(ps, foreach=True, **args),
        "descent.optim.AdamW": lambda ps: descent.optim.AdamW(ps, threads=threads, **args),
    }
    print("torch %s, %d threads, libdescent %s" % (torch.__version__, threads, descent.version()))
    print("MLP 784-512-256-10 (%d parameters), %d rows, batch %d, %d epochs"
          % (sum(p.numel() for p in make_model().parameters()), a.rows, a.batch, a.epochs))
    print("%-34s %17s %15s %12s" % ("optimizer", "median step (us)", "best epoch (s)", "last loss"))
    models = {}
    for name, make in runs.items():
        model, st, ep, loss = train(make, X, y, a.epochs, a.batch)
        models[name] = model
        print("%-34s %17.1f %15.3f %12.6f" % (name, 1e6 * sorted(st)[len(st) // 2], min(ep), loss))
    m1, m2 = models.values()
    diff = max((p - q).abs().max().item() for p, q in zip(m1.parameters(), m2.parameters()))
    # float32 rounding differs by an ulp now and then (descent computes the per-step scalars in
    # double); training on random labels amplifies such differences over the epochs.
    print("largest parameter difference after training: %.3g" % diff)
    n = a.big * 1000 * 1000
    print("one tensor of %d parameters (float32), mean of 10 steps" % n)
    heads = []
    for name, make in runs.items():
        dt, head = big(make, n)
        heads.append(head)
        print("%-34s %17.1f ms" % (name, 1e3 * dt))
    print("largest difference of the first values: %.3g" % (heads[0] - heads[1]).abs().max().item())


if __name__ == "__main__":
    main()
