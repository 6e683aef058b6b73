// Fault handling: what a rank sees when a peer dies and when ranks disagree
// on the collective they are in (fault_stop_test.cc: failures propagating,
// abort from another thread, a peer that never shows up). Every case checks the exact result code,
// the words of mics_last_error that let a user find the culprit (collective, sequence number, the
// ranks involved), that nothing ever "succeeds" with wrong data, and that the communicator refuses
// every later call at once.
//
// The only timed assertions are upper bounds of the form "returns within
// MICS_TIMEOUT_MS + kSchedulingSlackS" (or 1 s after an abort, 100 ms for a
// refused call):
// they are what the library promises, and they are far from the typical
// values, which the tests print (docs/RELIABILITY.md collects them).
//
// Ranks are forked processes (tests/harness.h). steady_clock is
// CLOCK_MONOTONIC, one clock for the whole machine, so a time stamp taken by
// a rank just before it kills itself can be compared with the time its peers
// notice.
#include <gtest/gtest.h>
#include <mics/mics.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <ostream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "fault_common.h"
#include "harness.h"

namespace {

using mics_test::Options;
using mics_test::run_ranks;
using namespace mics_fault;  // NOLINT(build/namespaces): the fault tests' own helpers

// ---- 1 and 2: a peer dies -----------------------------------------------------------

constexpr int kDeadPeerTimeoutMs = 3000;
constexpr int kVictim = 1;

enum class When { kBeforeCall, kMidCall };

std::string WhenName(When w) { return w == When::kBeforeCall ? "BeforeCall" : "MidCall"; }
void PrintTo(When w, std::ostream* os) { *os << WhenName(w); }  // readable ctest names

// 3 ranks loop over large allgathers and reduce-scatters; rank 1 SIGKILLs
// itself, either between two calls (after a barrier, so the others are
// certainly waiting for it) or from a helper thread while its main thread is
// inside a collective. The survivors must fail with REMOTE_ERROR or TIMEOUT
// within timeout + 1 s of the kill, naming rank 1.
void DeadPeerJob(When when, const std::vector<std::string>& host_ids, const char* label) {
  SharedPage page;
  Shared* sh = page.get();
  ASSERT_NE(sh, nullptr);
  Options opts;
  opts.mics_timeout_ms = kDeadPeerTimeoutMs;
  opts.host_ids = host_ids;
  opts.expect_killed = {kVictim};
  opts.timeout_s = 120;
  if (!host_ids.empty()) {
    opts.env = {{"MICS_FI_PROVIDER", "tcp;ofi_rxm"}, {"MICS_NET_IFACE", "lo"}};
  }
  // Smaller blocks across the network: loopback TCP on 2 cores is slow, and
  // the size only has to exceed the chunk size so that a call is in flight.
  const size_t count = host_ids.empty() ? (1u << 20) : (1u << 18);  // floats per rank
  const uint64_t seed = mics_test::TestSeed();
  const int n = 3;
  run_ranks(
      n,
      [&](mics_comm_t comm, int rank) {
        std::vector<float> send(count * n, static_cast<float>(rank + 1));
        std::vector<float> recv(count * n, 0.0f);
        std::atomic<int> iters{0}, in_call{0};
        std::thread killer;
        HASSERT_OK(mics_barrier(comm)) << " " << LastError(comm);
        if (rank == kVictim) {
          if (when == When::kBeforeCall) {
            sh->killed_in_call.store(0);
            sh->kill_ns.store(NowNs());
            raise(SIGKILL);
          }
          // Die at a random moment of the third or later call (seeded).
          killer = std::thread([&] {
            while (iters.load() < 2) usleep(100);
            usleep(static_cast<useconds_t>(mics_test::Mix64(seed) % 3000));
            sh->victim_iters.store(iters.load());
            sh->killed_in_call.store(in_call.load());
            sh->kill_ns.store(NowNs());
            raise(SIGKILL);
          });
        }
        mics_result_t r = MICS_SUCCESS;
        Clock::time_point call_start;
        const auto loop_start = Clock::now();
        for (int i = 0; r == MICS_SUCCESS && Since(loop_start) < 60; ++i) {
          call_start = Clock::now();
          in_call.store(1);
          if (i % 2 == 0) {
            r = mics_allgather(send.data(), recv.data(), count, MICS_FLOAT32, comm, nullptr);
          } else {
            r = mics_reduce_scatter(send.data(), recv.data(), count, MICS_FLOAT32, MICS_SUM, comm,
                                    nullptr);
          }
          in_call.store(0);
          if (r == MICS_SUCCESS) iters.fetch_add(1);
        }
        const int64_t end_ns = NowNs();
        HASSERT(rank != kVictim) << "the victim outlived its own SIGKILL";
        const std::string e = LastError(comm);
        HCHECK(r == MICS_REMOTE_ERROR || r == MICS_TIMEOUT)
            << label << ": the call after rank " << kVictim << " died returned "
            << mics_result_string(r) << ": " << e;
        HCHECK(NamesRank(e, kVictim))
            << label << ": \"" << e << "\" does not name rank " << kVictim;
        const double after_kill = (end_ns - sh->kill_ns.load()) / 1e9;
        HCHECK(sh->kill_ns.load() > 0 &&
               after_kill <= kDeadPeerTimeoutMs / 1000.0 + kSchedulingSlackS)
            << label << ": rank " << rank << " returned " << after_kill
            << " s after the kill (MICS_TIMEOUT_MS=" << kDeadPeerTimeoutMs << ")";
        HCHECK(Since(call_start) <= kDeadPeerTimeoutMs / 1000.0 + kSchedulingSlackS)
            << label << ": the failing call took " << Since(call_start) << " s";
        printf("[%s] rank %d: %s %.1f ms after the SIGKILL (call took %.1f ms): %s\n", label, rank,
               mics_result_string(r), after_kill * 1e3, Since(call_start) * 1e3, e.c_str());
        CheckRefusedAtOnce(comm, e);
        Rendezvous(&sh->arrived[0], n - 1);
      },
      opts);
  printf("[%s] victim killed %s (after %d completed calls)\n", label,
         sh->killed_in_call.load() ? "inside a collective" : "between collectives",
         sh->victim_iters.load());
}

class DeadPeer : public ::testing::TestWithParam<When> {};

TEST_P(DeadPeer, SameNodeSurvivorsFailFastNamingTheDeadRank) {
  const std::string label = "dead peer, same node, " + WhenName(GetParam());
  DeadPeerJob(GetParam(), {}, label.c_str());
}

// Rank 1 alone on a second emulated node: ranks 0 and 2 reach it through
// libfabric (tcp;ofi_rxm over loopback), where there is no pid to watch; the
// failure surfaces as a transfer error or as the timeout.
TEST_P(DeadPeer, OtherNodeSurvivorsFailNamingTheDeadRank) {
  const std::string label = "dead peer, other node, " + WhenName(GetParam());
  DeadPeerJob(GetParam(), {"fault-a", "fault-b", "fault-a"}, label.c_str());
}

INSTANTIATE_TEST_SUITE_P(Fault, DeadPeer, ::testing::Values(When::kBeforeCall, When::kMidCall),
                         [](const ::testing::TestParamInfo<When>& p) { return WhenName(p.param); });

// The hierarchical algorithms (2 nodes x 2 ranks, MICS_ALGO=hier) after their
// subgroups exist: rank 1 dies; rank 0 shares its node (shared memory), rank 3
// is its rail peer (network). Both are direct peers of rank 1 and must name
// it; rank 0 must find it through the liveness check (REMOTE_ERROR, not the
// timeout), as the ring does.
class DeadPeerHier : public ::testing::TestWithParam<int> {};

TEST_P(DeadPeerHier, DirectPeersNameTheDeadRank) {
  const int which = GetParam();  // 0 hier_allgather, 1 reduce_scatter, 2 allreduce
  SharedPage page;
  Shared* sh = page.get();
  ASSERT_NE(sh, nullptr);
  Options opts;
  opts.mics_timeout_ms = kDeadPeerTimeoutMs;
  opts.host_ids = {"hier-a", "hier-a", "hier-b", "hier-b"};
  opts.env = {{"MICS_FI_PROVIDER", "tcp;ofi_rxm"}, {"MICS_NET_IFACE", "lo"}, {"MICS_ALGO", "hier"}};
  opts.expect_killed = {kVictim};
  run_ranks(
      4,
      [&](mics_comm_t comm, int rank) {
        const size_t count = 1 << 16;
        std::vector<float> send(count * 4, 1.0f), recv(count * 4, 0.0f);
        auto call = [&] {
          switch (which) {
            case 0:
              return mics_hier_allgather(send.data(), recv.data(), count, MICS_FLOAT32, comm,
                                         nullptr);
            case 1:
              return mics_reduce_scatter(send.data(), recv.data(), count, MICS_FLOAT32, MICS_SUM,
                                         comm, nullptr);
            default:
              return mics_allreduce(send.data(), recv.data(), count, MICS_FLOAT32, MICS_SUM, comm,
                                    nullptr);
          }
        };
        HASSERT_OK(call()) << " warm-up (creates the subgroups): " << LastError(comm);
        HASSERT_OK(mics_barrier(comm));
        if (rank == kVictim) {
          sh->kill_ns.store(NowNs());
          raise(SIGKILL);
        }
        const mics_result_t r = call();
        const double after_kill = (NowNs() - sh->kill_ns.load()) / 1e9;
        const std::string e = LastError(comm);
        printf("[dead peer, hier %d] rank %d: %s %.1f ms after the SIGKILL: %s\n", which, rank,
               mics_result_string(r), after_kill * 1e3, e.c_str());
        HCHECK(r == MICS_REMOTE_ERROR || r == MICS_TIMEOUT) << mics_result_string(r) << ": " << e;
        HCHECK(after_kill <= kDeadPeerTimeoutMs / 1000.0 + kSchedulingSlackS) << after_kill << " s";
        if (rank == 0 || rank == 3) {
          HCHECK(NamesRank(e, kVictim))
              << "rank " << rank << ": \"" << e << "\" does not name rank " << kVictim;
        }
        if (rank == 0) {
          // REMOTE_ERROR, not TIMEOUT: the liveness check found it, as in the ring.
          HCHECK(r == MICS_REMOTE_ERROR)
              << "rank 0 shares a node with the dead rank: " << mics_result_string(r) << " after "
              << after_kill << " s";
        }
        Rendezvous(&sh->arrived[0], 3);
      },
      opts);
}

INSTANTIATE_TEST_SUITE_P(Fault, DeadPeerHier, ::testing::Values(0, 1, 2));

// ---- 3: mismatched collectives -----------------------------------------------------

enum class Mismatch { kOp, kCount, kType, kCollective, kSkippedCall, kSkippedLastCall };

const char* MismatchName(Mismatch m) {
  switch (m) {
    case Mismatch::kOp:
      return "Op";
    case Mismatch::kCount:
      return "Count";
    case Mismatch::kType:
      return "Type";
    case Mismatch::kCollective:
      return "Collective";
    case Mismatch::kSkippedCall:
      return "SkippedCall";
    case Mismatch::kSkippedLastCall:
      return "SkippedLastCall";
  }
  return "?";
}

// One rank (the last) disagrees. Every rank first runs one good allreduce
// (checked), so the failing call is not the first and its sequence number
// must be the one after it.
//   Op:          allreduce SUM vs MAX                (float32, 4096 elements)
//   Count:       allreduce 4096 vs 4104 elements
//   Type:        allreduce float32 vs int32
//   Collective:  allgather vs reduce_scatter         (same type and count)
//   SkippedCall: the odd rank skips a barrier; everyone then calls allgather,
//                so the odd rank's allgather meets the others' barrier.
//   SkippedLastCall: the odd rank never calls the allreduce; no data ever
//                reaches the others, who must time out naming the call and
//                the odd rank.
// In a ring a rank only receives from its left neighbour, and a rank that
// detects a mismatch returns at once without telling anyone. So a rank learns
// of the mismatch only if its left neighbour is in the other call and sent a
// chunk before detecting the mismatch itself; every other rank waits out its
// timeout. What must hold: no rank returns SUCCESS; every INVALID_USAGE is a
// "mismatched collectives" message naming both sides; every other result is
// a TIMEOUT naming the call; at least one rank reports the mismatch.
struct MismatchCase {
  Mismatch what;
  int nranks;
  bool two_nodes;  // one rank per emulated node (libfabric between them)
};

std::string CaseName(const MismatchCase& c) {
  return std::string(MismatchName(c.what)) + "_" + std::to_string(c.nranks) + "ranks" +
         (c.two_nodes ? "_TwoNodes" : "");
}

void PrintTo(const MismatchCase& c, std::ostream* os) { *os << CaseName(c); }

constexpr size_t kMismatchCount = 4096;
constexpr int kMismatchTimeoutMs = 1500;

class Mismatched : public ::testing::TestWithParam<MismatchCase> {};

TEST_P(Mismatched, EveryRankFailsAndTheDetectorsNameBothSides) {
  const MismatchCase mc = GetParam();
  SharedPage page;
  Shared* sh = page.get();
  ASSERT_NE(sh, nullptr);
  Options opts;
  opts.mics_timeout_ms = kMismatchTimeoutMs;
  opts.timeout_s = 60;
  if (mc.two_nodes) {
    for (int r = 0; r < mc.nranks; ++r) opts.host_ids.push_back("mm-node" + std::to_string(r));
    opts.env = {{"MICS_FI_PROVIDER", "tcp;ofi_rxm"}, {"MICS_NET_IFACE", "lo"}};
  }
  const int n = mc.nranks;
  const int odd = n - 1;
  const std::string label = CaseName(mc);
  run_ranks(
      n,
      [&](mics_comm_t comm, int rank) {
        const bool me_odd = rank == odd;
        std::vector<float> fa(kMismatchCount * n + 64, 1.0f), fb(kMismatchCount * n + 64, 0.0f);
        std::vector<int32_t> ia(kMismatchCount + 64, 1), ib(kMismatchCount + 64, 0);
        // A good call first: the sequence numbers have moved past init.
        float one = 1.0f, sum = 0.0f;
        HASSERT_OK(mics_allreduce(&one, &sum, 1, MICS_FLOAT32, MICS_SUM, comm, nullptr))
            << " " << LastError(comm);
        HCHECK_EQ(sum, static_cast<float>(n));
        // What each side is doing, as call.cc describes it ("allreduce #3 (float32, op 0").
        std::string mine, theirs;
        mics_result_t r = MICS_INTERNAL_ERROR;
        switch (mc.what) {
          case Mismatch::kOp:
            r = mics_allreduce(fa.data(), fb.data(), kMismatchCount, MICS_FLOAT32,
                               me_odd ? MICS_MAX : MICS_SUM, comm, nullptr);
            mine = me_odd ? "(float32, op 2" : "(float32, op 0";
            theirs = me_odd ? "(float32, op 0" : "(float32, op 2";
            break;
          case Mismatch::kCount:
            r = mics_allreduce(fa.data(), fb.data(), kMismatchCount + (me_odd ? 8 : 0),
                               MICS_FLOAT32, MICS_SUM, comm, nullptr);
            mine = theirs = "allreduce #";  // the shape hash differs; the words do not
            break;
          case Mismatch::kType:
            if (me_odd) {
              r = mics_allreduce(ia.data(), ib.data(), kMismatchCount, MICS_INT32, MICS_SUM, comm,
                                 nullptr);
            } else {
              r = mics_allreduce(fa.data(), fb.data(), kMismatchCount, MICS_FLOAT32, MICS_SUM, comm,
                                 nullptr);
            }
            mine = me_odd ? "(int32," : "(float32,";
            theirs = me_odd ? "(float32," : "(int32,";
            break;
          case Mismatch::kCollective:
            if (me_odd) {
              r = mics_reduce_scatter(fa.data(), fb.data(), kMismatchCount, MICS_FLOAT32, MICS_SUM,
                                      comm, nullptr);
            } else {
              r = mics_allgather(fa.data(), fb.data(), kMismatchCount, MICS_FLOAT32, comm, nullptr);
            }
            mine = me_odd ? "reduce_scatter #" : "allgather #";
            theirs = me_odd ? "allgather #" : "reduce_scatter #";
            break;
          case Mismatch::kSkippedLastCall:
            if (me_odd) {
              // Alive but absent: waits for the others to give up.
              Rendezvous(&sh->arrived[0], n);
              return;
            }
            r = mics_allreduce(fa.data(), fb.data(), kMismatchCount, MICS_FLOAT32, MICS_SUM, comm,
                               nullptr);
            break;
          case Mismatch::kSkippedCall:
            if (me_odd) {
              r = mics_allgather(fa.data(), fb.data(), kMismatchCount, MICS_FLOAT32, comm, nullptr);
            } else {
              r = mics_barrier(comm);
              if (r == MICS_SUCCESS) {
                r = mics_allgather(fa.data(), fb.data(), kMismatchCount, MICS_FLOAT32, comm,
                                   nullptr);
              }
            }
            mine = me_odd ? "allgather #" : "barrier #";
            theirs = me_odd ? "barrier #" : "allgather #";
            break;
        }
        const std::string e = LastError(comm);
        printf("[mismatch %s] rank %d: %s: %s\n", label.c_str(), rank, mics_result_string(r),
               e.c_str());
        HCHECK(r != MICS_SUCCESS) << label << ": rank " << rank
                                  << " returned SUCCESS from a mismatched call";
        const int left = (rank + n - 1) % n;
        // The detector fails with INVALID_USAGE; ranks of its node that wait for it
        // learn of it (REMOTE_ERROR, "gave up"); the rest time out.
        HCHECK(r == MICS_INVALID_USAGE || r == MICS_TIMEOUT ||
               (r == MICS_REMOTE_ERROR && Contains(e, "gave up on this communicator") &&
                Contains(e, "mismatched collectives")))
            << label << ": rank " << rank << " returned " << mics_result_string(r) << ": " << e;
        // Init's barrier is #1 and the good allreduce #2: the mismatched call is #3.
        std::string call_name = "allreduce";
        if (mc.what == Mismatch::kCollective) call_name = me_odd ? "reduce_scatter" : "allgather";
        if (mc.what == Mismatch::kSkippedCall) call_name = me_odd ? "allgather" : "barrier";
        HCHECK(Contains(e, call_name + " #3"))
            << label << ": \"" << e << "\" should name the call as \"" << call_name << " #3\"";
        if (mc.what == Mismatch::kSkippedLastCall) {
          HCHECK(r == MICS_TIMEOUT)
              << label << ": rank " << rank << " returned " << mics_result_string(r) << ": " << e;
          HCHECK(NamesRank(e, odd)) << label << ": \"" << e << "\" does not name rank " << odd;
        }
        const bool detected = r == MICS_INVALID_USAGE && Contains(e, "mismatched collectives");
        sh->detected[rank].store(detected ? 1 : 0);
        if (r == MICS_INVALID_USAGE) {
          HCHECK(detected) << label << ": \"" << e << "\"";
          // Only a chunk from the left neighbour can reveal the mismatch, and
          // only if that neighbour is on the other side.
          HCHECK((left == odd) != me_odd)
              << label << ": rank " << rank << " reports a mismatch with a rank on its own side";
          // Both sides: this rank with its call, the neighbour with its own, same number.
          const std::regex both("rank " + std::to_string(rank) + " is in .* #3 .*rank " +
                                std::to_string(left) + " is in .* #3 ");
          HCHECK(std::regex_search(e, both)) << label << ": \"" << e << "\" does not name rank "
                                             << rank << " and rank " << left << " both in call #3";
          // The two descriptions must differ, or the user cannot see why.
          const std::regex desc("is in ([a-z_]+ #[0-9]+ \\([^)]*\\))");
          std::vector<std::string> calls;
          for (auto it = std::sregex_iterator(e.begin(), e.end(), desc);
               it != std::sregex_iterator(); ++it) {
            calls.push_back((*it)[1]);
          }
          HCHECK(calls.size() == 2 && calls[0] != calls[1])
              << label << ": \"" << e << "\" should describe two different calls";
          const size_t at_left = e.find("rank " + std::to_string(left) + " is in");
          HCHECK(at_left != std::string::npos && Contains(e.substr(0, at_left), mine) &&
                 Contains(e.substr(at_left), theirs))
              << label << ": \"" << e << "\" should show \"" << mine << "\" for rank " << rank
              << " and \"" << theirs << "\" for rank " << left;
        }
        // The odd rank's left neighbour agrees with its own left neighbour, so
        // it always sends its first chunk: with 3 ranks the odd rank always
        // sees the mismatch. With 2, whoever sends first may be answered by
        // silence (the other detects and returns before sending), so there
        // only "at least one rank detects" holds (checked below).
        if (n >= 3 && me_odd) {
          HCHECK(detected) << label << ": the odd rank " << rank << " did not detect: " << e;
        }
        if (r != MICS_SUCCESS) CheckRefusedAtOnce(comm, e);
        Rendezvous(&sh->arrived[0], n);
        if (rank == 0) {
          int detectors = 0;
          for (int q = 0; q < n; ++q) detectors += sh->detected[q].load();
          HCHECK(detectors >= 1 || mc.what == Mismatch::kSkippedLastCall)
              << label << ": no rank reported the mismatch";
        }
      },
      opts);
}

INSTANTIATE_TEST_SUITE_P(Fault, Mismatched,
                         ::testing::Values(MismatchCase{Mismatch::kOp, 2, false},
                                           MismatchCase{Mismatch::kOp, 3, false},
                                           MismatchCase{Mismatch::kCount, 2, false},
                                           MismatchCase{Mismatch::kCount, 3, false},
                                           MismatchCase{Mismatch::kType, 2, false},
                                           MismatchCase{Mismatch::kType, 3, false},
                                           MismatchCase{Mismatch::kCollective, 2, false},
                                           MismatchCase{Mismatch::kCollective, 3, false},
                                           MismatchCase{Mismatch::kSkippedCall, 2, false},
                                           MismatchCase{Mismatch::kSkippedCall, 3, false},
                                           MismatchCase{Mismatch::kSkippedLastCall, 2, false},
                                           MismatchCase{Mismatch::kSkippedLastCall, 3, false},
                                           MismatchCase{Mismatch::kOp, 2, true},
                                           MismatchCase{Mismatch::kCollective, 2, true}),
                         [](const ::testing::TestParamInfo<MismatchCase>& p) {
                           return CaseName(p.param);
                         });

// What the sequence numbers cannot catch: they count calls per rank, so a rank
// that skips one of two calls of the same shape pairs its next call with the
// others' skipped one; nothing in the chunks differs. The job still cannot end
// cleanly: the others' extra call finds nobody and times out, naming itself
// (#4) and the rank that is missing. The odd rank's one call is not checked
// (it "succeeds" with the others' first-call data): no library can tell the
// two calls apart; this test pins down that the failure surfaces at the end.
TEST(FaultMismatchLimit, SkippedCallOfTheSameShapeFailsAtTheOthersExtraCall) {
  SharedPage page;
  Shared* sh = page.get();
  ASSERT_NE(sh, nullptr);
  Options opts;
  opts.mics_timeout_ms = kMismatchTimeoutMs;
  opts.timeout_s = 60;
  run_ranks(
      2,
      [&](mics_comm_t comm, int rank) {
        float v = 1.0f, s = 0.0f;
        HASSERT_OK(mics_allreduce(&v, &s, 1, MICS_FLOAT32, MICS_SUM, comm, nullptr));  // #2
        const int calls = rank == 1 ? 1 : 2;  // rank 1 skips the first of the two
        mics_result_t r = MICS_SUCCESS;
        for (int i = 0; i < calls && r == MICS_SUCCESS; ++i) {
          float x = static_cast<float>(10 * (i + 1) + rank), y = 0.0f;
          r = mics_allreduce(&x, &y, 1, MICS_FLOAT32, MICS_SUM, comm, nullptr);
          printf("[skipped same-shape call] rank %d call %d: %s, result %g: %s\n", rank, i + 3,
                 mics_result_string(r), y, r == MICS_SUCCESS ? "" : LastError(comm).c_str());
        }
        if (rank == 0) {
          const std::string e = LastError(comm);
          HCHECK(r == MICS_TIMEOUT)
              << "rank 0's extra call returned " << mics_result_string(r) << ": " << e;
          HCHECK(Contains(e, "allreduce #4")) << "\"" << e << "\"";
          HCHECK(NamesRank(e, 1)) << "\"" << e << "\" does not name rank 1";
        }
        Rendezvous(&sh->arrived[0], 2);
      },
      opts);
}

// The count enters the tag only as a 20-bit hash (call.cc), and the size check
// compares chunk sizes, not totals. Two counts whose hashes collide and whose
// first chunks are all full therefore pass both checks: 2048 and 210504
// floats collide with today's hash, and with 4 KiB chunks every block of the
// 2048-float allreduce is one full chunk. Rank 0 then returns SUCCESS with
// half of its result computed from the wrong elements of rank 1. Disabled:
// fails today (see docs/RELIABILITY.md, "known gaps"); it passes once the
// full count (or a wider hash) is compared. If the hash function changes,
// these counts stop colliding and the test passes trivially.
TEST(FaultMismatchLimit, CountsWithCollidingShapeHashAreCaught) {
  SharedPage page;
  Shared* sh = page.get();
  ASSERT_NE(sh, nullptr);
  Options opts;
  opts.mics_timeout_ms = kMismatchTimeoutMs;
  opts.timeout_s = 60;
  opts.env = {{"MICS_SHM_CHUNK_BYTES", "4096"}};
  run_ranks(
      2,
      [&](mics_comm_t comm, int rank) {
        const size_t count = rank == 0 ? 2048 : 210504;
        std::vector<float> in(count, 1.0f), out(count, 0.0f);
        const mics_result_t r =
            mics_allreduce(in.data(), out.data(), count, MICS_FLOAT32, MICS_SUM, comm, nullptr);
        HCHECK(r != MICS_SUCCESS) << "rank " << rank << " (count " << count
                                  << ") returned SUCCESS from an allreduce whose counts differ";
        Rendezvous(&sh->arrived[0], 2);
      },
      opts);
}

}  // namespace
