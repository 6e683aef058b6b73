// StreamWork: a collective on CUDA tensors as c10d sees it. The mics call was enqueued on the
// current CUDA stream of the tensors' device by the calling thread (mics stages device buffers
// through its own proxy thread); the work records an event on that stream right after it and
// never blocks the host: wait() makes the waiter's current stream wait for the event.
// Only c10's generic device interface is used (no CUDA headers, no CUDA libraries linked).
#pragma once

#include <ATen/ATen.h>
#include <c10/core/Event.h>
#include <c10/core/Stream.h>
#include <mics/mics.h>

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <torch/csrc/distributed/c10d/Types.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>
#include <vector>

namespace mics_torch {

// The backend's communicator as works see it: a StreamWork may outlive its process group, so it
// asks for the communicator's async error through this handle, which shutdown clears (under the
// mutex) before it destroys the communicator.
struct SharedComm {
  std::mutex mutex;
  mics_comm_t comm = nullptr;
};

class StreamWork : public c10d::Work {
 public:
  // Call right after the mics call was enqueued on `stream` (the current stream of `device`):
  // records the completion event there, marks each of `keep_alive` (inputs, outputs,
  // temporaries) as in use by `stream` for torch's caching allocator, and holds them until the
  // work is destroyed. outputs complete the Future.
  StreamWork(int rank, c10d::OpType type, std::string description, c10::Device device,
             c10::Stream stream, std::vector<at::Tensor> outputs,
             std::vector<at::Tensor> keep_alive, std::shared_ptr<SharedComm> comm);

  // The event has completed (the collective's data is in place, or the communicator failed).
  bool isCompleted() override;
  bool isSuccess() const override;
  // The communicator's async error, if it failed (it may have failed in a later call).
  std::exception_ptr exception() const override;
  std::vector<at::Tensor> result() override { return outputs_; }
  // The caller's current stream on the device waits for the collective; the host does not.
  void synchronize() override;
  // synchronize(), then raises if the communicator has failed so far. The host never blocks, so
  // `timeout` is not applied: mics bounds each collective by the communicator's timeout and
  // reports the failure at a later wait() or call.
  bool wait(std::chrono::milliseconds timeout = kNoTimeout) override;
  // Completed at construction, CUDA-aware (created with the device): a callback or value()
  // makes the current stream wait for the collective, as for NCCL's futures.
  c10::intrusive_ptr<c10::ivalue::Future> getFuture() override { return future_; }

 private:
  std::exception_ptr async_error() const;

  const std::string description_;
  const c10::Device device_;
  const std::vector<at::Tensor> outputs_;
  const std::vector<at::Tensor> keep_alive_;
  const std::shared_ptr<SharedComm> comm_;
  c10::intrusive_ptr<c10::ivalue::Future> future_;
  mutable std::mutex event_mutex_;  // c10::Event is not thread-safe
  c10::Event event_;
};

}  // namespace mics_torch
