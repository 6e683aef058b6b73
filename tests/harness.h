// Multi-process test harness for mics: every rank is a forked child process,
// so the library is exercised exactly as in production (one communicator per
// process, shared memory and sockets between processes).
//
// Inside a child, failures are recorded with the HCHECK family of macros (not
// gtest macros: gtest state lives in the parent). A child exits 0 only if no
// check failed; the parent turns every non-zero exit, signal or timeout into a
// gtest failure.
#ifndef MICS_TESTS_HARNESS_H_
#define MICS_TESTS_HARNESS_H_

#include <mics/mics.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace mics_test {

struct Options {
  // Wall-clock bound on the whole job; the parent SIGKILLs every child after it.
  int timeout_s = 300;
  // MICS_HOST_ID for each rank (emulates several nodes); empty = inherit.
  std::vector<std::string> host_ids;
  // Extra environment set in every child before mics is touched.
  std::vector<std::pair<std::string, std::string>> env;
  // MICS_TIMEOUT_MS in the children, so a library hang turns into an error
  // long before the parent's deadline. <= 0 leaves the environment alone.
  int mics_timeout_ms = 30000;
  // false: children do not create a communicator and body receives nullptr.
  bool init = true;
  // Ranks that emulate a crash by dying from SIGKILL (raise(SIGKILL)): the
  // parent accepts exactly that end for them, and reports any other (a clean
  // exit included, since then the crash under test never happened).
  std::vector<int> expect_killed;
};

// Seed of this test process: MICS_TEST_SEED if set, else time-based. Printed
// (once per process) so a failure can be reproduced.
uint64_t TestSeed();

// Forks nranks children; child r runs body(comm, r) on a communicator of
// nranks ranks, then destroys it. Returns true iff every child exited 0
// within the deadline; otherwise records gtest failures (EXPECT-style).
// The parent must be single-threaded and must not have touched mics.
bool run_ranks(int nranks, const std::function<void(mics_comm_t comm, int rank)>& body,
               const Options& opts = Options());

// ---- helpers usable in children --------------------------------------------

// Rank of the current child (-1 in the parent).
int ChildRank();
// Number of HCHECK failures recorded so far in this child.
int ChildFailures();

// splitmix64 finaliser: a cheap, well-mixed, counter-based random stream.
inline uint64_t Mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
// Base of the stream for (seed, rank, call); element i is Mix64(base + i * golden).
inline uint64_t StreamBase(uint64_t seed, uint64_t rank, uint64_t call) {
  return Mix64(Mix64(Mix64(seed) ^ (rank + 0x1234567ull)) ^ (call * 0xD6E8FEB86659FD93ull));
}
inline uint64_t StreamAt(uint64_t base, uint64_t i) {
  return Mix64(base + i * 0x9E3779B97F4A7C15ull);
}

// Seconds elapsed since t0 (steady clock).
inline double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Reads exactly len bytes from fd (a pipe from a child) within timeout_ms per
// wait; false on EOF, error or timeout.
bool ReadFully(int fd, void* dst, size_t len, int timeout_ms);

// Number of entries in a /proc/self directory ("fd", "task").
int CountProcEntries(const char* dir);
// Names in /dev/shm that start with "mics".
std::vector<std::string> MicsShmEntries();

// ---- reference data and checked collectives ----------------------------------

// Test-side float16/bfloat16 conversions (round to nearest even), written here
// so the reference does not share code with the library.
uint16_t FloatToHalf(float f);
float HalfToFloat(uint16_t h);
uint16_t FloatToBf16(float f);
float Bf16ToFloat(uint16_t b);

enum class Coll { kAllgather, kHierAllgather, kReduceScatter, kAllreduce, kBroadcast };
const char* CollName(Coll c);
inline void PrintTo(Coll c, std::ostream* os) { *os << CollName(c); }  // gtest parameter names
const char* TypeName(mics_datatype_t t);
const char* OpName(mics_redop_t op);
bool IsReduction(Coll c);

