// The C API: argument checks up front, then one call into the communicator or
// the algorithms. Every failure leaves its message in mics_last_error().
#include <sys/random.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "src/base/env.h"
#include "src/base/log.h"
#include "src/coll/collectives.h"
#include "src/comm.h"
#include "src/group.h"
#include "src/op.h"
#include "src/reduce/reduce.h"
#include "src/root_addr.h"

#define MICS_API extern "C" __attribute__((visibility("default")))

using mics::finish_collective;
using mics::make_op;
using mics::Result;

namespace {

// Copies the thread's error chain into the communicator so that
// mics_last_error(comm) works from any thread afterwards.
Result record(mics_comm_t comm, Result r) {
  if (r != MICS_SUCCESS && comm) comm->last_error = mics::thread_error();
  return r;
}

Result check_comm(mics_comm_t comm) {
  if (!comm) return MICS_ERROR(MICS_INVALID_ARGUMENT, "comm is NULL");
  if (comm->aborted.load())
    return MICS_ERROR(MICS_INVALID_USAGE, "the communicator was aborted (mics_comm_abort)");
  if (comm->fatal.load() != MICS_SUCCESS)
    return MICS_ERROR(MICS_INVALID_USAGE, "the communicator failed earlier (%s): %s",
                      mics_result_string(comm->fatal.load()), comm->fatal_message.c_str());
  return MICS_SUCCESS;
}

Result check_type(mics_datatype_t type) {
  if (static_cast<unsigned>(type) >= MICS_NUM_TYPES)
    return MICS_ERROR(MICS_INVALID_ARGUMENT, "type %d is not a mics_datatype_t", type);
  return MICS_SUCCESS;
}

Result check_op(mics_redop_t op) {
  if (static_cast<unsigned>(op) >= MICS_NUM_OPS)
    return MICS_ERROR(MICS_INVALID_ARGUMENT, "op %d is not a mics_redop_t", op);
  return MICS_SUCCESS;
}

// A collective's buffers: `in` of in_elems and `out` of out_elems elements.
// They may coincide only where in_place_at says (nullptr: no in-place form).
struct Buffers {
  const char* what;  // the collective, for messages
  const char* in_name;
  const void* in;
  size_t in_elems;
  const char* out_name;
  const void* out;
  size_t out_elems;
  const void* in_place_at;  // where `in` may sit inside `out`; nullptr: only in == out
};

// Also classifies the buffers (host or device memory) into op.
Result check_buffers(const Buffers& b, size_t count, mics_datatype_t type, int nranks,
                     mics::CollOp* op) {
  const char* what = b.what;
  size_t esize = mics_type_size(type);
  if (count > SIZE_MAX / esize / static_cast<size_t>(nranks))
    return MICS_ERROR(MICS_INVALID_ARGUMENT,
                      "%s: count %zu of %zu-byte elements over %d ranks "
                      "overflows size_t",
                      what, count, esize, nranks);
  if (count == 0) return MICS_SUCCESS;
  if (!b.in) return MICS_ERROR(MICS_INVALID_ARGUMENT, "%s: %s is NULL", what, b.in_name);
  if (!b.out) return MICS_ERROR(MICS_INVALID_ARGUMENT, "%s: %s is NULL", what, b.out_name);
  auto lo_in = reinterpret_cast<uintptr_t>(b.in), lo_out = reinterpret_cast<uintptr_t>(b.out);
  bool overlap = lo_in < lo_out + b.out_elems * esize && lo_out < lo_in + b.in_elems * esize;
  bool in_place = b.in_place_at ? b.in == b.in_place_at : b.in == b.out;
  if (overlap && !in_place)
    return MICS_ERROR(MICS_INVALID_ARGUMENT,
                      "%s: sendbuf and recvbuf overlap but not in the in-place layout", what);
  return mics::classify_buffers(what, b.in_name, b.in, b.out_name, b.out, op);
}

Result new_unique_id(mics_unique_id* id) {
  if (!id) return MICS_ERROR(MICS_INVALID_ARGUMENT, "id is NULL");
  mics::CommConfig config;
  MICS_CHECK(mics::config_from_env(&config));
  mics::SockAddr addr;
  std::string how;
  MICS_CHECK(mics::choose_root_address(&addr, &how));
  uint8_t secret[mics::kSecretBytes];
  if (getrandom(secret, sizeof(secret), 0) != sizeof(secret))
    return MICS_ERROR(MICS_SYSTEM_ERROR, "getrandom failed: %s", strerror(errno));
  mics::UniqueId uid;
  MICS_CHECK(mics::start_root(addr, secret, config.timeout_ms, &uid));
  MICS_LOG_INFO("unique id: root address from %s", how.c_str());
  return mics::encode_unique_id(uid, id);
}

// A versioned config: the caller's sizeof tells which fields it has; the
// fields it lacks keep their defaults.
Result apply_config(const mics_config* cfg, mics::CommConfig* out) {
  if (!cfg) return MICS_SUCCESS;
  const size_t v1 = offsetof(mics_config, timeout_ms) + sizeof(cfg->timeout_ms);
  if (cfg->size < v1 || cfg->size > 4096)
    return MICS_ERROR(MICS_INVALID_ARGUMENT,
                      "config->size %zu is not a mics_config size (this library's is %zu): "
                      "initialise it with MICS_CONFIG_INITIALIZER",
                      cfg->size, sizeof(mics_config));
  if (cfg->version / 10000 != MICS_VERSION_MAJOR)
    return MICS_ERROR(MICS_INVALID_ARGUMENT,
                      "config->version %u is not from a mics %d.x header: initialise it with "
                      "MICS_CONFIG_INITIALIZER",
                      cfg->version, MICS_VERSION_MAJOR);
  if (cfg->timeout_ms < 0)
    return MICS_ERROR(MICS_INVALID_ARGUMENT, "config->timeout_ms %d must be >= 0 (0: default)",
                      cfg->timeout_ms);
  if (cfg->timeout_ms > 0) out->timeout_ms = cfg->timeout_ms;
  return MICS_SUCCESS;
}

Result init_rank(mics_comm_t* comm, int nranks, const mics_unique_id& id, int rank,
                 const mics_config* cfg) {
  if (!comm) return MICS_ERROR(MICS_INVALID_ARGUMENT, "comm is NULL");
  *comm = nullptr;
  if (nranks < 1) return MICS_ERROR(MICS_INVALID_ARGUMENT, "nranks %d must be >= 1", nranks);
  if (rank < 0 || rank >= nranks)
    return MICS_ERROR(MICS_INVALID_ARGUMENT, "rank %d is outside [0, %d)", rank, nranks);
  mics::UniqueId uid;
  MICS_CHECK(mics::decode_unique_id(id, &uid));
  mics::CommConfig config;
  MICS_CHECK(mics::config_from_env(&config));
  MICS_CHECK(apply_config(cfg, &config));
  MICS_CHECK(mics::init_world(uid, nranks, rank, config, comm));
  return MICS_SUCCESS;
}

}  // namespace

