# Micro-benchmark of the host reduction kernels. Included from perf/CMakeLists.txt.
# The reduce sources are compiled in directly: libmics hides its internal symbols.
if(NOT TARGET benchmark::benchmark)
  find_package(benchmark QUIET)
endif()
if(NOT TARGET benchmark::benchmark)
  message(STATUS "Google Benchmark not found: reduce_bench is not built")
  return()
endif()

file(GLOB MICS_REDUCE_BENCH_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/src/reduce/*.cc)
add_executable(reduce_bench ${CMAKE_CURRENT_LIST_DIR}/reduce_bench.cc ${MICS_REDUCE_BENCH_SOURCES})
target_include_directories(reduce_bench PRIVATE ${CMAKE_SOURCE_DIR} ${CMAKE_SOURCE_DIR}/include)
target_compile_options(reduce_bench PRIVATE -O3)  # as in libmics
target_link_libraries(reduce_bench PRIVATE mics_warnings benchmark::benchmark)
