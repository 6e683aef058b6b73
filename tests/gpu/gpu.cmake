# GPU tests: the device reduction kernels against the host ones. Included from
# tests/CMakeLists.txt (after cmake/cuda.cmake) and from tests/gpu/standalone/CMakeLists.txt.
# Built whenever MICS_CUDA is on; without a GPU every test skips, so CI compiles, links and runs
# them all the same.
if(NOT MICS_CUDA)
  return()
endif()
get_filename_component(MICS_GPU_TEST_ROOT ${CMAKE_CURRENT_LIST_DIR}/../.. ABSOLUTE)
if(NOT TARGET GTest::gtest_main)
  find_package(GTest REQUIRED)
endif()
include(GoogleTest)

# The host kernels are the reference; compiled in directly (libmics hides their symbols), -O3 as
# in libmics so that the AVX2 loops the library ships are the ones compared.
file(GLOB MICS_GPU_TEST_REDUCE_SOURCES CONFIGURE_DEPENDS ${MICS_GPU_TEST_ROOT}/src/reduce/*.cc)
add_executable(reduce_kernels_test ${CMAKE_CURRENT_LIST_DIR}/reduce_kernels_test.cu
                                   ${MICS_GPU_TEST_REDUCE_SOURCES})
target_include_directories(reduce_kernels_test PRIVATE ${MICS_GPU_TEST_ROOT}
                                                       ${MICS_GPU_TEST_ROOT}/include)
target_compile_options(reduce_kernels_test PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-O3>)
target_link_libraries(reduce_kernels_test PRIVATE mics_cuda_kernels mics_cuda_warnings
                                                  GTest::gtest_main)
gtest_discover_tests(reduce_kernels_test DISCOVERY_TIMEOUT 60
                     PROPERTIES TIMEOUT 600 LABELS gpu)

# The device-buffer path of libmics (src/cuda/proxy.*) through the public API: the host matrix
# with device buffers, ranks as processes and as init_all threads on one GPU, stream ordering,
# grad_sync. Needs libmics and the test harness, so only in the whole tree (not standalone).
if(TARGET mics AND TARGET mics_test_harness)
  add_executable(device_path_test ${CMAKE_CURRENT_LIST_DIR}/device_path_test.cu)
  target_include_directories(device_path_test PRIVATE ${MICS_GPU_TEST_ROOT}/tests)
  target_link_libraries(device_path_test PRIVATE mics_test_harness mics::mics CUDA::cudart
                                                 mics_cuda_warnings GTest::gtest_main)
  gtest_discover_tests(device_path_test DISCOVERY_TIMEOUT 60
                       PROPERTIES TIMEOUT 600 LABELS gpu)
endif()
