// Shared driver of the nccl-tests compatible perf binaries (all_gather_perf, ...).
// Uses only the public mics API.
#ifndef MICS_PERF_PERF_COMMON_H_
#define MICS_PERF_PERF_COMMON_H_

#include <mics/mics.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace mics_perf {

enum class Algo { kAuto, kRing, kHier };
enum class MemoryKind { kHost, kCuda };  // -M: where the send/recv buffers live
enum class EngineKind { kMics, kNccl };  // -E: what runs the collectives
enum class CollKind { kAllGather, kReduceScatter, kAllReduce, kBroadcast };

// Exit status of a run that cannot happen on this machine (no GPU for -M cuda): the
// automake/ctest "skipped" convention.
constexpr int kSkipExitCode = 77;

struct Options {
  size_t min_bytes = 32u << 20;
  size_t max_bytes = 32u << 20;
  size_t step_bytes = 1u << 20;
  double step_factor = 1.0;
  int iters = 20;
  int warmup = 1;
  int check = 1;
  int average = 3;  // 0 rank 0, 1 mean, 2 min, 3 max over ranks
  int blocking = 0;
  int root = 0;
  int partition = 0;  // 0: whole world
  Algo algo = Algo::kAuto;
  MemoryKind memory = MemoryKind::kHost;
  EngineKind engine = EngineKind::kMics;
  // NCCL_HOSTID=<host>-rank<r> per rank: lets NCCL run several ranks on one GPU, as separate
  // nodes over sockets (--nccl-hostid-per-rank or MICS_PERF_NCCL_HOSTID_PER_RANK=1).
  bool nccl_hostid_per_rank = false;
  std::vector<mics_datatype_t> types{MICS_FLOAT32};
  std::vector<mics_redop_t> ops{MICS_SUM};
  std::string json_path;
  std::string command_line;
};

// Element counts of one test, as in nccl-tests' *GetCollByteCount.
struct Counts {
  size_t send = 0;      // elements in the send buffer
  size_t recv = 0;      // elements in the receive buffer
  size_t param = 0;     // count argument of the call (per-rank count)
  size_t send_off = 0;  // in-place: send = buf + send_off (elements)
  size_t recv_off = 0;  // in-place: recv = buf + recv_off
};

// Deterministic test data: small non-negative integers, so that every
// reduction order gives the same exactly representable result.
struct DataGen {
  int rank = 0;
  int nranks = 1;
  int root = 0;
  uint32_t seed = 0;
  mics_redop_t op = MICS_SUM;
  bool is_int = false;
  size_t count = 0;  // Counts::param
  uint32_t vmax = 1;
  // Value held by rank r at index i of its input.
  double Value(int r, size_t i) const;
  // op over all ranks of Value(r, i).
  double Reduce(size_t i) const;
};

class Collective {
 public:
  virtual ~Collective() = default;
  virtual const char* Name() const = 0;  // e.g. "all_gather_perf"
  virtual CollKind Kind() const = 0;     // what --engine nccl calls
  virtual bool HasOp() const { return false; }
  virtual bool HasRoot() const { return false; }
  virtual double BusFactor(int nranks) const = 0;
  virtual Counts GetCounts(size_t bytes, size_t elt, int nranks, int rank) const = 0;
  virtual mics_result_t Run(const void* send, void* recv, size_t count, mics_datatype_t type,
                            mics_redop_t op, int root, Algo algo, mics_comm_t comm,
                            void* stream) const = 0;
  // Value of send element i on this rank.
  virtual double Input(const DataGen& g, size_t i) const { return g.Value(g.rank, i); }
  // Expected value of recv element i on this rank.
  virtual double Expected(const DataGen& g, size_t i) const = 0;
};

// Per-rank element count of an all-gather / reduce-scatter of `bytes` in total,
// rounded down so that each rank's share is a multiple of 16 bytes (nccl-tests).
inline size_t PerRankCount(size_t bytes, size_t elt, int nranks) {
  size_t base = bytes / elt / static_cast<size_t>(nranks);
  size_t align = elt < 16 ? 16 / elt : 1;
  return base - base % align;
}

// Entry point of each binary: parses flags, runs the sweep, prints the table.
int PerfMain(int argc, char** argv, const Collective& coll);

// ---- helpers shared by the driver files ----
bool ParseOptions(int argc, char** argv, const Collective& coll, Options* opt);
const char* TypeName(mics_datatype_t t);
const char* OpName(mics_redop_t op);
// Writes c.Input(g, i) to the n elements of type t at p.
void FillInput(void* p, mics_datatype_t t, size_t n, const DataGen& g, const Collective& c);
// Writes a pattern that never equals an expected value (0xFF bytes: NaN, -1).
void PoisonBuffer(void* p, mics_datatype_t t, size_t n);
// Number of elements of buf (n of them) that differ from c.Expected().
size_t CountWrong(const void* p, mics_datatype_t t, size_t n, const DataGen& g,
                  const Collective& c);

}  // namespace mics_perf

#endif  // MICS_PERF_PERF_COMMON_H_
