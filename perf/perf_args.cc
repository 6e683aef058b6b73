// Command-line flags of the perf binaries, with the nccl-tests meaning.
#include <getopt.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "perf_common.h"

namespace mics_perf {
namespace {

const char* const kTypeNames[MICS_NUM_TYPES] = {"int8",   "uint8", "int32", "uint32", "int64",
                                                "uint64", "half",  "float", "double", "bfloat16"};
const char* const kOpNames[MICS_NUM_OPS] = {"sum", "prod", "max", "min", "avg"};

struct Alias {
  const char* name;
  mics_datatype_t type;
};
const Alias kTypeAliases[] = {
    {"char", MICS_INT8},       {"int", MICS_INT32},       {"float16", MICS_FLOAT16},
    {"fp16", MICS_FLOAT16},    {"float32", MICS_FLOAT32}, {"fp32", MICS_FLOAT32},
    {"float64", MICS_FLOAT64}, {"fp64", MICS_FLOAT64},    {"bf16", MICS_BFLOAT16}};

void Usage(const char* prog) {
  std::fprintf(
      stderr,
      "usage: %s [-b minbytes] [-e maxbytes] [-f stepfactor | -i stepbytes] [-n iters]\n"
      "  [-w warmup] [-c 0|1] [-d type|all] [-o sum|prod|max|min|avg|all] [-a 0..3]\n"
      "  [-z blocking] [-r root] [-g 1] [-t 1] [-m 1] [-A ring|hier|auto] [-M host|cuda]\n"
      "  [-E|--engine mics|nccl] [--nccl-hostid-per-rank] [-P partition_size]\n"
      "  [-J results.json]\n"
      "-M cuda: device buffers, one stream per rank, device = local rank %% GPUs (exit 77\n"
      "  without a GPU); -E nccl: the same sweep through NCCL (implies -M cuda);\n"
      "  --nccl-hostid-per-rank (or MICS_PERF_NCCL_HOSTID_PER_RANK=1): NCCL_HOSTID per\n"
      "  rank, so NCCL runs several ranks of one GPU as nodes talking over sockets\n"
      "sizes accept K/M/G suffixes; ranks come from RANK/WORLD_SIZE (mics-run, torchrun)\n"
      "or OMPI_COMM_WORLD_RANK/SIZE (mpirun)\n",
      prog);
}

bool Fail(const char* flag, const char* value, const char* why) {
  std::fprintf(stderr, "mics perf: bad value '%s' for -%s: %s\n", value, flag, why);
  return false;
}

bool ParseSize(const char* s, size_t* out) {
  errno = 0;
  char* end = nullptr;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (end == s || errno != 0 || *s == '-') return false;
  unsigned long long mul = 1;
  switch (*end) {
    case 'G':
    case 'g':
      mul <<= 10;
      [[fallthrough]];
    case 'M':
    case 'm':
      mul <<= 10;
      [[fallthrough]];
    case 'K':
    case 'k':
      mul <<= 10;
      ++end;
      break;
    default:
      break;
  }
  if (*end != '\0' || (v != 0 && mul > ~0ull / v)) return false;
  *out = static_cast<size_t>(v * mul);
  return true;
}

bool ParseInt(const char* s, int lo, int hi, int* out) {
  errno = 0;
  char* end = nullptr;
  long v = std::strtol(s, &end, 10);
  if (end == s || *end != '\0' || errno != 0 || v < lo || v > hi) return false;
  *out = static_cast<int>(v);
  return true;
}

bool ParseTypes(const char* s, std::vector<mics_datatype_t>* out) {
  out->clear();
  if (std::strcmp(s, "all") == 0) {
    for (int t = 0; t < MICS_NUM_TYPES; ++t) out->push_back(static_cast<mics_datatype_t>(t));
    return true;
  }
  for (int t = 0; t < MICS_NUM_TYPES; ++t) {
    if (std::strcmp(s, kTypeNames[t]) == 0) out->push_back(static_cast<mics_datatype_t>(t));
  }
  for (const Alias& a : kTypeAliases) {
    if (std::strcmp(s, a.name) == 0) out->push_back(a.type);
  }
  return !out->empty();
}

bool ParseOps(const char* s, std::vector<mics_redop_t>* out) {
  out->clear();
  for (int o = 0; o < MICS_NUM_OPS; ++o) {
    if (std::strcmp(s, "all") == 0 || std::strcmp(s, kOpNames[o]) == 0) {
      out->push_back(static_cast<mics_redop_t>(o));
    }
  }
  return !out->empty();
}

#ifdef MICS_PERF_CUDA
constexpr bool kHaveCuda = true;
#else
constexpr bool kHaveCuda = false;
#endif
#ifdef MICS_PERF_NCCL
constexpr bool kHaveNccl = true;
#else
constexpr bool kHaveNccl = false;
#endif

// getopt value of the long-only flag --nccl-hostid-per-rank (above every short flag).
constexpr int kHostIdPerRank = 256;

const option kLongOptions[] = {{"nthreads", required_argument, nullptr, 't'},
                               {"ngpus", required_argument, nullptr, 'g'},
                               {"minbytes", required_argument, nullptr, 'b'},
                               {"maxbytes", required_argument, nullptr, 'e'},
                               {"stepbytes", required_argument, nullptr, 'i'},
                               {"stepfactor", required_argument, nullptr, 'f'},
                               {"iters", required_argument, nullptr, 'n'},
                               {"warmup_iters", required_argument, nullptr, 'w'},
                               {"agg_iters", required_argument, nullptr, 'm'},
                               {"check", required_argument, nullptr, 'c'},
                               {"op", required_argument, nullptr, 'o'},
                               {"datatype", required_argument, nullptr, 'd'},
                               {"root", required_argument, nullptr, 'r'},
                               {"average", required_argument, nullptr, 'a'},
                               {"blocking", required_argument, nullptr, 'z'},
                               {"output_file", required_argument, nullptr, 'J'},
                               {"memory", required_argument, nullptr, 'M'},
                               {"algo", required_argument, nullptr, 'A'},
                               {"partition", required_argument, nullptr, 'P'},
                               {"engine", required_argument, nullptr, 'E'},
                               {"nccl-hostid-per-rank", no_argument, nullptr, kHostIdPerRank},
                               {"help", no_argument, nullptr, 'h'},
                               {nullptr, 0, nullptr, 0}};

bool HandleFlag(int c, const char* v, Options* opt) {
  const char f[2] = {static_cast<char>(c), '\0'};
  int one = 0;
  switch (c) {
    case 'b':
      return ParseSize(v, &opt->min_bytes) || Fail(f, v, "expected a size such as 8, 64K, 1G");
    case 'e':
      return ParseSize(v, &opt->max_bytes) || Fail(f, v, "expected a size such as 8, 64K, 1G");
    case 'i':
      return ParseSize(v, &opt->step_bytes) || Fail(f, v, "expected a size such as 1M");
    case 'f': {
      int factor = 0;
      if (!ParseInt(v, 1, 1 << 20, &factor)) return Fail(f, v, "expected an integer >= 1");
      opt->step_factor = factor;
      return true;
    }
    case 'n':
      return ParseInt(v, 1, 1 << 30, &opt->iters) || Fail(f, v, "expected an integer >= 1");
    case 'w':
      return ParseInt(v, 0, 1 << 30, &opt->warmup) || Fail(f, v, "expected an integer >= 0");
    case 'c':
      return ParseInt(v, 0, 1 << 30, &opt->check) || Fail(f, v, "expected 0 or 1");
    case 'a':
      return ParseInt(v, 0, 3, &opt->average) || Fail(f, v, "expected 0..3");
    case 'z':
      return ParseInt(v, 0, 3, &opt->blocking) || Fail(f, v, "expected 0..3");
    case 'r':
      return ParseInt(v, 0, 1 << 30, &opt->root) || Fail(f, v, "expected a rank >= 0");
    case 'P':
      return ParseInt(v, 1, 1 << 30, &opt->partition) || Fail(f, v, "expected an integer >= 1");
    case 'd':
      return ParseTypes(v, &opt->types) ||
             Fail(f, v,
                  "types: int8 uint8 int32 uint32 int64 uint64 half float double bfloat16 all");
    case 'o':
      return ParseOps(v, &opt->ops) || Fail(f, v, "ops: sum prod max min avg all");
    case 'g':
    case 't':
    case 'm':
      return (ParseInt(v, 1, 1, &one)) ||
             Fail(f, v, "only 1 is supported (one process per rank; launch ranks with mics-run)");
    case 'J':
      opt->json_path = v;
      return true;
    case 'M':
      if (std::strcmp(v, "host") == 0) {
        opt->memory = MemoryKind::kHost;
        return true;
      }
      if (std::strcmp(v, "cuda") == 0 || std::strcmp(v, "device") == 0) {
        opt->memory = MemoryKind::kCuda;
        return kHaveCuda ||
               Fail(f, v,
                    "the CUDA data path is not built into this binary (it needs MICS_CUDA); "
                    "only -M host is available");
      }
      return Fail(f, v, kHaveCuda ? "expected host or cuda" : "expected host");
    case 'E':
      if (std::strcmp(v, "mics") == 0) {
        opt->engine = EngineKind::kMics;
        return true;
      }
      if (std::strcmp(v, "nccl") == 0) {
        opt->engine = EngineKind::kNccl;
        return kHaveNccl || Fail(f, v,
                                 "NCCL support is not built (NCCL and the CUDA toolkit were not "
                                 "both found at configure time)");
      }
      return Fail(f, v, "expected mics or nccl");
    case kHostIdPerRank:
      opt->nccl_hostid_per_rank = true;
      return true;
    case 'A':
      if (std::strcmp(v, "ring") == 0)
        opt->algo = Algo::kRing;
      else if (std::strcmp(v, "hier") == 0)
        opt->algo = Algo::kHier;
      else if (std::strcmp(v, "auto") == 0)
        opt->algo = Algo::kAuto;
      else
        return Fail(f, v, "expected ring, hier or auto");
      // The library reads MICS_ALGO when the communicator is made (after the
      // flags are parsed), so -A steers every collective, as users would.
      if (opt->algo != Algo::kAuto) setenv("MICS_ALGO", v, 1);
      return true;
    default:
      return false;
  }
}

}  // namespace

const char* TypeName(mics_datatype_t t) {
  return (t >= 0 && t < MICS_NUM_TYPES) ? kTypeNames[t] : "?";
}
const char* OpName(mics_redop_t op) { return (op >= 0 && op < MICS_NUM_OPS) ? kOpNames[op] : "?"; }

bool ParseOptions(int argc, char** argv, const Collective& coll, Options* opt) {
  for (int i = 0; i < argc; ++i) {
    if (i > 0) opt->command_line += ' ';
    opt->command_line += argv[i];
  }
  opterr = 1;
  optind = 1;
  int c;
  bool memory_given = false;
  while ((c = getopt_long(argc, argv, "t:g:b:e:i:f:n:w:m:c:o:d:r:a:z:J:M:A:P:E:h", kLongOptions,
                          nullptr)) != -1) {
    if (c == 'h' || c == '?' || !HandleFlag(c, optarg, opt)) {
      Usage(argv[0]);
      return false;
    }
    memory_given |= c == 'M';
  }
  const char* per_rank = std::getenv("MICS_PERF_NCCL_HOSTID_PER_RANK");
  if (per_rank != nullptr && std::strcmp(per_rank, "") != 0 && std::strcmp(per_rank, "0") != 0) {
    opt->nccl_hostid_per_rank = true;
  }
  if (opt->engine == EngineKind::kNccl) {
    // NCCL takes device buffers only.
    if (memory_given && opt->memory != MemoryKind::kCuda) {
      std::fprintf(stderr, "mics perf: --engine nccl needs device buffers: -M cuda, not -M host\n");
      return false;
    }
    opt->memory = MemoryKind::kCuda;
    if (opt->algo != Algo::kAuto) {
      std::fprintf(stderr,
                   "mics perf: -A selects a mics algorithm; it has no meaning with "
                   "--engine nccl\n");
      return false;
    }
  } else if (opt->nccl_hostid_per_rank &&
             std::getenv("MICS_PERF_NCCL_HOSTID_PER_RANK") == nullptr) {
    std::fprintf(stderr, "mics perf: --nccl-hostid-per-rank applies to --engine nccl only\n");
    return false;
  }
  if (optind < argc) {
    std::fprintf(stderr, "mics perf: unexpected argument '%s'\n", argv[optind]);
    Usage(argv[0]);
    return false;
  }
  if (opt->min_bytes > opt->max_bytes) {
    std::fprintf(stderr, "mics perf: -b %zu is larger than -e %zu\n", opt->min_bytes,
                 opt->max_bytes);
    return false;
  }
  if (opt->step_factor <= 1 && opt->step_bytes == 0 && opt->min_bytes < opt->max_bytes) {
    std::fprintf(stderr, "mics perf: -i 0 with -f 1 never reaches -e\n");
    return false;
  }
  if (!coll.HasOp()) opt->ops.assign(1, MICS_SUM);
  return true;
}

}  // namespace mics_perf
