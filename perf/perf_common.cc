// Driver of the perf binaries: communicator setup, the size sweep, the table.
#include "perf_common.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "perf_backend.h"
#include "perf_report.h"

namespace mics_perf {
namespace {

mics_comm_t g_err_comm = nullptr;

void Check(mics_result_t r, const char* what) { CheckMics(r, what, g_err_comm); }

double Combine(double v, int how, int rank, int n, mics_comm_t comm) {
  mics_redop_t op = how == 2 ? MICS_MIN : how == 3 ? MICS_MAX : MICS_SUM;
  if (how == 0 && rank != 0) v = 0;
  double out = 0;
  Check(mics_allreduce(&v, &out, 1, MICS_FLOAT64, op, comm, nullptr), "mics_allreduce(stats)");
  return how == 1 ? out / n : out;
}

struct Env {
  const Options* opt;
  const Collective* coll;
  mics_comm_t world, comm;  // comm: the partition group (or world)
  int rank, nranks;         // in comm
  Buffers* buf;
  Engine* engine;
  uint32_t seed = 1;
};

// Waits for the queued calls (device buffers) and stops on their errors.
void Drain(Env* e) {
  e->buf->Sync();
  e->engine->CheckAsync();
}

// One half (out-of-place or in-place) of a row.
HalfResult RunHalf(Env* e, const Counts& c, mics_datatype_t type, mics_redop_t op, bool in_place) {
  const Options& opt = *e->opt;
  size_t elt = mics_type_size(type);
  char* send = in_place ? e->buf->recv() + c.send_off * elt : e->buf->send();
  char* recv = in_place ? e->buf->recv() + c.recv_off * elt : e->buf->recv();
  auto run = [&] { e->engine->Run(send, recv, c.param, type, op); };
  HalfResult h;
  if (opt.check) {
    DataGen g;
    g.rank = e->rank;
    g.nranks = e->nranks;
    g.root = opt.root;
    g.seed = e->seed++;
    g.op = op;
    g.is_int = type <= MICS_UINT64;
    g.count = c.param;
    g.vmax = static_cast<uint32_t>(std::clamp(120 / e->nranks, 1, 15));
    e->buf->Poison(e->buf->recv(), type, in_place ? std::max(c.send, c.recv) : c.recv);
    e->buf->Fill(send, type, c.send, g, *e->coll);
    run();
    double wrong = static_cast<double>(e->buf->Wrong(recv, type, c.recv, g, *e->coll));
    e->engine->CheckAsync();
    double total = 0;
    Check(mics_allreduce(&wrong, &total, 1, MICS_FLOAT64, MICS_SUM, e->world, nullptr),
          "mics_allreduce(#wrong)");
    h.wrong = static_cast<int64_t>(total);
  }
  for (int i = 0; i < opt.warmup; ++i) run();
  Drain(e);
  Check(mics_barrier(e->comm), "mics_barrier");
  // Host time from the first call to the completion of the last (nccl-tests: the stream is
  // synchronised after the timed loop), so device-buffer calls are timed to their end.
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < opt.iters; ++i) {
    run();
    if (opt.blocking) e->buf->Sync();
  }
  e->buf->Sync();
  auto t1 = std::chrono::steady_clock::now();
  e->engine->CheckAsync();
  double us = std::chrono::duration<double, std::micro>(t1 - t0).count() / opt.iters;
  h.time_us = Combine(us, opt.average, e->rank, e->nranks, e->comm);
  double bytes = static_cast<double>(std::max(c.send, c.recv) * elt);
  h.algbw = h.time_us > 0 ? bytes / 1e3 / h.time_us : 0;
  h.busbw = h.algbw * e->coll->BusFactor(e->nranks);
  return h;
}

// The CUDA devices usable for -M cuda: 0 (after a one-line message) when there are none.
int DeviceCount(const Options& opt) {
#ifdef MICS_PERF_CUDA
  return CudaDeviceCount(opt.engine == EngineKind::kNccl ? "--engine nccl" : "-M cuda");
#else
  return 0;  // ParseOptions refuses -M cuda in a build without CUDA
#endif
}

std::unique_ptr<Buffers> MakeBuffers(const Options& opt, size_t send_bytes, size_t recv_bytes,
                                     int local_rank, int device_count) {
#ifdef MICS_PERF_CUDA
  // Several ranks may share a GPU (mics allows it): local rank r uses device r % count.
  if (opt.memory == MemoryKind::kCuda) {
    return MakeCudaBuffers(send_bytes, recv_bytes, local_rank % device_count);
  }
#endif
  return MakeHostBuffers(send_bytes, recv_bytes);
}

std::unique_ptr<Engine> MakeEngine(const Options& opt, const Collective& coll, const Env& e,
                                   const Buffers& buf, int local_size, int device_count) {
#ifdef MICS_PERF_NCCL
  if (opt.engine == EngineKind::kNccl) {
    return MakeNcclEngine(coll, opt, e.comm, e.world, buf, local_size, device_count);
  }
#endif
  return MakeMicsEngine(coll, opt, e.comm, buf.stream());
}

}  // namespace

