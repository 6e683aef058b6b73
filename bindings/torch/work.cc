#include "work.h"

#include <Python.h>
#include <c10/util/Exception.h>

#include <utility>

namespace mics_torch {
namespace {
// Lets go of the GIL for its lifetime when the calling thread holds it.
class GilRelease {
 public:
  GilRelease() : saved_(Py_IsInitialized() && PyGILState_Check() ? PyEval_SaveThread() : nullptr) {}
  ~GilRelease() {
    if (saved_ != nullptr) PyEval_RestoreThread(saved_);
  }
  GilRelease(const GilRelease&) = delete;
  GilRelease& operator=(const GilRelease&) = delete;

 private:
  PyThreadState* saved_;
};
}  // namespace

MicsWork::MicsWork(int rank, c10d::OpType type, std::string description,
                   std::vector<at::Tensor> outputs, std::chrono::milliseconds timeout,
                   std::function<void()> body)
    : c10d::Work(rank, type),
      description_(std::move(description)),
      outputs_(std::move(outputs)),
      timeout_(timeout),
      body_(std::move(body)),
      future_(
          c10::make_intrusive<c10::ivalue::Future>(c10::ListType::create(c10::TensorType::get()))) {
}

bool MicsWork::isCompleted() {
  std::lock_guard<std::mutex> lock(state_mutex_);
  return done_;
}

bool MicsWork::isSuccess() const {
  std::lock_guard<std::mutex> lock(state_mutex_);
  return done_ && !error_;
}

std::exception_ptr MicsWork::exception() const {
  std::lock_guard<std::mutex> lock(state_mutex_);
  return error_;
}

std::vector<at::Tensor> MicsWork::result() { return outputs_; }

bool MicsWork::wait(std::chrono::milliseconds timeout) {
  const auto limit = timeout != kNoTimeout ? timeout : timeout_;
  std::unique_lock<std::mutex> lock(state_mutex_);
  if (limit == kNoTimeout || limit == c10d::kUnsetTimeout) {
    state_cv_.wait(lock, [this] { return done_; });
  } else if (!state_cv_.wait_for(lock, limit, [this] { return done_; })) {
    C10_THROW_ERROR(DistBackendError,
                    c10::str("mics backend: ", description_, " did not complete within ",
                             limit.count(), " ms (Work.wait timeout)"));
  }
  if (error_) std::rethrow_exception(error_);
  return true;
}

c10::intrusive_ptr<c10::ivalue::Future> MicsWork::getFuture() { return future_; }

void MicsWork::run() noexcept {
  std::exception_ptr error;
  try {
    body_();
  } catch (...) {
    error = std::current_exception();
  }
  body_ = nullptr;  // frees temporaries and the input references now, not at the Work's end
  complete(error);
}

void MicsWork::complete(std::exception_ptr error) {
  {
    std::lock_guard<std::mutex> lock(state_mutex_);
    done_ = true;
    error_ = error;
  }
  state_cv_.notify_all();
  // After the state: a Future callback that calls wait() on this work must not block.
  if (error) {
    future_->setError(error);
  } else {
    future_->markCompleted(c10::IValue(outputs_));
  }
}

ProgressThread::ProgressThread() : thread_([this] { loop(); }) {}

ProgressThread::~ProgressThread() {
  shutdown(std::chrono::milliseconds(0), [] {});
}

void ProgressThread::enqueue(c10::intrusive_ptr<MicsWork> work) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    TORCH_CHECK(!stopping_, "mics backend: the process group was shut down");
    queue_.push_back(std::move(work));
  }
  wake_.notify_one();
}

void ProgressThread::loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return (stopping_ || !queue_.empty()) && !inline_running_; });
    if (queue_.empty()) break;  // stopping and drained
    auto work = std::move(queue_.front());
    queue_.pop_front();
    running_work_ = true;
    lock.unlock();
    work->run();
    work.reset();
    lock.lock();
    running_work_ = false;
    if (queue_.empty()) idle_.notify_all();
  }
}

void ProgressThread::shutdown(std::chrono::milliseconds grace,
                              const std::function<void()>& on_overdue) {
  GilRelease no_gil;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    stopping_ = true;
    wake_.notify_all();
    const bool drained = idle_.wait_for(
        lock, grace, [this] { return queue_.empty() && !running_work_ && !inline_running_; });
    if (!drained) {
      lock.unlock();
      on_overdue();
    }
  }
  if (thread_.joinable()) thread_.join();
}

void ProgressThread::run_inline(const std::function<void()>& fn) {
  {
    GilRelease no_gil;
    std::unique_lock<std::mutex> lock(mutex_);
    idle_.wait(lock, [this] {
      return stopping_ || (queue_.empty() && !running_work_ && !inline_running_);
    });
    TORCH_CHECK(!stopping_, "mics backend: the process group was shut down");
    inline_running_ = true;
  }
  // Resets the flag and lets the thread (and other inline callers) go, also when fn throws.
  struct Release {
    ProgressThread* self;
    ~Release() {
      {
        std::lock_guard<std::mutex> lock(self->mutex_);
        self->inline_running_ = false;
      }
      self->wake_.notify_all();
      self->idle_.notify_all();
    }
  } release{this};
  fn();
}

}  // namespace mics_torch
