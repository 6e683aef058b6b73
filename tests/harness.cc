// The process side of the harness (harness.h): forking one child per rank,
// publishing the unique id between them, reaping them against a deadline, and
// recording the children's HCHECK failures. Reference data and the checked
// collectives are in harness_check.cc.
#include "harness.h"

#include <dirent.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

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

bool ReadFully(int fd, void* dst, size_t len, int timeout_ms) {
  auto* out = static_cast<char*>(dst);
  while (len > 0) {
    pollfd p{fd, POLLIN, 0};
    int ready = poll(&p, 1, timeout_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return false;
    ssize_t got = read(fd, out, len);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    out += got, len -= static_cast<size_t>(got);
  }
  return true;
}

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
