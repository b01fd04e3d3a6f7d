#!/usr/bin/python3
"""Seconds per epoch of the demo's model in PyTorch, for comparison with
`descent train` (tools/bench_models.sh prints the descent side).

Same data (data/digits.csv, label column, features standardized with the
training split's statistics, 20 % held out), same model (64 -> 64 -> 32 -> 10,
ReLU, softmax cross-entropy, f32), same optimizer (AdamW, lr 1e-3), same
batch size, one pass over the training rows in shuffled batches then one
evaluation of the validation rows per epoch. Prints the mean epoch time over
EPOCHS epochs after one warm-up epoch, for each batch size.

usage: /usr/bin/python3 tools/bench_models_torch.py [THREADS] [EPOCHS]
(Debian's python3-torch; run with /usr/bin/python3.)
"""
import sys
import time

import torch


def load(path="data/digits.csv"):
    with open(path) as f:
        header = f.readline().strip().split(",")
        rows = [[float(v) for v in line.split(",")] for line in f if line.strip()]
    t = torch.tensor(rows, dtype=torch.float64)
    target = header.index("label")
    y = t[:, target].long()
    X = torch.cat([t[:, :target], t[:, target + 1:]], dim=1)
    return X, y


def main():
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    epochs = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    X, y = load()
    n = X.shape[0]
    perm = torch.randperm(n)
    nval = round(0.2 * n)
    Xv, yv, Xt, yt = X[perm[:nval]], y[perm[:nval]], X[perm[nval:]], y[perm[nval:]]
    mean, sd = Xt.mean(0), Xt.std(0, unbiased=False)
    sd[sd == 0] = 1
    Xt = ((Xt - mean) / sd).float()
    Xv = ((Xv - mean) / sd).float()
    print("torch %s, %d thread(s); mean of %d epochs" % (torch.__version__, threads, epochs))
    print("%-10s %s" % ("batch", "seconds_per_epoch"))
    for bs in [1, 32, 64, 128, "full"]:
        b = len(Xt) if bs == "full" else bs
        model = torch.nn.Sequential(
            torch.nn.Linear(64, 64), torch.nn.ReLU(),
            torch.nn.Linear(64, 32), torch.nn.ReLU(),
            torch.nn.Linear(32, 10))
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, foreach=False)
        loss_fn = torch.nn.CrossEntropyLoss()
        times = []
        for _ in range(1 + (epochs if bs != 1 else max(3, epochs // 10))):
            t0 = time.perf_counter()
            order = torch.randperm(len(Xt))
            for i in range(0, len(Xt), b):
                idx = order[i:i + b]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(Xt[idx]), yt[idx])
                loss.backward()
                opt.step()
            with torch.no_grad():
                val = loss_fn(model(Xv), yv).item()
                acc = (model(Xv).argmax(1) == yv).float().mean().item()
            times.append(time.perf_counter() - t0)
        mean = sum(times[1:]) / len(times[1:])
        print("%-10s %.5f   (val loss %.3f, accuracy %.3f)" % (bs, mean, val, acc))


if __name__ == "__main__":
    main()
