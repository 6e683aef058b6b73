// reduce_scatter_perf: mics_reduce_scatter.
#include "perf_common.h"

namespace mics_perf {
namespace {

class ReduceScatter : public Collective {
 public:
  const char* Name() const override { return "reduce_scatter_perf"; }
  CollKind Kind() const override { return CollKind::kReduceScatter; }
  bool HasOp() const override { return true; }
  double BusFactor(int n) const override { return static_cast<double>(n - 1) / n; }
  Counts GetCounts(size_t bytes, size_t elt, int nranks, int rank) const override {
    Counts c;
    c.param = PerRankCount(bytes, elt, nranks);
    c.send = c.param * static_cast<size_t>(nranks);
    c.recv = c.param;
    c.recv_off = c.param * static_cast<size_t>(rank);  // recvbuf == sendbuf + rank*count
    return c;
  }
  mics_result_t Run(const void* send, void* recv, size_t count, mics_datatype_t type,
                    mics_redop_t op, int, Algo, mics_comm_t comm, void* stream) const override {
    return mics_reduce_scatter(send, recv, count, type, op, comm, stream);
  }
  double Expected(const DataGen& g, size_t i) const override {
    return g.Reduce(static_cast<size_t>(g.rank) * g.count + i);
  }
};

}  // namespace
}  // namespace mics_perf

int main(int argc, char** argv) {
  return mics_perf::PerfMain(argc, argv, mics_perf::ReduceScatter());
}
