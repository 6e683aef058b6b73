// cuda_copy (reduce_kernels.cuh): a device-to-device copy by the SMs, the alternative to the copy
// engine (cudaMemcpyAsync) for the direct path's reads of peer buffers (MICS_CUDA_COPY=sm).
// 16-byte loads and stores where source and destination share their alignment, four in flight
// per thread; byte by byte around them (and throughout when they do not).
#include <cstdint>

#include "src/cuda/kernel_common.cuh"
#include "src/cuda/reduce_kernels.cuh"

namespace mics {
namespace {

using cuda_detail::DeviceCache;
using cuda_detail::kMinBlocksPerSm;
using cuda_detail::kThreads;
using cuda_detail::WaveBlocks;

constexpr int kInFlight = 4;  // 16-byte words loaded per thread before the first store

__global__ void __launch_bounds__(kThreads, kMinBlocksPerSm)
    CopyKernel(uint8_t* dst, const uint8_t* src, size_t head, size_t words, size_t n) {
  const size_t stride = static_cast<size_t>(gridDim.x) * kThreads;
  const size_t gid = static_cast<size_t>(blockIdx.x) * kThreads + threadIdx.x;
  for (size_t i = gid; i < head; i += stride) dst[i] = src[i];
  for (size_t i = head + words * 16 + gid; i < n; i += stride) dst[i] = src[i];
  const uint4* s = reinterpret_cast<const uint4*>(src + head);
  uint4* d = reinterpret_cast<uint4*>(dst + head);
  for (size_t w0 = gid; w0 < words; w0 += stride * kInFlight) {
    uint4 r[kInFlight];
#pragma unroll
    for (int u = 0; u < kInFlight; ++u) {
      const size_t w = w0 + u * stride;
      if (w < words) r[u] = s[w];
    }
#pragma unroll
    for (int u = 0; u < kInFlight; ++u) {
      const size_t w = w0 + u * stride;
      if (w < words) d[w] = r[u];
    }
  }
}

}  // namespace

cudaError_t cuda_preload_copy() {
  cudaFuncAttributes attr{};
  return cudaFuncGetAttributes(&attr, CopyKernel);
}

cudaError_t cuda_copy(void* dst, const void* src, size_t bytes, cudaStream_t stream) {
  if (bytes == 0 || dst == src) return cudaSuccess;
  if (dst == nullptr || src == nullptr) return cudaErrorInvalidValue;
  const auto d = reinterpret_cast<uintptr_t>(dst), s = reinterpret_cast<uintptr_t>(src);
  // Bytes before dst's first 16-byte boundary; when src is aligned differently, all of them.
  size_t head = (16 - d % 16) % 16;
  if (d % 16 != s % 16 || head > bytes) head = bytes;
  const size_t words = (bytes - head) / 16;
  static DeviceCache occupancy{};
  unsigned blocks = 0;
  const size_t items = (words + kInFlight - 1) / kInFlight + (bytes - words * 16);
  const cudaError_t err = WaveBlocks(CopyKernel, occupancy, items, &blocks);
  if (err != cudaSuccess) return err;
  CopyKernel<<<blocks, kThreads, 0, stream>>>(static_cast<uint8_t*>(dst),
                                              static_cast<const uint8_t*>(src), head, words, bytes);
  return cudaGetLastError();
}

}  // namespace mics