MICS_API const char* mics_last_error(mics_comm_t comm) {
  return comm ? comm->last_error.c_str() : mics::thread_error().c_str();
}

MICS_API mics_result_t mics_get_version(int* version) {
  mics::clear_thread_error();
  if (!version) return MICS_ERROR(MICS_INVALID_ARGUMENT, "version is NULL");
  *version = MICS_VERSION_CODE;
  return MICS_SUCCESS;
}

MICS_API size_t mics_type_size(mics_datatype_t type) { return mics::type_size(type); }

MICS_API mics_result_t mics_get_unique_id(mics_unique_id* id) {
  mics::clear_thread_error();
  return new_unique_id(id);
}

MICS_API mics_result_t mics_comm_init_rank(mics_comm_t* comm, int nranks, mics_unique_id id,
                                           int rank) {
  mics::clear_thread_error();
  return init_rank(comm, nranks, id, rank, nullptr);
}

MICS_API mics_result_t mics_comm_init_rank_config(mics_comm_t* comm, int nranks, mics_unique_id id,
                                                  int rank, const mics_config* config) {
  mics::clear_thread_error();
  return init_rank(comm, nranks, id, rank, config);
}

MICS_API mics_result_t mics_comm_get_async_error(mics_comm_t comm, mics_result_t* result) {
  mics::clear_thread_error();
  if (!comm || !result) return MICS_ERROR(MICS_INVALID_ARGUMENT, "comm or result is NULL");
  mics::gpu::poll_async_error(comm);
  *result = comm->aborted.load() ? MICS_INVALID_USAGE : comm->fatal.load();
  return MICS_SUCCESS;
}

MICS_API mics_result_t mics_comm_destroy(mics_comm_t comm) {
  mics::clear_thread_error();
  delete comm;
  return MICS_SUCCESS;
}

MICS_API mics_result_t mics_comm_abort(mics_comm_t comm) {
  mics::clear_thread_error();
  if (!comm) return MICS_ERROR(MICS_INVALID_ARGUMENT, "comm is NULL");
  // The hierarchical subgroups belong to this communicator: abort them too.
  for (mics_comm_t c : {comm, comm->rail_comm.get(), comm->node_comm.get()}) {
    if (!c) continue;
    c->aborted.store(true);
    mics::gpu::stop_kernels(c);
    if (c->shm) {
      c->shm->ring_self();  // wake a call in progress in another thread
      c->shm->publish_failure(MICS_INVALID_USAGE, "mics_comm_abort",  // peers stop waiting
                              c->completed_seq.load() + 1);
    }
  }
  return MICS_SUCCESS;
}

