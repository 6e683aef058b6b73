# hwloc for the topology layer (topo/hwloc_discovery.cc) and the mics-topo tool.
# Included from the top CMakeLists.txt after the `mics` target is defined and
# before add_subdirectory(tests).
get_filename_component(MICS_TOPO_ROOT ${CMAKE_CURRENT_LIST_DIR}/.. ABSOLUTE)

find_package(PkgConfig REQUIRED)
pkg_check_modules(HWLOC REQUIRED IMPORTED_TARGET hwloc)

# The library glob already compiles topo/*.cc; those need hwloc, and
# topo/nvlink.cc needs dlopen() for NVML (never linked: it exists only where
# the NVIDIA driver is installed).
target_link_libraries(mics PRIVATE PkgConfig::HWLOC ${CMAKE_DL_LIBS})

# The topology layer again as a static library for mics-topo and the tests:
# libmics hides its internal symbols. It links libmics only for the exported
# mics_result_string() that src/base/error.cc uses.
set(MICS_TOPO_SOURCES
    ${MICS_TOPO_ROOT}/topo/machine.cc
    ${MICS_TOPO_ROOT}/topo/hwloc_discovery.cc
    ${MICS_TOPO_ROOT}/topo/nvlink.cc
    ${MICS_TOPO_ROOT}/topo/rails.cc
    ${MICS_TOPO_ROOT}/src/base/env.cc
    ${MICS_TOPO_ROOT}/src/base/error.cc
    ${MICS_TOPO_ROOT}/src/base/log.cc)
add_library(mics_topo STATIC ${MICS_TOPO_SOURCES})
target_include_directories(mics_topo PUBLIC ${MICS_TOPO_ROOT} ${MICS_TOPO_ROOT}/include)
target_link_libraries(mics_topo PUBLIC mics PkgConfig::HWLOC ${CMAKE_DL_LIBS} PRIVATE mics_warnings)

add_executable(mics-topo ${MICS_TOPO_ROOT}/topo/tools/mics_topo_main.cc)
target_link_libraries(mics-topo PRIVATE mics_topo mics_warnings)
# Installed next to lib/, so it finds libmics wherever the prefix is.
set_target_properties(mics-topo PROPERTIES INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}")
install(TARGETS mics-topo RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
