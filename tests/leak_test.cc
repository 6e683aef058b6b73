// Resource leaks over many communicator lifetimes: file descriptors, threads
// and /dev/shm segments must all come back after destroy. Registered with
// RUN_SERIAL, because other tests' live segments would show up in /dev/shm.
#include <gtest/gtest.h>
#include <mics/mics.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "harness.h"

namespace {

using mics_test::CountProcEntries;
using mics_test::MicsShmEntries;

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

TEST(Leak, ManyCommLifetimesLeaveNothingBehind) {
  const std::vector<std::string> shm_before = MicsShmEntries();
  const int n = 3;
  mics_test::run_ranks(n, [](mics_comm_t world, int rank) {
    // Warm up so that anything the library creates once per process (and
    // keeps) is already there when the baseline is taken.
    for (int i = 0; i < 2; ++i) Cycle(world, rank, n, i);
    HASSERT_OK(mics_barrier(world));
    const int fds0 = CountProcEntries("fd"), threads0 = SettledCount("task", 1);
    const size_t shm0 = MicsShmEntries().size();
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < kCycles; ++i) Cycle(world, rank, n, i);
    HASSERT_OK(mics_barrier(world));
    const int fds1 = SettledCount("fd", fds0), threads1 = SettledCount("task", threads0);
    HCHECK(fds1 <= fds0) << "open fds went from " << fds0 << " to " << fds1 << " after " << kCycles
                         << " comm lifetimes";
    HCHECK(threads1 <= threads0) << "threads went from " << threads0 << " to " << threads1
                                 << " after " << kCycles << " comm lifetimes";
    // Only this job runs (RUN_SERIAL) and every cycle's comms are destroyed
    // on every rank once the barrier returns.
    const size_t shm1 = MicsShmEntries().size();
    HCHECK(shm1 <= shm0) << "/dev/shm/mics* entries went from " << shm0 << " to " << shm1;
    if (rank == 0) {
      printf("[rank 0] %d cycles in %.1f s; fds %d -> %d, threads %d -> %d\n", kCycles,
             std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), fds0,
             fds1, threads0, threads1);
    }
  });
  // Every process is gone now; none of its segments may remain.
  std::vector<std::string> leaked;
  for (const std::string& name : MicsShmEntries()) {
    if (std::find(shm_before.begin(), shm_before.end(), name) == shm_before.end()) {
      leaked.push_back(name);
    }
  }
  std::string list;
  for (const auto& name : leaked) list += " /dev/shm/" + name;
  EXPECT_TRUE(leaked.empty()) << leaked.size() << " shared-memory segments left behind:" << list;
}

}  // namespace
