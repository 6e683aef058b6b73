# Unit tests of the host reduction kernels. Included from tests/CMakeLists.txt.
# The reduce sources are compiled in directly: libmics hides its internal symbols.
if(NOT TARGET GTest::gtest_main)
  find_package(GTest REQUIRED)
endif()
include(GoogleTest)

file(GLOB MICS_REDUCE_TEST_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/reduce/*.cc)
add_executable(reduce_test ${CMAKE_CURRENT_LIST_DIR}/reduce_test.cc ${MICS_REDUCE_TEST_SOURCES})
target_include_directories(reduce_test PRIVATE ${CMAKE_SOURCE_DIR} ${CMAKE_SOURCE_DIR}/include)
# -O3 as in libmics, so the tests exercise the vectorised loops the library ships.
target_compile_options(reduce_test PRIVATE -O3)
target_link_libraries(reduce_test PRIVATE mics_warnings GTest::gtest_main)
gtest_discover_tests(reduce_test)
