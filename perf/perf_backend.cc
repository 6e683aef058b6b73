// The default backend of the perf binaries: host buffers (-M host) and the mics engine.
#include "perf_backend.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace mics_perf {
namespace {

char* AllocHost(size_t bytes) {
  size_t n = (std::max<size_t>(bytes, 1) + 4095) / 4096 * 4096;
  char* p = static_cast<char*>(std::aligned_alloc(4096, n));
  if (p == nullptr) {
    std::fprintf(stderr, "mics perf: cannot allocate %zu bytes\n", n);
    std::exit(1);
  }
  std::memset(p, 0, n);  // touch the pages before timing
  return p;
}

class HostBuffers : public Buffers {
 public:
  HostBuffers(size_t send_bytes, size_t recv_bytes) {
    send_ = AllocHost(send_bytes);
    recv_ = AllocHost(recv_bytes);
  }
  ~HostBuffers() override {
    std::free(send_);
    std::free(recv_);
  }
  void* stream() const override { return nullptr; }
  int device() const override { return -1; }
  void Poison(char* p, mics_datatype_t t, size_t n) override { PoisonBuffer(p, t, n); }
  void Fill(char* p, mics_datatype_t t, size_t n, const DataGen& g, const Collective& c) override {
    FillInput(p, t, n, g, c);
  }
  size_t Wrong(const char* p, mics_datatype_t t, size_t n, const DataGen& g,
               const Collective& c) override {
    return CountWrong(p, t, n, g, c);
  }
  void Sync() override {}  // host-buffer calls return when done
};

class MicsEngine : public Engine {
 public:
  MicsEngine(const Collective& coll, const Options& opt, mics_comm_t comm, void* stream)
      : coll_(coll), opt_(opt), comm_(comm), stream_(stream) {}
  void Run(const void* send, void* recv, size_t count, mics_datatype_t type,
           mics_redop_t op) override {
    CheckMics(coll_.Run(send, recv, count, type, op, opt_.root, opt_.algo, comm_, stream_),
              coll_.Name(), comm_);
  }
  void CheckAsync() override {
#ifdef MICS_PERF_CUDA
    // Only device-buffer calls fail after returning. (Host-only builds, and perf/baselines' shims
    // of the API, have no asynchronous errors to ask for.)
    if (stream_ == nullptr) return;
    mics_result_t async = MICS_SUCCESS;
    CheckMics(mics_comm_get_async_error(comm_, &async), "mics_comm_get_async_error", comm_);
    CheckMics(async, coll_.Name(), comm_);
#endif
  }

 private:
  const Collective& coll_;
  const Options& opt_;
  mics_comm_t comm_;
  void* stream_;
};

}  // namespace

std::unique_ptr<Buffers> MakeHostBuffers(size_t send_bytes, size_t recv_bytes) {
  return std::make_unique<HostBuffers>(send_bytes, recv_bytes);
}

std::unique_ptr<Engine> MakeMicsEngine(const Collective& coll, const Options& opt, mics_comm_t comm,
                                       void* stream) {
  return std::make_unique<MicsEngine>(coll, opt, comm, stream);
}

}  // namespace mics_perf
