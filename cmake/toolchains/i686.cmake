# Cross build for x86 (32-bit little-endian, 32-bit size_t):
# cmake -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/i686.cmake (`make cross-test
# ARCH=i686`). Debian: apt-get install gcc-i686-linux-gnu qemu-user.
# SSE2 arithmetic (every x86 processor since 2001): the x87 unit's default
# keeps intermediates in 80-bit registers and rounds twice, so its results
# differ in the last bits from every other platform's and checkpoints would
# not continue bit for bit.
set(CMAKE_SYSTEM_PROCESSOR i686)
set(DESCENT_CROSS_TRIPLE i686-linux-gnu)
set(DESCENT_QEMU_ARCH i386)
set(CMAKE_C_FLAGS_INIT "-msse2 -mfpmath=sse")
include(${CMAKE_CURRENT_LIST_DIR}/linux-cross.cmake)
