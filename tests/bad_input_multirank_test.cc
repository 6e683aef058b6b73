// Failure paths that need several ranks (forked processes, run_ranks): illegal
// arguments on every rank at once, partitions that do not divide, abort, an
// absent or dead peer, mismatched sizes, unused ids, the torchrun-style
// environment. Each must return the documented code with a message naming the
// problem, never crash or hang past the timeout. (One-rank argument checks:
// bad_input_test.cc.)
#include <gtest/gtest.h>
#include <mics/mics.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace {

using mics_test::Options;
using mics_test::run_ranks;
using Clock = std::chrono::steady_clock;

// A page shared by the children of one run_ranks call (mapped before fork).
std::atomic<int>* SharedFlags() {
  void* p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : new (p) std::atomic<int>[8]();
}

bool WaitFlag(std::atomic<int>* f, int want, double seconds) {
  const auto t0 = Clock::now();
  while (f->load() != want && mics_test::SecondsSince(t0) < seconds) usleep(1000);
  return f->load() == want;
}

// Listens on 127.0.0.1:port (best effort); returns the fd or -1.
int HoldPort(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd >= 0 && bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 && listen(fd, 4) == 0) {
    return fd;
  }
  if (fd >= 0) close(fd);
  return -1;
}

// ---- multi-process failure paths (fork first) ---------------------------------------

// Illegal overlaps on every rank at once, so nobody is left waiting (not
// broadcast: its sendbuf only matters on the root; the 1-rank table covers it).
// The comm must still work afterwards: argument errors are not fatal.
TEST(MultiRank, WrongInPlaceOffsetsAreRejected) {
  run_ranks(2, [](mics_comm_t comm, int rank) {
    std::vector<float> buf(64, 1.0f);
    float* base = buf.data();
    const int other = 1 - rank;
    // allgather in place must use recvbuf + rank * count; use the other slot.
    HCHECK_RESULT(mics_allgather(base + other * 8, base, 8, MICS_FLOAT32, comm, nullptr),
                  MICS_INVALID_ARGUMENT)
        << " allgather with sendbuf at the other rank's slot";
    HCHECK_RESULT(
        mics_reduce_scatter(base, base + other * 8, 8, MICS_FLOAT32, MICS_SUM, comm, nullptr),
        MICS_INVALID_ARGUMENT)
        << " reduce_scatter with recvbuf at the other rank's slot";
    HCHECK_RESULT(mics_allreduce(base, base + 1, 8, MICS_FLOAT32, MICS_SUM, comm, nullptr),
                  MICS_INVALID_ARGUMENT)
        << " allreduce with recvbuf = sendbuf + 1";
    float one = 1.0f, sum = 0.0f;
    HCHECK_OK(mics_allreduce(&one, &sum, 1, MICS_FLOAT32, MICS_SUM, comm, nullptr))
        << " a valid call after rejected ones; " << mics_last_error(comm);
    HCHECK_EQ(sum, 2.0f);
  });
}

TEST(MultiRank, PartitionSizeNotDividingFailsOnEveryRank) {
  run_ranks(4, [](mics_comm_t comm, int) {
    mics_comm_t part = nullptr, repl = nullptr;
    HCHECK_RESULT(mics_create_partition_groups(comm, 3, &part, &repl), MICS_INVALID_ARGUMENT)
        << " partition size 3 on 4 ranks";
    HCHECK_OK(mics_barrier(comm)) << " the comm must still work; " << mics_last_error(comm);
  });
}

