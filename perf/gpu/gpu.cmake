# GPU bench: a = a + b against a device-to-device copy. Included from perf/CMakeLists.txt (after
# cmake/cuda.cmake) and from tests/gpu/standalone/CMakeLists.txt. A plain timing program (CUDA
# events, medians), so it needs nothing beyond the toolkit.
if(NOT MICS_CUDA)
  return()
endif()
add_executable(reduce_kernels_bench ${CMAKE_CURRENT_LIST_DIR}/reduce_kernels_bench.cu)
target_link_libraries(reduce_kernels_bench PRIVATE mics_cuda_kernels mics_cuda_warnings)

# The same kernels under Google Benchmark (when it is installed).
if(NOT TARGET benchmark::benchmark)
  find_package(benchmark QUIET)
endif()
if(TARGET benchmark::benchmark)
  add_executable(reduce_kernels_gbench ${CMAKE_CURRENT_LIST_DIR}/reduce_kernels_gbench.cu)
  target_link_libraries(reduce_kernels_gbench PRIVATE mics_cuda_kernels mics_cuda_warnings
                                                      benchmark::benchmark)
endif()

# The baseline of the processes-on-one-GPU allgather: CUDA IPC and the copy engine, no mics.
find_package(Threads REQUIRED)
add_executable(naive_ipc_gather ${CMAKE_CURRENT_LIST_DIR}/naive_ipc_gather.cu)
target_link_libraries(naive_ipc_gather PRIVATE CUDA::cudart Threads::Threads mics_cuda_warnings)

# Device-buffer collectives through libmics' public API (init_all threads on one GPU). Only in the
# whole tree, where libmics exists.
if(TARGET mics)
  add_executable(device_collectives_bench ${CMAKE_CURRENT_LIST_DIR}/device_collectives_bench.cu)
  target_link_libraries(device_collectives_bench PRIVATE mics::mics CUDA::cudart mics_cuda_warnings)
endif()
