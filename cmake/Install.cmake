# Shared library, installation, pkg-config and the CMake package.
#
# The static target `descent` is what the tree's own programs link; the shared
# library is built from the same sources with the same settings (read from
# `descent`'s properties, so options added there apply here too).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

add_library(descent_shared SHARED ${DESCENT_SOURCES})
set_target_properties(descent_shared PROPERTIES
  OUTPUT_NAME descent
  VERSION ${PROJECT_VERSION}
  SOVERSION ${PROJECT_VERSION_MAJOR}
  C_VISIBILITY_PRESET default)
target_compile_options(descent_shared PRIVATE $<TARGET_PROPERTY:descent,COMPILE_OPTIONS>)
target_compile_definitions(descent_shared PRIVATE $<TARGET_PROPERTY:descent,COMPILE_DEFINITIONS>)
target_include_directories(descent_shared PRIVATE $<TARGET_PROPERTY:descent,INCLUDE_DIRECTORIES>)
target_include_directories(descent_shared PUBLIC
  $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_link_libraries(descent_shared PRIVATE $<TARGET_PROPERTY:descent,LINK_LIBRARIES>)
# The shared library exports exactly the functions listed in
# cmake/descent.exports (the calls include/descent.h declares; the test
# exports_check compares the three); the library's internal functions (also
# named descent_*) stay local, so they are not part of the ABI, except the
# few of cmake/descent.internal-exports that the shared descent_mpi of the
# same version calls.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/cmake/descent.exports
  ${CMAKE_CURRENT_SOURCE_DIR}/cmake/descent.internal-exports)
file(STRINGS ${CMAKE_CURRENT_SOURCE_DIR}/cmake/descent.exports DESCENT_EXPORTS REGEX "^descent_[a-z0-9_]+$")
if(DESCENT_MPI_BUILT)
  file(STRINGS ${CMAKE_CURRENT_SOURCE_DIR}/cmake/descent.internal-exports DESCENT_INTERNAL_EXPORTS
       REGEX "^descent_[a-z0-9_]+$")
  list(APPEND DESCENT_EXPORTS ${DESCENT_INTERNAL_EXPORTS})
endif()
string(REPLACE ";" ";\n    " DESCENT_EXPORT_LINES "${DESCENT_EXPORTS}")
file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/descent.map.in "{\n  global:\n    ${DESCENT_EXPORT_LINES};\n  local: *;\n};\n")
# Copied only when its content changes, so the library relinks exactly then.
configure_file(${CMAKE_CURRENT_BINARY_DIR}/descent.map.in ${CMAKE_CURRENT_BINARY_DIR}/descent.map COPYONLY)
target_link_options(descent_shared PRIVATE "LINKER:--version-script=${CMAKE_CURRENT_BINARY_DIR}/descent.map")
set_target_properties(descent_shared PROPERTIES LINK_DEPENDS ${CMAKE_CURRENT_BINARY_DIR}/descent.map)

set_target_properties(descent PROPERTIES EXPORT_NAME descent_static)
set_target_properties(descent_shared PROPERTIES EXPORT_NAME descent)

# add_subdirectory / FetchContent users get the same name as find_package users.
add_library(descent::descent ALIAS descent_shared)
add_library(descent::descent_static ALIAS descent)

