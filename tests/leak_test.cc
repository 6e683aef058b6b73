// Resource leaks over many communicator lifetimes: file descriptors, threads
// and /dev/shm segments must all come back after destroy. Registered with
// RUN_SERIAL, because other tests' live segments would show up in /dev/shm.
#include <dlfcn.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <mics/mics.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

// Fault injection for the crash window of shared-memory setup. This
// definition interposes libc's shm_open for libmics.so too (the executable's
// symbol comes first in the lookup order). It only passes the call on, unless
// a test child has set g_die_after_shm_create: then the process SIGKILLs
// itself right after creating a /mics segment, before sizing or marking it
// ready, which is exactly "the creator crashed between create and map".
namespace {
std::atomic<bool> g_die_after_shm_create{false};
}  // namespace

extern "C" int shm_open(const char* name, int oflag, mode_t mode) {
  using Fn = int (*)(const char*, int, mode_t);
  static const Fn real = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, "shm_open"));
  const int fd = real(name, oflag, mode);
  if (fd >= 0 && (oflag & O_CREAT) != 0 && strncmp(name, "/mics", 5) == 0 &&
      g_die_after_shm_create.load()) {
    raise(SIGKILL);
  }
  return fd;
}

namespace {

using mics_test::CountProcEntries;
using mics_test::MicsShmEntries;
using mics_test::Options;
using Clock = std::chrono::steady_clock;

// Every job of this test process names its segments /mics-<tag>-... (the
// library's MICS_JOB_TAG), so the /dev/shm checks count only this process's
// segments, not those of tests of another build tree running on the machine.
// Computed in the parent before any fork, so children share it.
const std::string& JobTag() {
  static const std::string tag = "leak" + std::to_string(getpid());
  return tag;
}

std::vector<std::string> OurShmEntries() {
  const std::string prefix = "mics-" + JobTag() + "-";
  std::vector<std::string> out;
  for (const std::string& name : MicsShmEntries()) {
    if (name.compare(0, prefix.size(), prefix) == 0) out.push_back(name);
  }
  return out;
}

Options Tagged(Options opts) {
  opts.env.push_back({"MICS_JOB_TAG", JobTag()});
  return opts;
}

constexpr int kCycles = 200;

// New comm of the same ranks as `world`: rank 0 makes an id and broadcasts it.
mics_comm_t NewComm(mics_comm_t world, int rank, int n) {
  mics_unique_id id;
  if (rank == 0) HASSERT_OK(mics_get_unique_id(&id));
  HASSERT_OK(mics_broadcast(&id, &id, sizeof id, MICS_UINT8, 0, world, nullptr));
  mics_comm_t c = nullptr;
  HASSERT_OK(mics_comm_init_rank(&c, n, id, rank));
  return c;
}

// One lifetime: init, split, partition groups, a collective on each (so the
// transports are really set up), destroy all.
void Cycle(mics_comm_t world, int rank, int n, int i) {
  mics_comm_t c = NewComm(world, rank, n);
  mics_comm_t sub = nullptr, part = nullptr, repl = nullptr;
  HASSERT_OK(mics_comm_split(c, rank % 2, rank, &sub));
  HASSERT_OK(mics_create_partition_groups(c, i % 2 == 0 ? 1 : n, &part, &repl));
  for (mics_comm_t x : {c, sub, part, repl}) {
    int one = 1, sum = 0, size = 0;
    HASSERT_OK(mics_comm_size(x, &size));
    HASSERT_OK(mics_allreduce(&one, &sum, 1, MICS_INT32, MICS_SUM, x, nullptr));
    HCHECK_EQ(sum, size) << "cycle " << i;
  }
  for (mics_comm_t x : {repl, part, sub, c}) HCHECK_OK(mics_comm_destroy(x)) << " cycle " << i;
}

// Threads may finish exiting just after destroy returns; give them a bounded
// moment (this is not a timing assertion: the bound only avoids a flaky read).
int SettledCount(const char* dir, int baseline) {
  int now = CountProcEntries(dir);
  for (int i = 0; i < 200 && now > baseline; ++i) {
    usleep(10 * 1000);
    now = CountProcEntries(dir);
  }
  return now;
}

// This process's segments that were not in `before` and are still there
// 100 ms later (a segment lives from a rank's create to its peers' map).
std::vector<std::string> NewShmEntries(const std::vector<std::string>& before) {
  auto fresh = [&] {
    std::vector<std::string> out;
    for (const std::string& name : OurShmEntries()) {
      if (std::find(before.begin(), before.end(), name) == before.end()) out.push_back(name);
    }
    return out;
  };
  const std::vector<std::string> first = fresh();
  if (first.empty()) return first;
  usleep(100 * 1000);
  std::vector<std::string> out;
  for (const std::string& name : fresh()) {
    if (std::find(first.begin(), first.end(), name) != first.end()) out.push_back(name);
  }
  return out;
}

// This process's segments, waiting (bounded) for a count above `baseline` to
// come down: see NewShmEntries.
size_t SettledShmCount(size_t baseline) {
  size_t now = OurShmEntries().size();
  for (int i = 0; i < 20 && now > baseline; ++i) {
    usleep(10 * 1000);
    now = OurShmEntries().size();
  }
  return now;
}

std::string ShmList(const std::vector<std::string>& names) {
  std::string list;
  for (const auto& name : names) list += " /dev/shm/" + name;
  return list;
}

// The per-process counts a leak would grow, taken after a warm-up.
struct Counts {
  int fds, threads;
  size_t shm;
};

Counts Baseline() {
  return {CountProcEntries("fd"), SettledCount("task", 1), OurShmEntries().size()};
}

// After `cycles` lifetimes, fds and threads are back at the baseline, and so is
// /dev/shm (only this job runs: RUN_SERIAL).
void CheckBack(const Counts& c0, int rank, const char* what, int cycles, double seconds) {
  const int fds1 = SettledCount("fd", c0.fds), threads1 = SettledCount("task", c0.threads);
  const size_t shm1 = SettledShmCount(c0.shm);
  HCHECK(fds1 <= c0.fds) << what << ": open fds went from " << c0.fds << " to " << fds1 << " after "
                         << cycles << " cycles";
  HCHECK(threads1 <= c0.threads) << what << ": threads went from " << c0.threads << " to "
                                 << threads1 << " after " << cycles << " cycles";
  HCHECK(shm1 <= c0.shm) << what << ": /dev/shm/mics-" << JobTag() << "-* entries went from "
                         << c0.shm << " to " << shm1;
  if (rank == 0) {
    printf(
        "[rank 0] %s: %d cycles in %.2f s; fds %d -> %d, threads %d -> %d, /dev/shm/mics-%s-* %zu "
        "-> %zu\n",
        what, cycles, seconds, c0.fds, fds1, c0.threads, threads1, JobTag().c_str(), c0.shm, shm1);
  }
}

// split + partition groups + a collective on each + destroy, on a long-lived
// parent: the pattern of a training job that regroups, and the cheap part of
// a lifetime (no bootstrap), so it can be repeated a thousand times.
void SplitCycle(mics_comm_t world, int rank, int n, int i) {
  mics_comm_t sub = nullptr, part = nullptr, repl = nullptr;
  HASSERT_OK(mics_comm_split(world, rank % 2, rank, &sub)) << " cycle " << i;
  HASSERT_OK(mics_create_partition_groups(world, i % 2 == 0 ? 1 : 2, &part, &repl))
      << " cycle " << i;
  for (mics_comm_t x : {sub, part, repl}) {
    int one = 1, sum = 0, size = 0;
    HASSERT_OK(mics_comm_size(x, &size));
    HASSERT_OK(mics_allreduce(&one, &sum, 1, MICS_INT32, MICS_SUM, x, nullptr)) << " cycle " << i;
    HCHECK_EQ(sum, size) << "cycle " << i;
  }
  for (mics_comm_t x : {repl, part, sub}) HCHECK_OK(mics_comm_destroy(x)) << " cycle " << i;
}

// A full lifetime without split: bootstrap, connect, one collective, destroy.
void InitCycle(mics_comm_t world, int rank, int n, int i) {
  mics_comm_t c = NewComm(world, rank, n);
  int one = 1, sum = 0;
  HASSERT_OK(mics_allreduce(&one, &sum, 1, MICS_INT32, MICS_SUM, c, nullptr)) << " init " << i;
  HCHECK_EQ(sum, n) << "init " << i;
  HCHECK_OK(mics_comm_destroy(c)) << " init " << i;
}

void SplitAndInitCycles(int n, int split_cycles, int init_cycles, const Options& opts,
                        const char* label) {
  const std::vector<std::string> shm_before = OurShmEntries();
  mics_test::run_ranks(
      n,
      [=](mics_comm_t world, int rank) {
        for (int i = 0; i < 2; ++i) {  // warm-up: anything created once per process
          SplitCycle(world, rank, n, i);
          InitCycle(world, rank, n, i);
        }
        HASSERT_OK(mics_barrier(world));
        const Counts c0 = Baseline();
        auto t0 = Clock::now();
        for (int i = 0; i < split_cycles; ++i) SplitCycle(world, rank, n, i);
        HASSERT_OK(mics_barrier(world));
        CheckBack(c0, rank, (std::string(label) + ", split+partition+destroy").c_str(),
                  split_cycles, std::chrono::duration<double>(Clock::now() - t0).count());
        t0 = Clock::now();
        for (int i = 0; i < init_cycles; ++i) InitCycle(world, rank, n, i);
        HASSERT_OK(mics_barrier(world));
        CheckBack(c0, rank, (std::string(label) + ", init+destroy").c_str(), init_cycles,
                  std::chrono::duration<double>(Clock::now() - t0).count());
      },
      Tagged(opts));
  const std::vector<std::string> leaked = NewShmEntries(shm_before);
  EXPECT_TRUE(leaked.empty()) << leaked.size()
                              << " shared-memory segments left behind:" << ShmList(leaked);
}

TEST(Leak, ThousandSplitsAndFiftyInitsOnOneNode) {
  SplitAndInitCycles(2, 1000, 50, Options(), "2 ranks, one node");
}

// The same over libfabric (tcp;ofi_rxm on loopback) between two emulated
// nodes of one rank each: every child spanning nodes opens an endpoint
// (sockets, registered buffers) that destroy must close. (2 x 2 ranks works
// too but takes ~10x longer on 2 cores.)
TEST(Leak, HundredCyclesAcrossTwoNodes) {
  Options opts;
  opts.host_ids = {"leak-a", "leak-b"};
  opts.env = {{"MICS_FI_PROVIDER", "tcp;ofi_rxm"}, {"MICS_NET_IFACE", "lo"}};
  SplitAndInitCycles(2, 100, 20, opts, "2 nodes x 1 rank");
}

// A page shared by the children of one job (mapped before fork).
struct CrashPage {
  std::atomic<int> init_returned;  // the victim's init returned before it died
};

CrashPage* NewCrashPage() {
  void* p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : new (p) CrashPage();
}

// Rank 1 of 3 dies at `delay_us` after it starts initialising a second
// communicator (or, with delay_us < 0, right after it creates its mailbox
// segment, through the shm_open hook). The survivors' init must fail and
// leave no segment of theirs; returns what is left in /dev/shm.
std::vector<std::string> KillDuringInit(int delay_us, int* victim_init_returned) {
  const std::vector<std::string> shm_before = OurShmEntries();
  CrashPage* page = NewCrashPage();
  EXPECT_NE(page, nullptr);
  if (page == nullptr) return {};
  Options opts;
  opts.mics_timeout_ms = 1000;  // the survivors wait this long for the dead rank
  opts.expect_killed = {1};
  opts.timeout_s = 60;
  mics_test::run_ranks(
      3,
      [=](mics_comm_t world, int rank) {
        mics_unique_id id{};
        if (rank == 0) HASSERT_OK(mics_get_unique_id(&id));
        HASSERT_OK(mics_broadcast(&id, &id, sizeof id, MICS_UINT8, 0, world, nullptr));
        std::thread killer;
        if (rank == 1) {
          if (delay_us < 0) {
            g_die_after_shm_create.store(true);
          } else {
            killer = std::thread([=] {
              usleep(static_cast<useconds_t>(delay_us));
              raise(SIGKILL);
            });
          }
        }
        mics_comm_t c = nullptr;
        const mics_result_t r = mics_comm_init_rank(&c, 3, id, rank);
        if (rank == 1) {
          page->init_returned.store(1);
          if (c != nullptr) {  // init won the race: die inside a collective instead
            std::vector<float> buf(1 << 20, 1.0f);
            for (int i = 0; i < 1000; ++i) {
              mics_allreduce(buf.data(), buf.data(), buf.size(), MICS_FLOAT32, MICS_SUM, c,
                             nullptr);
            }
          }
          if (delay_us < 0) raise(SIGKILL);  // the hook did not fire: fail, but do not hang
          pause();                           // the killer thread ends this process
        }
        printf("[kill at %d us] rank %d: init %s %s\n", delay_us, rank, mics_result_string(r),
               r == MICS_SUCCESS ? "" : mics_last_error(nullptr));
        if (r == MICS_SUCCESS) {
          // The victim died after init: the comm fails at its first collective.
          int one = 1, sum = 0;
          HCHECK(mics_allreduce(&one, &sum, 1, MICS_INT32, MICS_SUM, c, nullptr) != MICS_SUCCESS)
              << "an allreduce with a dead rank succeeded";
          HCHECK_OK(mics_comm_destroy(c));
        } else {
          HCHECK(c == nullptr) << "a failed init returned a communicator";
        }
      },
      Tagged(opts));
  *victim_init_returned = page->init_returned.load();
  munmap(page, 4096);
  return NewShmEntries(shm_before);
}

// A rank killed at random points of init (bootstrap, mailbox setup, the
// closing barrier) or of a collective: once the survivors have failed and
// destroyed everything, no /dev/shm/mics* entry of theirs may remain. The
// delays are fixed (0 to 6.4 ms around a ~1 ms init on 2 cores), so which
// phase each one hits varies from run to run; the printout says. A kill that
// lands between the victim's shm_open and its peers' mapping leaves the
// victim's own segment (name ending in "-1"): that is the known gap the
// disabled test below pins down deterministically, so here it is reported,
// not failed, and removed.
TEST(Leak, RankKilledDuringInitOrCollectiveLeavesNoSegments) {
  for (int delay_us : {0, 200, 400, 800, 1600, 3200, 6400}) {
    int init_returned = 0;
    const std::vector<std::string> left = KillDuringInit(delay_us, &init_returned);
    std::vector<std::string> victims, others;
    for (const std::string& name : left) {
      const bool victim = name.size() > 2 && name.compare(name.size() - 2, 2, "-1") == 0;
      (victim ? victims : others).push_back(name);
    }
    printf("[kill at %d us] the victim was %s; survivors' segments left: %zu%s\n", delay_us,
           init_returned ? "past init (in a collective)" : "inside init", others.size(),
           victims.empty() ? "" : "; the victim's own segment was left (known gap)");
    EXPECT_TRUE(others.empty()) << "kill " << delay_us << " us into init: " << others.size()
                                << " segments left behind:" << ShmList(others);
    for (const std::string& name : left) shm_unlink(("/" + name).c_str());
  }
}

// The one crash window the design leaves open: the creator of a mailbox dies
// after shm_open(O_CREAT) and before every peer has mapped it. Peers give up
// (TIMEOUT) and each removes only its own segment, so the dead rank's stays.
// Disabled: it fails today (see docs/RELIABILITY.md, "known gaps"); enable it
// with the fix (e.g. a peer that times out on a segment unlinks that name).
TEST(Leak, CreatorKilledBetweenCreateAndMapLeavesNoSegment) {
  int init_returned = 0;
  const std::vector<std::string> leaked = KillDuringInit(-1, &init_returned);
  EXPECT_EQ(init_returned, 0) << "the hook did not fire inside init";
  EXPECT_TRUE(leaked.empty()) << leaked.size() << " segments left behind:" << ShmList(leaked);
  for (const std::string& name : leaked) shm_unlink(("/" + name).c_str());
}

TEST(Leak, ManyCommLifetimesLeaveNothingBehind) {
  const std::vector<std::string> shm_before = OurShmEntries();
  const int n = 3;
  mics_test::run_ranks(
      n,
      [](mics_comm_t world, int rank) {
        // Warm up so that anything the library creates once per process (and
        // keeps) is already there when the baseline is taken.
        for (int i = 0; i < 2; ++i) Cycle(world, rank, n, i);
        HASSERT_OK(mics_barrier(world));
        const int fds0 = CountProcEntries("fd"), threads0 = SettledCount("task", 1);
        const size_t shm0 = OurShmEntries().size();
        const auto t0 = std::chrono::steady_clock::now();
        for (int i = 0; i < kCycles; ++i) Cycle(world, rank, n, i);
        HASSERT_OK(mics_barrier(world));
        const int fds1 = SettledCount("fd", fds0), threads1 = SettledCount("task", threads0);
        HCHECK(fds1 <= fds0) << "open fds went from " << fds0 << " to " << fds1 << " after "
                             << kCycles << " comm lifetimes";
        HCHECK(threads1 <= threads0) << "threads went from " << threads0 << " to " << threads1
                                     << " after " << kCycles << " comm lifetimes";
        // Only this job runs (RUN_SERIAL) and every cycle's comms are destroyed
        // on every rank once the barrier returns.
        const size_t shm1 = OurShmEntries().size();
        HCHECK(shm1 <= shm0) << "/dev/shm/mics* entries went from " << shm0 << " to " << shm1;
        if (rank == 0) {
          printf("[rank 0] %d cycles in %.1f s; fds %d -> %d, threads %d -> %d\n", kCycles,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), fds0,
                 fds1, threads0, threads1);
        }
      },
      Tagged(Options()));
  // Every process is gone now; none of its segments may remain.
  std::vector<std::string> leaked;
  for (const std::string& name : OurShmEntries()) {
    if (std::find(shm_before.begin(), shm_before.end(), name) == shm_before.end()) {
      leaked.push_back(name);
    }
  }
  std::string list;
  for (const auto& name : leaked) list += " /dev/shm/" + name;
  EXPECT_TRUE(leaked.empty()) << leaked.size() << " shared-memory segments left behind:" << list;
}

}  // namespace
