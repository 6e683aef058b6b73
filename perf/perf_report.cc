// nccl-tests style table (src/util.cu layout) and the -J JSON results file.
#include "perf_report.h"

#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

#include "perf_check.h"

namespace mics_perf {
namespace {

const char* const kAverageNames[] = {"rank0", "mean", "min", "max"};

std::string JsonString(const std::string& s) {
  std::string out = "\"";
  for (unsigned char ch : s) {
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += static_cast<char>(ch);
    } else if (ch < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", ch);
      out += buf;
    } else {
      out += static_cast<char>(ch);
    }
  }
  return out + "\"";
}

void PrintHalf(const HalfResult& h) {
  char t[32];
  const char* fmt = h.time_us >= 10000.0 ? "%7.0f" : h.time_us >= 100.0 ? "%7.1f" : "%7.2f";
  std::snprintf(t, sizeof t, fmt, h.time_us);
  if (h.wrong >= 0) {
    std::printf("  %7s  %6.2f  %6.2f  %6" PRId64, t, h.algbw, h.busbw, h.wrong);
  } else {
    std::printf("  %7s  %6.2f  %6.2f  %6s", t, h.algbw, h.busbw, "N/A");
  }
}

const char* MemoryName(MemoryKind m) { return m == MemoryKind::kCuda ? "cuda" : "host"; }

// "nccl+hostid" when each rank posed as its own NCCL node: a different measurement.
const char* EngineName(const Options& opt) {
  if (opt.engine == EngineKind::kMics) return "mics";
  return opt.nccl_hostid_per_rank ? "nccl+hostid" : "nccl";
}

void JsonHalf(FILE* f, const char* name, const HalfResult& h) {
  std::fprintf(f, "\"%s\": {\"time_us\": %.3f, \"algbw\": %.6g, \"busbw\": %.6g, \"wrong\": ", name,
               h.time_us, h.algbw, h.busbw);
  if (h.wrong >= 0) {
    std::fprintf(f, "%" PRId64 "}", h.wrong);
  } else {
    std::fprintf(f, "null}");
  }
}

}  // namespace

Report::Report(const Options& opt, const Collective& coll, mics_comm_t world, int rank, int nranks,
               int nnodes, int group_size, int device)
    : opt_(opt),
      coll_(coll),
      rank_(rank),
      nranks_(nranks),
      nnodes_(nnodes),
      group_size_(group_size),
      infos_(static_cast<size_t>(nranks)) {
  RankInfo me{};
  me.rank = rank;
  me.pid = static_cast<int32_t>(getpid());
  me.group = rank / group_size;
  me.device = device;
  int node = 0, local = 0;
  mics_comm_topology(world, &node, nullptr, &local, nullptr);
  me.node = node;
  me.local_rank = local;
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  host_ = host;
  std::snprintf(me.host, sizeof me.host, "%s", host);
  ExitOnError(mics_allgather(&me, infos_.data(), sizeof me, MICS_UINT8, world, nullptr),
              "mics perf", "mics_allgather(rank info)", world);
  char date[64];
  std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  date_ = date;
}

void Report::PrintHeader() const {
  if (rank_ != 0) return;
  int lib = 0;
  mics_get_version(&lib);
  std::printf("# mics-tests version %d.%d.%d mics-headers=%d mics-library=%d\n", MICS_VERSION_MAJOR,
              MICS_VERSION_MINOR, MICS_VERSION_PATCH, MICS_VERSION_CODE, lib);
  std::printf("# Collective test starting: %s\n", coll_.Name());
  std::printf("# nThread 1 nGpus 1 minBytes %zu maxBytes %zu step: ", opt_.min_bytes,
              opt_.max_bytes);
  if (opt_.step_factor > 1) {
    std::printf("%g(factor)", opt_.step_factor);
  } else {
    std::printf("%zu(bytes)", opt_.step_bytes);
  }
  std::printf(" warmup iters: %d iters: %d agg iters: 1 validation: %d graph: 0\n", opt_.warmup,
              opt_.iters, opt_.check ? 1 : 0);
  const char* algo = opt_.algo == Algo::kHier ? "hier" : opt_.algo == Algo::kRing ? "ring" : "auto";
  std::printf(
      "# mics: ranks %d nodes %d memory %s engine %s algo %s time: %s over ranks blocking: %d\n",
      nranks_, nnodes_, MemoryName(opt_.memory), EngineName(opt_), algo,
      kAverageNames[opt_.average], opt_.blocking);
  if (group_size_ != nranks_) {
    int groups = nranks_ / group_size_;
    std::printf(
        "# Partition groups: %d groups of %d ranks (group g = ranks [%d*g, %d*g+%d)),"
        " running concurrently; table shows group 0, #wrong sums all groups\n",
        groups, group_size_, group_size_, group_size_, group_size_);
  }
  std::printf("#\n# Using devices\n");
  for (const RankInfo& i : infos_) {
    std::printf("#  Rank %2d Group %2d Pid %6d on %10s node %2d local %2d ", i.rank, i.group, i.pid,
                i.host, i.node, i.local_rank);
    if (i.device < 0) {
      std::printf("[host memory]\n");
    } else {
      std::printf("device %2d [cuda memory]\n", i.device);
    }
  }
  std::printf("#\n");
  std::printf(
      "#                                                              out-of-place"
      "                       in-place\n"
      "#       size         count      type   redop    root     time   algbw   busbw  #wrong"
      "     time   algbw   busbw  #wrong\n"
      "#        (B)    (elements)                               (us)  (GB/s)  (GB/s)       "
      "      (us)  (GB/s)  (GB/s)\n");
  std::fflush(stdout);
}

