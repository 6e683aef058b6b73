// MPI baseline: the mics API calls of the perf binaries, implemented with
// MPI_Allgather, MPI_Reduce_scatter_block, MPI_Allreduce and MPI_Bcast (see
// shim.h). Linked with perf/<coll>.cc and the perf driver this gives
// mpi_<coll>_perf, which prints the same nccl-tests table and -J JSON as the
// mics binaries. Launch with mpirun (OpenMPI: --oversubscribe when ranks >
// cores; as root also --allow-run-as-root); a single process runs as an MPI
// singleton.
#include <mpi.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "shim.h"

using mics_shim::Fail;

struct mics_comm {
  MPI_Comm comm = MPI_COMM_NULL;
  int rank = 0, size = 1;
  int node = 0, nnodes = 1, local = 0, local_size = 1;
  bool world = false;  // the communicator of init: finalizes MPI when destroyed
};

namespace {

int g_live_worlds = 0;

bool MpiType(mics_datatype_t t, bool reduce, MPI_Datatype* out) {
  switch (t) {
    case MICS_INT8:
      *out = MPI_INT8_T;
      return true;
    case MICS_UINT8:
      *out = MPI_UINT8_T;
      return true;
    case MICS_INT32:
      *out = MPI_INT32_T;
      return true;
    case MICS_UINT32:
      *out = MPI_UINT32_T;
      return true;
    case MICS_INT64:
      *out = MPI_INT64_T;
      return true;
    case MICS_UINT64:
      *out = MPI_UINT64_T;
      return true;
    case MICS_FLOAT32:
      *out = MPI_FLOAT;
      return true;
    case MICS_FLOAT64:
      *out = MPI_DOUBLE;
      return true;
    case MICS_FLOAT16:
    case MICS_BFLOAT16:
      *out = MPI_UINT16_T;  // moved as bits; MPI has no 16-bit float reductions
      return !reduce;
    default:
      return false;
  }
}

bool MpiOp(mics_redop_t op, MPI_Op* out) {
  switch (op) {
    case MICS_SUM:
      *out = MPI_SUM;
      return true;
    case MICS_PROD:
      *out = MPI_PROD;
      return true;
    case MICS_MAX:
      *out = MPI_MAX;
      return true;
    case MICS_MIN:
      *out = MPI_MIN;
      return true;
    default:
      return false;  // MPI has no AVG
  }
}

mics_result_t Check(int err, const char* what) {
  if (err == MPI_SUCCESS) return MICS_SUCCESS;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(err, msg, &len);
  return Fail(MICS_SYSTEM_ERROR, "%s: %s", what, msg);
}

mics_result_t Types(mics_comm_t comm, mics_datatype_t type, bool reduce, MPI_Datatype* t) {
  if (comm == nullptr) return Fail(MICS_INVALID_ARGUMENT, "comm is NULL");
  if (!MpiType(type, reduce, t)) {
    return Fail(MICS_INVALID_ARGUMENT, "the MPI baseline does not reduce type %d", type);
  }
  return MICS_SUCCESS;
}

mics_result_t MakeComm(MPI_Comm c, bool world, mics_comm_t* out) {
  auto* m = new mics_comm;
  m->comm = c;
  m->world = world;
  MPI_Comm_rank(c, &m->rank);
  MPI_Comm_size(c, &m->size);
  // Node layout from MICS_HOST_ID / host names, as libmics sees it.
  std::string key = mics_shim::NodeKey();
  char mine[128] = {0};
  std::snprintf(mine, sizeof mine, "%s", key.c_str());
  std::vector<char> all(sizeof mine * static_cast<size_t>(m->size));
  mics_result_t r =
      Check(MPI_Allgather(mine, sizeof mine, MPI_CHAR, all.data(), sizeof mine, MPI_CHAR, c),
            "MPI_Allgather(node keys)");
  if (r != MICS_SUCCESS) {
    delete m;
    return r;
  }
  std::vector<std::string> keys;
  for (int i = 0; i < m->size; ++i) keys.emplace_back(&all[sizeof mine * static_cast<size_t>(i)]);
  mics_shim::Layout(keys.data(), m->size, m->rank, &m->node, &m->nnodes, &m->local, &m->local_size);
  *out = m;
  return MICS_SUCCESS;
}

mics_result_t InitWorld(mics_comm_t* comm) {
  if (comm == nullptr) return Fail(MICS_INVALID_ARGUMENT, "comm is NULL");
  int inited = 0;
  MPI_Initialized(&inited);
  if (!inited) {
    mics_result_t r = Check(MPI_Init(nullptr, nullptr), "MPI_Init");
    if (r != MICS_SUCCESS) return r;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  }
  mics_result_t r = MakeComm(MPI_COMM_WORLD, true, comm);
  if (r != MICS_SUCCESS) return r;
  ++g_live_worlds;
  if ((*comm)->rank == 0) {
    char lib[MPI_MAX_LIBRARY_VERSION_STRING] = {0};
    int len = 0;
    MPI_Get_library_version(lib, &len);
    std::string first(lib, std::strcspn(lib, ",\n"));
    std::printf(
        "# Baseline: %s: MPI_Allgather, MPI_Reduce_scatter_block, MPI_Allreduce, MPI_Bcast "
        "(perf/baselines/mpi_perf.cc; table and timing as mics' perf binaries)\n",
        first.c_str());
  }
  return MICS_SUCCESS;
}

}  // namespace

