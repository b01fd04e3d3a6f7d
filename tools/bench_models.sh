#!/bin/sh
# Seconds per epoch of the demo's model on data/digits.csv with the built-in
# matrix kernel and with CBLAS, for several batch sizes: the best of RUNS
# runs of EPOCHS epochs each (the least disturbed by other load).
# usage: tools/bench_models.sh [path/to/descent] [RUNS] [EPOCHS]
DESCENT=${1:-build/descent}
RUNS=${2:-5}
EPOCHS=${3:-50}
[ -n "$MODEL" ] || MODEL="mlp(hidden=(64, 32), activation='relu')"
"$DESCENT" train --help >/dev/null || exit 1
printf "%-10s %-6s %s\n" batch blas seconds_per_epoch
for bs in 1 32 64 128 full; do
  for blas in off on; do
    best=
    i=0
    while [ $i -lt "$RUNS" ]; do
      s=$("$DESCENT" train --data data/digits.csv --target label --model "$MODEL" --opt 'AdamW(lr=1e-3)' \
            --epochs "$EPOCHS" --batch-size $bs --blas $blas --json | tail -1 |
          sed 's/.*"seconds_per_epoch": \([0-9.e+-]*\).*/\1/')
      if [ -z "$best" ]; then best=$s; else best=$(echo "$best $s" | awk '{ print ($2 < $1) ? $2 : $1 }'); fi
      i=$((i + 1))
    done
    printf "%-10s %-6s %.5f\n" $bs $blas "$best"
  done
done
