// -M cuda: the perf binaries' buffers in device memory, with one stream per rank. Inputs are
// written and results read through host staging buffers, so every element is checked as with
// host memory; the copies are ordered on the rank's stream like the collectives themselves.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "perf_backend.h"

namespace mics_perf {
namespace {

void CheckCuda(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return;
  std::fprintf(stderr, "mics perf: %s failed: %s: %s\n", what, cudaGetErrorName(e),
               cudaGetErrorString(e));
  std::fflush(stderr);
  std::exit(1);
}

class CudaBuffers : public Buffers {
 public:
  CudaBuffers(size_t send_bytes, size_t recv_bytes, int device) : device_(device) {
    CheckCuda(cudaSetDevice(device), "cudaSetDevice");
    // Non-blocking: the legacy default stream would serialise this stream with every other.
    CheckCuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), "cudaStreamCreate");
    send_ = AllocDevice(send_bytes);
    recv_ = AllocDevice(recv_bytes);
    // A filled region may be the in-place part of the receive buffer, so staging is sized to
    // the larger buffer.
    size_t staging = std::max(send_bytes, recv_bytes);
    fill_staging_.resize(staging);
    check_staging_.resize(staging);
    Sync();  // the zeroing, before anything else touches the buffers
  }
  ~CudaBuffers() override {
    // Best effort at exit: a failed stream must not hide the result already printed.
    cudaStreamSynchronize(stream_);
    cudaFree(send_);
    cudaFree(recv_);
    cudaStreamDestroy(stream_);
  }
  void* stream() const override { return stream_; }
  int device() const override { return device_; }
  void Poison(char* p, mics_datatype_t t, size_t n) override {
    // 0xFF bytes, as PoisonBuffer writes on the host: NaN or -1, never an expected value.
    CheckCuda(cudaMemsetAsync(p, 0xFF, n * mics_type_size(t), stream_), "cudaMemsetAsync");
  }
  void Fill(char* p, mics_datatype_t t, size_t n, const DataGen& g, const Collective& c) override {
    // The previous copy from the staging buffer may still be queued.
    Sync();
    FillInput(fill_staging_.data(), t, n, g, c);
    CheckCuda(cudaMemcpyAsync(p, fill_staging_.data(), n * mics_type_size(t),
                              cudaMemcpyHostToDevice, stream_),
              "cudaMemcpyAsync(input)");
  }
  size_t Wrong(const char* p, mics_datatype_t t, size_t n, const DataGen& g,
               const Collective& c) override {
    CheckCuda(cudaMemcpyAsync(check_staging_.data(), p, n * mics_type_size(t),
                              cudaMemcpyDeviceToHost, stream_),
              "cudaMemcpyAsync(result)");
    Sync();
    return CountWrong(check_staging_.data(), t, n, g, c);
  }
  void Sync() override { CheckCuda(cudaStreamSynchronize(stream_), "cudaStreamSynchronize"); }

 private:
  char* AllocDevice(size_t bytes) {
    void* p = nullptr;
    size_t n = std::max<size_t>(bytes, 1);
    CheckCuda(cudaMalloc(&p, n), "cudaMalloc");
    // On our stream: the legacy default stream does not order a non-blocking one.
    CheckCuda(cudaMemsetAsync(p, 0, n, stream_), "cudaMemsetAsync");  // map pages before timing
    return static_cast<char*>(p);
  }

  int device_;
  cudaStream_t stream_ = nullptr;
  // Host copies of the inputs and results; held as doubles so that every element type FillInput
  // and CountWrong access is aligned.
  struct Staging {
    std::vector<double> words;
    void resize(size_t bytes) { words.resize((bytes + sizeof(double) - 1) / sizeof(double)); }
    char* data() { return reinterpret_cast<char*>(words.data()); }
  } fill_staging_, check_staging_;
};

}  // namespace

int CudaDeviceCount(const char* what) {
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count <= 0) {
    std::fprintf(stderr, "mics perf: %s: skipped: no CUDA device (%s: %s)\n", what,
                 e != cudaSuccess ? cudaGetErrorName(e) : "cudaSuccess",
                 e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
    std::fflush(stderr);
    return 0;
  }
  return count;
}

std::unique_ptr<Buffers> MakeCudaBuffers(size_t send_bytes, size_t recv_bytes, int device) {
  return std::make_unique<CudaBuffers>(send_bytes, recv_bytes, device);
}

}  // namespace mics_perf
