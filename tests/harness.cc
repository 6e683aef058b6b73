#include "harness.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <type_traits>

namespace mics_test {
namespace {

int g_rank = -1;  // rank of this child; -1 in the parent
// Atomic: a child may check from several threads (ranks of mics_comm_init_all).
std::atomic<int> g_failures{0};  // HCHECK failures in this child
std::atomic<int> g_printed{0};   // failure messages printed (capped to keep logs readable)
constexpr int kMaxPrinted = 200;

// Lives in a MAP_SHARED anonymous page created before fork: the only channel
// between the children before they have a communicator.
struct SharedPage {
  std::atomic<int> state;  // 0 = waiting, 1 = id published, 2 = rank 0 failed
  mics_unique_id id;
};
static_assert(sizeof(SharedPage) <= 4096, "shared page too small");

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Runs in the child; never returns.
[[noreturn]] void ChildMain(int nranks, int rank, SharedPage* page,
                            const std::function<void(mics_comm_t, int)>& body,
                            const Options& opts) {
  g_rank = rank;
  g_failures = 0;
  // Die with the parent (e.g. the gtest process was killed by ctest's timeout).
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (opts.mics_timeout_ms > 0) {
    setenv("MICS_TIMEOUT_MS", std::to_string(opts.mics_timeout_ms).c_str(), 1);
  }
  for (const auto& kv : opts.env) setenv(kv.first.c_str(), kv.second.c_str(), 1);
  if (!opts.host_ids.empty()) setenv("MICS_HOST_ID", opts.host_ids.at(rank).c_str(), 1);

  mics_comm_t comm = nullptr;
  if (opts.init) {
    if (rank == 0) {
      mics_unique_id id;
      mics_result_t r = mics_get_unique_id(&id);
      if (r != MICS_SUCCESS) {
        page->state.store(2);
        HASSERT_OK(r) << " mics_get_unique_id on rank 0";
      }
      page->id = id;
      page->state.store(1, std::memory_order_release);
    } else {
      // Bounded wait for rank 0 to publish the id.
      auto t0 = Clock::now();
      while (page->state.load(std::memory_order_acquire) == 0 && SecondsSince(t0) < 30) {
        usleep(1000);
      }
      HASSERT(page->state.load(std::memory_order_acquire) == 1)
          << "rank 0 did not publish a unique id within 30 s (state " << page->state.load() << ")";
    }
    HASSERT_OK(mics_comm_init_rank(&comm, nranks, page->id, rank))
        << " mics_comm_init_rank(nranks=" << nranks << ", rank=" << rank << ")";
    HASSERT(comm != nullptr) << "init returned SUCCESS but comm is NULL";
  }
  try {
    body(comm, rank);
  } catch (const std::exception& e) {
    HCHECK(false) << "uncaught exception: " << e.what();
  } catch (...) {
    HCHECK(false) << "uncaught non-std exception";
  }
  if (comm != nullptr) HCHECK_OK(mics_comm_destroy(comm)) << " destroying the harness comm";
  fflush(stdout);
  fflush(stderr);
  _exit(g_failures == 0 ? 0 : 1);
}

}  // namespace

uint64_t TestSeed() {
  static const uint64_t seed = [] {
    uint64_t s;
    const char* env = getenv("MICS_TEST_SEED");
    if (env != nullptr && *env != '\0') {
      s = strtoull(env, nullptr, 0);
    } else {
      s = static_cast<uint64_t>(Clock::now().time_since_epoch().count()) ^
          (static_cast<uint64_t>(getpid()) << 32);
      s %= 1000000007ull;  // short enough to retype
    }
    printf("[mics_test] seed %llu (reproduce with MICS_TEST_SEED=%llu)\n",
           static_cast<unsigned long long>(s), static_cast<unsigned long long>(s));
    fflush(stdout);
    return s;
  }();
  return seed;
}

int ChildRank() { return g_rank; }
int ChildFailures() { return g_failures; }

int CountProcEntries(const char* dir) {
  std::string path = std::string("/proc/self/") + dir;
  DIR* d = opendir(path.c_str());
  if (d == nullptr) return -1;
  int n = 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(d);
  return n;
}

std::vector<std::string> MicsShmEntries() {
  std::vector<std::string> out;
  DIR* d = opendir("/dev/shm");
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    if (strncmp(e->d_name, "mics", 4) == 0) out.emplace_back(e->d_name);
  }
  closedir(d);
  return out;
}

