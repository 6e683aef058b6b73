#include "backend.h"

#include <c10/core/DeviceGuard.h>
#include <c10/core/impl/VirtualGuardImpl.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <utility>

#include "ops.h"

namespace mics_torch {
namespace {

std::string describe_group(const std::string& group_id, int rank, int size,
                           const std::vector<int64_t>& global_ranks) {
  std::ostringstream out;
  out << "group '" << group_id << "' (rank " << rank << " of " << size << ", global ranks [";
  for (size_t i = 0; i < global_ranks.size(); ++i) out << (i ? ", " : "") << global_ranks[i];
  out << "])";
  return out.str();
}

// The cudaStream_t mics gets for `stream`. torch's default CUDA stream is the legacy default
// stream, whose handle is NULL; mics reads NULL as "host buffers" and refuses it for device
// buffers (it would be shared by several ranks of one process). A torch process is one rank, so
// the backend names that same stream by cudaStreamLegacy, ((cudaStream_t)0x1) in CUDA's
// driver_types.h (no CUDA header here), which mics passes through to the runtime.
void* mics_stream_handle(const c10::Stream& stream) {
  void* handle = stream.native_handle();
  return handle != nullptr ? handle : reinterpret_cast<void*>(uintptr_t{0x1});
}

// The store key of the group's unique id. The store is already the group's PrefixStore; the
// group id makes the key readable when debugging a shared store.
std::string unique_id_key(const std::string& group_id) { return "mics/unique_id/" + group_id; }

}  // namespace

MicsBackend::MicsBackend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
                         std::chrono::milliseconds timeout, std::string group_id,
                         std::vector<int64_t> global_ranks)
    : c10d::Backend(rank, size),
      timeout_(timeout),
      group_id_(std::move(group_id)),
      description_(describe_group(group_id_, rank, size, global_ranks)) {
  TORCH_CHECK(store, "mics backend: no store given for ", description_);
  TORCH_CHECK(timeout.count() > 0, "mics backend: timeout must be positive, got ", timeout.count(),
              " ms");
  mics_unique_id id;
  const std::string key = unique_id_key(group_id_);
  if (rank == 0) {
    check(mics_get_unique_id(&id), "init (mics_get_unique_id)");
    const auto* bytes = reinterpret_cast<const uint8_t*>(id.internal);
    store->set(key, std::vector<uint8_t>(bytes, bytes + sizeof(id.internal)));
  } else {
    const std::vector<uint8_t> bytes = store->get(key);
    TORCH_CHECK(bytes.size() == sizeof(id.internal), "mics backend: ", description_,
                ": the unique id in the store has ", bytes.size(), " bytes, expected ",
                sizeof(id.internal));
    std::memcpy(id.internal, bytes.data(), bytes.size());
  }
  mics_config config = MICS_CONFIG_INITIALIZER;
  config.timeout_ms = static_cast<int>(std::min<int64_t>(timeout.count(), INT_MAX));
  check(mics_comm_init_rank_config(&comm_, size, id, rank, &config), "init");
  shared_comm_->comm = comm_;
  try {
    check(mics_comm_topology(comm_, &node_, &nnodes_, &local_rank_, &local_size_), "init");
    progress_ = std::make_unique<ProgressThread>();
  } catch (...) {
    shared_comm_->comm = nullptr;
    mics_comm_destroy(comm_);  // the destructor does not run when the constructor throws
    comm_ = nullptr;
    throw;
  }
  init();
}

MicsBackend::~MicsBackend() { shutdown(); }

c10::intrusive_ptr<c10d::Backend::Options> MicsBackend::getBackendOptions() {
  auto options = c10::make_intrusive<Options>("mics", timeout_);
  options->group_name = group_id_;
  return options;
}

void MicsBackend::shutdown() {
  if (progress_) {
    progress_->shutdown(timeout_, [this] { mics_comm_abort(comm_); });
  }
  if (comm_ != nullptr) {
    {
      std::lock_guard<std::mutex> lock(shared_comm_->mutex);  // outliving works stop asking
      shared_comm_->comm = nullptr;
    }
    mics_comm_destroy(comm_);
    comm_ = nullptr;
  }
}

void MicsBackend::abort() {
  if (comm_ != nullptr) mics_comm_abort(comm_);
  shutdown();
}

void MicsBackend::check(mics_result_t result, const char* method) const {
  if (result == MICS_SUCCESS) return;
  C10_THROW_ERROR(DistBackendError,
                  c10::str("mics backend: ", method, " on ", description_,
                           " failed: ", mics_result_string(result), ": ", mics_last_error(comm_)));
}