struct Case {
  Coll coll;
  mics_datatype_t type;
  mics_redop_t op;  // reductions only
  size_t count;     // sendcount / recvcount / count as in the header
  bool in_place;
  int root;  // broadcast only
};
std::string Describe(const Case& c);

// Where CheckedCollective's buffers live when not in host memory: a GPU test
// supplies device memory and a stream (tests/gpu). The buffers (guards
// included) are mirrored: filled on the host, copied in on the stream before
// the call, copied back on the same stream after it, then checked on the host.
struct MemHooks {
  void* (*alloc)(size_t bytes);
  void (*release)(void* p);
  void (*to_device)(void* dst, const void* src, size_t bytes, void* stream);
  void (*to_host)(void* dst, const void* src, size_t bytes, void* stream);
  void (*sync)(void* stream);
  void* stream;  // passed to the collective
};

// Per-communicator state of a child. Every rank of comm must issue the same
// sequence of CheckedCollective calls: the call counter (with the seed, the
// rank and the salt) selects the generated data. Give concurrently used
// groups different salts so that data crossing between groups is detected.
struct CheckCtx {
  mics_comm_t comm;
  int rank;    // rank in comm
  int nranks;  // size of comm
  uint64_t salt = 0;
  uint64_t call = 0;
  const MemHooks* mem = nullptr;  // nullptr: host memory
};

// Fills generated inputs, runs the collective, and checks bit-exactly: the
// output against the reference, guard bytes around every buffer, and that the
// input (sendbuf, or the input part of an in-place buffer) was not modified.
// Returns false if anything differed (failures are recorded with HCHECK).
// A collective that returns an error ends the child at once (HASSERT), since
// the other ranks could only wait for their timeout.
bool CheckedCollective(CheckCtx& ctx, const Case& c);

namespace internal {

// Streams a failure message; prints it (prefixed with rank and seed) and
// counts it on destruction. Fatal failures _exit(1) the child at once, used
// where carrying on would only make the other ranks wait for a timeout.
class FailureMessage {
 public:
  FailureMessage(const char* file, int line, const char* what, bool fatal);
  ~FailureMessage();
  std::ostream& stream() { return os_; }

 private:
  std::ostringstream os_;
  bool fatal_;
};

struct ResultCheck {
  mics_result_t got;
  mics_result_t want;
  bool ok() const { return got == want; }
  void Settle() { want = got; }  // ends the one-shot loop of the macros
  std::string Describe() const;
};

}  // namespace internal
}  // namespace mics_test

// Written as one-shot for loops rather than if/else so that a caller's
// trailing `else` cannot bind to the macro (and -Wdangling-else stays quiet).
#define MICS_HCHECK_IMPL_(cond, fatal)                                        \
  for (bool hcheck_failed_ = !(cond); hcheck_failed_; hcheck_failed_ = false) \
  ::mics_test::internal::FailureMessage(__FILE__, __LINE__, #cond, fatal).stream()

#define MICS_HRESULT_IMPL_(expr, want, fatal)                                                   \
  for (::mics_test::internal::ResultCheck hcheck_result_{(expr), (want)}; !hcheck_result_.ok(); \
       hcheck_result_.Settle())                                                                 \
  ::mics_test::internal::FailureMessage(__FILE__, __LINE__, #expr, fatal).stream()              \
      << hcheck_result_.Describe()

// Records a failure and carries on.
#define HCHECK(cond) MICS_HCHECK_IMPL_(cond, false)
#define HFAIL() ::mics_test::internal::FailureMessage(__FILE__, __LINE__, "", false).stream()
#define HCHECK_EQ(a, b) HCHECK((a) == (b)) << "got " << (a) << ", expected " << (b) << " "
#define HCHECK_RESULT(expr, want) MICS_HRESULT_IMPL_(expr, want, false)
#define HCHECK_OK(expr) HCHECK_RESULT(expr, MICS_SUCCESS)
// Records a failure and ends the child with exit code 1.
#define HASSERT(cond) MICS_HCHECK_IMPL_(cond, true)
#define HASSERT_OK(expr) MICS_HRESULT_IMPL_(expr, MICS_SUCCESS, true)

#endif  // MICS_TESTS_HARNESS_H_
