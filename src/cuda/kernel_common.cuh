// Shared by the element-wise kernel files (reduce_kernels.cu, reduce_inputs.cu): launch
// geometry, 16-byte packs, per-device caches and the (type, op) dispatch. .cu files only.
#ifndef MICS_CUDA_KERNEL_COMMON_CUH_
#define MICS_CUDA_KERNEL_COMMON_CUH_

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <type_traits>

#include "src/cuda/reduce_kernels.cuh"

namespace mics {
namespace cuda_detail {

constexpr int kThreads = 256;
// At least 4 blocks (1024 threads) per SM: caps registers at 64, so that no instantiation spills
// (the 16-bit conversions and 64-bit divisions need more than 32); the grid is sized from the
// real occupancy of each instantiation.
constexpr int kMinBlocksPerSm = 4;
// Packs per thread per iteration: all loads are issued before the first use. No __restrict__
// (the in-place forms alias), so the compiler could not hoist them across stores by itself.
constexpr int kUnroll = 2;

// V elements loaded and stored as 16-byte words (several when T is wider than the smallest
// type of the call): the union makes nvcc emit 128-bit LDG/STG.
template <class T, int V>
union Pack {
  static constexpr int kWords = static_cast<int>(sizeof(T)) * V / 16;
  uint4 w[kWords];
  T v[V];
};

// [0, head) and [head + packs * V, n) go element by element; the packs in between are 16-byte
// aligned in every operand.
struct Span {
  size_t head;
  size_t packs;
  size_t n;
};

constexpr int kMaxDevices = 64;
using DeviceCache = std::array<std::atomic<int>, kMaxDevices>;

// *value = compute(dev), computed once per device (0 = not yet; devices past kMaxDevices are
// computed every time). Benign race: two threads may both compute the same value.
template <class F>
inline cudaError_t CachedPerDevice(DeviceCache& cache, int dev, F compute, int* value) {
  const bool cacheable = dev >= 0 && dev < kMaxDevices;
  if (cacheable && (*value = cache[dev].load(std::memory_order_relaxed)) > 0) return cudaSuccess;
  const cudaError_t err = compute(value);
  if (err == cudaSuccess && cacheable) cache[dev].store(*value, std::memory_order_relaxed);
  return err;
}

// Multiprocessor count of device dev: cudaGetDeviceProperties takes far longer than a launch.
inline cudaError_t SmCount(int dev, int* count) {
  static DeviceCache cache{};
  return CachedPerDevice(
      cache, dev,
      [dev](int* v) {
        cudaDeviceProp prop;
        const cudaError_t err = cudaGetDeviceProperties(&prop, dev);
        *v = prop.multiProcessorCount;
        return err;
      },
      count);
}

// Blocks of kThreads for `items` work items of `kernel`: enough for the work, at most one full
// wave (a grid-stride loop does the rest; a partial second wave would double the time of the
// blocks in it). `occupancy` caches the kernel's blocks per SM per device: one per kernel.
template <class Kernel>
cudaError_t WaveBlocks(Kernel kernel, DeviceCache& occupancy, size_t items, unsigned* blocks) {
  int dev = 0, sms = 0, per_sm = 0;
  cudaError_t err = cudaGetDevice(&dev);
  if (err == cudaSuccess) err = SmCount(dev, &sms);
  if (err == cudaSuccess) {
    err = CachedPerDevice(
        occupancy, dev,
        [kernel](int* v) {
          return cudaOccupancyMaxActiveBlocksPerMultiprocessor(v, kernel, kThreads, 0);
        },
        &per_sm);
  }
  if (err != cudaSuccess) return err;
  const size_t wanted = (items + kThreads - 1) / kThreads;
  const size_t wave = static_cast<size_t>(sms) * std::max(per_sm, 1);
  *blocks = static_cast<unsigned>(std::max<size_t>(1, std::min(wanted, wave)));
  return cudaSuccess;
}

// f(S{}) for the storage type S of `type`.
template <class F>
cudaError_t VisitType(mics_datatype_t type, F&& f) {
  switch (type) {
    case MICS_INT8:
      return f(int8_t{});
    case MICS_UINT8:
      return f(uint8_t{});
    case MICS_INT32:
      return f(int32_t{});
    case MICS_UINT32:
      return f(uint32_t{});
    case MICS_INT64:
      return f(int64_t{});
    case MICS_UINT64:
      return f(uint64_t{});
    case MICS_FLOAT16:
      return f(Fp16{});
    case MICS_FLOAT32:
      return f(float{});
    case MICS_FLOAT64:
      return f(double{});
    case MICS_BFLOAT16:
      return f(Bf16{});
    default:
      return cudaErrorInvalidValue;
  }
}

// f(S{}, Op{}, std::bool_constant<op is AVG>{}); AVG combines as SUM.
template <class F>
cudaError_t Visit(mics_datatype_t type, mics_redop_t op, F&& f) {
  return VisitType(type, [&](auto s) -> cudaError_t {
    switch (op) {
      case MICS_SUM:
        return f(s, SumOp{}, std::false_type{});
      case MICS_PROD:
        return f(s, ProdOp{}, std::false_type{});
      case MICS_MAX:
        return f(s, MaxOp{}, std::false_type{});
      case MICS_MIN:
        return f(s, MinOp{}, std::false_type{});
      case MICS_AVG:
        return f(s, SumOp{}, std::true_type{});
      default:
        return cudaErrorInvalidValue;
    }
  });
}

}  // namespace cuda_detail
}  // namespace mics

#endif  // MICS_CUDA_KERNEL_COMMON_CUH_
