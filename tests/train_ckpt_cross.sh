#!/bin/sh
# train_ckpt_cross.sh WRITER RESUMER DATA DIR: `descent train` of the build
# WRITER (a command and its arguments, maybe under qemu) runs 2 epochs and
# saves the run; the build RESUMER loads it and trains on to epoch 4; both
# must end where WRITER's uninterrupted 4-epoch run ends: the same --json
# line and the same --log rows (every figure but the timings, which are
# the only fields that differ between machines). f64 and f32, a schedule,
# gradient clipping and an EMA. `make cross-test` runs it from the x86-64
# build to the emulated one and back (tests/CMakeLists.txt); the built-in
# kernel (--blas off) runs on both sides, as no CBLAS is in a cross build.
set -eu
writer=$1 resumer=$2 data=$3 dir=$4
rm -rf "$dir"
mkdir -p "$dir"
fail=0 passed=0
# The JSON line without "seconds" and "seconds_per_epoch"; the log without its seconds column.
figures() { sed -e 's/, "seconds[a-z_]*": [0-9.e+-]*//g' "$1"; }
log_figures() { cut -d, -f1-5 "$1"; }
for dtype in f64 f32; do
  set -- --data "$data" --target label --model "mlp(hidden=(16,), activation='tanh')" \
    --opt 'AdamW(lr=3e-3, weight_decay=0.01)' --sched 'CosineAnnealingLR(T_max=240)' \
    --batch-size 32 --seed 7 --dtype "$dtype" --blas off --clip-norm 1.0 --ema 0.9 --json
  d="$dir/$dtype"
  mkdir -p "$d"
  $writer train "$@" --epochs 4 --log "$d/whole.log" | tail -n 1 > "$d/whole.json"
  $writer train "$@" --epochs 2 --save "$d/half.ckpt" > /dev/null
  $resumer train "$@" --epochs 4 --resume "$d/half.ckpt" --log "$d/resumed.log" | tail -n 1 > "$d/resumed.json"
  figures "$d/whole.json" > "$d/whole.fig"
  figures "$d/resumed.json" > "$d/resumed.fig"
  log_figures "$d/whole.log" > "$d/whole.logfig"
  log_figures "$d/resumed.log" > "$d/resumed.logfig"
  if ! grep -q '"epochs": 4' "$d/whole.fig"; then
    echo "FAIL $dtype: the uninterrupted run gave no final JSON: $(cat "$d/whole.json")"
    fail=$((fail + 1))
  elif cmp -s "$d/whole.fig" "$d/resumed.fig" && cmp -s "$d/whole.logfig" "$d/resumed.logfig"; then
    echo "ok $dtype: $(cat "$d/resumed.fig")"
    passed=$((passed + 1))
  else
    echo "FAIL $dtype: the resumed run differs from the uninterrupted one"
    diff "$d/whole.fig" "$d/resumed.fig" || true
    diff "$d/whole.logfig" "$d/resumed.logfig" || true
    fail=$((fail + 1))
  fi
done
echo "$passed passed, $fail failed"
[ "$fail" = 0 ]
