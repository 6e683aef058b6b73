// MiCS two-hop gradient synchronisation: reduce-scatter inside the partition
// group every micro-step (accumulating into the shard), all-reduce across the
// replication group only at the accumulation boundary.
#include <cstdint>
#include <vector>

#include "src/coll/collectives.h"
#include "src/comm.h"
#include "src/op.h"
#include "src/reduce/reduce.h"

#define MICS_API extern "C" __attribute__((visibility("default")))

namespace mics {
namespace {

Result check_group(mics_comm_t comm, const char* name) {
  if (!comm) return MICS_ERROR(MICS_INVALID_ARGUMENT, "grad_sync: %s is NULL", name);
  if (comm->aborted.load())
    return MICS_ERROR(MICS_INVALID_USAGE, "grad_sync: %s was aborted", name);
  if (comm->fatal.load() != MICS_SUCCESS)
    return MICS_ERROR(MICS_INVALID_USAGE, "grad_sync: %s failed earlier: %s", name,
                      comm->fatal_message.c_str());
  return MICS_SUCCESS;
}

Result check_args(const void* grads, void* accum, size_t count, mics_datatype_t type,
                  mics_redop_t op, mics_comm_t partition, mics_comm_t replication, CollOp* call) {
  MICS_CHECK(check_group(partition, "partition"));
  if (replication) MICS_CHECK(check_group(replication, "replication"));
  if (static_cast<unsigned>(type) >= MICS_NUM_TYPES)
    return MICS_ERROR(MICS_INVALID_ARGUMENT, "grad_sync: type %d is not a mics_datatype_t", type);
  if (static_cast<unsigned>(op) >= MICS_NUM_OPS)
    return MICS_ERROR(MICS_INVALID_ARGUMENT, "grad_sync: op %d is not a mics_redop_t", op);
  size_t esize = mics_type_size(type);
  if (count > SIZE_MAX / esize / static_cast<size_t>(partition->size))
    return MICS_ERROR(MICS_INVALID_ARGUMENT, "grad_sync: shard_count %zu overflows size_t", count);
  if (count == 0) return MICS_SUCCESS;
  if (!grads || !accum)
    return MICS_ERROR(MICS_INVALID_ARGUMENT, "grad_sync: grads or shard_accum is NULL");
  auto g = reinterpret_cast<uintptr_t>(grads), a = reinterpret_cast<uintptr_t>(accum);
  if (a < g + count * partition->size * esize && g < a + count * esize)
    return MICS_ERROR(MICS_INVALID_ARGUMENT, "grad_sync: shard_accum overlaps grads");
  return classify_buffers("grad_sync", "grads", grads, "shard_accum", accum, call);
}

}  // namespace

Result grad_sync_host(const void* grads, void* accum, size_t count, mics_datatype_t type,
                      mics_redop_t op, bool boundary, mics_comm_t partition,
                      mics_comm_t replication) {
  if (count == 0) return MICS_SUCCESS;
  const mics_redop_t combine = op == MICS_AVG ? MICS_SUM : op;  // AVG divides once, at the end
  const size_t esize = mics_type_size(type), wsize = wire_type_size(type);
  // Hop 1: reduce-scatter inside the partition group.
  std::vector<char> shard(count * esize), wire(count * wsize);
  MICS_CHECK(coll::select_reduce_scatter(partition, grads, shard.data(), count, type, combine));
  to_wire(type, wire.data(), shard.data(), count);
  reduce_to_final(type, combine, accum, wire.data(), accum, count, 1);
  if (!boundary) return MICS_SUCCESS;
  // Hop 2, at the accumulation boundary only: all-reduce across replicas.
  int replicas = replication ? replication->size : 1;
  if (replicas > 1)
    MICS_CHECK(coll::select_allreduce(replication, accum, accum, count, type, combine));
  if (op == MICS_AVG) {
    to_wire(type, wire.data(), accum, count);
    wire_to_final(type, MICS_AVG, accum, wire.data(), count, partition->size * replicas);
  }
  return MICS_SUCCESS;
}

}  // namespace mics

MICS_API mics_result_t mics_grad_sync(const void* grads, void* shard_accum, size_t shard_count,
                                      mics_datatype_t type, mics_redop_t op, int is_boundary,
                                      mics_comm_t partition, mics_comm_t replication,
                                      void* stream) {
  mics::clear_thread_error();
  mics::CollOp call = mics::make_op(mics::OpKind::kGradSync, partition, grads, shard_accum,
                                    shard_count, type, stream);
  call.op = op;
  call.replication = replication;
  call.boundary = is_boundary != 0;
  mics::Result r =
      mics::check_args(grads, shard_accum, shard_count, type, op, partition, replication, &call);
  if (r == MICS_SUCCESS) r = mics::issue(call);
  return mics::finish_collective(partition, r);
}
