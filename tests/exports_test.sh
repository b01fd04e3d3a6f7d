#!/usr/bin/env bash
# The shared library exports exactly the functions of cmake/descent.exports,
# and that list is exactly the functions include/descent.h declares (a
# function-like macro is not a function: it is not exported). When the shared
# descent_mpi is built, it also exports cmake/descent.internal-exports, each
# declared in one of the library-internal headers that src/mpi/ includes.
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
internal=$(grep -E '^descent_[a-z0-9_]+$' "$src/cmake/descent.internal-exports" | sort -u)
internal_exported=$(comm -12 <(echo "$internal") <(echo "$exported"))
status=0
if [ -n "$internal_exported" ]; then
  if [ "$internal_exported" != "$internal" ]; then
    echo "only part of cmake/descent.internal-exports is exported:"
    comm -23 <(echo "$internal") <(echo "$exported")
    status=1
  fi
  for f in $internal; do
    if ! cat "$src"/src/access.h "$src"/src/bytes.h "$src"/src/common.h "$src"/src/formats.h |
        grep -E "\b$f[[:space:]]*\(" >/dev/null; then
      echo "$f (cmake/descent.internal-exports) is declared in no library-internal header"
      status=1
    fi
  done
  exported=$(comm -23 <(echo "$exported") <(echo "$internal"))
fi
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
[ $status -eq 0 ] && echo "$(echo "$list" | wc -l) functions exported, as declared" &&
  [ -n "$internal_exported" ] && echo "and $(echo "$internal" | wc -l) library-internal ones for descent_mpi"
exit $status
