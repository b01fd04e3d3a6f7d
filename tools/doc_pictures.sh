#!/usr/bin/env bash
# Regenerate the example pictures of docs/pictures.md (docs/img/*.svg) with
# the descent CLI; the output is the same bytes on every run.
#   tools/doc_pictures.sh [path/to/descent]     (default: build/descent)
set -euo pipefail
cd "$(dirname "$0")/.."
D=${1:-build/descent}
out=docs/img
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$out"
"$D" plot-paths --fn 'rosenbrock()' --steps 300 \
  --opt 'SGD(lr=1e-3, momentum=0.9)' --opt 'Adam(lr=0.2)' --opt 'RMSprop(lr=0.03)' \
  --opt 'NAG(lr=1e-3, momentum=0.9)' --out "$out/paths-rosenbrock.svg" >/dev/null
"$D" plot-paths --fn 'himmelblau()' --x0 -0.5,0.5 --steps 100 \
  --opt 'SGD(lr=0.01)' --opt 'SGD(lr=0.01, momentum=0.9)' --opt 'Adam(lr=0.1)' \
  --out "$out/paths-himmelblau.svg" >/dev/null
"$D" compare --data data/digits.csv --target label --model 'softmax()' \
  --opt 'SGD(lr=0.05, momentum=0.9)' --sched none \
  --opt 'Adam(lr=1e-3)' --sched none \
  --opt 'AdamW(lr=1e-2, weight_decay=0.01)' \
  --sched 'LinearWarmup(warmup_period=45, schedule=CosineAnnealingLR(T_max=270))' \
  --epochs 6 --seed 0 --out "$tmp/compare" >/dev/null
cp "$tmp/compare/loss.svg" "$out/compare-loss.svg"
cp "$tmp/compare/lr.svg" "$out/compare-lr.svg"
"$D" train --data data/digits.csv --target label --model "mlp(hidden=(32))" \
  --opt 'Adam(lr=1e-3)' --epochs 12 --seed 0 --plot "$out/train-loss.svg" >/dev/null
ls -l "$out"
