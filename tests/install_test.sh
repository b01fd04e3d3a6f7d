#!/usr/bin/env bash
# Install into a fresh prefix, then build and run every example against the
# installed package twice: through pkg-config and through find_package.
# usage: install_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$(cd "$1" && pwd)
build=$(cd "$2" && pwd)
work=$(mktemp -d /tmp/descent-install-XXXXXX)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
libdir=$(ls -d "$work"/prefix/lib*/ | head -n1)
export PKG_CONFIG_PATH="$libdir/pkgconfig"
export LD_LIBRARY_PATH="$libdir"
test -x "$work/prefix/bin/descent"
"$work/prefix/bin/descent" --version
# The shared library exports the header's functions and nothing else, but
# (with descent_mpi) the library-internal ones libdescent_mpi.so calls.
hdr="$work/prefix/include/descent.h"
for sym in $(nm -D --defined-only "$libdir"/libdescent.so | awk '$2 == "T" || $2 == "D" || $2 == "B" {print $3}'); do
  if [ -f "$libdir/libdescent_mpi.so" ] && grep -qx "$sym" "$src/cmake/descent.internal-exports"; then
    continue
  fi
  grep -q "\b$sym\b" "$hdr" || { echo "libdescent.so exports $sym, which descent.h does not declare"; exit 1; }
done
# The man page is installed and documents every command --help lists.
man1="$work/prefix/share/man/man1/descent.1"
test -f "$man1"
for cmd in $("$work/prefix/bin/descent" --help | awk '/^commands:/{on=1; next} on && NF {print $1}'); do
  grep -q "^\.SS $cmd\$" "$man1" || { echo "man page lacks $cmd"; exit 1; }
done
# The static library with the libraries descent.pc lists for it: every
# object of the archive is linked in, so a dependency missing from
# Libs.private (the models' CBLAS, OpenMP) fails here.
static_libs=$(pkg-config --static --libs descent | sed 's/-ldescent//')
cc -std=c11 -o "$work/quickstart-static" "$src/examples/quickstart.c" $(pkg-config --cflags descent) \
  -Wl,--whole-archive "$libdir/libdescent.a" -Wl,--no-whole-archive $static_libs
"$work/quickstart-static" >/dev/null
pass=0
fail=0
shopt -s nullglob
examples=("$src"/examples/*.c)
if [ ${#examples[@]} -eq 0 ]; then
  echo "no examples found under $src/examples"
  exit 1
fi
for ex in "${examples[@]}"; do
  name=$(basename "$ex" .c)
  # pkg-config, shared library
  if cc -std=c11 -D_POSIX_C_SOURCE=200809L -o "$work/$name-pc" "$ex" $(pkg-config --cflags --libs descent) -lm &&
     (cd "$src/examples" && "$work/$name-pc" >"$work/$name-pc.out"); then
    pass=$((pass + 1))
  else
    echo "FAILED: $name via pkg-config"; fail=$((fail + 1))
  fi
  # find_package, in a consumer project of its own
  mkdir -p "$work/cm-$name"
  cat >"$work/cm-$name/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.16)
project(consumer C)
find_package(descent 0.1 REQUIRED)
add_executable(app "$ex")
target_compile_definitions(app PRIVATE _POSIX_C_SOURCE=200809L)
target_link_libraries(app PRIVATE descent::descent m)
CM
  if cmake -S "$work/cm-$name" -B "$work/cm-$name/b" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null &&
     cmake --build "$work/cm-$name/b" >/dev/null &&
     (cd "$src/examples" && "$work/cm-$name/b/app" >"$work/$name-cm.out"); then
    pass=$((pass + 1))
  else
    echo "FAILED: $name via find_package"; fail=$((fail + 1))
  fi
done
# descent_mpi, when installed: the MPI example through descent_mpi.pc and
# through find_package (descent::descent_mpi, static, and
# descent::descent_mpi_shared), run on 2 ranks.
if [ -f "$libdir/libdescent_mpi.a" ]; then
  ex="$src/examples/mpi/data_parallel.c"
  mpirun_cmd=(mpirun --allow-run-as-root --oversubscribe --mca btl self,vader -np 2)
  if cc -std=c11 -D_POSIX_C_SOURCE=200809L -o "$work/mpi-pc" "$ex" $(pkg-config --cflags --libs descent_mpi) -lm &&
     "${mpirun_cmd[@]}" "$work/mpi-pc" >"$work/mpi-pc.out"; then
    pass=$((pass + 1))
  else
    echo "FAILED: mpi/data_parallel via pkg-config"; fail=$((fail + 1))
  fi
  # The pkg-config build links the shared libraries.
  if ! ldd "$work/mpi-pc" | grep -q 'libdescent_mpi\.so'; then
    echo "FAILED: mpi/data_parallel via pkg-config does not link libdescent_mpi.so"; fail=$((fail + 1))
  fi
  for target in descent_mpi descent_mpi_shared; do
    mkdir -p "$work/cm-$target"
    cat >"$work/cm-$target/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.16)
project(consumer C)
find_package(descent 0.1 REQUIRED)
if(NOT TARGET descent::$target)
  message(FATAL_ERROR "descent::$target missing")
endif()
add_executable(app "$ex")
target_compile_definitions(app PRIVATE _POSIX_C_SOURCE=200809L)
target_link_libraries(app PRIVATE descent::$target m)
CM
    if cmake -S "$work/cm-$target" -B "$work/cm-$target/b" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null &&
       cmake --build "$work/cm-$target/b" >/dev/null && "${mpirun_cmd[@]}" "$work/cm-$target/b/app" >"$work/$target-cm.out"; then
      pass=$((pass + 1))
    else
      echo "FAILED: mpi/data_parallel via find_package (descent::$target)"; fail=$((fail + 1))
    fi
  done
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
