# Cross build for 64-bit Windows with mingw-w64; the tests run under wine:
# cmake -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/mingw64.cmake (`make
# cross-test ARCH=mingw64`). Debian: apt-get install gcc-mingw-w64-x86-64 wine64.
# Linked statically (libgcc, libgomp, winpthreads), so the .exe files run
# without DLLs beside them.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(CMAKE_C_COMPILER x86_64-w64-mingw32-gcc)
set(CMAKE_RC_COMPILER x86_64-w64-mingw32-windres)
set(CMAKE_FIND_ROOT_PATH /usr/x86_64-w64-mingw32)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_EXE_LINKER_FLAGS_INIT "-static")
# C99 printf (%zu, %lld) in every program, not only those that define _POSIX_C_SOURCE.
set(CMAKE_C_FLAGS_INIT "-D__USE_MINGW_ANSI_STDIO=1")
find_program(DESCENT_WINE NAMES wine64 wine PATHS /usr/lib/wine)
if(DESCENT_WINE)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${DESCENT_WINE})
endif()
# FindOpenMP would pick the import libraries (libgomp.dll.a): name the
# static ones, so -static links no DLL.
foreach(lib gomp pthread)
  execute_process(COMMAND ${CMAKE_C_COMPILER} -print-file-name=lib${lib}.a
                  OUTPUT_VARIABLE static_lib OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(EXISTS "${static_lib}")
    set(OpenMP_${lib}_LIBRARY ${static_lib} CACHE FILEPATH "static lib${lib} (cmake/toolchains/mingw64.cmake)")
  endif()
endforeach()
