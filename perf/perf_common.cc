// Driver of the perf binaries: communicator setup, the size sweep, the table.
#include "perf_common.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "perf_report.h"

namespace mics_perf {
namespace {

mics_comm_t g_err_comm = nullptr;

void Check(mics_result_t r, const char* what) {
  if (r == MICS_SUCCESS) return;
  std::fprintf(stderr, "mics perf: %s failed: %s: %s\n", what, mics_result_string(r),
               mics_last_error(g_err_comm));
  std::fflush(stderr);
  std::exit(1);
}

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
  char *sendbuf, *recvbuf;
  uint32_t seed = 1;
};

// One half (out-of-place or in-place) of a row.
HalfResult RunHalf(Env* e, const Counts& c, mics_datatype_t type, mics_redop_t op, bool in_place) {
  const Options& opt = *e->opt;
  size_t elt = mics_type_size(type);
  char* send = in_place ? e->recvbuf + c.send_off * elt : e->sendbuf;
  char* recv = in_place ? e->recvbuf + c.recv_off * elt : e->recvbuf;
  auto run = [&] {
    Check(e->coll->Run(send, recv, c.param, type, op, opt.root, opt.algo, e->comm),
          e->coll->Name());
  };
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
    PoisonBuffer(e->recvbuf, type, in_place ? std::max(c.send, c.recv) : c.recv);
    FillInput(send, type, c.send, g, *e->coll);
    run();
    double wrong = static_cast<double>(CountWrong(recv, type, c.recv, g, *e->coll));
    double total = 0;
    Check(mics_allreduce(&wrong, &total, 1, MICS_FLOAT64, MICS_SUM, e->world, nullptr),
          "mics_allreduce(#wrong)");
    h.wrong = static_cast<int64_t>(total);
  }
  for (int i = 0; i < opt.warmup; ++i) run();
  Check(mics_barrier(e->comm), "mics_barrier");
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < opt.iters; ++i) run();
  auto t1 = std::chrono::steady_clock::now();
  double us = std::chrono::duration<double, std::micro>(t1 - t0).count() / opt.iters;
  h.time_us = Combine(us, opt.average, e->rank, e->nranks, e->comm);
  double bytes = static_cast<double>(std::max(c.send, c.recv) * elt);
  h.algbw = h.time_us > 0 ? bytes / 1e3 / h.time_us : 0;
  h.busbw = h.algbw * e->coll->BusFactor(e->nranks);
  return h;
}

char* AllocBuffer(size_t bytes) {
  size_t n = (std::max<size_t>(bytes, 1) + 4095) / 4096 * 4096;
  char* p = static_cast<char*>(std::aligned_alloc(4096, n));
  if (p == nullptr) {
    std::fprintf(stderr, "mics perf: cannot allocate %zu bytes\n", n);
    std::exit(1);
  }
  std::memset(p, 0, n);  // touch the pages before timing
  return p;
}

}  // namespace

int PerfMain(int argc, char** argv, const Collective& coll) {
  Options opt;
  if (!ParseOptions(argc, argv, coll, &opt)) return 2;
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
  int wrank = 0, wsize = 0, nnodes = 0;
  Check(mics_comm_rank(e.world, &wrank), "mics_comm_rank");
  Check(mics_comm_size(e.world, &wsize), "mics_comm_size");
  Check(mics_comm_topology(e.world, nullptr, &nnodes, nullptr, nullptr), "mics_comm_topology");
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
  Report report(opt, coll, e.world, wrank, wsize, nnodes, e.nranks);
  report.PrintHeader();

  size_t max_send = 0, max_recv = 0;
  for (mics_datatype_t t : opt.types) {
    Counts c = coll.GetCounts(opt.max_bytes, mics_type_size(t), e.nranks, e.rank);
    max_send = std::max(max_send, c.send * mics_type_size(t));
    max_recv = std::max(max_recv, std::max(c.send, c.recv) * mics_type_size(t));
  }
  e.sendbuf = AllocBuffer(max_send);
  e.recvbuf = AllocBuffer(max_recv);

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
  std::free(e.sendbuf);
  std::free(e.recvbuf);
  g_err_comm = nullptr;
  if (repl != nullptr) mics_comm_destroy(repl);
  if (e.comm != e.world) mics_comm_destroy(e.comm);
  mics_comm_destroy(e.world);
  return errors > 0 ? 1 : 0;
}

}  // namespace mics_perf
