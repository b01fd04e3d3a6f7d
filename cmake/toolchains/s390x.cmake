# Cross build for IBM Z (64-bit big-endian): cmake -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/s390x.cmake
# (`make cross-test ARCH=s390x`). Debian: apt-get install gcc-s390x-linux-gnu qemu-user.
set(CMAKE_SYSTEM_PROCESSOR s390x)
set(DESCENT_CROSS_TRIPLE s390x-linux-gnu)
set(DESCENT_QEMU_ARCH s390x)
include(${CMAKE_CURRENT_LIST_DIR}/linux-cross.cmake)
