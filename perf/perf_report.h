// Output of the perf binaries: the nccl-tests style table and the -J JSON file.
#ifndef MICS_PERF_PERF_REPORT_H_
#define MICS_PERF_PERF_REPORT_H_

#include <string>
#include <vector>

#include "perf_common.h"

namespace mics_perf {

struct HalfResult {
  double time_us = 0;
  double algbw = 0;
  double busbw = 0;
  int64_t wrong = -1;  // -1: not checked
};

struct Row {
  size_t bytes = 0;
  size_t count = 0;
  mics_datatype_t type = MICS_FLOAT32;
  mics_redop_t op = MICS_SUM;
  HalfResult half[2];  // out-of-place, in-place
};

class Report {
 public:
  // Collective over world: gathers each rank's pid, host, topology and CUDA device (-1: host
  // memory).
  Report(const Options& opt, const Collective& coll, mics_comm_t world, int rank, int nranks,
         int nnodes, int group_size, int device);
  void PrintHeader() const;
  void PrintRow(const Row& row);
  // Prints the summary lines, writes -J; returns the number of halves with wrong values.
  int PrintFooter();

 private:
  struct RankInfo {
    int32_t rank, pid, node, local_rank, group, device;
    char host[40];
  };
  void WriteJson() const;

  const Options& opt_;
  const Collective& coll_;
  int rank_, nranks_, nnodes_, group_size_;
  std::vector<RankInfo> infos_;
  std::vector<Row> rows_;
  std::string date_, host_;
  int errors_ = 0;
  double bw_sum_ = 0;
  int bw_count_ = 0;
};

}  // namespace mics_perf

#endif  // MICS_PERF_PERF_REPORT_H_
