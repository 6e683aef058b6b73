// The proxy of src/cuda/proxy.h, and enqueue/drain of src/device.h.
#include "src/cuda/proxy.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#include "src/base/env.h"
#include "src/base/log.h"
#include "src/comm.h"
#include "src/cuda/cuda_check.h"

namespace mics::gpu {
namespace {

// Where stream memory operations are refused: a host function on the caller's
// stream that holds the stream until the proxy has completed call `seq`. It
// makes no CUDA call (CUDA forbids that in host functions).
struct HostWait {
  std::shared_ptr<Completion> completion;
  uint64_t seq;
};

void CUDART_CB wait_on_host(void* arg) {
  std::unique_ptr<HostWait> w(static_cast<HostWait*>(arg));
  std::unique_lock<std::mutex> lock(w->completion->mu);
  w->completion->cv.wait(lock, [&] { return w->completion->done >= w->seq; });
}

Proxy::WaitValueFn find_wait_value() {
  void* fn = nullptr;
  cudaDriverEntryPointQueryResult status{};
  if (cudaGetDriverEntryPointByVersion("cuStreamWaitValue32", &fn, 12000, cudaEnableDefault,
                                       &status) != cudaSuccess ||
      status != cudaDriverEntryPointSuccess) {
    cudaGetLastError();
    return nullptr;
  }
  return reinterpret_cast<Proxy::WaitValueFn>(fn);
}

// Completion flags are never freed, only reused: a stream wait queued by a
// caller who never synchronised may still read its flag after the proxy is
// gone. A reused flag keeps its value and the next proxy counts on from it,
// so such a late wait still finds its call complete. Portable + mapped: one
// address for the host and every device (UVA).
struct Flag {
  volatile uint32_t* host = nullptr;
  CUdeviceptr dev = 0;
};
std::mutex g_flags_mu;
std::vector<Flag>* g_free_flags = new std::vector<Flag>;  // never destroyed (see above)

Result take_flag(Flag* out) {
  {
    std::lock_guard<std::mutex> lock(g_flags_mu);
    if (!g_free_flags->empty()) {
      *out = g_free_flags->back();
      g_free_flags->pop_back();
      return MICS_SUCCESS;
    }
  }
  void* host = nullptr;
  MICS_CUDA_CHECK(
      cudaHostAlloc(&host, sizeof(uint32_t), cudaHostAllocMapped | cudaHostAllocPortable));
  *static_cast<volatile uint32_t*>(host) = 0;
  void* dev = nullptr;
  cudaError_t e = cudaHostGetDevicePointer(&dev, host, 0);
  if (e != cudaSuccess) cudaFreeHost(host);
  MICS_CUDA_CHECK(e);
  out->host = static_cast<volatile uint32_t*>(host);
  out->dev = reinterpret_cast<CUdeviceptr>(dev);
  return MICS_SUCCESS;
}

void give_flag(const Flag& f) {
  std::lock_guard<std::mutex> lock(g_flags_mu);
  g_free_flags->push_back(f);
}

}  // namespace

Result Proxy::create(mics_comm* comm, int device, Proxy** out) {
  std::unique_ptr<Proxy> p(new Proxy(comm, device));
  MICS_CHECK(p->start());
  *out = p.release();
  return MICS_SUCCESS;
}

Result Proxy::start() {
  DeviceScope scope(device_);
  if (!scope.ok()) MICS_CUDA_CHECK(cudaSetDevice(device_));
  MICS_CUDA_CHECK(cudaStreamCreateWithFlags(&copy_stream_, cudaStreamNonBlocking));
  MICS_CUDA_CHECK(cudaStreamCreateWithFlags(&out_stream_, cudaStreamNonBlocking));
  for (size_t i = 0; i < kSlots; ++i) {
    MICS_CUDA_CHECK(cudaEventCreateWithFlags(&in_done_[i], cudaEventDisableTiming));
    MICS_CUDA_CHECK(cudaEventCreateWithFlags(&out_done_[i], cudaEventDisableTiming));
  }
  Flag flag;
  MICS_CHECK(take_flag(&flag));
  flag_ = flag.host;
  flag_dev_ = flag.dev;
  issued_ = completion_->done = *flag_;  // count on from the flag's last value
  wait_value_ = find_wait_value();
  int64_t direct = 1;
  MICS_CHECK(env_int("MICS_CUDA_DIRECT", 1, 0, 1, &direct));
  direct_enabled_ = direct != 0;
  const char* copies = getenv("MICS_CUDA_COPY");
  if (copies && *copies && strcmp(copies, "ce") != 0 && strcmp(copies, "sm") != 0)
    return MICS_ERROR(MICS_INVALID_ARGUMENT, "MICS_CUDA_COPY='%s': expected ce or sm", copies);
  sm_copies_ = copies && strcmp(copies, "sm") == 0;
  int64_t tiny = 0;
  MICS_CHECK(env_int("MICS_CUDA_TINY_BYTES", 4096, 0, 1 << 20, &tiny));
  tiny_bytes_ = static_cast<size_t>(tiny);
  int64_t stage = 0;
  MICS_CHECK(env_int("MICS_CUDA_STAGE_BYTES", int64_t{16} << 20, 4096, int64_t{1} << 34, &stage));
  stage_bytes_ = static_cast<size_t>(stage);
  MICS_LOG_INFO("comm rank %d: device proxy on CUDA device %d, stream waits by %s", comm_->rank,
                device_, wait_value_ ? "cuStreamWaitValue32" : "host function");
  thread_ = std::thread([this] { run(); });
  return MICS_SUCCESS;
}

Proxy::~Proxy() {
  if (thread_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }
  DeviceScope scope(device_);
  direct_.reset();  // unmaps the peers' buffers; uses copy_stream_'s device
  if (tiny_slot_) cudaFree(tiny_slot_);
  if (tiny_words_) cudaFreeHost(const_cast<uint64_t*>(tiny_words_));
  for (cudaEvent_t e : free_events_) cudaEventDestroy(e);
  if (staging_) cudaFreeHost(staging_);
  for (char* p : retired_) cudaFreeHost(p);
  if (flag_) give_flag({flag_, flag_dev_});
  for (size_t i = 0; i < kSlots; ++i) {
    if (in_done_[i]) cudaEventDestroy(in_done_[i]);
    if (out_done_[i]) cudaEventDestroy(out_done_[i]);
  }
  if (out_stream_) cudaStreamDestroy(out_stream_);
  if (copy_stream_) cudaStreamDestroy(copy_stream_);
}

Result Proxy::wait_on_stream(cudaStream_t stream, uint64_t seq) {
  if (wait_value_) {
    CUresult r = wait_value_(reinterpret_cast<CUstream>(stream), flag_dev_,
                             static_cast<cuuint32_t>(seq), CU_STREAM_WAIT_VALUE_GEQ);
    if (r == CUDA_SUCCESS) return MICS_SUCCESS;
    MICS_WARN("cuStreamWaitValue32 failed (CUresult %d); waiting with host functions instead",
              static_cast<int>(r));
    wait_value_ = nullptr;
  }
  auto* w = new HostWait{completion_, seq};
  cudaError_t e = cudaLaunchHostFunc(stream, wait_on_host, w);
  if (e != cudaSuccess) {
    delete w;
    MICS_CUDA_CHECK(e);
  }
  return MICS_SUCCESS;
}

Result Proxy::enqueue(const CollOp& op) {
  DeviceScope scope(device_);
  if (!scope.ok()) MICS_CUDA_CHECK(cudaSetDevice(device_));
  auto stream = static_cast<cudaStream_t>(op.stream);  // not NULL (classify_buffers)
  cudaEvent_t ready = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!free_events_.empty()) ready = free_events_.back(), free_events_.pop_back();
  }
  if (!ready) MICS_CUDA_CHECK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
  cudaError_t e = cudaEventRecord(ready, stream);
  if (e != cudaSuccess) {
    cudaEventDestroy(ready);
    MICS_CUDA_CHECK(e);
  }
  uint64_t seq;
  {
    std::lock_guard<std::mutex> lock(mu_);
    seq = ++issued_;
    queue_.push_back({op, ready, seq});
  }
  cv_.notify_all();
  return wait_on_stream(stream, seq);
}

