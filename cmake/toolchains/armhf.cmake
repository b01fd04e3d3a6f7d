# Cross build for ARMv7 hard-float (32-bit little-endian, 32-bit size_t): cmake -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/armhf.cmake
# (`make cross-test ARCH=armhf`). Debian: apt-get install gcc-arm-linux-gnueabihf qemu-user.
set(CMAKE_SYSTEM_PROCESSOR armhf)
set(DESCENT_CROSS_TRIPLE arm-linux-gnueabihf)
set(DESCENT_QEMU_ARCH arm)
include(${CMAKE_CURRENT_LIST_DIR}/linux-cross.cmake)
