# CUDA: the MICS_CUDA option and the device reduction kernels (src/cuda/*.cu) as the static,
# position-independent library mics_cuda_kernels, for libmics, the GPU tests and the GPU bench.
# Included at the top level (enable_language must run there), before the tests and perf
# subdirectories; also by tests/gpu/standalone/CMakeLists.txt, so it relies on nothing else of
# the top CMakeLists. Needs only the toolkit, no GPU: CI compiles and links everything.
#
# Sets MICS_CUDA (ON when a CUDA compiler is found); when ON, defines the targets
# mics_cuda_kernels and mics_cuda_warnings (warning flags for other .cu targets).
get_filename_component(MICS_CUDA_ROOT ${CMAKE_CURRENT_LIST_DIR}/.. ABSOLUTE)

include(CheckLanguage)
check_language(CUDA)
if(CMAKE_CUDA_COMPILER)
  set(_mics_cuda_default ON)
else()
  set(_mics_cuda_default OFF)
endif()
option(MICS_CUDA "Build the CUDA kernels and GPU tests (needs the CUDA toolkit, not a GPU)"
       ${_mics_cuda_default})
if(NOT MICS_CUDA)
  message(STATUS "MICS_CUDA is OFF: no CUDA kernels")
  return()
endif()
if(NOT CMAKE_CUDA_COMPILER)
  message(FATAL_ERROR "MICS_CUDA is ON but no CUDA compiler was found (set CMAKE_CUDA_COMPILER)")
endif()

# Hopper by default ("90": sm_90 machine code plus compute_90 PTX, which newer GPUs can JIT);
# one architecture keeps the compile short on 2-core CI. Override with
# -DCMAKE_CUDA_ARCHITECTURES="80;90" (CUDA 13 builds nothing older than 75).
# Must be set before enable_language, which would otherwise pick the compiler's default.
if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES OR CMAKE_CUDA_ARCHITECTURES STREQUAL "")
  set(CMAKE_CUDA_ARCHITECTURES 90 CACHE STRING "CUDA architectures to build for")
endif()
# nvcc's host compiler: the C++ compiler of the rest of the build, so one ABI and one libstdc++.
if(NOT DEFINED CMAKE_CUDA_HOST_COMPILER AND CMAKE_CXX_COMPILER)
  set(CMAKE_CUDA_HOST_COMPILER ${CMAKE_CXX_COMPILER} CACHE FILEPATH "nvcc host compiler")
endif()
# One shared runtime for every target: .cu executables would otherwise link cudart_static
# beside the libcudart.so that mics_cuda_kernels brings, and two runtimes do not share state.
if(NOT DEFINED CMAKE_CUDA_RUNTIME_LIBRARY)
  set(CMAKE_CUDA_RUNTIME_LIBRARY Shared)
endif()
enable_language(CUDA)
set(CMAKE_CUDA_STANDARD 17)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)
set(CMAKE_CUDA_EXTENSIONS OFF)
find_package(CUDAToolkit REQUIRED)
message(STATUS "MICS_CUDA: nvcc ${CMAKE_CUDA_COMPILER_VERSION}, architectures "
               "${CMAKE_CUDA_ARCHITECTURES}")

# Warnings as errors for nvcc's host pass, like mics_warnings for C++ (MICS_WERROR, default ON).
if(NOT DEFINED MICS_WERROR)
  set(MICS_WERROR ON)
endif()
add_library(mics_cuda_warnings INTERFACE)
target_compile_options(mics_cuda_warnings INTERFACE
  $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra,-Wshadow>
  $<$<AND:$<COMPILE_LANGUAGE:CUDA>,$<BOOL:${MICS_WERROR}>>:-Xcompiler=-Werror>
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wshadow -Wno-unused-parameter>
  $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<BOOL:${MICS_WERROR}>>:-Werror>)

file(GLOB MICS_CUDA_SOURCES CONFIGURE_DEPENDS ${MICS_CUDA_ROOT}/src/cuda/*.cu)
add_library(mics_cuda_kernels STATIC ${MICS_CUDA_SOURCES})
target_include_directories(mics_cuda_kernels PUBLIC ${MICS_CUDA_ROOT} ${MICS_CUDA_ROOT}/include)
# libmics is a shared library and links this in whole. Whole-program (non-separable)
# compilation: every kernel is launched from the file that defines it, so no device link step.
set_target_properties(mics_cuda_kernels PROPERTIES POSITION_INDEPENDENT_CODE ON
                                                   CUDA_SEPARABLE_COMPILATION OFF)
# Hidden like the rest of libmics' internals.
target_compile_options(mics_cuda_kernels PRIVATE
  $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-fvisibility=hidden>)
target_link_libraries(mics_cuda_kernels PUBLIC CUDA::cudart PRIVATE mics_cuda_warnings)

# libmics' device-buffer path (src/cuda/*.cc: buffer kinds, the per-communicator proxy; and
# transport/cuda_ipc/*.cc: peers' device memory mapped between local processes): host
# C++ against the CUDA runtime, linked into libmics when MICS_CUDA is on. Without it,
# src/device_none.cc takes every buffer as host memory. (Only where the mics target exists:
# not in tests/gpu/standalone.) The driver API is reached through cudaGetDriverEntryPoint, so
# libmics needs no libcuda at link time and loads on machines without a driver.
if(TARGET mics)
  file(GLOB MICS_CUDA_HOST_SOURCES CONFIGURE_DEPENDS ${MICS_CUDA_ROOT}/src/cuda/*.cc
       ${MICS_CUDA_ROOT}/transport/cuda_ipc/*.cc)
  target_sources(mics PRIVATE ${MICS_CUDA_HOST_SOURCES})
  target_compile_definitions(mics PRIVATE MICS_HAVE_CUDA=1)
  # The reduction kernels, for the device reduce-scatter of the single-copy path.
  target_link_libraries(mics PRIVATE CUDA::cudart mics_cuda_kernels)
endif()