// mics_comm_abort from another thread wakes a collective that can never
// complete (the peer does not join it); the call returns INVALID_USAGE.
TEST(MultiRank, AbortWakesABlockedCall) {
  std::atomic<int>* flags = SharedFlags();
  ASSERT_NE(flags, nullptr);
  Options opts;
  opts.mics_timeout_ms = 60000;  // far beyond the bound checked below
  run_ranks(
      2,
      [flags](mics_comm_t comm, int rank) {
        if (rank == 1) {  // stays alive, never joins the allreduce
          HCHECK(WaitFlag(&flags[0], 1, 60)) << "rank 0 did not finish";
          return;
        }
        std::thread aborter([comm] {
          usleep(300 * 1000);
          HCHECK_OK(mics_comm_abort(comm));
        });
        std::vector<float> buf(1000, 1.0f);
        const auto t0 = Clock::now();
        HCHECK_RESULT(mics_allreduce(buf.data(), buf.data(), buf.size(), MICS_FLOAT32, MICS_SUM,
                                     comm, nullptr),
                      MICS_INVALID_USAGE)
            << " allreduce interrupted by abort";
        const double waited = mics_test::SecondsSince(t0);
        aborter.join();
        HCHECK(waited < 20) << "the aborted call returned after " << waited
                            << " s (MICS_TIMEOUT_MS is 60 s; abort must wake it)";
        HCHECK_RESULT(mics_barrier(comm), MICS_INVALID_USAGE) << " barrier after abort";
        flags[0].store(1);
      },
      opts);
}

// A peer that is alive but never joins a collective: TIMEOUT after about
// MICS_TIMEOUT_MS, after which the comm refuses further calls.
TEST(MultiRank, AbsentPeerTimesOut) {
  std::atomic<int>* flags = SharedFlags();
  ASSERT_NE(flags, nullptr);
  Options opts;
  opts.mics_timeout_ms = 1500;
  run_ranks(
      2,
      [flags](mics_comm_t comm, int rank) {
        if (rank == 1) {  // alive, but skips the allreduce
          HCHECK(WaitFlag(&flags[0], 1, 60)) << "rank 0 did not finish";
          return;
        }
        std::vector<int32_t> buf(1000, 1);
        const auto t0 = Clock::now();
        HCHECK_RESULT(
            mics_allreduce(buf.data(), buf.data(), buf.size(), MICS_INT32, MICS_SUM, comm, nullptr),
            MICS_TIMEOUT)
            << " allreduce with an absent peer";
        const double took = mics_test::SecondsSince(t0);
        HCHECK(took >= 1.0 && took <= 4.0)
            << "returned after " << took << " s with MICS_TIMEOUT_MS=1500";
        HCHECK(*mics_last_error(comm) != '\0') << "no error message";
        HCHECK_RESULT(mics_barrier(comm), MICS_INVALID_USAGE) << " after a timeout";
        flags[0].store(1);
      },
      opts);
}

// A peer that dies mid-job: the survivor gets REMOTE_ERROR or TIMEOUT within
// the timeout (not a hang), and the comm is unusable afterwards.
TEST(MultiRank, PeerDeathIsReportedNotHung) {
  Options opts;
  opts.mics_timeout_ms = 3000;
  run_ranks(
      2,
      [](mics_comm_t comm, int rank) {
        HASSERT_OK(mics_barrier(comm));
        if (rank == 1) _exit(0);  // gone without mics_comm_destroy
        std::vector<double> buf(1 << 16, 1.0);
        const auto t0 = Clock::now();
        const mics_result_t r = mics_allreduce(buf.data(), buf.data(), buf.size(), MICS_FLOAT64,
                                               MICS_SUM, comm, nullptr);
        const double waited = mics_test::SecondsSince(t0);
        HCHECK(r == MICS_REMOTE_ERROR || r == MICS_TIMEOUT)
            << "allreduce with a dead peer returned " << mics_result_string(r);
        HCHECK(waited < 15) << "took " << waited << " s with MICS_TIMEOUT_MS=3000";
        HCHECK(*mics_last_error(comm) != '\0') << "no error message";
        HCHECK_RESULT(mics_barrier(comm), MICS_INVALID_USAGE) << " after a fatal error";
      },
      opts);
}

