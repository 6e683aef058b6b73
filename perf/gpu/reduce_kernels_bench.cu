// Bandwidth of the device reduction a = a + b (mics::cuda_reduce, SUM, in place) for float32 and
// bfloat16, next to a device-to-device cudaMemcpyAsync of the same size in the same run.
//
// Counting: the reduction moves 3 streams of bytes (read a, read b, write a), the copy 2 (read,
// write); GB/s = bytes moved / median time / 1e9. The bar (the GPU issue): the reduction reaches
// >= 90 % of the copy's bandwidth at 1 GiB. Each timed batch rotates over a pool of buffers at
// least 4x the L2 cache, so that small sizes measure device memory, not L2; see TimeOp.
//
// Usage: reduce_kernels_bench [--min-mib M] [--max-mib M] [--reps R] [--json FILE]
// Without a CUDA device it says so and exits 0 (the JSON, if asked for, says "skipped").
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "src/cuda/reduce_kernels.cuh"

namespace {

#define CHECK_CUDA(expr)                                                 \
  do {                                                                   \
    const cudaError_t err_ = (expr);                                     \
    if (err_ != cudaSuccess) {                                           \
      std::fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr, \
                   cudaGetErrorString(err_));                            \
      std::exit(1);                                                      \
    }                                                                    \
  } while (0)

constexpr size_t kMiB = size_t{1} << 20;

// Arbitrary finite values in [-1, 1) (never zeros: they can run faster than real data).
__global__ void FillKernel(uint32_t* p, size_t words, uint32_t salt, bool bf16) {
  for (size_t i = blockIdx.x * size_t{blockDim.x} + threadIdx.x; i < words;
       i += size_t{gridDim.x} * blockDim.x) {
    uint32_t h = static_cast<uint32_t>(i) * 0x9e3779b1u ^ salt;
    h ^= h >> 15;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    // float32: sign, exponent 126 (0.5..1), random mantissa. bfloat16 pairs: the same per half.
    p[i] = bf16 ? (h & 0x807f807fu) | 0x3f003f00u : (h & 0x807fffffu) | 0x3f000000u;
  }
}

void Fill(uint8_t* pool, size_t bytes, bool bf16, int sms, cudaStream_t s) {
  FillKernel<<<4 * sms, 256, 0, s>>>(reinterpret_cast<uint32_t*>(pool), bytes / 4, 0x12345u, bf16);
  CHECK_CUDA(cudaGetLastError());
}

struct Options {
  size_t min_mib = 1;
  size_t max_mib = 1024;
  int reps = 15;
  std::string json;
};

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    if (k == "--min-mib")
      o.min_mib = std::strtoull(argv[i + 1], nullptr, 0);
    else if (k == "--max-mib")
      o.max_mib = std::strtoull(argv[i + 1], nullptr, 0);
    else if (k == "--reps")
      o.reps = std::atoi(argv[i + 1]);
    else if (k == "--json")
      o.json = argv[i + 1];
    else
      std::fprintf(stderr, "unknown option %s\n", k.c_str()), std::exit(2);
  }
  return o;
}

// Seconds per operation: `reps` timed batches of `batch` calls of op(i), median batch; each
// batch both as stream launches and as one CUDA graph (fewer launch gaps), the faster kept, so
// that the copy and the reduction both get their best showing.
template <class Op>
double TimeOp(cudaStream_t s, int batch, int reps, Op op) {
  // One call outside the capture: first-call work (module loading, the kernels' cached device
  // queries) is not wanted inside a capture or a timing.
  CHECK_CUDA(op(0));
  CHECK_CUDA(cudaStreamSynchronize(s));
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  CHECK_CUDA(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  for (int i = 0; i < batch; ++i) CHECK_CUDA(op(i));
  CHECK_CUDA(cudaStreamEndCapture(s, &graph));
  CHECK_CUDA(cudaGraphInstantiate(&exec, graph, 0));
  cudaEvent_t start, stop;
  CHECK_CUDA(cudaEventCreate(&start));
  CHECK_CUDA(cudaEventCreate(&stop));
  CHECK_CUDA(cudaGraphLaunch(exec, s));  // warm-up
  double best = 1e30;
  for (const bool use_graph : {false, true}) {
    std::vector<double> t;
    for (int r = 0; r < reps; ++r) {
      CHECK_CUDA(cudaEventRecord(start, s));
      if (use_graph) {
        CHECK_CUDA(cudaGraphLaunch(exec, s));
      } else {
        for (int i = 0; i < batch; ++i) CHECK_CUDA(op(i));
      }
      CHECK_CUDA(cudaEventRecord(stop, s));
      CHECK_CUDA(cudaEventSynchronize(stop));
      float ms = 0;
      CHECK_CUDA(cudaEventElapsedTime(&ms, start, stop));
      t.push_back(ms * 1e-3 / batch);
    }
    std::sort(t.begin(), t.end());
    best = std::min(best, t[t.size() / 2]);
  }
  CHECK_CUDA(cudaEventDestroy(start));
  CHECK_CUDA(cudaEventDestroy(stop));
  CHECK_CUDA(cudaGraphExecDestroy(exec));
  CHECK_CUDA(cudaGraphDestroy(graph));
  return best;
}

struct Row {
  size_t bytes;
  double copy, f32, bf16;  // GB/s
};

}  // namespace

