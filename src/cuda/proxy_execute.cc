// The proxy's execution of one call (src/cuda/proxy.h): the direct path, the
// staged path in pieces (pipelined), and the staged path in one piece
// (grad_sync, which reads its output too).
#include <algorithm>
#include <string>
#include <vector>

#include "src/comm.h"
#include "src/cuda/cuda_check.h"
#include "src/cuda/proxy.h"

namespace mics::gpu {
namespace {

constexpr size_t kAlign = 256;
size_t align_up(size_t n) { return (n + kAlign - 1) / kAlign * kAlign; }

// The collectives whose staging goes in pieces, and the layout of their pieces.
bool staged_kind(OpKind k, StagedKind* out) {
  switch (k) {
    case OpKind::kAllgather:
    case OpKind::kHierAllgather:
      return *out = StagedKind::kAllgather, true;
    case OpKind::kReduceScatter:
      return *out = StagedKind::kReduceScatter, true;
    case OpKind::kAllreduce:
      return *out = StagedKind::kAllreduce, true;
    case OpKind::kBroadcast:
      return *out = StagedKind::kBroadcast, true;
    default:
      return false;
  }
}

cudaError_t copy_2d(char* dev, char* piece, const StageCopy& c, bool to_host, cudaStream_t stream) {
  if (c.rows == 0) return cudaSuccess;
  char* d = dev + c.dev_offset;
  char* h = piece + c.host_offset;
  return to_host ? cudaMemcpy2DAsync(h, c.width, d, c.pitch, c.width, c.rows,
                                     cudaMemcpyDeviceToHost, stream)
                 : cudaMemcpy2DAsync(d, c.pitch, h, c.width, c.width, c.rows,
                                     cudaMemcpyHostToDevice, stream);
}

}  // namespace

Result Proxy::execute_pieces(const Item& item, StagedKind kind) {
  const CollOp& op = item.op;
  const std::vector<Stage> stages = plan_stages(kind, op.comm->size, op.comm->rank, op.root,
                                                op.count, mics_type_size(op.type), stage_bytes_);
  size_t slot_bytes = 0;
  for (const Stage& s : stages) slot_bytes = std::max(slot_bytes, align_up(s.piece_bytes));
  MICS_CHECK(grow_staging(kSlots * slot_bytes));
  auto* send = static_cast<char*>(const_cast<void*>(op.send));
  auto* recv = static_cast<char*>(op.recv);
  // Both streams start after the caller's work: the input is written, and
  // nothing queued before the call still reads the output.
  MICS_CUDA_CHECK(cudaStreamWaitEvent(copy_stream_, item.ready, 0));
  MICS_CUDA_CHECK(cudaStreamWaitEvent(out_stream_, item.ready, 0));
  const size_t n = stages.size();
  auto copy_in = [&](size_t i) -> Result {
    const int slot = static_cast<int>(i % kSlots);
    // The slot's previous piece (i - kSlots) must be back on the device.
    if (i >= kSlots) MICS_CUDA_CHECK(cudaStreamWaitEvent(copy_stream_, out_done_[slot], 0));
    MICS_CUDA_CHECK(copy_2d(send, staging_ + slot * slot_bytes, stages[i].in, true, copy_stream_));
    MICS_CUDA_CHECK(cudaEventRecord(in_done_[slot], copy_stream_));
    return MICS_SUCCESS;
  };
  for (size_t i = 0; i + 1 < kSlots && i < n; ++i) MICS_CHECK(copy_in(i));
  for (size_t i = 0; i < n; ++i) {
    // Piece i + kSlots - 1 goes down while piece i is exchanged and i - 1 comes back.
    if (i + kSlots - 1 < n) MICS_CHECK(copy_in(i + kSlots - 1));
    const int slot = static_cast<int>(i % kSlots);
    char* piece = staging_ + slot * slot_bytes;
    MICS_CUDA_CHECK(cudaEventSynchronize(in_done_[slot]));
    CollOp host = op;
    host.mem = MemKind::kHost;
    host.stream = nullptr;
    host.count = stages[i].count;
    host.send = piece + stages[i].send_off;
    host.recv = piece + stages[i].recv_off;
    MICS_CHECK(run_host(host));
    MICS_CUDA_CHECK(copy_2d(recv, piece, stages[i].out, false, out_stream_));
    MICS_CUDA_CHECK(cudaEventRecord(out_done_[slot], out_stream_));
  }
  MICS_CUDA_CHECK(cudaStreamSynchronize(out_stream_));
  return MICS_SUCCESS;
}

Result Proxy::grow_staging(size_t bytes) {
  if (bytes <= staging_bytes_) return MICS_SUCCESS;
  size_t want = std::max(bytes, 2 * staging_bytes_);
  // The old buffer is kept until the proxy goes: cudaFreeHost synchronises the
  // device, and another rank of this process may have a stream waiting for a
  // collective that needs this proxy (a deadlock until the timeout).
  if (staging_) retired_.push_back(staging_);
  staging_ = nullptr;
  staging_bytes_ = 0;
  void* p = nullptr;
  MICS_CUDA_CHECK(cudaHostAlloc(&p, want, cudaHostAllocDefault));
  staging_ = static_cast<char*>(p);
  staging_bytes_ = want;
  return MICS_SUCCESS;
}

char* Proxy::to_host(const std::vector<Region>& regions, const void* dev) const {
  auto p = static_cast<const char*>(dev);
  for (const Region& r : regions)
    if (p >= r.dev && p <= r.dev + r.bytes) return staging_ + r.offset + (p - r.dev);
  return nullptr;  // a buffer the collective does not read here (a non-root's sendbuf)
}

bool Proxy::goes_direct(const CollOp& op) const {
  const mics_comm* c = op.comm;
  const bool kind = op.kind == OpKind::kAllgather || op.kind == OpKind::kBroadcast ||
                    op.kind == OpKind::kReduceScatter || op.kind == OpKind::kAllreduce;
  return direct_enabled_ && kind && c->size > 1 && c->shm &&
         static_cast<int>(c->shm_ranks.size()) == c->size;
}

Result Proxy::execute_direct(const Item& item) {
  // Peers read our buffers as soon as we expose them: the caller's stream
  // must have produced them, so this thread (not the caller's) waits for it.
  MICS_CUDA_CHECK(cudaEventSynchronize(item.ready));
  if (!direct_) direct_.reset(new DeviceMemory(comm_, device_, copy_stream_, sm_copies_));
  comm_->device_memory = direct_.get();
  Result r = run_host(item.op);  // the algorithms see device_memory and go direct
  comm_->device_memory = nullptr;
  return r;
}

Result Proxy::execute(const Item& item) {
  const CollOp& op = item.op;
  if (goes_direct(op)) return execute_direct(item);
  StagedKind kind;
  if (staged_kind(op.kind, &kind)) {
    Result r = execute_pieces(item, kind);
    // A failure may leave copies in flight into the caller's buffers: they
    // must end before the call is reported complete.
    cudaStreamSynchronize(copy_stream_);
    cudaStreamSynchronize(out_stream_);
    return r;
  }
  return execute_whole(item);
}

Result Proxy::execute_whole(const Item& item) {
  const CollOp& op = item.op;
  // The device ranges this call reads and writes; an in-place call is one range.
  std::vector<Region> regions;
  const bool reads_send = op.kind != OpKind::kBroadcast || op.comm->rank == op.root;
  Region send{static_cast<char*>(const_cast<void*>(op.send)), op_send_bytes(op), 0, true, false};
  Region recv{static_cast<char*>(op.recv), op_recv_bytes(op), 0, op_recv_is_input(op), true};
  if (reads_send && send.dev < recv.dev + recv.bytes && recv.dev < send.dev + send.bytes) {
    char* lo = std::min(send.dev, recv.dev);
    char* hi = std::max(send.dev + send.bytes, recv.dev + recv.bytes);
    regions.push_back({lo, static_cast<size_t>(hi - lo), 0, true, true});
  } else {
    if (reads_send) regions.push_back(send);
    regions.push_back(recv);
  }
  size_t total = 0;
  for (Region& r : regions) r.offset = total, total += align_up(r.bytes);
  MICS_CHECK(grow_staging(total));

  MICS_CUDA_CHECK(cudaStreamWaitEvent(copy_stream_, item.ready, 0));
  for (const Region& r : regions)
    if (r.in)
      MICS_CUDA_CHECK(cudaMemcpyAsync(staging_ + r.offset, r.dev, r.bytes, cudaMemcpyDeviceToHost,
                                      copy_stream_));
  MICS_CUDA_CHECK(cudaStreamSynchronize(copy_stream_));

  CollOp host = op;
  host.mem = MemKind::kHost;
  host.stream = nullptr;
  host.send = reads_send ? to_host(regions, op.send) : op.send;
  host.recv = to_host(regions, op.recv);
  MICS_CHECK(run_host(host));

  for (const Region& r : regions)
    if (r.out)
      MICS_CUDA_CHECK(cudaMemcpyAsync(r.dev, staging_ + r.offset, r.bytes, cudaMemcpyHostToDevice,
                                      copy_stream_));
  MICS_CUDA_CHECK(cudaStreamSynchronize(copy_stream_));
  return MICS_SUCCESS;
}

}  // namespace mics::gpu
