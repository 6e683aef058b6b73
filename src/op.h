// One collective call, described as data: what the API checked and what the
// executors run. A call is issued at once (host buffers: on the calling
// thread; device buffers: through the communicator's proxy), or recorded
// inside mics_group_start/end and issued at group end.
#pragma once

#include <cstddef>

#include "mics/mics.h"
#include "src/base/error.h"

struct mics_comm;

namespace mics {

enum class OpKind {
  kAllgather,
  kHierAllgather,
  kReduceScatter,
  kAllreduce,
  kBroadcast,
  kBarrier,
  kGradSync
};

// Where a call's buffers live (per call, from the CUDA runtime when built with it).
enum class MemKind { kHost, kDevice };

struct CollOp {
  OpKind kind = OpKind::kAllgather;
  mics_comm* comm = nullptr;         // grad_sync: the partition group
  mics_comm* replication = nullptr;  // grad_sync only; may be null
  const void* send = nullptr;        // grad_sync: grads
  void* recv = nullptr;              // grad_sync: shard_accum
  size_t count = 0;                  // as in the header (sendcount, recvcount, shard_count)
  mics_datatype_t type = MICS_FLOAT32;
  mics_redop_t op = MICS_SUM;
  int root = 0;           // broadcast
  bool boundary = false;  // grad_sync
  void* stream = nullptr;
  MemKind mem = MemKind::kHost;
  int device = -1;  // CUDA device of the buffers when mem == kDevice
};

const char* op_name(OpKind kind);

// The one way an entry point builds its call: the fields every collective has.
// The caller then sets what only its kind uses (op, root, replication, boundary).
CollOp make_op(OpKind kind, mics_comm* comm, const void* send, void* recv, size_t count,
               mics_datatype_t type, void* stream);

// Bytes of the input (send) and output (recv) regions of op on its communicator.
size_t op_send_bytes(const CollOp& op);
size_t op_recv_bytes(const CollOp& op);
// True when the output region is also read (grad_sync accumulates into it).
bool op_recv_is_input(const CollOp& op);

// Runs op on host memory on the calling thread (the algorithms of src/coll).
Result run_host(const CollOp& op);

// The API's single exit into execution: records op when the calling thread is
// inside a group, else runs it (host) or hands it to the proxy (device).
Result issue(const CollOp& op);

// Runs op now, ignoring groups (what group end calls for each recorded op).
Result execute(const CollOp& op);

// The end of every collective entry point: a failure is copied into comm (so
// that mics_last_error(comm) reads it from any thread), and a call that failed
// its checks inside a group cancels the group.
Result finish_collective(mics_comm* comm, Result r);

// Host-memory grad_sync (src/grad_sync.cc).
Result grad_sync_host(const void* grads, void* accum, size_t count, mics_datatype_t type,
                      mics_redop_t op, bool boundary, mics_comm* partition, mics_comm* replication);

}  // namespace mics

namespace mics {

// The buffer-kind checks of one call (count > 0, buffers not NULL): both host
// or both device memory (of one device), stream NULL for host memory. Sets
// op->mem and op->device. `what` names the collective in messages.
Result classify_buffers(const char* what, const char* in_name, const void* in, const char* out_name,
                        const void* out, CollOp* op);

}  // namespace mics