c10::intrusive_ptr<c10d::Work> MicsBackend::enqueue(c10d::OpType type, const char* method,
                                                    std::vector<at::Tensor> outputs,
                                                    std::vector<at::Tensor> inputs,
                                                    std::chrono::milliseconds op_timeout,
                                                    Body body) {
  TORCH_CHECK(comm_ != nullptr, "mics backend: ", method, " on ", description_,
              " after the process group was shut down");
  std::vector<at::Tensor> all = outputs;
  all.insert(all.end(), inputs.begin(), inputs.end());
  const c10::Device device = common_device(all, method);
  if (device.is_cuda()) {
    return run_on_stream(type, method, device, std::move(outputs), std::move(all), body);
  }
  auto work = c10::make_intrusive<MicsWork>(rank_, type, c10::str(method, " on ", description_),
                                            std::move(outputs), op_timeout,
                                            [body = std::move(body)] { body(nullptr); });
  progress_->enqueue(work);
  return work;
}

c10::intrusive_ptr<c10d::Work> MicsBackend::run_on_stream(c10d::OpType type, const char* method,
                                                          c10::Device device,
                                                          std::vector<at::Tensor> outputs,
                                                          std::vector<at::Tensor> keep_alive,
                                                          const Body& body) {
  c10::DeviceGuard device_guard(device);
  const c10::impl::VirtualGuardImpl impl(device.type());
  const c10::Stream stream = impl.getStream(device);
  // The body's ATen ops (PREMUL_SUM's scaling, the list forms' copies) and the mics calls are
  // all ordered on `stream`; its temporaries go back to the caching allocator at once, which is
  // safe because the allocator reuses them only for later work on the same stream. The mics
  // call goes after the CPU-tensor works queued before it (one call order per communicator).
  progress_->run_inline([&] { body(mics_stream_handle(stream)); });
  return c10::make_intrusive<StreamWork>(rank_, type, c10::str(method, " on ", description_),
                                         device, stream, std::move(outputs), std::move(keep_alive),
                                         shared_comm_);
}

void MicsBackend::run_allgather(const at::Tensor& input, const at::Tensor& output,
                                const char* method, void* stream) const {
  const auto type = to_mics_type(input, method);
  // Across nodes the MiCS hierarchical allgather (rail rings, then the node ring) wins; on
  // one node both are the same ring.
  const auto allgather = nnodes_ > 1 ? mics_hier_allgather : mics_allgather;
  check(allgather(input.data_ptr(), output.data_ptr(), input.numel(), type, comm_, stream), method);
}

c10::intrusive_ptr<c10d::Work> MicsBackend::broadcast(std::vector<at::Tensor>& tensors,
                                                      const c10d::BroadcastOptions& opts) {
  const char* method = "broadcast";
  check_single(tensors, method, "");
  check_tensor(tensors[0], method, "tensor");
  TORCH_CHECK(opts.rootRank >= 0 && opts.rootRank < size_, "mics backend: broadcast: root ",
              opts.rootRank, " is not a rank of ", description_);
  TORCH_CHECK(opts.rootTensor == 0, "mics backend: broadcast: rootTensor must be 0");
  at::Tensor tensor = tensors[0];
  const int root = static_cast<int>(opts.rootRank);
  return enqueue(c10d::OpType::BROADCAST, method, {tensor}, {}, opts.timeout,
                 [=, this](void* stream) {
                   check(mics_broadcast(tensor.data_ptr(), tensor.data_ptr(), tensor.numel(),
                                        to_mics_type(tensor, method), root, comm_, stream),
                         method);
                 });
}

c10::intrusive_ptr<c10d::Work> MicsBackend::allreduce(std::vector<at::Tensor>& tensors,
                                                      const c10d::AllreduceOptions& opts) {
  const char* method = "allreduce";
  check_single(tensors, method, "");
  check_tensor(tensors[0], method, "tensor");
  TORCH_CHECK(!opts.sparseIndices.has_value(), "mics backend: allreduce: sparse not supported");
  at::Tensor tensor = tensors[0];
  const ReduceSpec spec = to_reduce_spec(opts.reduceOp, tensor.scalar_type(), method);
  return enqueue(c10d::OpType::ALLREDUCE, method, {tensor}, {}, opts.timeout,
                 [=, this](void* stream) {
                   if (spec.premul_factor) tensor.mul_(*spec.premul_factor);
                   check(mics_allreduce(tensor.data_ptr(), tensor.data_ptr(), tensor.numel(),
                                        to_mics_type(tensor, method), spec.op, comm_, stream),
                         method);
                 });
}

