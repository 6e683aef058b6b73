// The device-buffer path of one communicator: a proxy thread with pinned host
// staging. Correct everywhere first (any GPU, any transport), fast later.
//
// The caller's thread (enqueue) never waits for the GPU: it records an event
// on the caller's stream, queues the call, and makes the stream wait for the
// call's completion: cuStreamWaitValue32 on a host-mapped pinned flag that the
// proxy writes (the GPU waits, the host does not), or, where stream memory
// operations are refused, a host function on the stream that blocks (no CUDA
// calls inside) until the proxy reports the call done.
//
// The proxy thread, per call in order: between the ranks of one node, it
// waits (on the host) for the event, then runs the single-copy algorithms of
// src/coll on the device buffers themselves (DeviceMemory: the peers' buffers
// mapped through CUDA IPC, copies and kernels on its copy stream). Otherwise
// its copy stream waits for the event, copies the input device -> pinned
// staging, it runs the host collective on the staging, copies the output
// back and synchronises. Then it publishes the call's sequence number. A failure marks the
// communicator failed (mics_comm_get_async_error); the call and every later
// one still publish their numbers, so no stream waits forever.
#pragma once

#include <cuda.h>
#include <cuda_runtime.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "src/cuda/direct_device.h"
#include "src/cuda/tiny_allgather.cuh"
#include "src/device.h"
#include "src/op.h"
#include "src/stage_plan.h"

namespace mics::gpu {

// Completion count shared with the host functions still queued on streams,
// which may outlive the proxy.
struct Completion {
  std::mutex mu;
  std::condition_variable cv;
  uint64_t done = 0;
};

class Proxy {
 public:
  // cuStreamWaitValue32, reached through the runtime (libmics links no libcuda).
  using WaitValueFn = CUresult (*)(CUstream, CUdeviceptr, cuuint32_t, unsigned int);

  // Starts the proxy of comm for buffers on `device`.
  static Result create(mics_comm* comm, int device, Proxy** out);
  ~Proxy();  // completes every queued call, then stops the thread

  int device() const { return device_; }
  // Queues op (device buffers on device()) after the work queued on op.stream.
  Result enqueue(const CollOp& op);
  // Returns when every queued call has completed.
  void drain();
  // The latency path for small allgathers between threads of one process on
  // one GPU (tiny_allgather.cuh): launches op's kernel on op.stream and sets
  // *done, or leaves op to enqueue(). Caller's thread; the same choice on
  // every rank.
  Result try_tiny(const CollOp& op, bool* done);
  // Fails the communicator (MICS_TIMEOUT, or MICS_REMOTE_ERROR when a rank
  // aborted) if a latency-path kernel gave up waiting for a peer; returns that
  // failure, else MICS_SUCCESS.
  Result check_tiny();
  // mics_comm_abort: our latency-path kernels, and the peers' kernels waiting
  // for us, give up at once.
  void stop_tiny();

 private:
  struct Item {
    CollOp op;
    cudaEvent_t ready = nullptr;  // recorded on op.stream when the call was made
    uint64_t seq = 0;
  };
  struct Region {  // a device range staged through pinned memory
    char* dev = nullptr;
    size_t bytes = 0;
    size_t offset = 0;  // in the staging buffer
    bool in = false;    // copied device -> host before the collective
    bool out = false;   // copied host -> device after it
  };

  Proxy(mics_comm* comm, int device) : comm_(comm), device_(device) {}
  Result start();
  void run();
  Result execute(const Item& item);
  // The staged path in pieces (src/stage_plan.h): the copy down of piece
  // i + 2 and the copy up of piece i - 1 overlap the host collective of piece
  // i, on two streams, through kSlots pieces of staging.
  Result execute_pieces(const Item& item, StagedKind kind);
  // The staged path in one piece (grad_sync: its output is an input too).
  Result execute_whole(const Item& item);
  // First small allgather: the slots' exchange (a host allgather; every rank
  // is in the same call), or the reason the latency path stays off.
  Result setup_tiny();
  // The single-copy path: op on the caller's buffers themselves, read by the
  // peers through CUDA IPC (direct_device.h). For allgather, broadcast,
  // reduce-scatter and allreduce on communicators within one node, unless
  // MICS_CUDA_DIRECT=0.
  bool goes_direct(const CollOp& op) const;
  Result execute_direct(const Item& item);
  Result grow_staging(size_t bytes);
  char* to_host(const std::vector<Region>& regions, const void* dev) const;
  void publish(uint64_t seq);
  void fail(Result code, const std::string& message);
  Result wait_on_stream(cudaStream_t stream, uint64_t seq);

  mics_comm* comm_;
  int device_;
  static constexpr size_t kSlots = 3;      // pieces in host memory at once
  cudaStream_t copy_stream_ = nullptr;     // device -> host (and the direct path's work)
  cudaStream_t out_stream_ = nullptr;      // host -> device of the pieces
  cudaEvent_t in_done_[kSlots] = {};       // a slot's piece is in host memory
  cudaEvent_t out_done_[kSlots] = {};      // a slot's piece is back on the device
  size_t stage_bytes_ = size_t{16} << 20;  // MICS_CUDA_STAGE_BYTES: host memory per piece
  volatile uint32_t* flag_ = nullptr;      // pinned, host-mapped: low 32 bits of the last seq done
  CUdeviceptr flag_dev_ = 0;
  WaitValueFn wait_value_ = nullptr;  // null: host-function fallback
  char* staging_ = nullptr;           // pinned
  size_t staging_bytes_ = 0;
  std::vector<char*> retired_;  // outgrown staging buffers, freed with the proxy
  std::shared_ptr<Completion> completion_ = std::make_shared<Completion>();

  std::mutex mu_;  // guards the queue, the event pool, issued_ and stop_
  std::condition_variable cv_;
  std::deque<Item> queue_;
  std::vector<cudaEvent_t> free_events_;
  uint64_t issued_ = 0;
  bool stop_ = false;
  bool failed_ = false;         // proxy thread only: skip the work of later calls
  bool direct_enabled_ = true;  // MICS_CUDA_DIRECT
  bool sm_copies_ = false;      // MICS_CUDA_COPY=sm: kernel copies on the direct path
  // The latency path (caller's thread only).
  enum class Tiny { kUnknown, kOn, kOff };
  Tiny tiny_ = Tiny::kUnknown;
  size_t tiny_bytes_ = 4096;  // MICS_CUDA_TINY_BYTES: per-rank bytes it takes (0 = never)
  TinySlot* tiny_slot_ = nullptr;
  TinyPeers tiny_peers_{};
  uint64_t tiny_seq_ = 0;
  // Pinned, host-mapped: [0, 1] the kernels' TinyReport, [2] our stop word.
  volatile uint64_t* tiny_words_ = nullptr;
  uint64_t* tiny_words_dev_ = nullptr;
  std::unique_ptr<DeviceMemory> direct_;  // proxy thread only, made on first use
  std::thread thread_;
};

}  // namespace mics::gpu