int main(int argc, char** argv) {
  const Options opt = Parse(argc, argv);
  FILE* json = opt.json.empty() ? nullptr : std::fopen(opt.json.c_str(), "w");
  int count = 0;
  const cudaError_t probe = cudaGetDeviceCount(&count);
  if (probe != cudaSuccess || count == 0) {
    const std::string why = probe != cudaSuccess ? cudaGetErrorString(probe) : "no devices";
    std::printf("reduce_kernels_bench: skipped, no CUDA device: %s\n", why.c_str());
    if (json != nullptr) std::fprintf(json, "{\"skipped\": \"%s\"}\n", why.c_str());
    return 0;
  }
  cudaDeviceProp prop;
  CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
  int driver = 0, runtime = 0;
  CHECK_CUDA(cudaDriverGetVersion(&driver));
  CHECK_CUDA(cudaRuntimeGetVersion(&runtime));
  std::printf("device: %s, %d SMs, L2 %d MiB, driver API %d, runtime %d\n", prop.name,
              prop.multiProcessorCount, prop.l2CacheSize >> 20, driver, runtime);

  // One pool for every size: at least 3 buffers of the largest and 4x L2 (never all in cache).
  const size_t max_bytes = opt.max_mib * kMiB;
  const size_t pool_bytes = std::max(3 * max_bytes, size_t{4} * prop.l2CacheSize + 16 * kMiB);
  uint8_t* pool = nullptr;
  CHECK_CUDA(cudaMalloc(&pool, pool_bytes));
  cudaStream_t s;
  CHECK_CUDA(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));

  std::vector<Row> rows;
  for (size_t bytes = opt.min_mib * kMiB; bytes <= max_bytes; bytes *= 4) {
    const int slots = static_cast<int>(std::max<size_t>(3, pool_bytes / bytes));
    auto slot = [&](int i) { return pool + static_cast<size_t>(i % slots) * bytes; };
    // Enough calls per graph for ~1 GiB of traffic, at least one pass over the pool.
    const int batch = static_cast<int>(std::max<size_t>(slots, 1024 * kMiB / bytes));
    Row row{bytes, 0, 0, 0};
    Fill(pool, pool_bytes, false, prop.multiProcessorCount, s);
    const double t_copy = TimeOp(s, batch, opt.reps, [&](int i) {
      return cudaMemcpyAsync(slot(2 * i + 1), slot(2 * i), bytes, cudaMemcpyDeviceToDevice, s);
    });
    row.copy = 2.0 * bytes / t_copy / 1e9;
    for (const bool bf16 : {false, true}) {
      Fill(pool, pool_bytes, bf16, prop.multiProcessorCount, s);
      const mics_datatype_t type = bf16 ? MICS_BFLOAT16 : MICS_FLOAT32;
      const size_t n = bytes / (bf16 ? 2 : 4);
      const double t = TimeOp(s, batch, opt.reps, [&](int i) {
        uint8_t* a = slot(2 * i);
        return mics::cuda_reduce(type, MICS_SUM, a, a, slot(2 * i + 1), n, s);
      });
      (bf16 ? row.bf16 : row.f32) = 3.0 * bytes / t / 1e9;
    }
    rows.push_back(row);
  }
  CHECK_CUDA(cudaStreamSynchronize(s));

  std::printf("\n%10s %14s %16s %7s %16s %7s\n", "size", "copy GB/s", "f32 a+=b GB/s", "ratio",
              "bf16 a+=b GB/s", "ratio");
  for (const Row& r : rows) {
    std::printf("%7zu MiB %14.1f %16.1f %6.1f%% %16.1f %6.1f%%\n", r.bytes / kMiB, r.copy, r.f32,
                100 * r.f32 / r.copy, r.bf16, 100 * r.bf16 / r.copy);
  }
  const Row& big = rows.back();
  const bool met = big.f32 >= 0.9 * big.copy && big.bf16 >= 0.9 * big.copy;
  std::printf("bar (reduction >= 90%% of copy at %zu MiB, 3 vs 2 streams counted): %s\n",
              big.bytes / kMiB, met ? "MET" : "NOT MET");
  if (json != nullptr) {
    std::fprintf(json,
                 "{\"device\": \"%s\", \"sms\": %d, \"l2_bytes\": %d, \"driver\": %d, "
                 "\"runtime\": %d, \"bar_met\": %s, \"rows\": [",
                 prop.name, prop.multiProcessorCount, prop.l2CacheSize, driver, runtime,
                 met ? "true" : "false");
    for (size_t i = 0; i < rows.size(); ++i) {
      std::fprintf(json,
                   "%s{\"bytes\": %zu, \"copy_gbps\": %.1f, \"float32_gbps\": %.1f, "
                   "\"bfloat16_gbps\": %.1f}",
                   i ? ", " : "", rows[i].bytes, rows[i].copy, rows[i].f32, rows[i].bf16);
    }
    std::fprintf(json, "]}\n");
    std::fclose(json);
  }
  CHECK_CUDA(cudaStreamDestroy(s));
  CHECK_CUDA(cudaFree(pool));
  return 0;
}
