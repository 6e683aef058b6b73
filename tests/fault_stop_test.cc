// Fault handling, continued (fault_test.cc has the dead peers and mismatched
// calls): a failure reaching every rank of the node and of the other nodes,
// mics_comm_abort waking a blocked call from another thread, and what a
// timeout says when a peer never shows up. Same rules as fault_test.cc: exact
// result codes, the words that name the culprit, and only upper bounds on time.
#include <gtest/gtest.h>
#include <mics/mics.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "fault_common.h"
#include "harness.h"

namespace {

using mics_test::Options;
using mics_test::run_ranks;
using namespace mics_fault;  // NOLINT(build/namespaces): the fault tests' own helpers

// ---- 4: abort from another thread ----------------------------------------------------

// Rank 0 blocks in an allreduce on a child communicator that rank 1 never
// enters; MICS_TIMEOUT_MS is 60 s, so only the abort can end the wait.
void AbortJob(const std::vector<std::string>& host_ids, const char* label) {
  SharedPage page;
  Shared* sh = page.get();
  ASSERT_NE(sh, nullptr);
  Options opts;
  opts.mics_timeout_ms = 60000;
  opts.timeout_s = 60;
  opts.host_ids = host_ids;
  if (!host_ids.empty()) {
    opts.env = {{"MICS_FI_PROVIDER", "tcp;ofi_rxm"}, {"MICS_NET_IFACE", "lo"}};
  }
  run_ranks(
      2,
      [&](mics_comm_t world, int rank) {
        // The child is what gets aborted; world stays usable to end the job.
        mics_comm_t comm = nullptr;
        HASSERT_OK(mics_comm_split(world, 0, rank, &comm)) << " " << LastError(world);
        int nnodes = 0;
        HCHECK_OK(mics_comm_topology(comm, nullptr, &nnodes, nullptr, nullptr));
        HCHECK_EQ(nnodes, host_ids.empty() ? 1 : 2);
        if (rank == 0) {
          std::atomic<int64_t> abort_ns{0};
          std::thread aborter([&] {
            usleep(200 * 1000);
            abort_ns.store(NowNs());
            HCHECK_OK(mics_comm_abort(comm));
          });
          std::vector<float> buf(1 << 16, 1.0f);
          const auto t0 = Clock::now();
          const mics_result_t r = mics_allreduce(buf.data(), buf.data(), buf.size(), MICS_FLOAT32,
                                                 MICS_SUM, comm, nullptr);
          const int64_t end_ns = NowNs();
          const double took = Since(t0);
          aborter.join();
          const std::string e = LastError(comm);
          const double after_abort = (end_ns - abort_ns.load()) / 1e9;
          HCHECK(r == MICS_INVALID_USAGE)
              << label << ": the aborted allreduce returned " << mics_result_string(r) << ": " << e;
          HCHECK(Contains(e, "allreduce #") && Contains(e, "aborted"))
              << label << ": \"" << e << "\"";
          HCHECK(after_abort <= 1.0)
              << label << ": returned " << after_abort << " s after mics_comm_abort";
          printf(
              "[%s] the blocked call returned %.1f ms after mics_comm_abort (%.1f ms in all): "
              "%s\n",
              label, after_abort * 1e3, took * 1e3, e.c_str());
          CheckRefusedAtOnce(comm, "the communicator was aborted");
        }
        Rendezvous(&sh->arrived[0], 2);  // rank 1 stays alive until rank 0 is done
        HCHECK_OK(mics_comm_destroy(comm))
            << " destroying the " << (rank == 0 ? "aborted" : "idle") << " communicator";
        // The parent communicator is untouched by its child's abort.
        HCHECK_OK(mics_barrier(world)) << " " << LastError(world);
      },
      opts);
}

// A failure is published to the ranks of the failing rank's node: with four
// ranks on one node, one of which calls allreduce with another op, every rank
// returns an error well inside the (long) timeout — the ones that are not
// next to the mismatch learn of it from the rank that saw it.
TEST(FaultPropagation, NodePeersLearnOfAFailureFast) {
  Options opts;
  opts.mics_timeout_ms = 20000;
  run_ranks(4, [](mics_comm_t comm, int rank) {
    std::vector<float> v(1 << 16, 1.0f);
    const int64_t t0 = NowNs();
    mics_result_t r = mics_allreduce(v.data(), v.data(), v.size(), MICS_FLOAT32,
                                     rank == 2 ? MICS_MAX : MICS_SUM, comm, nullptr);
    const double took = (NowNs() - t0) / 1e9;
    const std::string e = mics_last_error(comm);
    printf("[propagation] rank %d: %s after %.1f ms: %s\n", rank, mics_result_string(r), took * 1e3,
           e.c_str());
    HCHECK(r == MICS_INVALID_USAGE || r == MICS_REMOTE_ERROR) << mics_result_string(r) << ": " << e;
    HCHECK(took < 2.0) << "rank " << rank << " took " << took << " s (timeout 20 s)";
    HCHECK(Contains(e, "mismatched collectives")) << e;
    usleep(1500 * 1000);  // stay alive: the others must learn it from us, not from our exit
  });
}

// A rank that fails after it finished a call must not fail the peers that
// are still in that call: it owes them nothing more. 3 ranks, a broadcast
// from rank 1 on the single-copy path: rank 0 reads it, returns, and aborts
// its communicator while rank 1 still waits for rank 2 (which comes 300 ms
// late) to read its buffer. Ranks 1 and 2 must finish that broadcast (rank 2
// with the root's data), and fail the next call, naming the abort.
TEST(FaultPropagation, AFailureAfterACallLetsThePeersStillInItFinish) {
  Options opts;
  opts.mics_timeout_ms = 20000;
  opts.env = {{"MICS_SHM_DIRECT_BYTES", "1"}};
  run_ranks(3, [](mics_comm_t comm, int rank) {
    std::vector<float> v(1 << 16, rank == 1 ? 7.0f : 0.0f);
    if (rank == 2) usleep(300 * 1000);
    HASSERT_OK(mics_broadcast(v.data(), v.data(), v.size(), MICS_FLOAT32, 1, comm, nullptr))
        << " rank " << rank << ": " << LastError(comm);
    for (size_t i = 0; i < v.size(); ++i) HCHECK_EQ(v[i], 7.0f) << "element " << i;
    if (rank == 0) {
      HASSERT_OK(mics_comm_abort(comm));
      usleep(1500 * 1000);  // stay alive: the others learn of the abort, not of our exit
      return;
    }
    HCHECK_RESULT(mics_barrier(comm), MICS_REMOTE_ERROR);
    HCHECK(Contains(LastError(comm), "mics_comm_abort")) << LastError(comm);
  });
}

// The same across nodes (2 emulated nodes x 2 ranks over libfabric tcp on
// loopback), ring and hierarchical: ranks with no neighbour next to the
// mismatch learn of it from a failure notice over the network. Without the
// notices, rank 0 would wait for rank 3 (which stopped) until the timeout:
// every rank must fail with the mismatch (its own, or a peer's that "gave
// up"), none with MICS_TIMEOUT.
class FaultPropagationAcrossNodes : public ::testing::TestWithParam<const char*> {};

TEST_P(FaultPropagationAcrossNodes, EveryRankLearnsOfAFailure) {
  Options opts;
  opts.mics_timeout_ms = 20000;
  opts.host_ids = {"prop-a", "prop-a", "prop-b", "prop-b"};
  opts.env = {
      {"MICS_FI_PROVIDER", "tcp;ofi_rxm"}, {"MICS_NET_IFACE", "lo"}, {"MICS_ALGO", GetParam()}};
  run_ranks(
      4,
      [](mics_comm_t comm, int rank) {
        std::vector<float> v(1 << 16, 1.0f);
        HASSERT_OK(
            mics_allreduce(v.data(), v.data(), v.size(), MICS_FLOAT32, MICS_SUM, comm, nullptr))
            << " warm-up: " << LastError(comm);
        const int64_t t0 = NowNs();
        mics_result_t r = mics_allreduce(v.data(), v.data(), v.size(), MICS_FLOAT32,
                                         rank == 2 ? MICS_MAX : MICS_SUM, comm, nullptr);
        const double took = (NowNs() - t0) / 1e9;
        const std::string e = mics_last_error(comm);
        printf("[propagation across nodes] rank %d: %s after %.1f ms: %s\n", rank,
               mics_result_string(r), took * 1e3, e.c_str());
        HCHECK(r == MICS_INVALID_USAGE || r == MICS_REMOTE_ERROR)
            << mics_result_string(r) << ": " << e;
        HCHECK(Contains(e, "mismatched collectives")) << e;
        sleep(2);  // stay alive: the others must learn it from us, not from our exit
      },
      opts);
}

INSTANTIATE_TEST_SUITE_P(Fault, FaultPropagationAcrossNodes, ::testing::Values("ring", "hier"),
                         [](const ::testing::TestParamInfo<const char*>& p) {
                           return std::string(p.param);
                         });

TEST(FaultAbort, WakesABlockedCallSameNode) { AbortJob({}, "abort, same node"); }

TEST(FaultAbort, WakesABlockedCallAcrossNodes) {
  AbortJob({"abort-a", "abort-b"}, "abort, two nodes");
}

// ---- 5: what a timeout says -----------------------------------------------------------

// Ranks 0 and 1 call allreduce; rank 2 is alive but never does. The ring is
// 0 -> 1 -> 2 -> 0: rank 0 waits for its left neighbour, rank 2; rank 1 for
// rank 0's forwarding and for rank 2 to take its sends. Both messages must
// name the collective, its sequence number and rank 2.
TEST(FaultTimeout, MessageNamesCollectiveSequenceAndMissingRank) {
  SharedPage page;
  Shared* sh = page.get();
  ASSERT_NE(sh, nullptr);
  constexpr int kTimeoutMs = 2000;
  Options opts;
  opts.mics_timeout_ms = kTimeoutMs;
  opts.timeout_s = 60;
  run_ranks(
      3,
      [&](mics_comm_t comm, int rank) {
        // Two good calls: with init's barrier (#1) the next call is #4.
        for (int i = 0; i < 2; ++i) {
          int v = rank, s = 0;
          HASSERT_OK(mics_allreduce(&v, &s, 1, MICS_INT32, MICS_SUM, comm, nullptr));
          HCHECK_EQ(s, 3);
        }
        if (rank != 2) {
          std::vector<double> buf(100000, 1.0);
          const auto t0 = Clock::now();
          const mics_result_t r = mics_allreduce(buf.data(), buf.data(), buf.size(), MICS_FLOAT64,
                                                 MICS_SUM, comm, nullptr);
          const double took = Since(t0);
          const std::string e = LastError(comm);
          printf("[timeout] rank %d: %s after %.0f ms: %s\n", rank, mics_result_string(r),
                 took * 1e3, e.c_str());
          HCHECK(r == MICS_TIMEOUT)
              << "rank " << rank << " returned " << mics_result_string(r) << ": " << e;
          HCHECK(took <= kTimeoutMs / 1000.0 + kSchedulingSlackS)
              << "rank " << rank << " took " << took << " s";
          HCHECK(Contains(e, "allreduce #4")) << "\"" << e << "\" should say \"allreduce #4\"";
          HCHECK(Contains(e, "timed out")) << "\"" << e << "\"";
          HCHECK(NamesRank(e, 2)) << "\"" << e << "\" does not name rank 2";
          CheckRefusedAtOnce(comm, e);
        }
        Rendezvous(&sh->arrived[0], 3);  // rank 2 stays alive (so: a timeout, not a death)
      },
      opts);
}

}  // namespace
