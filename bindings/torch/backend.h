// MicsBackend: the c10d::Backend behind torch.distributed's "mics" backend. One mics
// communicator per process group, bootstrapped through the group's c10d store; every
// collective is checked on the calling thread, then queued to a progress thread that runs the
// mics call and completes the returned Work. CUDA tensors take the mics device-buffer path
// instead: the call is enqueued on the current CUDA stream from the calling thread and returns
// a StreamWork (see stream_work.h), after the queued CPU works. Methods c10d has but mics lacks
// (send/recv, gather, scatter, alltoall, reduce) keep c10d::Backend's behaviour: "Backend mics does
// not support <method>".
#pragma once

#include <mics/mics.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>
#include <vector>

#include "stream_work.h"
#include "work.h"

namespace mics_torch {

class MicsBackend final : public c10d::Backend {
 public:
  // Collective over the group's ranks: group rank 0 creates the mics unique id and publishes it
  // in `store` (the group's PrefixStore); the others read it. `timeout` bounds every mics wait.
  // global_ranks (the group's ranks in the default group) only appear in messages: mics finds
  // each process's node itself (host + boot id, MICS_HOST_ID).
  MicsBackend(const c10::intrusive_ptr<c10d::Store>& store, int rank, int size,
              std::chrono::milliseconds timeout, std::string group_id,
              std::vector<int64_t> global_ranks);
  ~MicsBackend() override;

  const std::string getBackendName() const override { return "mics"; }
  c10::intrusive_ptr<Options> getBackendOptions() override;

  c10::intrusive_ptr<c10d::Work> broadcast(std::vector<at::Tensor>& tensors,
                                           const c10d::BroadcastOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> allreduce(std::vector<at::Tensor>& tensors,
                                           const c10d::AllreduceOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> allreduce_coalesced(
      std::vector<at::Tensor>& tensors, const c10d::AllreduceCoalescedOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> allgather(std::vector<std::vector<at::Tensor>>& outputs,
                                           std::vector<at::Tensor>& inputs,
                                           const c10d::AllgatherOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> _allgather_base(at::Tensor& output, at::Tensor& input,
                                                 const c10d::AllgatherOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> allgather_into_tensor_coalesced(
      std::vector<at::Tensor>& outputs, std::vector<at::Tensor>& inputs,
      const c10d::AllgatherOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> reduce_scatter(std::vector<at::Tensor>& outputs,
                                                std::vector<std::vector<at::Tensor>>& inputs,
                                                const c10d::ReduceScatterOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> _reduce_scatter_base(
      at::Tensor& output, at::Tensor& input, const c10d::ReduceScatterOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> reduce_scatter_tensor_coalesced(
      std::vector<at::Tensor>& outputs, std::vector<at::Tensor>& inputs,
      const c10d::ReduceScatterOptions& opts) override;
  c10::intrusive_ptr<c10d::Work> barrier(const c10d::BarrierOptions& opts) override;

  // Waits for queued work (up to the timeout, then aborts the communicator), frees it.
  // Idempotent; later collectives raise.
  void shutdown() override;
  // Fails the running and queued collectives at once, then shuts down.
  void abort() override;

  // mics_comm_topology of this group: {node, nnodes, local_rank, local_size}.
  std::vector<int> topology() const { return {node_, nnodes_, local_rank_, local_size_}; }
  // "group '<id>' (rank r of n, global ranks [...])", for messages.
  const std::string& describe() const { return description_; }

 private:
  // Runs the mics call(s) of one collective; stream: NULL for CPU tensors, else the CUDA stream
  // to enqueue on (the body passes it to every mics call).
  using Body = std::function<void(void* stream)>;
  // CPU tensors: queues body to the progress thread (a MicsWork). CUDA tensors (all on one
  // device, else it raises): run_on_stream. inputs are only kept alive and device-checked.
  c10::intrusive_ptr<c10d::Work> enqueue(c10d::OpType type, const char* method,
                                         std::vector<at::Tensor> outputs,
                                         std::vector<at::Tensor> inputs,
                                         std::chrono::milliseconds op_timeout, Body body);
  // Calling thread: runs body on the current stream of `device` once the queued CPU works have
  // run, and returns a StreamWork holding keep_alive; the host does not wait for the GPU.
  c10::intrusive_ptr<c10d::Work> run_on_stream(c10d::OpType type, const char* method,
                                               c10::Device device, std::vector<at::Tensor> outputs,
                                               std::vector<at::Tensor> keep_alive,
                                               const Body& body);
  // Raises DistBackendError with mics' own message when result is not MICS_SUCCESS.
  void check(mics_result_t result, const char* method) const;
  // Progress thread: allgather of count elements, hierarchical when the group spans nodes.
  void run_allgather(const at::Tensor& input, const at::Tensor& output, const char* method,
                     void* stream) const;

  const std::chrono::milliseconds timeout_;
  const std::string group_id_;
  std::string description_;
  mics_comm_t comm_ = nullptr;
  int node_ = 0, nnodes_ = 1, local_rank_ = 0, local_size_ = 1;
  std::unique_ptr<ProgressThread> progress_;
  // comm_ for StreamWorks, which may outlive the backend; cleared before comm_ is destroyed.
  std::shared_ptr<SharedComm> shared_comm_ = std::make_shared<SharedComm>();
};

}  // namespace mics_torch