// Two ranks that disagree on nranks (rank 0 says 2, rank 1 says 3). Which one
// the root refuses depends on who reaches it first; either way nobody may
// succeed, the refused one gets REMOTE_ERROR, and the other gives up
// (TIMEOUT or REMOTE_ERROR) within its timeout.
TEST(MultiRank, SizeMismatchIsRefused) {
  std::atomic<int>* flags = SharedFlags();
  ASSERT_NE(flags, nullptr);
  auto* id = reinterpret_cast<mics_unique_id*>(flags + 8);
  Options opts;
  opts.init = false;
  opts.mics_timeout_ms = 3000;
  run_ranks(
      2,
      [flags, id](mics_comm_t, int rank) {
        mics_comm_t comm = nullptr;
        if (rank == 0) {
          HASSERT_OK(mics_get_unique_id(id));
          flags[0].store(1);
        } else {
          HASSERT(WaitFlag(&flags[0], 1, 30));
        }
        const mics_result_t r = mics_comm_init_rank(&comm, 2 + rank, *id, rank);
        flags[1 + rank].store(100 + r);
        HCHECK(r == MICS_REMOTE_ERROR || r == MICS_TIMEOUT)
            << "rank " << rank << " (nranks " << 2 + rank << ") got " << mics_result_string(r);
        if (r == MICS_SUCCESS) mics_comm_destroy(comm);
        if (rank == 0) {
          const auto t0 = Clock::now();
          while (flags[2].load() == 0 && mics_test::SecondsSince(t0) < 30) usleep(1000);
          HCHECK(flags[1].load() == 100 + MICS_REMOTE_ERROR ||
                 flags[2].load() == 100 + MICS_REMOTE_ERROR)
              << "neither rank was refused with REMOTE_ERROR (rank 0: "
              << mics_result_string(static_cast<mics_result_t>(flags[1].load() - 100))
              << ", rank 1: "
              << mics_result_string(static_cast<mics_result_t>(flags[2].load() - 100)) << ")";
        }
      },
      opts);
}

// A process may create an id and exit normally without ever using it (e.g.
// rank 0 fails before init): exit must not crash on the pending listener.
TEST(MultiRank, ExitWithUnusedUniqueIdIsClean) {
  Options opts;
  opts.init = false;
  run_ranks(
      1,
      [](mics_comm_t, int) {
        mics_unique_id id;
        HASSERT_OK(mics_get_unique_id(&id));
        exit(0);  // normal exit: static destructors and atexit handlers run
      },
      opts);
}

// init_env end to end: torchrun variables with the MASTER_PORT + 1 rule. Rank 0
// holds MASTER_PORT itself, so a library that used MASTER_PORT would fail.
TEST(MultiRank, InitEnvTorchrunStyle) {
  // Below the kernel's ephemeral range (32768-60999), which concurrent tests' sockets use.
  const int port = 20000 + static_cast<int>(mics_test::TestSeed() % 12000);
  Options opts;
  opts.init = false;
  opts.env = {
      {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "127.0.0.1"}, {"MASTER_PORT", std::to_string(port)}};
  run_ranks(
      2,
      [](mics_comm_t, int rank) {
        setenv("RANK", std::to_string(rank).c_str(), 1);
        int held = -1;
        if (rank == 0) held = HoldPort(atoi(getenv("MASTER_PORT")));
        mics_comm_t comm = nullptr;
        HASSERT_OK(mics_comm_init_env(&comm)) << " " << mics_last_error(nullptr);
        if (held >= 0) close(held);
        int r = -1, n = -1;
        HCHECK_OK(mics_comm_rank(comm, &r));
        HCHECK_OK(mics_comm_size(comm, &n));
        HCHECK_EQ(r, rank);
        HCHECK_EQ(n, 2);
        int v = rank + 1, sum = 0;
        HCHECK_OK(mics_allreduce(&v, &sum, 1, MICS_INT32, MICS_SUM, comm, nullptr));
        HCHECK_EQ(sum, 3);
        HCHECK_OK(mics_comm_destroy(comm));
      },
      opts);
}

}  // namespace