bool run_ranks(int nranks, const std::function<void(mics_comm_t, int)>& body, const Options& opts) {
  const uint64_t seed = TestSeed();  // before fork, so children share it
  if (!opts.host_ids.empty() && static_cast<int>(opts.host_ids.size()) != nranks) {
    ADD_FAILURE() << "host_ids has " << opts.host_ids.size() << " entries for " << nranks
                  << " ranks";
    return false;
  }
  // fork() copies only the calling thread; a thread holding a lock (malloc,
  // the library's own) at that moment would deadlock the child.
  const int threads = CountProcEntries("task");
  if (threads != 1) {
    ADD_FAILURE() << "the test process has " << threads
                  << " threads before fork (mics was used in-process earlier?); run this test "
                     "alone with --gtest_filter";
    return false;
  }
  void* mem = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) {
    ADD_FAILURE() << "mmap: " << strerror(errno);
    return false;
  }
  auto* page = new (mem) SharedPage();
  page->state.store(0);

  fflush(stdout);
  fflush(stderr);
  std::vector<pid_t> pids(nranks, -1);
  for (int r = 0; r < nranks; ++r) {
    pid_t pid = fork();
    if (pid == 0) ChildMain(nranks, r, page, body, opts);
    if (pid < 0) {
      ADD_FAILURE() << "fork for rank " << r << ": " << strerror(errno);
      break;
    }
    pids[r] = pid;
  }

  std::vector<int> status(nranks, 0);
  std::vector<bool> done(nranks, false);
  for (int r = 0; r < nranks; ++r) done[r] = pids[r] < 0;
  const auto t0 = Clock::now();
  int remaining = 0;
  for (;;) {
    remaining = 0;
    for (int r = 0; r < nranks; ++r) {
      if (done[r]) continue;
      pid_t w = waitpid(pids[r], &status[r], WNOHANG);
      if (w == pids[r]) {
        done[r] = true;
      } else {
        ++remaining;
      }
    }
    if (remaining == 0 || SecondsSince(t0) > opts.timeout_s) break;
    usleep(5000);
  }
  bool ok = true;
  if (remaining > 0) {
    ok = false;
    std::string hung;
    for (int r = 0; r < nranks; ++r) {
      if (done[r]) continue;
      hung += " " + std::to_string(r);
      kill(pids[r], SIGKILL);
      waitpid(pids[r], &status[r], 0);
      done[r] = true;
      status[r] = -1;
    }
    ADD_FAILURE() << "ranks" << hung << " did not exit within " << opts.timeout_s
                  << " s; killed (seed " << seed << ")";
  }
  for (int r = 0; r < nranks; ++r) {
    if (pids[r] < 0) {
      ok = false;
      continue;
    }
    if (status[r] == -1) continue;  // reported as hung above
    const bool killed_on_purpose = std::find(opts.expect_killed.begin(), opts.expect_killed.end(),
                                             r) != opts.expect_killed.end();
    if (killed_on_purpose) {
      if (WIFSIGNALED(status[r]) && WTERMSIG(status[r]) == SIGKILL) continue;
      ok = false;
      ADD_FAILURE() << "rank " << r << " of " << nranks << " was expected to die from SIGKILL but "
                    << (WIFSIGNALED(status[r])
                            ? "died from signal " + std::to_string(WTERMSIG(status[r]))
                            : "exited with code " + std::to_string(WEXITSTATUS(status[r])))
                    << ", seed " << seed;
      continue;
    }
    if (WIFEXITED(status[r]) && WEXITSTATUS(status[r]) == 0) continue;
    ok = false;
    if (WIFSIGNALED(status[r])) {
      ADD_FAILURE() << "rank " << r << " of " << nranks << " died from signal "
                    << WTERMSIG(status[r]) << " (" << strsignal(WTERMSIG(status[r])) << "), seed "
                    << seed;
    } else {
      ADD_FAILURE() << "rank " << r << " of " << nranks << " exited with code "
                    << WEXITSTATUS(status[r]) << " (see its messages above), seed " << seed;
    }
  }
  munmap(mem, 4096);
  return ok;
}

// ---- float16 / bfloat16 -----------------------------------------------------

namespace {
uint32_t FloatBits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}
float BitsFloat(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}
// Drops the low `shift` bits of v, rounding to nearest, ties to even.
uint32_t RoundShift(uint32_t v, int shift) {
  const uint32_t q = v >> shift, rem = v & ((1u << shift) - 1), half = 1u << (shift - 1);
  return q + ((rem > half || (rem == half && (q & 1))) ? 1 : 0);
}
}  // namespace

