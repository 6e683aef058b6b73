# -M cuda and --engine nccl of the perf binaries (perf_cuda.cc, perf_nccl.cc), added to
# mics_perf_common. Device buffers whenever MICS_CUDA is on (cmake/cuda.cmake: the toolkit was
# found); NCCL only when it is found as well: it is never needed to build the library, and a
# build without it keeps `--engine nccl` as a "not built" error. NCCL is searched beside the CUDA
# toolkit and under NCCL_HOME (-DNCCL_HOME=... or the environment variable); MICS_PERF_NCCL=OFF
# leaves it out.
if(NOT MICS_CUDA)
  return()
endif()
target_sources(mics_perf_common PRIVATE ${CMAKE_CURRENT_LIST_DIR}/perf_cuda.cc)
target_compile_definitions(mics_perf_common PRIVATE MICS_PERF_CUDA=1)
target_link_libraries(mics_perf_common PRIVATE CUDA::cudart)

option(MICS_PERF_NCCL "Build --engine nccl into the perf binaries when NCCL is found" ON)
if(NOT MICS_PERF_NCCL)
  return()
endif()
find_path(MICS_NCCL_INCLUDE_DIR nccl.h
          HINTS ${NCCL_HOME} $ENV{NCCL_HOME} ${CUDAToolkit_INCLUDE_DIRS}
          PATH_SUFFIXES include)
find_library(MICS_NCCL_LIBRARY nccl
             HINTS ${NCCL_HOME} $ENV{NCCL_HOME} ${CUDAToolkit_LIBRARY_DIR}
             PATH_SUFFIXES lib lib64)
if(NOT MICS_NCCL_INCLUDE_DIR OR NOT MICS_NCCL_LIBRARY)
  message(STATUS "perf: NCCL not found (set NCCL_HOME): no --engine nccl")
  return()
endif()
message(STATUS "perf: --engine nccl with ${MICS_NCCL_LIBRARY}")
target_sources(mics_perf_common PRIVATE ${CMAKE_CURRENT_LIST_DIR}/perf_nccl.cc)
target_compile_definitions(mics_perf_common PRIVATE MICS_PERF_NCCL=1)
# SYSTEM: NCCL's header is not ours to hold to -Werror.
target_include_directories(mics_perf_common SYSTEM PRIVATE ${MICS_NCCL_INCLUDE_DIR})
target_link_libraries(mics_perf_common PRIVATE ${MICS_NCCL_LIBRARY})
