# -DDESCENT_VALGRIND=ON (used by `make valgrind`): every test executable,
# and every child process it starts through a shell (the descent command),
# runs under valgrind memcheck. A read of an uninitialised or freed byte, a
# bad free or a leak (definitely or indirectly lost) makes the process exit
# with status 1, which fails the test. Tools the tests call that are not
# ours (python3, xmllint, chromium, mpirun, rm) run natively. Every
# process writes its report to valgrind-logs/PID.log in the build
# directory, empty when clean; `make valgrind` fails if any is not empty,
# which also catches an error in a child whose exit status a test ignores.
# The launcher is CMAKE_CROSSCOMPILING_EMULATOR, which add_test() puts in
# front of every test whose command is an executable target (CMake < 3.28,
# and later releases under policy CMP0158's OLD behaviour, which
# cmake_minimum_required(3.16) selects).
option(DESCENT_VALGRIND "Run the tests under valgrind memcheck" OFF)
if(DESCENT_VALGRIND)
  find_program(DESCENT_VALGRIND_EXECUTABLE valgrind)
  if(NOT DESCENT_VALGRIND_EXECUTABLE)
    message(FATAL_ERROR "DESCENT_VALGRIND=ON but valgrind was not found (Debian: apt-get install valgrind)")
  endif()
  file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/valgrind-logs)
  set(CMAKE_CROSSCOMPILING_EMULATOR
      ${DESCENT_VALGRIND_EXECUTABLE} -q --tool=memcheck --error-exitcode=1 --leak-check=full
      --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect
      --suppressions=${CMAKE_CURRENT_SOURCE_DIR}/tests/valgrind.supp --num-callers=30
      --log-file=${CMAKE_BINARY_DIR}/valgrind-logs/%p.log --trace-children=yes
      --trace-children-skip=*python*,*xmllint*,*chrom*,*mpirun*,*orterun*,*/rm,*/cmp,*/diff)
endif()