MICS_API mics_result_t mics_comm_rank(mics_comm_t comm, int* rank) {
  mics::clear_thread_error();
  Result r = check_comm(comm);
  if (r == MICS_SUCCESS && !rank) r = MICS_ERROR(MICS_INVALID_ARGUMENT, "rank is NULL");
  if (r == MICS_SUCCESS) *rank = comm->rank;
  return record(comm, r);
}

MICS_API mics_result_t mics_comm_size(mics_comm_t comm, int* size) {
  mics::clear_thread_error();
  Result r = check_comm(comm);
  if (r == MICS_SUCCESS && !size) r = MICS_ERROR(MICS_INVALID_ARGUMENT, "size is NULL");
  if (r == MICS_SUCCESS) *size = comm->size;
  return record(comm, r);
}

MICS_API mics_result_t mics_comm_topology(mics_comm_t comm, int* node, int* nnodes, int* local_rank,
                                          int* local_size) {
  mics::clear_thread_error();
  Result r = check_comm(comm);
  if (r != MICS_SUCCESS) return record(comm, r);
  const auto& l = comm->layout;
  int my_node = l.node_of[comm->rank];
  if (node) *node = my_node;
  if (nnodes) *nnodes = l.nnodes();
  if (local_rank) *local_rank = l.local_rank_of[comm->rank];
  if (local_size) *local_size = static_cast<int>(l.node_ranks[my_node].size());
  return MICS_SUCCESS;
}

MICS_API mics_result_t mics_comm_split(mics_comm_t comm, int color, int key, mics_comm_t* newcomm) {
  mics::clear_thread_error();
  if (!newcomm) return record(comm, MICS_ERROR(MICS_INVALID_ARGUMENT, "newcomm is NULL"));
  *newcomm = nullptr;
  Result r = check_comm(comm);
  if (r == MICS_SUCCESS && mics::group::active())
    r = MICS_ERROR(MICS_INVALID_USAGE, "mics_comm_split cannot be called inside a group");
  if (r == MICS_SUCCESS && color < MICS_SPLIT_NOCOLOR)
    r = MICS_ERROR(MICS_INVALID_ARGUMENT, "color %d must be >= 0 or MICS_SPLIT_NOCOLOR", color);
  if (r == MICS_SUCCESS) r = mics::split_comm(comm, color, key, newcomm);
  return record(comm, r);
}

MICS_API mics_result_t mics_create_partition_groups(mics_comm_t comm, int partition_size,
                                                    mics_comm_t* partition,
                                                    mics_comm_t* replication) {
  mics::clear_thread_error();
  Result r = check_comm(comm);
  if (r == MICS_SUCCESS && mics::group::active())
    r = MICS_ERROR(MICS_INVALID_USAGE,
                   "mics_create_partition_groups cannot be called inside a group");
  if (r == MICS_SUCCESS && (!partition || !replication))
    r = MICS_ERROR(MICS_INVALID_ARGUMENT, "partition or replication is NULL");
  if (r == MICS_SUCCESS && (partition_size < 1 || comm->size % partition_size != 0))
    r = MICS_ERROR(MICS_INVALID_ARGUMENT,
                   "partition_size %d must be >= 1 and divide the communicator size %d",
                   partition_size, comm->size);
  if (r != MICS_SUCCESS) return record(comm, r);
  *partition = *replication = nullptr;
  // DeviceMesh order: partition g = [g*p, (g+1)*p); replication i = {i, i+p, ...}.
  r = mics::split_comm(comm, comm->rank / partition_size, comm->rank, partition);
  if (r == MICS_SUCCESS)
    r = mics::split_comm(comm, comm->rank % partition_size, comm->rank, replication);
  if (r != MICS_SUCCESS) {
    delete *partition;
    *partition = nullptr;
  }
  return record(comm, r);
}

namespace {

// Address of this rank's block in buf (the in-place position), computed in
// integers: buf may be NULL or count absurd here (check_buffers reports both),
// and pointer arithmetic on those would be undefined.
const char* rank_block(const void* buf, int rank, size_t count, mics_datatype_t type) {
  if (buf == nullptr) return nullptr;
  return reinterpret_cast<const char*>(reinterpret_cast<uintptr_t>(buf) +
                                       static_cast<uintptr_t>(rank) * count * mics_type_size(type));
}

// The checks both allgather entry points share; `hierarchical` picks the
// algorithm (mics_hier_allgather asks for it, mics_allgather lets select decide).
Result checked_allgather(const char* name, bool hierarchical, const void* sendbuf, void* recvbuf,
                         size_t sendcount, mics_datatype_t type, mics_comm_t comm, void* stream) {
  mics::clear_thread_error();
  Result r = check_comm(comm);
  if (r == MICS_SUCCESS) r = check_type(type);
  mics::CollOp op = make_op(hierarchical ? mics::OpKind::kHierAllgather : mics::OpKind::kAllgather,
                            comm, sendbuf, recvbuf, sendcount, type, stream);
  if (r == MICS_SUCCESS) {
    const char* in_place = rank_block(recvbuf, comm->rank, sendcount, type);
    r = check_buffers(
        {name, "sendbuf", sendbuf, sendcount, "recvbuf", recvbuf, sendcount * comm->size, in_place},
        sendcount, type, comm->size, &op);
  }
  if (r == MICS_SUCCESS) r = mics::issue(op);
  return finish_collective(comm, r);
}

}  // namespace

