// Where every collective goes after the API's checks (src/op.h): recorded in
// a group, run on host memory here, or handed to the communicator's proxy.
#include "src/coll/collectives.h"
#include "src/comm.h"
#include "src/device.h"
#include "src/group.h"
#include "src/op.h"

namespace mics {

const char* op_name(OpKind kind) {
  switch (kind) {
    case OpKind::kAllgather:
      return "allgather";
    case OpKind::kHierAllgather:
      return "hier_allgather";
    case OpKind::kReduceScatter:
      return "reduce_scatter";
    case OpKind::kAllreduce:
      return "allreduce";
    case OpKind::kBroadcast:
      return "broadcast";
    case OpKind::kBarrier:
      return "barrier";
    case OpKind::kGradSync:
      return "grad_sync";
  }
  return "?";
}

CollOp make_op(OpKind kind, mics_comm* comm, const void* send, void* recv, size_t count,
               mics_datatype_t type, void* stream) {
  CollOp op;
  op.kind = kind;
  op.comm = comm;
  op.send = send;
  op.recv = recv;
  op.count = count;
  op.type = type;
  op.stream = stream;
  return op;
}

size_t op_send_bytes(const CollOp& op) {
  const size_t bytes = op.count * mics_type_size(op.type);
  switch (op.kind) {
    case OpKind::kReduceScatter:
    case OpKind::kGradSync:
      return bytes * op.comm->size;
    case OpKind::kBarrier:
      return 0;
    default:
      return bytes;
  }
}

size_t op_recv_bytes(const CollOp& op) {
  const size_t bytes = op.count * mics_type_size(op.type);
  switch (op.kind) {
    case OpKind::kAllgather:
    case OpKind::kHierAllgather:
      return bytes * op.comm->size;
    case OpKind::kBarrier:
      return 0;
    default:
      return bytes;
  }
}

bool op_recv_is_input(const CollOp& op) { return op.kind == OpKind::kGradSync; }

Result run_host(const CollOp& op) {
  mics_comm* c = op.comm;
  switch (op.kind) {
    case OpKind::kAllgather:
      return coll::select_allgather(c, op.send, op.recv, op.count, op.type);
    case OpKind::kHierAllgather:
      return coll::hier_allgather(c, op.send, op.recv, op.count, op.type);
    case OpKind::kReduceScatter:
      return coll::select_reduce_scatter(c, op.send, op.recv, op.count, op.type, op.op);
    case OpKind::kAllreduce:
      return coll::select_allreduce(c, op.send, op.recv, op.count, op.type, op.op);
    case OpKind::kBroadcast:
      return coll::broadcast(c, op.send, op.recv, op.count, op.type, op.root);
    case OpKind::kBarrier:
      return coll::barrier(c);
    case OpKind::kGradSync:
      return grad_sync_host(op.send, op.recv, op.count, op.type, op.op, op.boundary, c,
                            op.replication);
  }
  return MICS_ERROR(MICS_INTERNAL_ERROR, "unknown collective %d", static_cast<int>(op.kind));
}

Result execute(const CollOp& op) {
  // A call recorded in a group was checked then; its communicator may have
  // been aborted or have failed since.
  for (mics_comm* c : {op.comm, op.replication}) {
    if (!c) continue;
    if (c->aborted.load())
      return MICS_ERROR(MICS_INVALID_USAGE, "%s: rank %d's communicator was aborted",
                        op_name(op.kind), c->rank);
    if (c->fatal.load() != MICS_SUCCESS)
      return MICS_ERROR(MICS_INVALID_USAGE, "%s: rank %d's communicator failed earlier: %s",
                        op_name(op.kind), c->rank, c->fatal_message.c_str());
  }
  if (op.mem == MemKind::kDevice) {
    if (op.count == 0) return MICS_SUCCESS;  // nothing to order on the stream
    return gpu::enqueue(op);
  }
  // Host calls come after the device calls already queued on the same communicators.
  gpu::drain(op.comm);
  if (op.replication) gpu::drain(op.replication);
  return run_host(op);
}

Result issue(const CollOp& op) {
  if (group::active()) return group::record(op);
  return execute(op);
}

Result finish_collective(mics_comm* comm, Result r) {
  if (r == MICS_SUCCESS) return r;
  if (group::active()) group::cancel(r, thread_error());
  if (comm) comm->last_error = thread_error();
  return r;
}

}  // namespace mics

namespace mics {

namespace {
const char* kind_name(MemKind k) { return k == MemKind::kHost ? "host" : "device"; }
}  // namespace

Result classify_buffers(const char* what, const char* in_name, const void* in, const char* out_name,
                        const void* out, CollOp* op) {
  MemKind kin, kout;
  int din = -1, dout = -1;
  MICS_CHECK(gpu::classify(in, &kin, &din));
  MICS_CHECK(gpu::classify(out, &kout, &dout));
  if (kin != kout)
    return MICS_ERROR(MICS_INVALID_ARGUMENT,
                      "%s: %s is %s memory but %s is %s memory (both must be host or both device)",
                      what, in_name, kind_name(kin), out_name, kind_name(kout));
  if (kin == MemKind::kHost) {
    if (op->stream)
      return MICS_ERROR(MICS_INVALID_ARGUMENT, "%s: stream must be NULL for host buffers%s", what,
                        gpu::built_with_cuda() ? "" : " (this build has no CUDA data path)");
    op->mem = MemKind::kHost;
    op->device = -1;
    return MICS_SUCCESS;
  }
  if (din != dout)
    return MICS_ERROR(MICS_INVALID_ARGUMENT, "%s: %s is on CUDA device %d but %s on device %d",
                      what, in_name, din, out_name, dout);
  for (mics_comm* c : {op->comm, op->replication})
    if (c && c->cuda_device >= 0 && c->cuda_device != din)
      return MICS_ERROR(MICS_INVALID_ARGUMENT,
                        "%s: the buffers are on CUDA device %d but rank %d's communicator was "
                        "created for device %d (mics_comm_init_all)",
                        what, din, c->rank, c->cuda_device);
  // The legacy default stream is shared by every rank of the process and
  // synchronises with their streams: rank A's wait for its collective would
  // hold rank B's part of the same collective. So device calls name a stream.
  if (!op->stream)
    return MICS_ERROR(MICS_INVALID_ARGUMENT,
                      "%s: device buffers need a stream (a cudaStream_t); NULL, the legacy "
                      "default stream, is refused",
                      what);
  op->mem = MemKind::kDevice;
  op->device = din;
  return MICS_SUCCESS;
}

}  // namespace mics
