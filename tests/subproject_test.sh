#!/usr/bin/env bash
# Use descent without installing it: a consumer project that takes the source
# tree in with add_subdirectory(), and one that takes it in with
# FetchContent, each linking descent::descent and running
# examples/quickstart.c. Only the consumer's target is built (the library
# and nothing else of descent's).
# usage: subproject_test.sh SOURCE_DIR [C_COMPILER]
set -euo pipefail
src=$(cd "$1" && pwd)
cc=${2:-cc}
work=$(mktemp -d /tmp/descent-subproject-XXXXXX)
trap 'rm -rf "$work"' EXIT

mkdir -p "$work/addsub" "$work/fetch"
cat >"$work/addsub/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.16)
project(consumer C)
set(BUILD_TESTING OFF CACHE BOOL "" FORCE)
add_subdirectory("$src" descent EXCLUDE_FROM_ALL)
add_executable(app "$src/examples/quickstart.c")
target_link_libraries(app PRIVATE descent::descent)
CM
cat >"$work/fetch/CMakeLists.txt" <<CM
cmake_minimum_required(VERSION 3.16)
project(consumer C)
set(BUILD_TESTING OFF CACHE BOOL "" FORCE)
include(FetchContent)
# A real project would give GIT_REPOSITORY and GIT_TAG (or URL) here.
FetchContent_Declare(descent SOURCE_DIR "$src")
FetchContent_MakeAvailable(descent)
add_executable(app "$src/examples/quickstart.c")
target_link_libraries(app PRIVATE descent::descent)
CM
for kind in addsub fetch; do
  cmake -S "$work/$kind" -B "$work/$kind/b" -DCMAKE_C_COMPILER="$cc" -DDESCENT_MPI=OFF >/dev/null
  cmake --build "$work/$kind/b" --target app -j 2 >/dev/null
  "$work/$kind/b/app"
  echo "$kind: ok"
done
