// Device-buffer collectives through the public API: k ranks as threads of one
// process on one GPU (mics_comm_init_all), allgather and reduce-scatter over a
// size sweep, each rank on its own stream. Times k ranks' `iters` calls from a
// common start to the last stream's completion; busbw = (k-1)/k * bytes / time
// (nccl-tests' factor, bytes = the allgather output / reduce-scatter input).
// The device-to-device copy bandwidth of the same run is printed beside it.
// Each k runs on the device paths one after the other: "direct" (peers'
// buffers read GPU to GPU by the copy engine, the default), "direct_sm" (the
// same with kernel copies, MICS_CUDA_COPY=sm) and "staged" (MICS_CUDA_DIRECT=0:
// device -> pinned host -> host collective -> device).
//
//   device_collectives_bench [--ranks 2,4] [--paths direct,direct_sm,staged]
//                            [--max-bytes N] [--json FILE]
#include <cuda_runtime.h>
#include <mics/mics.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

#define CUDA_OK(expr)                                                    \
  do {                                                                   \
    cudaError_t e_ = (expr);                                             \
    if (e_ != cudaSuccess) {                                             \
      fprintf(stderr, "%s failed: %s\n", #expr, cudaGetErrorString(e_)); \
      exit(1);                                                           \
    }                                                                    \
  } while (0)
#define MICS_OK(expr)                                                                            \
  do {                                                                                           \
    mics_result_t r_ = (expr);                                                                   \
    if (r_ != MICS_SUCCESS) {                                                                    \
      fprintf(stderr, "%s failed: %s: %s\n", #expr, mics_result_string(r_), mics_last_error(0)); \
      exit(1);                                                                                   \
    }                                                                                            \
  } while (0)

class Barrier {
 public:
  explicit Barrier(int n) : n_(n) {}
  void wait() {
    std::unique_lock<std::mutex> lock(mu_);
    const long gen = gen_;
    if (++waiting_ == n_) {
      waiting_ = 0, ++gen_;
      cv_.notify_all();
    } else {
      cv_.wait(lock, [&] { return gen_ != gen; });
    }
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_, waiting_ = 0;
  long gen_ = 0;
};

struct Row {
  const char* path;
  const char* coll;
  int ranks;
  size_t bytes;
  int iters;
  double us;
  double busbw_gbps;
};

double CopyBandwidth() {
  const size_t bytes = size_t{256} << 20;
  void *a, *b;
  CUDA_OK(cudaMalloc(&a, bytes));
  CUDA_OK(cudaMalloc(&b, bytes));
  CUDA_OK(cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice));
  CUDA_OK(cudaDeviceSynchronize());
  const int iters = 20;
  auto t0 = Clock::now();
  for (int i = 0; i < iters; ++i) CUDA_OK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice));
  CUDA_OK(cudaDeviceSynchronize());
  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  CUDA_OK(cudaFree(a));
  CUDA_OK(cudaFree(b));
  return 2.0 * bytes * iters / s / 1e9;  // read + write
}

