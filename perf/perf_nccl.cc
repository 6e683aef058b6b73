// --engine nccl: the same sweep through NCCL on the same device buffers, for a side-by-side with
// mics. The job is still made by mics (mics-run, torchrun or mpirun variables): rank 0 of the
// communicator makes the ncclUniqueId and mics_broadcast carries it, so no MPI is needed.
//
// NCCL refuses two ranks on one GPU ("Duplicate GPU detected"). With --nccl-hostid-per-rank each
// rank gets its own NCCL_HOSTID, NCCL takes the ranks for separate nodes, and they talk through
// its socket transport (over loopback here): that measures NCCL's inter-node path, not its
// intra-node one, and it is the only NCCL number one GPU can give.
#include <cuda_runtime.h>
#include <nccl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "perf_backend.h"

namespace mics_perf {
namespace {

void CheckNccl(ncclResult_t r, const char* what, ncclComm_t comm) {
  if (r == ncclSuccess) return;
  const char* last = ncclGetLastError(comm);  // comm may be NULL (before init)
  std::fprintf(stderr, "mics perf: %s failed: %s%s%s\n", what, ncclGetErrorString(r),
               last != nullptr && *last ? ": " : "", last != nullptr ? last : "");
  std::fflush(stderr);
  std::exit(1);
}

ncclDataType_t NcclType(mics_datatype_t t) {
  switch (t) {
    case MICS_INT8:
      return ncclInt8;
    case MICS_UINT8:
      return ncclUint8;
    case MICS_INT32:
      return ncclInt32;
    case MICS_UINT32:
      return ncclUint32;
    case MICS_INT64:
      return ncclInt64;
    case MICS_UINT64:
      return ncclUint64;
    case MICS_FLOAT16:
      return ncclFloat16;
    case MICS_FLOAT32:
      return ncclFloat32;
    case MICS_FLOAT64:
      return ncclFloat64;
    default:
      return ncclBfloat16;
  }
}

ncclRedOp_t NcclOp(mics_redop_t op) {
  switch (op) {
    case MICS_PROD:
      return ncclProd;
    case MICS_MAX:
      return ncclMax;
    case MICS_MIN:
      return ncclMin;
    case MICS_AVG:
      return ncclAvg;
    default:
      return ncclSum;
  }
}

// NCCL reads its environment once, at its first call: everything here runs before that.
void SetNcclEnvironment(const Options& opt, mics_comm_t world) {
  int wrank = 0, nnodes = 1;
  CheckMics(mics_comm_rank(world, &wrank), "mics_comm_rank", world);
  CheckMics(mics_comm_topology(world, nullptr, &nnodes, nullptr, nullptr), "mics_comm_topology",
            world);
  // One node: keep NCCL's bootstrap (and socket transport) on loopback, where its default
  // would take the first non-loopback interface.
  if (nnodes == 1) setenv("NCCL_SOCKET_IFNAME", "lo", 0);
  if (!opt.nccl_hostid_per_rank) return;
  const char* base = std::getenv("NCCL_HOSTID");
  std::string host;
  if (base != nullptr && *base != '\0') {
    host = base;
  } else {
    char name[256] = {0};
    gethostname(name, sizeof name - 1);
    host = name;
  }
  std::string id = host + "-rank" + std::to_string(wrank);
  setenv("NCCL_HOSTID", id.c_str(), 1);
  // The fake nodes share one machine: sockets, not a NIC's loopback.
  setenv("NCCL_IB_DISABLE", "1", 0);
}

class NcclEngine : public Engine {
 public:
  NcclEngine(const Collective& coll, const Options& opt, mics_comm_t comm, const Buffers& buf)
      : coll_(coll), opt_(opt), stream_(static_cast<cudaStream_t>(buf.stream())) {
    int rank = 0, nranks = 0;
    CheckMics(mics_comm_rank(comm, &rank), "mics_comm_rank", comm);
    CheckMics(mics_comm_size(comm, &nranks), "mics_comm_size", comm);
    // Rank 0's status travels with the id, so that its failure stops every rank.
    struct {
      int32_t status;
      ncclUniqueId id;
    } msg{};
    if (rank == 0) msg.status = ncclGetUniqueId(&msg.id);
    CheckMics(mics_broadcast(&msg, &msg, sizeof msg, MICS_UINT8, 0, comm, nullptr),
              "mics_broadcast(ncclUniqueId)", comm);
    CheckNccl(static_cast<ncclResult_t>(msg.status), "ncclGetUniqueId (rank 0)", nullptr);
    if (cudaSetDevice(buf.device()) != cudaSuccess) {
      std::fprintf(stderr, "mics perf: cudaSetDevice(%d) failed\n", buf.device());
      std::exit(1);
    }
    CheckNccl(ncclCommInitRank(&nccl_, nranks, msg.id, rank), "ncclCommInitRank", nullptr);
  }
  ~NcclEngine() override { ncclCommDestroy(nccl_); }

  void Run(const void* send, void* recv, size_t count, mics_datatype_t type,
           mics_redop_t op) override {
    ncclDataType_t t = NcclType(type);
    ncclResult_t r = ncclSuccess;
    switch (coll_.Kind()) {
      case CollKind::kAllGather:
        r = ncclAllGather(send, recv, count, t, nccl_, stream_);
        break;
      case CollKind::kReduceScatter:
        r = ncclReduceScatter(send, recv, count, t, NcclOp(op), nccl_, stream_);
        break;
      case CollKind::kAllReduce:
        r = ncclAllReduce(send, recv, count, t, NcclOp(op), nccl_, stream_);
        break;
      case CollKind::kBroadcast:
        r = ncclBroadcast(send, recv, count, t, opt_.root, nccl_, stream_);
        break;
    }
    CheckNccl(r, coll_.Name(), nccl_);
  }
  void CheckAsync() override {
    ncclResult_t async = ncclSuccess;
    CheckNccl(ncclCommGetAsyncError(nccl_, &async), "ncclCommGetAsyncError", nccl_);
    CheckNccl(async, coll_.Name(), nccl_);
  }

 private:
  const Collective& coll_;
  const Options& opt_;
  cudaStream_t stream_;
  ncclComm_t nccl_ = nullptr;
};

}  // namespace

std::unique_ptr<Engine> MakeNcclEngine(const Collective& coll, const Options& opt, mics_comm_t comm,
                                       mics_comm_t world, const Buffers& buf, int local_size,
                                       int device_count) {
  if (local_size > device_count && !opt.nccl_hostid_per_rank) {
    int rank = 0;
    mics_comm_rank(comm, &rank);
    if (rank == 0) {
      std::fprintf(stderr,
                   "mics perf: --engine nccl: %d ranks on this node share %d GPU(s), which NCCL "
                   "refuses (\"Duplicate GPU detected\"); add --nccl-hostid-per-rank to run them "
                   "as separate NCCL nodes over sockets\n",
                   local_size, device_count);
    }
    std::exit(2);
  }
  SetNcclEnvironment(opt, world);
  return std::make_unique<NcclEngine>(coll, opt, comm, buf);
}

}  // namespace mics_perf
