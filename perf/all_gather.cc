// all_gather_perf: mics_allgather (or mics_hier_allgather with -A hier).
#include "perf_common.h"

namespace mics_perf {
namespace {

class AllGather : public Collective {
 public:
  const char* Name() const override { return "all_gather_perf"; }
  CollKind Kind() const override { return CollKind::kAllGather; }
  double BusFactor(int n) const override { return static_cast<double>(n - 1) / n; }
  Counts GetCounts(size_t bytes, size_t elt, int nranks, int rank) const override {
    Counts c;
    c.param = PerRankCount(bytes, elt, nranks);
    c.send = c.param;
    c.recv = c.param * static_cast<size_t>(nranks);
    c.send_off = c.param * static_cast<size_t>(rank);  // sendbuf == recvbuf + rank*count
    return c;
  }
  mics_result_t Run(const void* send, void* recv, size_t count, mics_datatype_t type, mics_redop_t,
                    int, Algo algo, mics_comm_t comm, void* stream) const override {
    if (algo == Algo::kHier) return mics_hier_allgather(send, recv, count, type, comm, stream);
    return mics_allgather(send, recv, count, type, comm, stream);
  }
  double Expected(const DataGen& g, size_t i) const override {
    return g.Value(static_cast<int>(i / g.count), i % g.count);
  }
};

}  // namespace
}  // namespace mics_perf

int main(int argc, char** argv) { return mics_perf::PerfMain(argc, argv, mics_perf::AllGather()); }