MICS_API mics_result_t mics_allgather(const void* sendbuf, void* recvbuf, size_t sendcount,
                                      mics_datatype_t type, mics_comm_t comm, void* stream) {
  return checked_allgather("allgather", false, sendbuf, recvbuf, sendcount, type, comm, stream);
}

MICS_API mics_result_t mics_hier_allgather(const void* sendbuf, void* recvbuf, size_t sendcount,
                                           mics_datatype_t type, mics_comm_t comm, void* stream) {
  return checked_allgather("hier_allgather", true, sendbuf, recvbuf, sendcount, type, comm, stream);
}

MICS_API mics_result_t mics_reduce_scatter(const void* sendbuf, void* recvbuf, size_t recvcount,
                                           mics_datatype_t type, mics_redop_t op, mics_comm_t comm,
                                           void* stream) {
  mics::clear_thread_error();
  Result r = check_comm(comm);
  if (r == MICS_SUCCESS) r = check_type(type);
  if (r == MICS_SUCCESS) r = check_op(op);
  mics::CollOp call =
      make_op(mics::OpKind::kReduceScatter, comm, sendbuf, recvbuf, recvcount, type, stream);
  call.op = op;
  if (r == MICS_SUCCESS) {
    const char* in_place = rank_block(sendbuf, comm->rank, recvcount, type);
    // In place means recvbuf == sendbuf + rank*recvcount: compare from the output's side.
    r = check_buffers({"reduce_scatter", "recvbuf", recvbuf, recvcount, "sendbuf", sendbuf,
                       recvcount * comm->size, in_place},
                      recvcount, type, comm->size, &call);
  }
  if (r == MICS_SUCCESS) r = mics::issue(call);
  return finish_collective(comm, r);
}

MICS_API mics_result_t mics_allreduce(const void* sendbuf, void* recvbuf, size_t count,
                                      mics_datatype_t type, mics_redop_t op, mics_comm_t comm,
                                      void* stream) {
  mics::clear_thread_error();
  Result r = check_comm(comm);
  if (r == MICS_SUCCESS) r = check_type(type);
  if (r == MICS_SUCCESS) r = check_op(op);
  mics::CollOp call =
      make_op(mics::OpKind::kAllreduce, comm, sendbuf, recvbuf, count, type, stream);
  call.op = op;
  if (r == MICS_SUCCESS)
    r = check_buffers({"allreduce", "sendbuf", sendbuf, count, "recvbuf", recvbuf, count, nullptr},
                      count, type, 1, &call);
  if (r == MICS_SUCCESS) r = mics::issue(call);
  return finish_collective(comm, r);
}

MICS_API mics_result_t mics_broadcast(const void* sendbuf, void* recvbuf, size_t count,
                                      mics_datatype_t type, int root, mics_comm_t comm,
                                      void* stream) {
  mics::clear_thread_error();
  Result r = check_comm(comm);
  if (r == MICS_SUCCESS) r = check_type(type);
  if (r == MICS_SUCCESS && (root < 0 || root >= comm->size))
    r = MICS_ERROR(MICS_INVALID_ARGUMENT, "broadcast: root %d is outside [0, %d)", root,
                   comm->size);
  mics::CollOp op = make_op(mics::OpKind::kBroadcast, comm, sendbuf, recvbuf, count, type, stream);
  op.root = root;
  if (r == MICS_SUCCESS) {
    // sendbuf is read on the root only; elsewhere only recvbuf matters.
    const void* in = comm->rank == root ? sendbuf : recvbuf;
    r = check_buffers({"broadcast", "sendbuf", in, count, "recvbuf", recvbuf, count, nullptr},
                      count, type, 1, &op);
  }
  if (r == MICS_SUCCESS) r = mics::issue(op);
  return finish_collective(comm, r);
}

MICS_API mics_result_t mics_barrier(mics_comm_t comm) {
  mics::clear_thread_error();
  Result r = check_comm(comm);
  if (r == MICS_SUCCESS)
    r = mics::issue(
        make_op(mics::OpKind::kBarrier, comm, nullptr, nullptr, 0, MICS_UINT8, nullptr));
  return finish_collective(comm, r);
}
