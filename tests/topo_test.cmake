# Unit tests of the topology layer (hwloc discovery, rails) and of mics-topo.
# Included from tests/CMakeLists.txt. The topo sources are compiled in
# directly: libmics hides its internal symbols (it is linked only for the
# exported mics_result_string()).
if(NOT TARGET GTest::gtest_main)
  find_package(GTest REQUIRED)
endif()
include(GoogleTest)
if(NOT TARGET PkgConfig::HWLOC)
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(HWLOC REQUIRED IMPORTED_TARGET hwloc)
endif()

get_filename_component(MICS_TOPO_TEST_ROOT ${CMAKE_CURRENT_LIST_DIR}/.. ABSOLUTE)
add_executable(topo_test
  ${CMAKE_CURRENT_LIST_DIR}/topo_test.cc
  ${MICS_TOPO_TEST_ROOT}/topo/machine.cc
  ${MICS_TOPO_TEST_ROOT}/topo/hwloc_discovery.cc
  ${MICS_TOPO_TEST_ROOT}/topo/nvlink.cc
  ${MICS_TOPO_TEST_ROOT}/topo/rails.cc
  ${MICS_TOPO_TEST_ROOT}/src/base/env.cc
  ${MICS_TOPO_TEST_ROOT}/src/base/error.cc
  ${MICS_TOPO_TEST_ROOT}/src/base/log.cc)
target_include_directories(topo_test PRIVATE ${MICS_TOPO_TEST_ROOT} ${MICS_TOPO_TEST_ROOT}/include)
target_compile_definitions(topo_test PRIVATE
  MICS_TOPO_FIXTURE="${CMAKE_CURRENT_LIST_DIR}/data/p4d-like.hwloc.xml")
if(TARGET mics-topo)
  # The tool test runs the binary; without the target it skips itself.
  target_compile_definitions(topo_test PRIVATE MICS_TOPO_BIN="$<TARGET_FILE:mics-topo>")
  add_dependencies(topo_test mics-topo)
endif()
target_link_libraries(topo_test PRIVATE mics::mics PkgConfig::HWLOC ${CMAKE_DL_LIBS} mics_warnings
                                        GTest::gtest_main)
gtest_discover_tests(topo_test DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 120)
