// Google Benchmark micro-benchmark of the device reduction kernels (src/cuda/reduce_kernels.cuh),
// timed with CUDA events (UseManualTime): the device-to-device copy, a = a + b (cuda_reduce) in
// float32 and bfloat16, and the k-input fold of the direct reduce-scatter (cuda_reduce_inputs),
// each at 256 MiB and 1 GiB per operand. bytes_per_second counts every stream of bytes (copy: 2,
// a = a + b: 3, k inputs: k + 1), so the three compare directly. reduce_kernels_bench is the
// table-producing twin (medians, graphs, JSON for tests/gpu/run.sh).
//
//   reduce_kernels_gbench [--benchmark_filter=...] [--benchmark_format=json]
// Without a CUDA device every benchmark reports itself skipped.
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <vector>

#include "src/cuda/reduce_kernels.cuh"

namespace {

bool HaveDevice(benchmark::State& state) {
  int n = 0;
  if (cudaGetDeviceCount(&n) == cudaSuccess && n > 0) return true;
  cudaGetLastError();
  state.SkipWithError("no CUDA device");
  return false;
}

// Device buffers for one benchmark: `count` operands of `bytes`, freed at the end.
struct Operands {
  std::vector<void*> p;
  bool ok = true;
  Operands(int count, size_t bytes) {
    for (int i = 0; i < count && ok; ++i) {
      void* q = nullptr;
      ok = cudaMalloc(&q, bytes) == cudaSuccess && cudaMemset(q, 0x3c, bytes) == cudaSuccess;
      if (q) p.push_back(q);
    }
  }
  ~Operands() {
    for (void* q : p) cudaFree(q);
  }
};

// Times fn(stream) per iteration with CUDA events; streams = byte streams moved per element.
template <class Fn>
void Run(benchmark::State& state, int operands, double streams, Fn fn) {
  if (!HaveDevice(state)) return;
  const size_t bytes = static_cast<size_t>(state.range(0)) << 20;
  Operands ops(operands, bytes);
  cudaStream_t s = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  if (!ops.ok || cudaStreamCreate(&s) != cudaSuccess || cudaEventCreate(&start) != cudaSuccess ||
      cudaEventCreate(&stop) != cudaSuccess) {
    state.SkipWithError("CUDA allocation failed");
    return;
  }
  if (fn(ops.p, bytes, s) != cudaSuccess) state.SkipWithError("first call failed");
  for (auto _ : state) {
    cudaEventRecord(start, s);
    const cudaError_t e = fn(ops.p, bytes, s);
    cudaEventRecord(stop, s);
    cudaEventSynchronize(stop);
    if (e != cudaSuccess) {
      state.SkipWithError(cudaGetErrorString(e));
      break;
    }
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    state.SetIterationTime(ms * 1e-3);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * streams * bytes));
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaStreamDestroy(s);
}

void Copy(benchmark::State& state) {
  Run(state, 2, 2, [](std::vector<void*>& p, size_t bytes, cudaStream_t s) {
    return cudaMemcpyAsync(p[0], p[1], bytes, cudaMemcpyDeviceToDevice, s);
  });
}

template <mics_datatype_t kType>
void AddInPlace(benchmark::State& state) {
  Run(state, 2, 3, [](std::vector<void*>& p, size_t bytes, cudaStream_t s) {
    const size_t n = bytes / (kType == MICS_FLOAT32 ? 4 : 2);
    return mics::cuda_reduce(kType, MICS_SUM, p[0], p[0], p[1], n, s);
  });
}

// k inputs (range 1) folded into a separate output: k + 1 streams.
void ReduceInputs(benchmark::State& state) {
  const int k = static_cast<int>(state.range(1));
  Run(state, k + 1, k + 1.0, [k](std::vector<void*>& p, size_t bytes, cudaStream_t s) {
    std::vector<const void*> srcs(p.begin() + 1, p.begin() + 1 + k);
    return mics::cuda_reduce_inputs(MICS_FLOAT32, MICS_SUM, p[0], srcs.data(), k, bytes / 4, k,
                                    nullptr, s);
  });
}

BENCHMARK(Copy)->Arg(256)->Arg(1024)->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(AddInPlace<MICS_FLOAT32>)
    ->Arg(256)
    ->Arg(1024)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(AddInPlace<MICS_BFLOAT16>)
    ->Arg(256)
    ->Arg(1024)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(ReduceInputs)
    ->Args({256, 2})
    ->Args({256, 4})
    ->Args({256, 8})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
