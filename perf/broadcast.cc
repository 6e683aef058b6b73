// broadcast_perf: mics_broadcast from -r root.
#include "perf_common.h"

namespace mics_perf {
namespace {

class Broadcast : public Collective {
 public:
  const char* Name() const override { return "broadcast_perf"; }
  CollKind Kind() const override { return CollKind::kBroadcast; }
  bool HasRoot() const override { return true; }
  double BusFactor(int) const override { return 1.0; }
  Counts GetCounts(size_t bytes, size_t elt, int, int) const override {
    Counts c;
    c.param = c.send = c.recv = bytes / elt;  // in place: sendbuf == recvbuf
    return c;
  }
  mics_result_t Run(const void* send, void* recv, size_t count, mics_datatype_t type, mics_redop_t,
                    int root, Algo, mics_comm_t comm, void* stream) const override {
    return mics_broadcast(send, recv, count, type, root, comm, stream);
  }
  // Every rank fills its own values; only the root's may arrive.
  double Expected(const DataGen& g, size_t i) const override { return g.Value(g.root, i); }
};

}  // namespace
}  // namespace mics_perf

int main(int argc, char** argv) { return mics_perf::PerfMain(argc, argv, mics_perf::Broadcast()); }
