# Shared part of the Linux cross toolchains (aarch64, s390x, i686, armhf):
# Debian's cross compiler DESCENT_CROSS_TRIPLE-gcc, its sysroot /usr/TRIPLE,
# and qemu-user as the emulator, so ctest runs every test program under
# qemu-DESCENT_QEMU_ARCH with the target's libraries from /usr/TRIPLE.
# Debian: apt-get install gcc-TRIPLE qemu-user (docs/getting-started.md).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_C_COMPILER ${DESCENT_CROSS_TRIPLE}-gcc)
set(CMAKE_FIND_ROOT_PATH /usr/${DESCENT_CROSS_TRIPLE})
# Programs (qemu, pkg-config, mpicc) are the host's; libraries and headers
# only the target's: a host library such as OpenBLAS or zlib is not linked.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
find_program(DESCENT_QEMU qemu-${DESCENT_QEMU_ARCH})
if(DESCENT_QEMU)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${DESCENT_QEMU} -L /usr/${DESCENT_CROSS_TRIPLE})
endif()