void RunRanks(int k, const char* path, size_t max_bytes, std::vector<Row>* rows) {
  // Read by each communicator's device proxy when it starts (its first call).
  setenv("MICS_CUDA_DIRECT", strcmp(path, "staged") == 0 ? "0" : "1", 1);
  setenv("MICS_CUDA_COPY", strcmp(path, "direct_sm") == 0 ? "sm" : "ce", 1);
  std::vector<mics_comm_t> comms(k);
  std::vector<int> devices(k, 0);
  MICS_OK(mics_comm_init_all(comms.data(), k, devices.data()));
  std::vector<size_t> sizes;
  for (size_t b = 8 * k; b <= max_bytes; b = b < 65536 ? 65536 : b * 4) sizes.push_back(b);
  Barrier barrier(k);
  Clock::time_point t0;
  std::vector<std::thread> threads;
  for (int r = 0; r < k; ++r) {
    threads.emplace_back([&, r] {
      CUDA_OK(cudaSetDevice(0));
      cudaStream_t s;
      CUDA_OK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
      char *send, *recv;
      CUDA_OK(cudaMalloc(&send, max_bytes));
      CUDA_OK(cudaMalloc(&recv, max_bytes));
      CUDA_OK(cudaMemset(send, r, max_bytes));
      for (const char* coll : {"allgather", "reduce_scatter"}) {
        const bool gather = coll[0] == 'a';
        for (size_t bytes : sizes) {
          const size_t count = bytes / k / 4;  // float32 elements per rank block
          auto call = [&] {
            if (gather)
              MICS_OK(mics_allgather(send, recv, count, MICS_FLOAT32, comms[r], s));
            else
              MICS_OK(mics_reduce_scatter(send, recv, count, MICS_FLOAT32, MICS_SUM, comms[r], s));
          };
          const int iters =
              static_cast<int>(std::clamp<size_t>((size_t{512} << 20) / bytes, 5, 200));
          call(), call();  // warm-up: proxy start, staging growth
          CUDA_OK(cudaStreamSynchronize(s));
          barrier.wait();
          if (r == 0) t0 = Clock::now();
          barrier.wait();
          for (int i = 0; i < iters; ++i) call();
          CUDA_OK(cudaStreamSynchronize(s));
          barrier.wait();
          if (r == 0) {
            double sec = std::chrono::duration<double>(Clock::now() - t0).count() / iters;
            double busbw = (k - 1.0) / k * (count * 4.0 * k) / sec / 1e9;
            rows->push_back({path, coll, k, count * 4 * k, iters, sec * 1e6, busbw});
            printf("| %-9s | %-14s | %d | %10zu | %5d | %10.1f | %8.2f |\n", path, coll, k,
                   count * 4 * k, iters, sec * 1e6, busbw);
            fflush(stdout);
          }
        }
      }
      mics_result_t async = MICS_SUCCESS;
      mics_comm_get_async_error(comms[r], &async);
      if (async != MICS_SUCCESS) {
        fprintf(stderr, "rank %d: async error %s\n", r, mics_result_string(async));
        exit(1);
      }
      CUDA_OK(cudaFree(send));
      CUDA_OK(cudaFree(recv));
      CUDA_OK(cudaStreamDestroy(s));
    });
  }
  for (std::thread& t : threads) t.join();
  for (mics_comm_t c : comms) mics_comm_destroy(c);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> ranks{2, 4};
  std::vector<std::string> paths{"direct", "direct_sm", "staged"};
  size_t max_bytes = size_t{64} << 20;
  const char* json = nullptr;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--ranks") && i + 1 < argc) {
      ranks.clear();
      for (char* t = strtok(argv[++i], ","); t; t = strtok(nullptr, ",")) ranks.push_back(atoi(t));
    } else if (!strcmp(argv[i], "--paths") && i + 1 < argc) {
      paths.clear();
      for (char* t = strtok(argv[++i], ","); t; t = strtok(nullptr, ",")) {
        if (strcmp(t, "direct") != 0 && strcmp(t, "direct_sm") != 0 && strcmp(t, "staged") != 0) {
          fprintf(stderr, "--paths: '%s' is not direct, direct_sm or staged\n", t);
          return 2;
        }
        paths.push_back(t);
      }
    } else if (!strcmp(argv[i], "--max-bytes") && i + 1 < argc) {
      max_bytes = strtoull(argv[++i], nullptr, 10);
    } else if (!strcmp(argv[i], "--json") && i + 1 < argc) {
      json = argv[++i];
    } else {
      fprintf(stderr,
              "usage: %s [--ranks 2,4] [--paths direct,direct_sm,staged] [--max-bytes N] "
              "[--json FILE]\n",
              argv[0]);
      return 2;
    }
  }
  int ndev = 0;
  cudaError_t e = cudaGetDeviceCount(&ndev);
  if (e != cudaSuccess || ndev == 0) {
    const char* why = e != cudaSuccess ? cudaGetErrorName(e) : "no device";
    printf("no CUDA device: %s (benchmark not run)\n", why);
    if (json) {
      FILE* f = fopen(json, "w");
      if (f) fprintf(f, "{\"skipped\": \"no CUDA device: %s\"}\n", why), fclose(f);
    }
    return 0;
  }
  cudaDeviceProp prop{};
  CUDA_OK(cudaGetDeviceProperties(&prop, 0));
  const double copy = CopyBandwidth();
  printf("device %s; device-to-device copy %.0f GB/s (read + write)\n", prop.name, copy);
  printf("| path      | collective     | k | bytes      | iters | us/iter    | busbw GB/s |\n");
  printf("|---|---|---:|---:|---:|---:|---:|\n");
  std::vector<Row> rows;
  for (int k : ranks)
    for (const std::string& path : paths) RunRanks(k, path.c_str(), max_bytes, &rows);
  if (json) {
    FILE* f = fopen(json, "w");
    if (!f) return 1;
    fprintf(f,
            "{\"device\": \"%s\", \"copy_gbps\": %.1f, \"shape\": \"threads, one GPU\",\n"
            " \"rows\": [\n",
            prop.name, copy);
    for (size_t i = 0; i < rows.size(); ++i)
      fprintf(f,
              "  {\"path\": \"%s\", \"coll\": \"%s\", \"ranks\": %d, \"bytes\": %zu, "
              "\"iters\": %d, \"us\": %.2f, \"busbw_gbps\": %.3f}%s\n",
              rows[i].path, rows[i].coll, rows[i].ranks, rows[i].bytes, rows[i].iters, rows[i].us,
              rows[i].busbw_gbps, i + 1 < rows.size() ? "," : "");
    fprintf(f, " ]}\n");
    fclose(f);
  }
  return 0;
}
