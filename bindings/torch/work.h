// MicsWork: one collective call as c10d sees it, completed by the backend's progress thread;
// ProgressThread: runs the queued works one after another, in the order they were issued
// (collectives must run in the same order on every rank).
#pragma once

#include <ATen/ATen.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <torch/csrc/distributed/c10d/Types.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>
#include <vector>

namespace mics_torch {

class MicsWork : public c10d::Work {
 public:
  // body runs on the progress thread and throws on failure; outputs complete the Future.
  // timeout: the op's own timeout option, if it set one (kUnsetTimeout otherwise).
  MicsWork(int rank, c10d::OpType type, std::string description, std::vector<at::Tensor> outputs,
           std::chrono::milliseconds timeout, std::function<void()> body);

  bool isCompleted() override;
  bool isSuccess() const override;
  std::exception_ptr exception() const override;
  std::vector<at::Tensor> result() override;
  // CPU tensors: the outputs are written by the time the work completes; nothing to order.
  void synchronize() override {}
  // Blocks until done; raises the collective's error, or DistBackendError when `timeout`
  // (kNoTimeout: the op's timeout option, if set) passes first. Without either it waits for the
  // collective, which mics itself bounds by the communicator's timeout.
  bool wait(std::chrono::milliseconds timeout = kNoTimeout) override;
  // Completed with the output tensors (a list) or the error; DDP's reducer relies on it.
  c10::intrusive_ptr<c10::ivalue::Future> getFuture() override;

  // Progress thread: runs the body, then completes the work and its Future. Never throws.
  void run() noexcept;

 private:
  void complete(std::exception_ptr error);

  const std::string description_;
  const std::vector<at::Tensor> outputs_;
  const std::chrono::milliseconds timeout_;
  std::function<void()> body_;
  const c10::intrusive_ptr<c10::ivalue::Future> future_;

  // Own state rather than c10d::Work's protected members, whose types vary across torch releases.
  mutable std::mutex state_mutex_;
  std::condition_variable state_cv_;
  bool done_ = false;
  std::exception_ptr error_;
};

class ProgressThread {
 public:
  ProgressThread();
  ~ProgressThread();
  ProgressThread(const ProgressThread&) = delete;
  ProgressThread& operator=(const ProgressThread&) = delete;

  // Raises if the thread is shut down.
  void enqueue(c10::intrusive_ptr<MicsWork> work);
  // Runs fn on the calling thread once every queued work has run, with the thread held idle
  // until fn returns, so calls on the communicator keep the order in which they were issued
  // (used for device-buffer calls, which only enqueue on a CUDA stream). Releases the GIL while
  // it waits; raises if the thread is shut down; fn's exception propagates.
  void run_inline(const std::function<void()>& fn);
  // Refuses new work, lets the queue drain for up to `grace`, then calls `on_overdue` (which must
  // make the running and queued works fail fast, e.g. abort the communicator) and joins.
  // Idempotent; releases the GIL while it waits (a Future callback may need it).
  void shutdown(std::chrono::milliseconds grace, const std::function<void()>& on_overdue);

 private:
  void loop();

  std::mutex mutex_;
  std::condition_variable wake_;  // new work or shutdown
  std::condition_variable idle_;  // queue drained
  std::deque<c10::intrusive_ptr<MicsWork>> queue_;
  bool running_work_ = false;
  bool inline_running_ = false;  // run_inline's fn is running: start no queued work
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace mics_torch
