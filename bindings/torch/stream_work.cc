#include "stream_work.h"

#include <c10/core/DeviceGuard.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <c10/util/Exception.h>

#include <utility>

namespace mics_torch {

StreamWork::StreamWork(int rank, c10d::OpType type, std::string description, c10::Device device,
                       c10::Stream stream, std::vector<at::Tensor> outputs,
                       std::vector<at::Tensor> keep_alive, std::shared_ptr<SharedComm> comm)
    : c10d::Work(rank, type),
      description_(std::move(description)),
      device_(device),
      outputs_(std::move(outputs)),
      keep_alive_(std::move(keep_alive)),
      comm_(std::move(comm)),
      event_(device.type()) {
  c10::DeviceGuard device_guard(device_);
  const c10::impl::VirtualGuardImpl impl(device_.type());
  // The caching allocator may hand a freed block to another stream at once; recorded here, it
  // waits for `stream` first (the proxy reads and writes the buffers ordered on `stream`).
  for (const auto& tensor : keep_alive_) {
    if (tensor.defined() && tensor.storage().data() != nullptr) {
      impl.recordDataPtrOnStream(tensor.storage().data_ptr(), stream);
    }
  }
  event_.record(stream);
  // The Future records its own events on the current streams of its devices: `stream` is the
  // current stream of device_ (the caller enqueued the collective there).
  future_ = c10::make_intrusive<c10::ivalue::Future>(c10::ListType::create(c10::TensorType::get()),
                                                     std::vector<c10::Device>{device_});
  future_->markCompleted(c10::IValue(outputs_));
}

bool StreamWork::isCompleted() {
  std::lock_guard<std::mutex> lock(event_mutex_);
  return event_.query();
}

bool StreamWork::isSuccess() const {
  std::lock_guard<std::mutex> lock(event_mutex_);
  return event_.query() && !async_error();
}

std::exception_ptr StreamWork::exception() const { return async_error(); }

void StreamWork::synchronize() {
  const c10::impl::VirtualGuardImpl impl(device_.type());
  std::lock_guard<std::mutex> lock(event_mutex_);
  event_.block(impl.getStream(device_));
}

bool StreamWork::wait(std::chrono::milliseconds /*timeout: see the header*/) {
  synchronize();
  if (auto error = async_error()) std::rethrow_exception(error);
  return true;
}

std::exception_ptr StreamWork::async_error() const {
  std::lock_guard<std::mutex> lock(comm_->mutex);
  if (comm_->comm == nullptr) return nullptr;  // destroyed: every queued call had completed
  mics_result_t state = MICS_SUCCESS;
  if (mics_comm_get_async_error(comm_->comm, &state) != MICS_SUCCESS || state == MICS_SUCCESS) {
    return nullptr;
  }
  try {
    C10_THROW_ERROR(DistBackendError,
                    c10::str("mics backend: ", description_, ": the communicator failed (",
                             mics_result_string(state), "): ", mics_last_error(comm_->comm)));
  } catch (...) {
    return std::current_exception();
  }
}

}  // namespace mics_torch
