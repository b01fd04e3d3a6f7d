# Cross build for ARM64 (64-bit little-endian): cmake -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64.cmake
# (`make cross-test ARCH=aarch64`). Debian: apt-get install gcc-aarch64-linux-gnu qemu-user.
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(DESCENT_CROSS_TRIPLE aarch64-linux-gnu)
set(DESCENT_QEMU_ARCH aarch64)
include(${CMAKE_CURRENT_LIST_DIR}/linux-cross.cmake)