c10::intrusive_ptr<c10d::Work> MicsBackend::allreduce_coalesced(
    std::vector<at::Tensor>& tensors, const c10d::AllreduceCoalescedOptions& opts) {
  const char* method = "allreduce_coalesced";
  std::vector<ReduceSpec> specs;
  for (const auto& tensor : tensors) {
    check_tensor(tensor, method, "tensor");
    specs.push_back(to_reduce_spec(opts.reduceOp, tensor.scalar_type(), method));
  }
  return enqueue(c10d::OpType::ALLREDUCE_COALESCED, method, tensors, {}, opts.timeout,
                 [=, this](void* stream) {
                   for (size_t i = 0; i < tensors.size(); ++i) {
                     const at::Tensor& tensor = tensors[i];
                     if (specs[i].premul_factor) tensor.mul_(*specs[i].premul_factor);
                     check(mics_allreduce(tensor.data_ptr(), tensor.data_ptr(), tensor.numel(),
                                          to_mics_type(tensor, method), specs[i].op, comm_, stream),
                           method);
                   }
                 });
}

namespace {
// Shared checks of the flat forms: same dtype, and big.numel() == small.numel() * group size.
void check_flat_pair(const at::Tensor& big, const at::Tensor& small, int size, const char* method,
                     const char* big_name, const char* small_name) {
  check_tensor(big, method, big_name);
  check_tensor(small, method, small_name);
  check_same_kind({big}, small, method, big_name);
  TORCH_CHECK(big.numel() == small.numel() * size, "mics backend: ", method, ": ", big_name,
              " has ", big.numel(), " elements (shape ", shape_string(big), ") but must have ",
              small_name, " elements x group size = ", small.numel(), " x ", size, " = ",
              small.numel() * size);
}
}  // namespace

c10::intrusive_ptr<c10d::Work> MicsBackend::_allgather_base(at::Tensor& output, at::Tensor& input,
                                                            const c10d::AllgatherOptions& opts) {
  const char* method = "_allgather_base";
  check_flat_pair(output, input, size_, method, "output", "input");
  return enqueue(c10d::OpType::_ALLGATHER_BASE, method, {output}, {input}, opts.timeout,
                 [=, this](void* stream) { run_allgather(input, output, method, stream); });
}

c10::intrusive_ptr<c10d::Work> MicsBackend::allgather_into_tensor_coalesced(
    std::vector<at::Tensor>& outputs, std::vector<at::Tensor>& inputs,
    const c10d::AllgatherOptions& opts) {
  const char* method = "allgather_into_tensor_coalesced";
  TORCH_CHECK(outputs.size() == inputs.size(), "mics backend: ", method, ": ", outputs.size(),
              " outputs for ", inputs.size(), " inputs");
  for (size_t i = 0; i < inputs.size(); ++i) {
    check_flat_pair(outputs[i], inputs[i], size_, method, "output", "input");
  }
  return enqueue(c10d::OpType::COALESCED, method, outputs, inputs, opts.timeout,
                 [=, this](void* stream) {
                   for (size_t i = 0; i < inputs.size(); ++i) {
                     run_allgather(inputs[i], outputs[i], method, stream);
                   }
                 });
}

c10::intrusive_ptr<c10d::Work> MicsBackend::allgather(std::vector<std::vector<at::Tensor>>& outputs,
                                                      std::vector<at::Tensor>& inputs,
                                                      const c10d::AllgatherOptions& opts) {
  const char* method = "allgather";
  check_single(inputs, method, "input");
  TORCH_CHECK(outputs.size() == 1, "mics backend: allgather takes one output list per rank, got ",
              outputs.size());
  const at::Tensor input = inputs[0];
  check_tensor(input, method, "input");
  const std::vector<at::Tensor> output_list = outputs[0];
  TORCH_CHECK(static_cast<int>(output_list.size()) == size_, "mics backend: allgather: the ",
              "output list has ", output_list.size(), " tensors but the group has ", size_,
              " ranks");
  check_same_kind(output_list, input, method, "output");
  for (const auto& output : output_list) {
    TORCH_CHECK(output.sizes() == input.sizes(), "mics backend: allgather: output shape ",
                shape_string(output), " differs from input shape ", shape_string(input));
  }
  return enqueue(
      c10d::OpType::ALLGATHER, method, output_list, {input}, opts.timeout, [=, this](void* stream) {
        const at::Tensor flat = at::empty({input.numel() * size_}, input.options());
        run_allgather(input, flat, method, stream);
        for (int r = 0; r < size_; ++r) {
          output_list[r].view({-1}).copy_(flat.narrow(0, r * input.numel(), input.numel()));
        }
      });
}

