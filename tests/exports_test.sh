#!/usr/bin/env bash
# The shared library exports exactly the functions of cmake/descent.exports,
# and that list is exactly the functions include/descent.h declares (a
# function-like macro is not a function: it is not exported).
# usage: exports_test.sh SOURCE_DIR LIBDESCENT_SO
set -euo pipefail
src=$1
so=$2
list=$(grep -E '^descent_[a-z0-9_]+$' "$src/cmake/descent.exports" | sort -u)
exported=$(nm -D --defined-only "$so" | awk '$2 == "T" {print $3}' | grep '^descent_' | sort -u)
# Declarations: every "descent_name(" outside #define lines (and their
# continuation lines), minus the names that appear as macros.
declared=$(awk '/^#[ \t]*define/ {macro = 1} !macro {print} {if (!/\\$/) macro = 0}' "$src/include/descent.h" |
  grep -oE 'descent_[a-z0-9_]+[[:space:]]*\(' | sed -E 's/[[:space:]]*\($//' | sort -u)
macros=$(grep -oE '^#[ \t]*define[ \t]+descent_[a-z0-9_]+\(' "$src/include/descent.h" |
  sed -E 's/.*define[ \t]+//; s/\($//' | sort -u)
declared=$(comm -23 <(echo "$declared") <(echo "$macros"))
status=0
if ! diff <(echo "$list") <(echo "$exported") >/dev/null; then
  echo "cmake/descent.exports (<) and the exports of $so (>) differ:"
  diff <(echo "$list") <(echo "$exported") || true
  status=1
fi
if ! diff <(echo "$list") <(echo "$declared") >/dev/null; then
  echo "cmake/descent.exports (<) and the functions include/descent.h declares (>) differ:"
  diff <(echo "$list") <(echo "$declared") || true
  status=1
fi
[ $status -eq 0 ] && echo "$(echo "$list" | wc -l) functions exported, as declared"
exit $status
