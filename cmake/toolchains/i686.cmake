# Cross build for x86 (32-bit little-endian, 32-bit size_t): cmake -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/i686.cmake
# (`make cross-test ARCH=i686`). Debian: apt-get install gcc-i686-linux-gnu qemu-user.
set(CMAKE_SYSTEM_PROCESSOR i686)
set(DESCENT_CROSS_TRIPLE i686-linux-gnu)
set(DESCENT_QEMU_ARCH i386)
include(${CMAKE_CURRENT_LIST_DIR}/linux-cross.cmake)