uint16_t FloatToHalf(float f) {
  const uint32_t x = FloatBits(f);
  const uint32_t sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);   // NaN
  if (ax >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520: inf
  if (ax <= 0x33000000u) return static_cast<uint16_t>(sign);            // <= 2^-25: 0
  const int e = static_cast<int>(ax >> 23) - 127;
  if (e >= -14) {  // normal; a carry out of the mantissa bumps the exponent
    return static_cast<uint16_t>(sign + (static_cast<uint32_t>(e + 15) << 10) +
                                 RoundShift(ax & 0x7fffffu, 13));
  }
  // Subnormal: value = sig * 2^(e-23), counted in units of 2^-24.
  return static_cast<uint16_t>(sign | RoundShift((ax & 0x7fffffu) | 0x800000u, -e - 1));
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  if (exp == 0) {
    const float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  if (exp == 31) return BitsFloat(sign | 0x7f800000u | (mant << 13));
  return BitsFloat(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t FloatToBf16(float f) {
  const uint32_t x = FloatBits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

float Bf16ToFloat(uint16_t b) { return BitsFloat(static_cast<uint32_t>(b) << 16); }

// ---- names ---------------------------------------------------------------------

const char* CollName(Coll c) {
  switch (c) {
    case Coll::kAllgather:
      return "allgather";
    case Coll::kHierAllgather:
      return "hier_allgather";
    case Coll::kReduceScatter:
      return "reduce_scatter";
    case Coll::kAllreduce:
      return "allreduce";
    case Coll::kBroadcast:
      return "broadcast";
  }
  return "?";
}

const char* TypeName(mics_datatype_t t) {
  static const char* const kNames[] = {"INT8",   "UINT8",   "INT32",   "UINT32",  "INT64",
                                       "UINT64", "FLOAT16", "FLOAT32", "FLOAT64", "BFLOAT16"};
  return t >= 0 && t < MICS_NUM_TYPES ? kNames[t] : "?";
}

const char* OpName(mics_redop_t op) {
  static const char* const kNames[] = {"SUM", "PROD", "MAX", "MIN", "AVG"};
  return op >= 0 && op < MICS_NUM_OPS ? kNames[op] : "?";
}

bool IsReduction(Coll c) { return c == Coll::kReduceScatter || c == Coll::kAllreduce; }

std::string Describe(const Case& c) {
  std::string s = std::string(CollName(c.coll)) + "(" + TypeName(c.type);
  if (IsReduction(c.coll)) s += std::string(", ") + OpName(c.op);
  s += ", count=" + std::to_string(c.count) + (c.in_place ? ", in-place" : ", out-of-place");
  if (c.coll == Coll::kBroadcast) s += ", root=" + std::to_string(c.root);
  return s + ")";
}

// ---- reference codecs ------------------------------------------------------------

namespace {

enum class Data { kRaw, kSum, kProd, kMinMax, kAvg };

// Integers: storage and compute type are the same; arithmetic wraps (done in
// the unsigned type to avoid signed-overflow UB).
template <class T>
struct IntCodec {
  using S = T;
  using C = T;
  using U = std::make_unsigned_t<T>;
  static C Dec(S s) { return s; }
  static S Gen(uint64_t h, Data d) {
    if (d == Data::kProd) {
      if ((h & 255) == 0) return 0;
      if ((h & 7) == 1) return 2;
      if ((h & 7) == 2) return static_cast<T>(-1);
      return static_cast<T>((h >> 8) | 1);  // odd: products never collapse to 0
    }
    if (d == Data::kAvg) {
      if constexpr (std::is_signed_v<T>) return static_cast<T>(static_cast<int>(h % 9) - 4);
      return static_cast<T>(h % 9);
    }
    return static_cast<T>(h);
  }
  static C Combine(C a, C b, mics_redop_t op) {
    switch (op) {
      case MICS_PROD:
        return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
      case MICS_MAX:
        return a > b ? a : b;
      case MICS_MIN:
        return a < b ? a : b;
      default:
        return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
    }
  }
  // AVG: the wrapped sum divided by nranks, truncated toward zero (C++ division).
  static S Finish(C acc, int n, mics_redop_t op) {
    return op == MICS_AVG ? static_cast<T>(acc / static_cast<T>(n)) : acc;
  }
  static double Value(S s) { return static_cast<double>(s); }
};

struct F32 {
  using S = float;
  using C = float;
  static S Enc(C c) { return c; }
  static C Dec(S s) { return s; }
};
struct F64 {
  using S = double;
  using C = double;
  static S Enc(C c) { return c; }
  static C Dec(S s) { return s; }
};
// 16-bit floats are reduced in float32 and rounded once, as the header says.
struct F16 {
  using S = uint16_t;
  using C = float;
  static S Enc(C c) { return FloatToHalf(c); }
  static C Dec(S s) { return HalfToFloat(s); }
};
struct BF16 {
  using S = uint16_t;
  using C = float;
  static S Enc(C c) { return FloatToBf16(c); }
  static C Dec(S s) { return Bf16ToFloat(s); }
};

template <class Tr>
struct FloatCodec : Tr {
  using S = typename Tr::S;
  using C = typename Tr::C;
  static S Gen(uint64_t h, Data d) {
    double v;
    switch (d) {
      case Data::kRaw: {
        S s;
        memcpy(&s, &h, sizeof s);
        return s;
      }
      case Data::kProd: {
        const int k = static_cast<int>(h % 8);
        v = k == 0 ? -1.0 : k == 1 ? 2.0 : k == 2 ? 0.5 : 1.0;
        break;
      }
      case Data::kMinMax:
        v = (static_cast<int>(h % 511) - 255) / 4.0;
        break;
      default:
        v = static_cast<int>(h % 9) - 4;
        break;
    }
    return Tr::Enc(static_cast<C>(v));
  }
  static C Combine(C a, C b, mics_redop_t op) {
    switch (op) {
      case MICS_PROD:
        return a * b;
      case MICS_MAX:
        return a > b ? a : b;
      case MICS_MIN:
        return a < b ? a : b;
      default:
        return a + b;
    }
  }
  // AVG: exact sum / nranks in the compute type, then one rounding to S.
  static S Finish(C acc, int n, mics_redop_t op) {
    return Tr::Enc(op == MICS_AVG ? acc / static_cast<C>(n) : acc);
  }
  static double Value(S s) { return static_cast<double>(Tr::Dec(s)); }
};

template <class F>
void DispatchType(mics_datatype_t t, F&& f) {
  switch (t) {
    case MICS_INT8:
      f(IntCodec<int8_t>());
      break;
    case MICS_UINT8:
      f(IntCodec<uint8_t>());
      break;
    case MICS_INT32:
      f(IntCodec<int32_t>());
      break;
    case MICS_UINT32:
      f(IntCodec<uint32_t>());
      break;
    case MICS_INT64:
      f(IntCodec<int64_t>());
      break;
    case MICS_UINT64:
      f(IntCodec<uint64_t>());
      break;
    case MICS_FLOAT16:
      f(FloatCodec<F16>());
      break;
    case MICS_FLOAT32:
      f(FloatCodec<F32>());
      break;
    case MICS_FLOAT64:
      f(FloatCodec<F64>());
      break;
    case MICS_BFLOAT16:
      f(FloatCodec<BF16>());
      break;
    default:
      HASSERT(false) << "bad type " << t << " in a test case";
      break;
  }
}

template <class Codec>
std::string Show(typename Codec::S s) {
  uint64_t bits = 0;
  memcpy(&bits, &s, sizeof s);
  char buf[64];
  snprintf(buf, sizeof buf, "0x%0*llx (%.9g)", static_cast<int>(2 * sizeof s),
           static_cast<unsigned long long>(bits), Codec::Value(s));
  return buf;
}

constexpr size_t kGuard = 64;
constexpr unsigned char kPoison = 0xCD;

// A byte buffer with guard bytes on both sides.
class GuardedBuf {
 public:
  GuardedBuf(size_t bytes, unsigned char fill) : raw_(bytes + 2 * kGuard, fill), bytes_(bytes) {
    for (size_t i = 0; i < kGuard; ++i) raw_[i] = raw_[kGuard + bytes + i] = Guard(i);
  }
  unsigned char* data() { return raw_.data() + kGuard; }
  unsigned char* raw() { return raw_.data(); }  // guards included
  size_t raw_bytes() const { return raw_.size(); }
  // Offset (relative to data()) of the first clobbered guard byte, or 0 if none.
  long BadGuard() const {
    for (size_t i = 0; i < kGuard; ++i) {
      if (raw_[i] != Guard(i)) return static_cast<long>(i) - static_cast<long>(kGuard);
      if (raw_[kGuard + bytes_ + i] != Guard(i)) return static_cast<long>(bytes_ + i);
    }
    return 0;
  }

 private:
  static unsigned char Guard(size_t i) { return static_cast<unsigned char>(0xA5 ^ (i * 29)); }
  std::vector<unsigned char> raw_;
  size_t bytes_;
};

template <class Codec>
bool RunTyped(CheckCtx& ctx, const Case& c) {
  using S = typename Codec::S;
  constexpr size_t es = sizeof(S);
  const int n = ctx.nranks, me = ctx.rank;
  const uint64_t call = ctx.call++;
  const uint64_t seed = TestSeed() ^ Mix64(ctx.salt);
  const Data data = !IsReduction(c.coll) ? Data::kRaw
                    : c.op == MICS_PROD  ? Data::kProd
                    : c.op == MICS_AVG   ? Data::kAvg
                    : c.op == MICS_SUM   ? Data::kSum
                                         : Data::kMinMax;
  std::vector<uint64_t> base(n);
  for (int r = 0; r < n; ++r) base[r] = StreamBase(seed, r, call);
  const uint64_t junk = StreamBase(seed, 1000000 + me, call);  // non-root broadcast input
  auto input = [&](int r, size_t i) { return Codec::Gen(StreamAt(base[r], i), data); };
  auto my_input = [&](size_t i) {
    if (c.coll == Coll::kBroadcast && me != c.root) return Codec::Gen(StreamAt(junk, i), data);
    return input(me, i);
  };
  auto reduce = [&](size_t i) {
    auto acc = Codec::Dec(input(0, i));
    for (int r = 1; r < n; ++r) acc = Codec::Combine(acc, Codec::Dec(input(r, i)), c.op);
    return Codec::Finish(acc, n, c.op);
  };
  const size_t cnt = c.count;
  auto expected = [&](size_t j) {
    switch (c.coll) {
      case Coll::kAllgather:
      case Coll::kHierAllgather:
        return input(static_cast<int>(j / cnt), j % cnt);
      case Coll::kReduceScatter:
        return reduce(me * cnt + j);
      case Coll::kAllreduce:
        return reduce(j);
      case Coll::kBroadcast:
        break;
    }
    return input(c.root, j);
  };
  const bool gather = c.coll == Coll::kAllgather || c.coll == Coll::kHierAllgather;
  const size_t send_elems = c.coll == Coll::kReduceScatter ? n * cnt : cnt;
  const size_t recv_elems = gather ? n * cnt : cnt;

  // In place: one buffer laid out as the header's in-place form.
  GuardedBuf sendb(c.in_place ? 0 : send_elems * es, 0);
  GuardedBuf recvb((c.in_place ? std::max(send_elems, recv_elems) : recv_elems) * es, kPoison);
  unsigned char* send = c.in_place ? recvb.data() : sendb.data();
  unsigned char* recv = recvb.data();
  if (c.in_place && gather) send = recv + me * cnt * es;
  if (c.in_place && c.coll == Coll::kReduceScatter) recv = send + me * cnt * es;
  for (size_t i = 0; i < send_elems; ++i) {
    const S v = my_input(i);
    memcpy(send + i * es, &v, es);
  }

  // Device memory (ctx.mem): the call gets the mirrors of send and recv.
  const MemHooks* mem = ctx.mem;
  void* stream = mem ? mem->stream : nullptr;
  unsigned char* dev_send_raw = nullptr;
  unsigned char* dev_recv_raw = nullptr;
  unsigned char* call_send = send;
  unsigned char* call_recv = recv;
  if (mem) {
    dev_send_raw = static_cast<unsigned char*>(mem->alloc(sendb.raw_bytes()));
    dev_recv_raw = static_cast<unsigned char*>(mem->alloc(recvb.raw_bytes()));
    HASSERT(dev_send_raw && dev_recv_raw) << "device allocation failed";
    mem->to_device(dev_send_raw, sendb.raw(), sendb.raw_bytes(), stream);
    mem->to_device(dev_recv_raw, recvb.raw(), recvb.raw_bytes(), stream);
    auto mirror = [&](unsigned char* p) {
      const bool in_send = p >= sendb.raw() && p < sendb.raw() + sendb.raw_bytes();
      return in_send ? dev_send_raw + (p - sendb.raw()) : dev_recv_raw + (p - recvb.raw());
    };
    call_send = mirror(send);
    call_recv = mirror(recv);
  }
  mics_result_t res = MICS_INTERNAL_ERROR;
  switch (c.coll) {
    case Coll::kAllgather:
      res = mics_allgather(call_send, call_recv, cnt, c.type, ctx.comm, stream);
      break;
    case Coll::kHierAllgather:
      res = mics_hier_allgather(call_send, call_recv, cnt, c.type, ctx.comm, stream);
      break;
    case Coll::kReduceScatter:
      res = mics_reduce_scatter(call_send, call_recv, cnt, c.type, c.op, ctx.comm, stream);
      break;
    case Coll::kAllreduce:
      res = mics_allreduce(call_send, call_recv, cnt, c.type, c.op, ctx.comm, stream);
      break;
    case Coll::kBroadcast:
      res = mics_broadcast(call_send, call_recv, cnt, c.type, c.root, ctx.comm, stream);
      break;
  }
  if (mem) {
    // Ordered after the collective on the same stream: no host wait in between.
    mem->to_host(sendb.raw(), dev_send_raw, sendb.raw_bytes(), stream);
    mem->to_host(recvb.raw(), dev_recv_raw, recvb.raw_bytes(), stream);
    mem->sync(stream);
    mem->release(dev_send_raw);
    mem->release(dev_recv_raw);
  }
  HASSERT_OK(res) << " in " << Describe(c) << " on comm rank " << me << "/" << n << ", call "
                  << call << "; mics_last_error(comm): " << mics_last_error(ctx.comm);

  bool ok = true;
  auto check = [&](const unsigned char* p, size_t elems, size_t first, auto&& want,
                   const char* what) {
    size_t bad = 0;
    for (size_t j = 0; j < elems; ++j) {
      S got;
      memcpy(&got, p + j * es, es);
      const S w = want(first + j);
      if (memcmp(&got, &w, es) == 0) continue;
      if (++bad <= 5) {
        HFAIL() << Describe(c) << " comm rank " << me << "/" << n << " call " << call << ": "
                << what << "[" << j << "] expected " << Show<Codec>(w) << ", got "
                << Show<Codec>(got);
      }
    }
    if (bad > 0) {
      ok = false;
      HFAIL() << Describe(c) << " comm rank " << me << "/" << n << " call " << call << ": " << bad
              << " of " << elems << " elements of " << what << " are wrong";
    }
  };
  if (c.in_place && c.coll == Coll::kReduceScatter) {
    // The rest of sendbuf is still the (const) input.
    check(send, me * cnt, 0, my_input, "sendbuf before recvbuf");
    check(recv, cnt, 0, expected, "recvbuf");
    check(recv + cnt * es, send_elems - (me + 1) * cnt, (me + 1) * cnt, my_input,
          "sendbuf after recvbuf");
  } else {
    check(recv, recv_elems, 0, expected, "recvbuf");
    if (!c.in_place) check(send, send_elems, 0, my_input, "sendbuf (must be unchanged)");
  }
  for (GuardedBuf* b : {&sendb, &recvb}) {
    if (long at = b->BadGuard()) {
      ok = false;
      HFAIL() << Describe(c) << " comm rank " << me << "/" << n << " call " << call
              << ": wrote outside its buffer: guard byte at offset " << at << " of "
              << (b == &sendb  ? "sendbuf"
                  : c.in_place ? "the in-place buffer"
                               : "recvbuf")
              << " changed";
    }
  }
  return ok;
}

}  // namespace

bool CheckedCollective(CheckCtx& ctx, const Case& c) {
  bool ok = false;
  DispatchType(c.type, [&](auto codec) { ok = RunTyped<decltype(codec)>(ctx, c); });
  return ok;
}

namespace internal {

FailureMessage::FailureMessage(const char* file, int line, const char* what, bool fatal)
    : fatal_(fatal) {
  os_ << "[rank " << g_rank << ", seed " << TestSeed() << "] " << file << ":" << line << ": ";
  if (*what != '\0') os_ << "check failed: " << what << ": ";
}

FailureMessage::~FailureMessage() {
  ++g_failures;
  if (fatal_ || g_printed < kMaxPrinted) {
    os_ << "\n";
    fputs(os_.str().c_str(), stderr);
    if (++g_printed == kMaxPrinted) {
      fprintf(stderr, "[rank %d] further failure messages suppressed\n", g_rank);
    }
  }
  if (fatal_) {
    fflush(stdout);
    fflush(stderr);
    _exit(1);
  }
}

std::string ResultCheck::Describe() const {
  std::string s =
      std::string("returned ") + mics_result_string(got) + ", expected " + mics_result_string(want);
  const char* e = mics_last_error(nullptr);
  if (e != nullptr && *e != '\0') s += "; mics_last_error(NULL): " + std::string(e);
  return s;
}

}  // namespace internal
}  // namespace mics_test
