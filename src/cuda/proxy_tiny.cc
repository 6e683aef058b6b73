// Proxy::try_tiny and its set-up (src/cuda/proxy.h, tiny_allgather.cuh).
#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "src/base/log.h"
#include "src/comm.h"
#include "src/cuda/cuda_check.h"
#include "src/cuda/proxy.h"
#include "src/cuda/reduce_kernels.cuh"

namespace mics::gpu {

Result Proxy::setup_tiny() {
  mics_comm* c = comm_;
  tiny_ = Tiny::kOff;
  // Known alike on every rank: whether all are threads of this process.
  if (c->size < 2 || c->size > kMaxTinyRanks || !coll::ranks_in_one_process(c)) return MICS_SUCCESS;
  DeviceScope scope(device_);
  if (!scope.ok()) MICS_CUDA_CHECK(cudaSetDevice(device_));
  MICS_CUDA_CHECK(tiny_slot_alloc(&tiny_slot_, copy_stream_));
  void* words = nullptr;
  MICS_CUDA_CHECK(cudaHostAlloc(&words, 3 * sizeof(uint64_t), cudaHostAllocMapped));
  tiny_words_ = static_cast<volatile uint64_t*>(words);
  tiny_words_[0] = tiny_words_[1] = tiny_words_[2] = 0;
  void* words_dev = nullptr;
  MICS_CUDA_CHECK(cudaHostGetDevicePointer(&words_dev, words, 0));
  tiny_words_dev_ = static_cast<uint64_t*>(words_dev);
  auto* report = reinterpret_cast<TinyReport*>(tiny_words_dev_);
  // Load every kernel this rank may launch while a peer's kernel spins (see
  // tiny_allgather.cuh and cuda_preload_copy), this one included.
  MICS_CUDA_CHECK(cuda_preload_copy());
  MICS_CUDA_CHECK(cuda_preload_reduce_inputs());
  TinyPeers self{};
  self.slots[0] = tiny_slot_;
  self.stop[0] = tiny_words_dev_ + 2;
  MICS_CUDA_CHECK(
      launch_tiny_allgather(nullptr, nullptr, 0, 1, 0, 0, self, 0, report, copy_stream_));
  MICS_CUDA_CHECK(cudaStreamSynchronize(copy_stream_));
  // Every rank's slot and device, through the host path: our slot is zeroed
  // before anyone learns where it is.
  drain();
  const int k = c->size;
  uint64_t mine[3] = {reinterpret_cast<uintptr_t>(tiny_slot_),
                      reinterpret_cast<uintptr_t>(tiny_words_dev_ + 2),
                      static_cast<uint64_t>(device_)};
  std::vector<uint64_t> all(3 * static_cast<size_t>(k));
  CollOp ex = make_op(OpKind::kAllgather, c, mine, all.data(), 3, MICS_UINT64, nullptr);
  MICS_CHECK(run_host(ex));
  for (int r = 0; r < k; ++r) {
    if (all[3 * r + 2] != static_cast<uint64_t>(device_)) {
      MICS_LOG_INFO(
          "comm rank %d: ranks on several CUDA devices; small device allgathers go "
          "through the proxy",
          c->rank);
      return MICS_SUCCESS;
    }
    tiny_peers_.slots[r] = reinterpret_cast<TinySlot*>(static_cast<uintptr_t>(all[3 * r]));
    tiny_peers_.stop[r] = reinterpret_cast<const uint64_t*>(static_cast<uintptr_t>(all[3 * r + 1]));
  }
  tiny_ = Tiny::kOn;
  MICS_LOG_INFO(
      "comm rank %d: allgathers up to %zu bytes per rank run as one kernel per rank "
      "(threads of one process on CUDA device %d)",
      c->rank, tiny_bytes_, device_);
  return MICS_SUCCESS;
}

Result Proxy::check_tiny() {
  if (!tiny_words_ || (tiny_words_[0] == 0 && tiny_words_[1] == 0)) return MICS_SUCCESS;
  const bool timed_out = tiny_words_[0] != 0;
  const uint64_t call = timed_out ? tiny_words_[0] : tiny_words_[1];
  const Result code = timed_out ? MICS_TIMEOUT : MICS_REMOTE_ERROR;
  if (comm_->fatal.load() == MICS_SUCCESS) {
    comm_->fatal_message = "allgather (device, small: one kernel per rank) #" +
                           std::to_string(call) +
                           (timed_out ? " waited longer than the timeout (" +
                                            std::to_string(comm_->timeout_ms) + " ms) for a peer"
                                      : " stopped: a rank aborted its communicator");
    comm_->fatal.store(code);
  }
  return MICS_ERROR(code, "rank %d: %s", comm_->rank, comm_->fatal_message.c_str());
}

void Proxy::stop_tiny() {
  if (!tiny_words_) return;
  tiny_words_[2] = 1;
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

Result Proxy::try_tiny(const CollOp& op, bool* done) {
  *done = false;
  const size_t bytes = op.count * mics_type_size(op.type);
  if (op.kind != OpKind::kAllgather || bytes > tiny_bytes_ || tiny_ == Tiny::kOff)
    return MICS_SUCCESS;
  if (tiny_ == Tiny::kUnknown) MICS_CHECK(setup_tiny());
  if (tiny_ != Tiny::kOn) return MICS_SUCCESS;
  MICS_CHECK(check_tiny());
  DeviceScope scope(device_);
  if (!scope.ok()) MICS_CUDA_CHECK(cudaSetDevice(device_));
  MICS_CUDA_CHECK(launch_tiny_allgather(
      op.send, op.recv, bytes, comm_->size, comm_->rank, ++tiny_seq_, tiny_peers_,
      static_cast<uint64_t>(comm_->timeout_ms) * 1000000,
      reinterpret_cast<TinyReport*>(tiny_words_dev_), static_cast<cudaStream_t>(op.stream)));
  *done = true;
  return MICS_SUCCESS;
}

}  // namespace mics::gpu