int PerfMain(int argc, char** argv, const Collective& coll) {
  Options opt;
  if (!ParseOptions(argc, argv, coll, &opt)) return 2;
  // Before the job forms: every rank of a GPU-less machine skips alike, none waits for another.
  int device_count = 0;
  if (opt.memory == MemoryKind::kCuda) {
    device_count = DeviceCount(opt);
    if (device_count == 0) return kSkipExitCode;
  }
  Env e;
  e.opt = &opt;
  e.coll = &coll;
  if (std::getenv("RANK") == nullptr && std::getenv("OMPI_COMM_WORLD_RANK") == nullptr) {
    // Started by hand without a launcher: one rank, like nccl-tests without MPI.
    mics_unique_id id;
    Check(mics_get_unique_id(&id), "mics_get_unique_id");
    Check(mics_comm_init_rank(&e.world, 1, id, 0), "mics_comm_init_rank");
  } else {
    Check(mics_comm_init_env(&e.world), "mics_comm_init_env");
  }
  g_err_comm = e.world;
  int wrank = 0, wsize = 0, nnodes = 0, local_rank = 0, local_size = 0;
  Check(mics_comm_rank(e.world, &wrank), "mics_comm_rank");
  Check(mics_comm_size(e.world, &wsize), "mics_comm_size");
  Check(mics_comm_topology(e.world, nullptr, &nnodes, &local_rank, &local_size),
        "mics_comm_topology");
  mics_comm_t repl = nullptr;
  e.comm = e.world;
  if (opt.partition > 0) {
    if (wsize % opt.partition != 0) {
      if (wrank == 0) {
        std::fprintf(stderr, "mics perf: -P %d does not divide the %d ranks\n", opt.partition,
                     wsize);
      }
      return 2;
    }
    Check(mics_create_partition_groups(e.world, opt.partition, &e.comm, &repl),
          "mics_create_partition_groups");
  }
  Check(mics_comm_rank(e.comm, &e.rank), "mics_comm_rank");
  Check(mics_comm_size(e.comm, &e.nranks), "mics_comm_size");
  if (opt.root >= e.nranks) {
    if (wrank == 0) {
      std::fprintf(stderr, "mics perf: -r %d is not a rank of a %d-rank group\n", opt.root,
                   e.nranks);
    }
    return 2;
  }

  size_t max_send = 0, max_recv = 0;
  for (mics_datatype_t t : opt.types) {
    Counts c = coll.GetCounts(opt.max_bytes, mics_type_size(t), e.nranks, e.rank);
    max_send = std::max(max_send, c.send * mics_type_size(t));
    max_recv = std::max(max_recv, std::max(c.send, c.recv) * mics_type_size(t));
  }
  std::unique_ptr<Buffers> buf = MakeBuffers(opt, max_send, max_recv, local_rank, device_count);
  std::unique_ptr<Engine> engine = MakeEngine(opt, coll, e, *buf, local_size, device_count);
  e.buf = buf.get();
  e.engine = engine.get();
  Report report(opt, coll, e.world, wrank, wsize, nnodes, e.nranks, buf->device());
  report.PrintHeader();

  for (mics_datatype_t type : opt.types) {
    for (mics_redop_t op : opt.ops) {
      for (size_t bytes = opt.min_bytes; bytes <= opt.max_bytes;) {
        Counts c = coll.GetCounts(bytes, mics_type_size(type), e.nranks, e.rank);
        Row row;
        row.bytes = std::max(c.send, c.recv) * mics_type_size(type);
        row.count = c.param;
        row.type = type;
        row.op = op;
        row.half[0] = RunHalf(&e, c, type, op, false);
        row.half[1] = RunHalf(&e, c, type, op, true);
        report.PrintRow(row);
        size_t next = opt.step_factor > 1 ? static_cast<size_t>(bytes * opt.step_factor)
                                          : bytes + opt.step_bytes;
        if (next <= bytes) break;
        bytes = next;
      }
    }
  }
  int errors = report.PrintFooter();
  Drain(&e);
  engine.reset();  // before the buffers it may still reference
  buf.reset();
  g_err_comm = nullptr;
  if (repl != nullptr) mics_comm_destroy(repl);
  if (e.comm != e.world) mics_comm_destroy(e.comm);
  mics_comm_destroy(e.world);
  return errors > 0 ? 1 : 0;
}

}  // namespace mics_perf