extern "C" {

mics_result_t mics_get_unique_id(mics_unique_id* id) {
  if (id == nullptr) return Fail(MICS_INVALID_ARGUMENT, "id is NULL");
  std::memset(id, 0, sizeof *id);
  return MICS_SUCCESS;
}

// Only the single-process form (nranks 1) of the perf binaries: an MPI singleton.
mics_result_t mics_comm_init_rank(mics_comm_t* comm, int nranks, mics_unique_id, int rank) {
  if (nranks != 1 || rank != 0) {
    return Fail(MICS_INVALID_ARGUMENT, "the MPI baseline takes its ranks from mpirun");
  }
  return InitWorld(comm);
}

mics_result_t mics_comm_init_env(mics_comm_t* comm) { return InitWorld(comm); }

mics_result_t mics_comm_destroy(mics_comm_t comm) {
  if (comm == nullptr) return MICS_SUCCESS;
  if (comm->world) {
    if (--g_live_worlds == 0) MPI_Finalize();
  } else if (comm->comm != MPI_COMM_NULL) {
    MPI_Comm_free(&comm->comm);
  }
  delete comm;
  return MICS_SUCCESS;
}

mics_result_t mics_comm_rank(mics_comm_t comm, int* rank) {
  if (comm == nullptr || rank == nullptr) return Fail(MICS_INVALID_ARGUMENT, "NULL argument");
  *rank = comm->rank;
  return MICS_SUCCESS;
}

mics_result_t mics_comm_size(mics_comm_t comm, int* size) {
  if (comm == nullptr || size == nullptr) return Fail(MICS_INVALID_ARGUMENT, "NULL argument");
  *size = comm->size;
  return MICS_SUCCESS;
}

mics_result_t mics_comm_topology(mics_comm_t comm, int* node, int* nnodes, int* local_rank,
                                 int* local_size) {
  if (comm == nullptr) return Fail(MICS_INVALID_ARGUMENT, "comm is NULL");
  if (node) *node = comm->node;
  if (nnodes) *nnodes = comm->nnodes;
  if (local_rank) *local_rank = comm->local;
  if (local_size) *local_size = comm->local_size;
  return MICS_SUCCESS;
}

mics_result_t mics_comm_split(mics_comm_t comm, int color, int key, mics_comm_t* newcomm) {
  if (comm == nullptr || newcomm == nullptr) return Fail(MICS_INVALID_ARGUMENT, "NULL argument");
  MPI_Comm c = MPI_COMM_NULL;
  mics_result_t r = Check(
      MPI_Comm_split(comm->comm, color == MICS_SPLIT_NOCOLOR ? MPI_UNDEFINED : color, key, &c),
      "MPI_Comm_split");
  if (r != MICS_SUCCESS) return r;
  *newcomm = nullptr;
  return c == MPI_COMM_NULL ? MICS_SUCCESS : MakeComm(c, false, newcomm);
}

// MiCS groups in DeviceMesh order, as libmics makes them.
mics_result_t mics_create_partition_groups(mics_comm_t comm, int p, mics_comm_t* partition,
                                           mics_comm_t* replication) {
  if (comm == nullptr || partition == nullptr || replication == nullptr || p < 1 ||
      comm->size % p != 0) {
    return Fail(MICS_INVALID_ARGUMENT, "bad partition size %d", p);
  }
  mics_result_t r = mics_comm_split(comm, comm->rank / p, comm->rank, partition);
  if (r != MICS_SUCCESS) return r;
  return mics_comm_split(comm, comm->rank % p, comm->rank, replication);
}

mics_result_t mics_allgather(const void* send, void* recv, size_t count, mics_datatype_t type,
                             mics_comm_t comm, void*) {
  MPI_Datatype t;
  mics_result_t r = Types(comm, type, false, &t);
  if (r != MICS_SUCCESS || count == 0) return r;
  size_t bytes = count * mics_type_size(type);
  bool in_place = send == static_cast<const char*>(recv) + comm->rank * bytes;
  return Check(MPI_Allgather(in_place ? MPI_IN_PLACE : send, static_cast<int>(count), t, recv,
                             static_cast<int>(count), t, comm->comm),
               "MPI_Allgather");
}

mics_result_t mics_hier_allgather(const void* send, void* recv, size_t count, mics_datatype_t type,
                                  mics_comm_t comm, void* stream) {
  return mics_allgather(send, recv, count, type, comm, stream);  // MPI has one allgather
}

mics_result_t mics_reduce_scatter(const void* send, void* recv, size_t count, mics_datatype_t type,
                                  mics_redop_t op, mics_comm_t comm, void*) {
  MPI_Datatype t;
  MPI_Op o;
  mics_result_t r = Types(comm, type, true, &t);
  if (r != MICS_SUCCESS) return r;
  if (!MpiOp(op, &o)) return Fail(MICS_INVALID_ARGUMENT, "MPI has no reduction op %d", op);
  if (count == 0) return MICS_SUCCESS;
  size_t bytes = count * mics_type_size(type);
  char* full = const_cast<char*>(static_cast<const char*>(send));
  if (static_cast<char*>(recv) == full + comm->rank * bytes) {
    // In place: MPI reads the whole input from recvbuf and leaves this rank's
    // block at its start; mics' layout wants it at rank * count.
    r = Check(
        MPI_Reduce_scatter_block(MPI_IN_PLACE, full, static_cast<int>(count), t, o, comm->comm),
        "MPI_Reduce_scatter_block");
    if (r == MICS_SUCCESS && comm->rank != 0) std::memmove(recv, full, bytes);
    return r;
  }
  return Check(MPI_Reduce_scatter_block(send, recv, static_cast<int>(count), t, o, comm->comm),
               "MPI_Reduce_scatter_block");
}

mics_result_t mics_allreduce(const void* send, void* recv, size_t count, mics_datatype_t type,
                             mics_redop_t op, mics_comm_t comm, void*) {
  MPI_Datatype t;
  MPI_Op o;
  mics_result_t r = Types(comm, type, true, &t);
  if (r != MICS_SUCCESS) return r;
  if (!MpiOp(op, &o)) return Fail(MICS_INVALID_ARGUMENT, "MPI has no reduction op %d", op);
  if (count == 0) return MICS_SUCCESS;
  return Check(MPI_Allreduce(send == recv ? MPI_IN_PLACE : send, recv, static_cast<int>(count), t,
                             o, comm->comm),
               "MPI_Allreduce");
}

mics_result_t mics_broadcast(const void* send, void* recv, size_t count, mics_datatype_t type,
                             int root, mics_comm_t comm, void*) {
  MPI_Datatype t;
  mics_result_t r = Types(comm, type, false, &t);
  if (r != MICS_SUCCESS) return r;
  if (root < 0 || root >= comm->size) return Fail(MICS_INVALID_ARGUMENT, "bad root %d", root);
  if (count == 0) return MICS_SUCCESS;
  if (comm->rank == root && send != recv) std::memcpy(recv, send, count * mics_type_size(type));
  return Check(MPI_Bcast(recv, static_cast<int>(count), t, root, comm->comm), "MPI_Bcast");
}

mics_result_t mics_barrier(mics_comm_t comm) {
  if (comm == nullptr) return Fail(MICS_INVALID_ARGUMENT, "comm is NULL");
  return Check(MPI_Barrier(comm->comm), "MPI_Barrier");
}

}  // extern "C"