c10::intrusive_ptr<c10d::Work> MicsBackend::_reduce_scatter_base(
    at::Tensor& output, at::Tensor& input, const c10d::ReduceScatterOptions& opts) {
  const char* method = "_reduce_scatter_base";
  check_flat_pair(input, output, size_, method, "input", "output");
  const ReduceSpec spec = to_reduce_spec(opts.reduceOp, input.scalar_type(), method);
  return enqueue(c10d::OpType::_REDUCE_SCATTER_BASE, method, {output}, {input}, opts.timeout,
                 [=, this](void* stream) {
                   const at::Tensor source = apply_premul(input, spec);
                   check(mics_reduce_scatter(source.data_ptr(), output.data_ptr(), output.numel(),
                                             to_mics_type(output, method), spec.op, comm_, stream),
                         method);
                 });
}

c10::intrusive_ptr<c10d::Work> MicsBackend::reduce_scatter_tensor_coalesced(
    std::vector<at::Tensor>& outputs, std::vector<at::Tensor>& inputs,
    const c10d::ReduceScatterOptions& opts) {
  const char* method = "reduce_scatter_tensor_coalesced";
  TORCH_CHECK(outputs.size() == inputs.size(), "mics backend: ", method, ": ", outputs.size(),
              " outputs for ", inputs.size(), " inputs");
  std::vector<ReduceSpec> specs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    check_flat_pair(inputs[i], outputs[i], size_, method, "input", "output");
    specs.push_back(to_reduce_spec(opts.reduceOp, inputs[i].scalar_type(), method));
  }
  return enqueue(
      c10d::OpType::COALESCED, method, outputs, inputs, opts.timeout, [=, this](void* stream) {
        for (size_t i = 0; i < inputs.size(); ++i) {
          const at::Tensor source = apply_premul(inputs[i], specs[i]);
          check(mics_reduce_scatter(source.data_ptr(), outputs[i].data_ptr(), outputs[i].numel(),
                                    to_mics_type(outputs[i], method), specs[i].op, comm_, stream),
                method);
        }
      });
}

c10::intrusive_ptr<c10d::Work> MicsBackend::reduce_scatter(
    std::vector<at::Tensor>& outputs, std::vector<std::vector<at::Tensor>>& inputs,
    const c10d::ReduceScatterOptions& opts) {
  const char* method = "reduce_scatter";
  check_single(outputs, method, "output");
  TORCH_CHECK(inputs.size() == 1, "mics backend: reduce_scatter takes one input list per rank, ",
              "got ", inputs.size());
  const at::Tensor output = outputs[0];
  check_tensor(output, method, "output");
  const std::vector<at::Tensor> input_list = inputs[0];
  TORCH_CHECK(static_cast<int>(input_list.size()) == size_, "mics backend: reduce_scatter: the ",
              "input list has ", input_list.size(), " tensors but the group has ", size_, " ranks");
  check_same_kind(input_list, output, method, "input");
  for (const auto& input : input_list) {
    TORCH_CHECK(input.sizes() == output.sizes(), "mics backend: reduce_scatter: input shape ",
                shape_string(input), " differs from output shape ", shape_string(output));
  }
  const ReduceSpec spec = to_reduce_spec(opts.reduceOp, output.scalar_type(), method);
  return enqueue(c10d::OpType::REDUCE_SCATTER, method, {output}, input_list, opts.timeout,
                 [=, this](void* stream) {
                   std::vector<at::Tensor> flat_inputs;
                   for (const auto& input : input_list) flat_inputs.push_back(input.view({-1}));
                   const at::Tensor source = apply_premul(at::cat(flat_inputs), spec);
                   check(mics_reduce_scatter(source.data_ptr(), output.data_ptr(), output.numel(),
                                             to_mics_type(output, method), spec.op, comm_, stream),
                         method);
                 });
}

c10::intrusive_ptr<c10d::Work> MicsBackend::barrier(const c10d::BarrierOptions& opts) {
  return enqueue(c10d::OpType::BARRIER, "barrier", {}, {}, opts.timeout,
                 [this](void*) { check(mics_barrier(comm_), "barrier"); });
}

}  // namespace mics_torch
