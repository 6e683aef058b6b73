// The single-copy shared-memory path (src/coll/direct.cc over
// transport/shm's expose / read / release): MICS_SHM_DIRECT_BYTES=1 sends
// every non-empty allgather and broadcast through it (and, with
// MICS_SHM_DIRECT_REDUCE=1, every reduce-scatter and allreduce), checked
// bit-exactly over the type x (op x) count x mode matrix on 2, 3 and 4 ranks (processes:
// cross-memory attach; threads of one process: memcpy), interleaved with ring calls; the fallback
// when one rank cannot read its peers (seccomp makes process_vm_readv fail with EPERM there); and a
// peer killed while the others read its buffer.
#include <gtest/gtest.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <mics/mics.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace {

using mics_test::CheckCtx;
using mics_test::CheckedCollective;
using mics_test::Coll;
using mics_test::run_ranks;

const size_t kCounts[] = {0, 1, 7, 1000, 100003};

// Every type x count x mode (and every root) of the data-movement collectives,
// with a reduction between them so that ring and direct calls interleave on
// the same mailboxes.
void RunDataMatrix(mics_comm_t comm, int rank, int n) {
  CheckCtx ctx{comm, rank, n};
  for (int t = 0; t < MICS_NUM_TYPES; ++t) {
    const auto type = static_cast<mics_datatype_t>(t);
    for (size_t count : kCounts) {
      for (bool in_place : {false, true}) {
        CheckedCollective(ctx, {Coll::kAllgather, type, MICS_SUM, count, in_place, 0});
        for (int root = 0; root < n; ++root)
          CheckedCollective(ctx, {Coll::kBroadcast, type, MICS_SUM, count, in_place, root});
        CheckedCollective(ctx, {Coll::kAllreduce, type, static_cast<mics_redop_t>(t % MICS_NUM_OPS),
                                count, in_place, 0});
      }
    }
  }
  HCHECK_OK(mics_barrier(comm));
}

// Every type x op x count x mode of the reductions, for the direct
// reduce-scatter (MICS_SHM_DIRECT_REDUCE=1): reduce-scatter itself, and
// allreduce, whose two halves then both expose buffers.
void RunReduceMatrix(mics_comm_t comm, int rank, int n) {
  CheckCtx ctx{comm, rank, n};
  for (int t = 0; t < MICS_NUM_TYPES; ++t) {
    for (int o = 0; o < MICS_NUM_OPS; ++o) {
      for (size_t count : kCounts) {
        for (bool in_place : {false, true}) {
          const auto type = static_cast<mics_datatype_t>(t);
          const auto op = static_cast<mics_redop_t>(o);
          CheckedCollective(ctx, {Coll::kReduceScatter, type, op, count, in_place, 0});
          CheckedCollective(ctx, {Coll::kAllreduce, type, op, count, in_place, 0});
        }
      }
    }
  }
  // Interleaved with allgathers on the same exposure lines.
  CheckedCollective(ctx, {Coll::kAllgather, MICS_FLOAT32, MICS_SUM, 1000, false, 0});
  CheckedCollective(ctx, {Coll::kReduceScatter, MICS_FLOAT32, MICS_SUM, 1000, true, 0});
  HCHECK_OK(mics_barrier(comm));
}

void RunOnThreads(int n, void (*body)(mics_comm_t, int, int)) {
  std::vector<mics_comm_t> comms(n, nullptr);
  HASSERT_OK(mics_comm_init_all(comms.data(), n, nullptr));
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r) threads.emplace_back([&comms, r, n, body] { body(comms[r], r, n); });
  for (std::thread& t : threads) t.join();
  for (mics_comm_t c : comms) HCHECK_OK(mics_comm_destroy(c));
}

class DirectMatrix : public ::testing::TestWithParam<int> {};

TEST_P(DirectMatrix, ReduceScatterReadingPeersEveryTypeOpCountModeOnProcesses) {
  const int n = GetParam();
  mics_test::Options opts;
  opts.env = {{"MICS_SHM_DIRECT_BYTES", "1"}, {"MICS_SHM_DIRECT_REDUCE", "1"}};
  run_ranks(
      n, [n](mics_comm_t comm, int rank) { RunReduceMatrix(comm, rank, n); }, opts);
}