void Proxy::drain() {
  uint64_t target;
  {
    std::lock_guard<std::mutex> lock(mu_);
    target = issued_;
  }
  std::unique_lock<std::mutex> lock(completion_->mu);
  completion_->cv.wait(lock, [&] { return completion_->done >= target; });
}

void Proxy::publish(uint64_t seq) {
  // The flag is read by the GPU: make the staged results (written by our
  // synchronised copy stream) and everything before visible first.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  *flag_ = static_cast<uint32_t>(seq);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  {
    std::lock_guard<std::mutex> lock(completion_->mu);
    completion_->done = seq;
  }
  completion_->cv.notify_all();
}

void Proxy::fail(Result code, const std::string& message) {
  failed_ = true;
  if (comm_->fatal.load() != MICS_SUCCESS) return;  // the collective marked it already
  comm_->fatal_message = "device path: " + message;
  comm_->fatal.store(code);
}

void Proxy::run() {
  if (cudaSetDevice(device_) != cudaSuccess) fail(MICS_CUDA_ERROR, "cudaSetDevice failed");
  for (;;) {
    Item item;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop_, and nothing left to complete
      item = queue_.front();
      queue_.pop_front();
    }
    if (!failed_) {
      clear_thread_error();
      Result r = execute(item);
      if (r != MICS_SUCCESS) {
        std::string why = thread_error();
        MICS_WARN("comm rank %d: device %s failed: %s", comm_->rank, op_name(item.op.kind),
                  why.c_str());
        fail(r, why);
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      free_events_.push_back(item.ready);
    }
    publish(item.seq);
  }
}

