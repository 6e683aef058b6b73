// all_reduce_perf: mics_allreduce.
#include "perf_common.h"

namespace mics_perf {
namespace {

class AllReduce : public Collective {
 public:
  const char* Name() const override { return "all_reduce_perf"; }
  CollKind Kind() const override { return CollKind::kAllReduce; }
  bool HasOp() const override { return true; }
  double BusFactor(int n) const override { return 2.0 * (n - 1) / n; }
  Counts GetCounts(size_t bytes, size_t elt, int, int) const override {
    Counts c;
    c.param = c.send = c.recv = bytes / elt;  // in place: sendbuf == recvbuf
    return c;
  }
  mics_result_t Run(const void* send, void* recv, size_t count, mics_datatype_t type,
                    mics_redop_t op, int, Algo, mics_comm_t comm, void* stream) const override {
    return mics_allreduce(send, recv, count, type, op, comm, stream);
  }
  double Expected(const DataGen& g, size_t i) const override { return g.Reduce(i); }
};

}  // namespace
}  // namespace mics_perf

int main(int argc, char** argv) { return mics_perf::PerfMain(argc, argv, mics_perf::AllReduce()); }