void Report::PrintRow(const Row& row) {
  rows_.push_back(row);
  for (const HalfResult& h : row.half) {
    if (h.wrong > 0) ++errors_;
    bw_sum_ += h.busbw;
    ++bw_count_;
  }
  if (rank_ != 0) return;
  std::printf("%12zu  %12zu  %8s  %6s  %6d", row.bytes, row.count, TypeName(row.type),
              coll_.HasOp() ? OpName(row.op) : "none", coll_.HasRoot() ? opt_.root : -1);
  PrintHalf(row.half[0]);
  PrintHalf(row.half[1]);
  std::printf("\n");
  std::fflush(stdout);
}

int Report::PrintFooter() {
  if (rank_ == 0) {
    std::printf("# Out of bounds values : %d %s\n", errors_, errors_ ? "FAILED" : "OK");
    std::printf("# Avg bus bandwidth    : %g \n", bw_count_ ? bw_sum_ / bw_count_ : 0.0);
    std::printf("#\n# Collective test concluded: %s\n#\n", coll_.Name());
    std::fflush(stdout);
    if (!opt_.json_path.empty()) WriteJson();
  }
  return errors_;
}

void Report::WriteJson() const {
  FILE* f = std::fopen(opt_.json_path.c_str(), "w");
  if (f == nullptr) {
    std::fprintf(stderr, "mics perf: cannot write %s\n", opt_.json_path.c_str());
    return;
  }
  int lib = 0;
  mics_get_version(&lib);
  std::fprintf(f, "{\n  \"collective\": %s,\n", JsonString(coll_.Name()).c_str());
  std::fprintf(f, "  \"mics_version\": %d,\n  \"nranks\": %d,\n  \"nnodes\": %d,\n", lib, nranks_,
               nnodes_);
  std::fprintf(f, "  \"group_size\": %d,\n  \"ngroups\": %d,\n", group_size_,
               nranks_ / group_size_);
  std::fprintf(f, "  \"command_line\": %s,\n", JsonString(opt_.command_line).c_str());
  std::fprintf(f, "  \"date\": %s,\n  \"hostname\": %s,\n", JsonString(date_).c_str(),
               JsonString(host_).c_str());
  std::fprintf(f, "  \"iters\": %d,\n  \"warmup_iters\": %d,\n  \"check\": %s,\n", opt_.iters,
               opt_.warmup, opt_.check ? "true" : "false");
  std::fprintf(f, "  \"time_over_ranks\": \"%s\",\n  \"memory\": \"%s\",\n  \"engine\": \"%s\",\n",
               kAverageNames[opt_.average], MemoryName(opt_.memory), EngineName(opt_));
  std::fprintf(f, "  \"out_of_bounds\": %d,\n  \"avg_busbw\": %.6g,\n  \"results\": [", errors_,
               bw_count_ ? bw_sum_ / bw_count_ : 0.0);
  for (size_t i = 0; i < rows_.size(); ++i) {
    const Row& r = rows_[i];
    std::fprintf(f, "%s\n    {\"size\": %zu, \"count\": %zu, \"type\": \"%s\", \"redop\": \"%s\", ",
                 i ? "," : "", r.bytes, r.count, TypeName(r.type),
                 coll_.HasOp() ? OpName(r.op) : "none");
    std::fprintf(f, "\"root\": %d, ", coll_.HasRoot() ? opt_.root : -1);
    JsonHalf(f, "out_of_place", r.half[0]);
    std::fprintf(f, ", ");
    JsonHalf(f, "in_place", r.half[1]);
    std::fprintf(f, "}");
  }
  std::fprintf(f, "\n  ]\n}\n");
  std::fclose(f);
}

}  // namespace mics_perf