TEST_P(DirectMatrix, ReduceScatterReadingPeersOnThreadsOfOneProcess) {
  const int n = GetParam();
  mics_test::Options opts;
  opts.init = false;
  opts.env = {{"MICS_SHM_DIRECT_BYTES", "1"}, {"MICS_SHM_DIRECT_REDUCE", "1"}};
  run_ranks(
      1, [n](mics_comm_t, int) { RunOnThreads(n, RunReduceMatrix); }, opts);
}

TEST_P(DirectMatrix, AllgatherAndBroadcastEveryTypeCountModeOnProcesses) {
  const int n = GetParam();
  mics_test::Options opts;
  opts.env = {{"MICS_SHM_DIRECT_BYTES", "1"}};
  run_ranks(
      n, [n](mics_comm_t comm, int rank) { RunDataMatrix(comm, rank, n); }, opts);
}

// The same calls with the single-copy path switched off (MICS_SHM_CMA=0).
TEST_P(DirectMatrix, SameMatrixWithCmaDisabled) {
  const int n = GetParam();
  mics_test::Options opts;
  opts.env = {{"MICS_SHM_DIRECT_BYTES", "1"}, {"MICS_SHM_CMA", "0"}};
  run_ranks(
      n, [n](mics_comm_t comm, int rank) { RunDataMatrix(comm, rank, n); }, opts);
}

// Ranks as threads of one process (mics_comm_init_all): readers memcpy from
// the peer's address instead of using cross-memory attach.
TEST_P(DirectMatrix, SameMatrixOnThreadsOfOneProcess) {
  const int n = GetParam();
  mics_test::Options opts;
  opts.init = false;
  opts.env = {{"MICS_SHM_DIRECT_BYTES", "1"}};
  run_ranks(
      1, [n](mics_comm_t, int) { RunOnThreads(n, RunDataMatrix); }, opts);
}

INSTANTIATE_TEST_SUITE_P(Ranks, DirectMatrix, ::testing::Values(2, 3, 4),
                         [](const ::testing::TestParamInfo<int>& p) {
                           return "n" + std::to_string(p.param);
                         });

// Makes process_vm_readv fail with EPERM in this process from now on (as a
// Yama or container policy would), everything else untouched.
bool ForbidCrossMemoryReads() {
  sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_process_vm_readv, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  sock_fprog prog{static_cast<unsigned short>(sizeof(filter) / sizeof(filter[0])), filter};
  return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
         prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) == 0;
}

// Only rank 1 cannot read its peers (from before init on); the others can.
// All must agree on the two-copy path, or rank 1 would fail its reads and the
// others wait for slots that never come.
TEST(DirectFallback, OneRankWithoutCrossMemoryAttachMakesAllUseTheRing) {
  const int n = 3;
  // Below the kernel's ephemeral range (32768-60999), which concurrent tests' sockets use.
  const int port = 20000 + static_cast<int>(mics_test::TestSeed() % 12000);
  mics_test::Options opts;
  opts.init = false;
  opts.env = {{"MICS_SHM_DIRECT_BYTES", "1"},
              {"WORLD_SIZE", std::to_string(n)},
              {"MASTER_ADDR", "127.0.0.1"},
              {"MASTER_PORT", std::to_string(port)}};
  run_ranks(
      n,
      [](mics_comm_t, int rank) {
        if (rank == 1) HASSERT(ForbidCrossMemoryReads()) << "seccomp: " << strerror(errno);
        setenv("RANK", std::to_string(rank).c_str(), 1);
        mics_comm_t comm = nullptr;
        HASSERT_OK(mics_comm_init_env(&comm)) << " " << mics_last_error(nullptr);
        RunDataMatrix(comm, rank, n);
        HCHECK_OK(mics_comm_destroy(comm));
      },
      opts);
}

// MICS_STREAM_BYTES=1: every out-of-place reduce-scatter finishes its block
// with the non-temporal-store kernel (src/reduce/streaming.cc); every type x
// op x count, odd sizes that leave unaligned heads and tails.
TEST(StreamingStores, ReduceScatterEveryTypeOpCount) {
  const int n = 3;
  mics_test::Options opts;
  opts.env = {{"MICS_STREAM_BYTES", "1"}};
  run_ranks(
      n,
      [](mics_comm_t comm, int rank) {
        CheckCtx ctx{comm, rank, n};
        for (int t = 0; t < MICS_NUM_TYPES; ++t)
          for (int op = 0; op < MICS_NUM_OPS; ++op)
            for (size_t count : {size_t{1}, size_t{7}, size_t{1000}, size_t{4099}, size_t{100003}})
              for (bool in_place : {false, true})
                CheckedCollective(ctx, {Coll::kReduceScatter, static_cast<mics_datatype_t>(t),
                                        static_cast<mics_redop_t>(op), count, in_place, 0});
      },
      opts);
}