install(TARGETS descent descent_shared EXPORT descentTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(TARGET descent_cli)
  install(TARGETS descent_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
install(DIRECTORY include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h")
install(EXPORT descentTargets NAMESPACE descent:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/descent)

configure_package_config_file(cmake/descentConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/descentConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/descent)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/descentConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/descentConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/descentConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/descent)

# pkg-config: the libraries the static archive needs go in Libs.private.
set(DESCENT_PC_PRIVATE "-lm")
if(DESCENT_CBLAS AND DESCENT_CBLAS_INCLUDE_DIR AND DESCENT_CBLAS_LIBRARY)
  # the models' CBLAS (libopenblas.so -> -lopenblas), which libdescent.a needs
  get_filename_component(DESCENT_CBLAS_DIR ${DESCENT_CBLAS_LIBRARY} DIRECTORY)
  get_filename_component(DESCENT_CBLAS_NAME ${DESCENT_CBLAS_LIBRARY} NAME_WE)
  string(REGEX REPLACE "^lib" "" DESCENT_CBLAS_NAME ${DESCENT_CBLAS_NAME})
  string(APPEND DESCENT_PC_PRIVATE " -L${DESCENT_CBLAS_DIR} -l${DESCENT_CBLAS_NAME}")
endif()
if(OpenMP_C_FOUND)
  string(APPEND DESCENT_PC_PRIVATE " ${OpenMP_C_FLAGS}")
endif()
file(RELATIVE_PATH DESCENT_PC_UP "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
configure_file(cmake/descent.pc.in ${CMAKE_CURRENT_BINARY_DIR}/descent.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/descent.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# descent_mpi (static, uses the library's internals, so it links the static
# libdescent.a): a CMake export of its own, loaded by descentConfig.cmake
# when installed, and descent_mpi.pc with the MPI flags CMake found.
if(DESCENT_MPI_BUILT)
  # The shared descent_mpi (descent::descent_mpi_shared) links the shared
  # libdescent and exports only the calls include/descent_mpi.h declares.
  add_library(descent_mpi_shared SHARED ${DESCENT_MPI_SOURCES})
  set_target_properties(descent_mpi_shared PROPERTIES
    OUTPUT_NAME descent_mpi
    VERSION ${PROJECT_VERSION}
    SOVERSION ${PROJECT_VERSION_MAJOR}
    EXPORT_NAME descent_mpi_shared)
  target_compile_options(descent_mpi_shared PRIVATE $<TARGET_PROPERTY:descent_mpi,COMPILE_OPTIONS>)
  target_compile_definitions(descent_mpi_shared PRIVATE $<TARGET_PROPERTY:descent_mpi,COMPILE_DEFINITIONS>)
  target_include_directories(descent_mpi_shared PRIVATE src)
  target_include_directories(descent_mpi_shared PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_link_libraries(descent_mpi_shared PUBLIC descent_shared MPI::MPI_C)
  file(READ ${CMAKE_CURRENT_SOURCE_DIR}/include/descent_mpi.h DESCENT_MPI_HEADER)
  string(REGEX MATCHALL "descent_mpi_[a-z0-9_]+\\(" DESCENT_MPI_CALLS "${DESCENT_MPI_HEADER}")
  string(REPLACE "(" "" DESCENT_MPI_CALLS "${DESCENT_MPI_CALLS}")
  list(REMOVE_DUPLICATES DESCENT_MPI_CALLS)
  string(REPLACE ";" ";\n    " DESCENT_MPI_LINES "${DESCENT_MPI_CALLS}")
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/descent_mpi.map.in "{\n  global:\n    ${DESCENT_MPI_LINES};\n  local: *;\n};\n")
  configure_file(${CMAKE_CURRENT_BINARY_DIR}/descent_mpi.map.in ${CMAKE_CURRENT_BINARY_DIR}/descent_mpi.map COPYONLY)
  target_link_options(descent_mpi_shared PRIVATE "LINKER:--version-script=${CMAKE_CURRENT_BINARY_DIR}/descent_mpi.map")
  set_target_properties(descent_mpi_shared PROPERTIES LINK_DEPENDS ${CMAKE_CURRENT_BINARY_DIR}/descent_mpi.map)
  add_library(descent::descent_mpi_shared ALIAS descent_mpi_shared)
  install(TARGETS descent_mpi_shared EXPORT descentMPITargets
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  install(TARGETS descent_mpi EXPORT descentMPITargets ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  install(EXPORT descentMPITargets NAMESPACE descent:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/descent)
  set(DESCENT_MPI_PC_CFLAGS "")
  foreach(dir ${MPI_C_INCLUDE_DIRS})
    string(APPEND DESCENT_MPI_PC_CFLAGS " -I${dir}")
  endforeach()
  foreach(flag ${MPI_C_COMPILE_OPTIONS})
    string(APPEND DESCENT_MPI_PC_CFLAGS " ${flag}")
  endforeach()
  set(DESCENT_MPI_PC_LIBS "")
  foreach(lib ${MPI_C_LIBRARIES})
    string(APPEND DESCENT_MPI_PC_LIBS " ${lib}")
  endforeach()
  configure_file(cmake/descent_mpi.pc.in ${CMAKE_CURRENT_BINARY_DIR}/descent_mpi.pc @ONLY)
  install(FILES ${CMAKE_CURRENT_BINARY_DIR}/descent_mpi.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endif()

# The man page is generated from the same usage texts as `descent --help`.
add_custom_command(OUTPUT ${CMAKE_CURRENT_BINARY_DIR}/descent.1
  COMMAND descent_cli --man ${CMAKE_CURRENT_BINARY_DIR}/descent.1
  DEPENDS descent_cli VERBATIM
  COMMENT "Generating the descent(1) man page")
add_custom_target(descent_man ALL DEPENDS ${CMAKE_CURRENT_BINARY_DIR}/descent.1)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/descent.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