// ---- src/device.h ------------------------------------------------------------

Result enqueue(const CollOp& op) {
  mics_comm* c = op.comm;
  // The call runs on the proxy thread, started by an event it waits for on
  // the host: a graph being captured would record neither, so refuse it
  // (before the proxy starts: its allocations are not allowed in a capture).
  cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
  MICS_CUDA_CHECK(cudaStreamIsCapturing(static_cast<cudaStream_t>(op.stream), &capture));
  if (capture != cudaStreamCaptureStatusNone)
    return MICS_ERROR(MICS_INVALID_USAGE,
                      "%s: the stream is being captured into a CUDA graph; mics device calls run "
                      "through a proxy thread and cannot be captured (call them outside the "
                      "capture)",
                      op_name(op.kind));
  Proxy* proxy = nullptr;
  {
    std::lock_guard<std::mutex> lock(c->proxy_mu);
    if (!c->proxy) {
      Proxy* p = nullptr;
      MICS_CHECK(Proxy::create(c, op.device, &p));
      c->proxy.reset(p);
    }
    proxy = c->proxy.get();
  }
  if (proxy->device() != op.device)
    return MICS_ERROR(MICS_INVALID_ARGUMENT,
                      "%s: the buffers are on CUDA device %d but rank %d's communicator already "
                      "serves device %d (one device per communicator)",
                      op_name(op.kind), op.device, c->rank, proxy->device());
  // grad_sync drives the replication group from this proxy: its own device
  // calls come first.
  if (op.replication && op.replication != c) drain(op.replication);
  bool done = false;
  MICS_CHECK(proxy->try_tiny(op, &done));
  return done ? MICS_SUCCESS : proxy->enqueue(op);
}

void stop_kernels(mics_comm* c) {
  std::lock_guard<std::mutex> lock(c->proxy_mu);
  if (c->proxy) c->proxy->stop_tiny();
}

void poll_async_error(mics_comm* c) {
  std::lock_guard<std::mutex> lock(c->proxy_mu);
  if (c->proxy) c->proxy->check_tiny();
}

void drain(mics_comm* c) {
  Proxy* proxy = nullptr;
  {
    std::lock_guard<std::mutex> lock(c->proxy_mu);
    proxy = c->proxy.get();
  }
  if (proxy) proxy->drain();
}

void ProxyDeleter::operator()(Proxy* p) const { delete p; }

}  // namespace mics::gpu