// Exposures alternate between two lines, and an owner skips waiting for the
// releases of the line it reuses when its previous call read every peer. Long
// runs of tiny calls where that shortcut does not apply (broadcasts: the root
// reads nobody) or does (allgathers), mixed, with a randomly chosen late rank
// per call, so that owners run ahead of their readers as far as the protocol
// lets them; every result is checked. 3 ranks: a reader can lag two calls.
TEST(DirectInline, BackToBackTinyCallsWithLateRanks) {
  const int n = 3;
  const uint64_t seed = mics_test::TestSeed();
  run_ranks(n, [seed](mics_comm_t comm, int rank) {
    CheckCtx ctx{comm, rank, n};
    for (uint64_t i = 0; i < 600; ++i) {
      const uint64_t r = mics_test::Mix64(seed + i);  // the same on every rank
      if (static_cast<int>(r % n) == rank) usleep(static_cast<useconds_t>((r >> 8) % 300));
      const size_t count = 1 + (r >> 20) % 8;  // 1..8 bytes: inline
      const int kind = static_cast<int>((r >> 32) % 4);
      const bool in_place = (r >> 40) & 1;
      if (kind == 0)
        CheckedCollective(ctx, {Coll::kAllgather, MICS_UINT8, MICS_SUM, count, in_place, 0});
      else if (kind == 3)
        HCHECK_OK(mics_barrier(comm));
      else  // broadcasts twice as often: runs of them lap the most
        CheckedCollective(ctx, {Coll::kBroadcast, MICS_UINT8, MICS_SUM, count, in_place,
                                static_cast<int>((r >> 48) % n)});
    }
  });
}

constexpr int kVictim = 1;
constexpr int kDeadPeerTimeoutMs = 20000;

// 3 ranks loop over 16 MiB direct allgathers; a thread of rank 1 SIGKILLs it
// at a random moment of its third or later call, i.e. while the others read
// its buffer or wait for it to read theirs. The survivors must return
// REMOTE_ERROR or TIMEOUT (not hang, not succeed forever).
TEST(DirectFault, PeerKilledWhileOthersReadItsBuffer) {
  mics_test::Options opts;
  opts.mics_timeout_ms = kDeadPeerTimeoutMs;
  opts.expect_killed = {kVictim};
  opts.timeout_s = 120;
  const uint64_t seed = mics_test::TestSeed();
  const int n = 3;
  const size_t count = size_t{1} << 22;  // floats per rank
  run_ranks(
      n,
      [&](mics_comm_t comm, int rank) {
        std::vector<float> send(count, static_cast<float>(rank + 1)), recv(count * n);
        std::atomic<int> iters{0};
        std::thread killer;
        if (rank == kVictim) {
          killer = std::thread([&] {
            while (iters.load() < 2) usleep(100);
            usleep(static_cast<useconds_t>(mics_test::Mix64(seed) % 20000));
            raise(SIGKILL);
          });
        }
        mics_result_t r = MICS_SUCCESS;
        while (r == MICS_SUCCESS) {
          r = mics_allgather(send.data(), recv.data(), count, MICS_FLOAT32, comm, nullptr);
          if (r == MICS_SUCCESS) {
            for (int q = 0; q < n; ++q)
              HCHECK_EQ(recv[static_cast<size_t>(q) * count + count - 1],
                        static_cast<float>(q + 1));
            iters.fetch_add(1);
          }
        }
        HASSERT(rank != kVictim) << "the victim outlived its own SIGKILL";
        const char* e = mics_last_error(comm);
        HCHECK(r == MICS_REMOTE_ERROR || r == MICS_TIMEOUT)
            << "after rank " << kVictim << " died: " << mics_result_string(r) << ": " << e;
        printf("[direct fault] rank %d: %s after %d calls: %s\n", rank, mics_result_string(r),
               iters.load(), e);
        // Both survivors stay until the end: the comm is destroyed by the harness.
        if (killer.joinable()) killer.join();
      },
      opts);
}

}  // namespace
