// mics_group_start / mics_group_end: one thread driving every rank of an
// init_all job (which would deadlock without groups), several collectives per
// group, nesting, errors at record time and at group end, empty groups. The
// data is exact: integer inputs from the seeded stream, integer reductions.
#include <gtest/gtest.h>
#include <mics/mics.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace {

using mics_test::Mix64;
using mics_test::StreamAt;
using mics_test::StreamBase;

void InChild(const std::function<void()>& body) {
  mics_test::Options opts;
  opts.init = false;
  mics_test::run_ranks(
      1, [&](mics_comm_t, int) { body(); }, opts);
}

std::vector<mics_comm_t> InitAll(int n) {
  std::vector<mics_comm_t> comms(n, nullptr);
  HASSERT_OK(mics_comm_init_all(comms.data(), n, nullptr)) << " init_all(" << n << ")";
  return comms;
}

void DestroyAll(const std::vector<mics_comm_t>& comms) {
  for (mics_comm_t c : comms) HCHECK_OK(mics_comm_destroy(c));
}

// Rank r's input element i of call `call`.
int64_t In(int r, uint64_t call, size_t i) {
  return static_cast<int64_t>(StreamAt(StreamBase(mics_test::TestSeed(), r, call), i) >> 8);
}

constexpr int64_t kPoison = 0x5A5A5A5A5A5A5A5All;

// One rank's buffers of one allgather / reduce_scatter / allreduce / broadcast.
struct RankBufs {
  std::vector<int64_t> send, recv;
};

enum class Kind { kAllgather, kReduceScatter, kAllreduce, kBroadcast };

// Inputs and poisoned outputs of one collective on every rank.
std::vector<RankBufs> Prepare(Kind k, int n, size_t count, uint64_t call) {
  std::vector<RankBufs> b(n);
  const size_t send = k == Kind::kReduceScatter ? count * n : count;
  const size_t recv = k == Kind::kAllgather ? count * n : count;
  for (int r = 0; r < n; ++r) {
    b[r].send.resize(send);
    for (size_t i = 0; i < send; ++i) b[r].send[i] = In(r, call, i);
    b[r].recv.assign(recv, kPoison);
  }
  return b;
}

mics_result_t Issue(Kind k, RankBufs& b, size_t count, mics_comm_t comm, int root = 1) {
  switch (k) {
    case Kind::kAllgather:
      return mics_allgather(b.send.data(), b.recv.data(), count, MICS_INT64, comm, nullptr);
    case Kind::kReduceScatter:
      return mics_reduce_scatter(b.send.data(), b.recv.data(), count, MICS_INT64, MICS_SUM, comm,
                                 nullptr);
    case Kind::kAllreduce:
      return mics_allreduce(b.send.data(), b.recv.data(), count, MICS_INT64, MICS_MAX, comm,
                            nullptr);
    case Kind::kBroadcast:
      return mics_broadcast(b.send.data(), b.recv.data(), count, MICS_INT64, root, comm, nullptr);
  }
  return MICS_INTERNAL_ERROR;
}

// Checks every rank's output element by element; false (and failures) if any differ.
bool Verify(Kind k, const std::vector<RankBufs>& b, size_t count, uint64_t call, int root = 1) {
  const int n = static_cast<int>(b.size());
  int bad = 0;
  for (int r = 0; r < n; ++r) {
    for (size_t j = 0; j < b[r].recv.size(); ++j) {
      int64_t want = 0;
      switch (k) {
        case Kind::kAllgather:
          want = In(static_cast<int>(j / count), call, j % count);
          break;
        case Kind::kReduceScatter: {
          uint64_t sum = 0;  // wraps, as the library's integer SUM
          for (int q = 0; q < n; ++q) sum += static_cast<uint64_t>(In(q, call, r * count + j));
          want = static_cast<int64_t>(sum);
          break;
        }
        case Kind::kAllreduce:
          want = In(0, call, j);
          for (int q = 1; q < n; ++q) want = std::max(want, In(q, call, j));
          break;
        case Kind::kBroadcast:
          want = In(root, call, j);
          break;
      }
      if (b[r].recv[j] != want && ++bad <= 5)
        HFAIL() << "kind " << static_cast<int>(k) << " call " << call << " rank " << r << " recv["
                << j << "] = " << b[r].recv[j] << ", expected " << want;
    }
  }
  return bad == 0;
}

bool Untouched(const std::vector<RankBufs>& b) {
  for (const RankBufs& rb : b)
    for (int64_t v : rb.recv)
      if (v != kPoison) return false;
  return true;
}

// The motivating case: one thread, all ranks' allgathers in one group.
TEST(Group, OneThreadDrivesEveryRank) {
  InChild([] {
    for (int n : {1, 2, 3, 4}) {
      std::vector<mics_comm_t> comms = InitAll(n);
      for (size_t count : {size_t{1}, size_t{7}, size_t{30011}}) {
        const uint64_t call = n * 1000 + count;
        std::vector<RankBufs> b = Prepare(Kind::kAllgather, n, count, call);
        HCHECK_OK(mics_group_start());
        for (int r = 0; r < n; ++r) HCHECK_OK(Issue(Kind::kAllgather, b[r], count, comms[r]));
        HCHECK(Untouched(b)) << "a call ran before group end";
        HCHECK_OK(mics_group_end()) << " " << mics_last_error(nullptr);
        Verify(Kind::kAllgather, b, count, call);
      }
      DestroyAll(comms);
    }
  });
}

// Four different collectives (plus zero-count and in-place ones) on every rank, one group.
TEST(Group, SeveralCollectivesInOneGroup) {
  InChild([] {
    const int n = 4;
    const size_t count = 1003;
    std::vector<mics_comm_t> comms = InitAll(n);
    const Kind kinds[] = {Kind::kAllgather, Kind::kReduceScatter, Kind::kAllreduce,
                          Kind::kBroadcast};
    std::vector<std::vector<RankBufs>> bufs;
    for (int k = 0; k < 4; ++k) bufs.push_back(Prepare(kinds[k], n, count, 100 + k));
    std::vector<std::vector<int64_t>> inplace(n);  // in-place allreduce (SUM)
    for (int r = 0; r < n; ++r) {
      inplace[r].resize(count);
      for (size_t i = 0; i < count; ++i) inplace[r][i] = In(r, 200, i);
    }
    HCHECK_OK(mics_group_start());
    for (int r = 0; r < n; ++r) {
      for (int k = 0; k < 4; ++k) HCHECK_OK(Issue(kinds[k], bufs[k][r], count, comms[r]));
      HCHECK_OK(mics_allreduce(nullptr, nullptr, 0, MICS_INT64, MICS_SUM, comms[r], nullptr));
      HCHECK_OK(mics_allreduce(inplace[r].data(), inplace[r].data(), count, MICS_INT64, MICS_SUM,
                               comms[r], nullptr));
      HCHECK_OK(mics_barrier(comms[r]));
    }
    HCHECK_OK(mics_group_end()) << " " << mics_last_error(nullptr);
    for (int k = 0; k < 4; ++k) Verify(kinds[k], bufs[k], count, 100 + k);
    for (int r = 0; r < n; ++r) {
      for (size_t i = 0; i < count; ++i) {
        uint64_t sum = 0;
        for (int q = 0; q < n; ++q) sum += static_cast<uint64_t>(In(q, 200, i));
        if (inplace[r][i] != static_cast<int64_t>(sum)) {
          HFAIL() << "in-place allreduce rank " << r << " [" << i << "]";
          break;
        }
      }
    }
    DestroyAll(comms);
  });
}

// Only the outermost end issues; groups nest, also across several ends.
TEST(Group, NestedGroups) {
  InChild([] {
    const int n = 3;
    const size_t count = 513;
    std::vector<mics_comm_t> comms = InitAll(n);
    std::vector<RankBufs> a = Prepare(Kind::kReduceScatter, n, count, 300);
    std::vector<RankBufs> b = Prepare(Kind::kBroadcast, n, count, 301);
    HCHECK_OK(mics_group_start());
    for (int r = 0; r < n; ++r) HCHECK_OK(Issue(Kind::kReduceScatter, a[r], count, comms[r]));
    HCHECK_OK(mics_group_start());
    for (int r = 0; r < n; ++r) HCHECK_OK(Issue(Kind::kBroadcast, b[r], count, comms[r], 2));
    HCHECK_OK(mics_group_start());
    HCHECK_OK(mics_group_end());
    HCHECK_OK(mics_group_end());  // inner: nothing may run yet
    HCHECK(Untouched(a) && Untouched(b)) << "an inner group end issued calls";
    HCHECK_OK(mics_group_end()) << " " << mics_last_error(nullptr);
    Verify(Kind::kReduceScatter, a, count, 300);
    Verify(Kind::kBroadcast, b, count, 301, 2);
    HCHECK_RESULT(mics_group_end(), MICS_INVALID_USAGE);  // no group open any more
    HCHECK(strstr(mics_last_error(nullptr), "without a matching")) << mics_last_error(nullptr);
    DestroyAll(comms);
  });
}

TEST(Group, EmptyGroup) {
  InChild([] {
    HCHECK_OK(mics_group_start());
    HCHECK_OK(mics_group_end());
    HCHECK_RESULT(mics_group_end(), MICS_INVALID_USAGE);
  });
}

// A call that fails its checks returns the error at once and cancels the
// group: its end issues nothing and repeats the first error.
TEST(Group, RecordTimeErrorCancelsTheGroup) {
  InChild([] {
    const int n = 2;
    const size_t count = 100;
    std::vector<mics_comm_t> comms = InitAll(n);
    std::vector<RankBufs> b = Prepare(Kind::kAllgather, n, count, 400);
    HCHECK_OK(mics_group_start());
    HCHECK_OK(Issue(Kind::kAllgather, b[0], count, comms[0]));
    HCHECK_RESULT(mics_allgather(b[1].send.data(), nullptr, count, MICS_INT64, comms[1], nullptr),
                  MICS_INVALID_ARGUMENT);
    HCHECK_RESULT(
        mics_broadcast(b[1].send.data(), b[1].recv.data(), count, MICS_INT64, 7, comms[1], nullptr),
        MICS_INVALID_ARGUMENT);
    mics_comm_t sub = nullptr;
    HCHECK_RESULT(mics_comm_split(comms[0], 0, 0, &sub), MICS_INVALID_USAGE);
    HCHECK_RESULT(mics_group_end(), MICS_INVALID_ARGUMENT);  // the first error
    std::string why = mics_last_error(nullptr);
    HCHECK(why.find("none of the 1 calls recorded was issued") != std::string::npos &&
           why.find("recvbuf is NULL") != std::string::npos)
        << why;
    HCHECK(Untouched(b)) << "a cancelled group issued a call";
    // The communicators are fine: the same group, corrected, works.
    HCHECK_OK(mics_group_start());
    for (int r = 0; r < n; ++r) HCHECK_OK(Issue(Kind::kAllgather, b[r], count, comms[r]));
    HCHECK_OK(mics_group_end()) << " " << mics_last_error(nullptr);
    Verify(Kind::kAllgather, b, count, 400);
    DestroyAll(comms);
  });
}

// A failure while the group runs: the communicators were aborted after the
// calls were recorded. group_end returns the first failure, names the call.
TEST(Group, FailureAtGroupEnd) {
  InChild([] {
    const int n = 3;
    const size_t count = 64;
    std::vector<mics_comm_t> comms = InitAll(n);
    std::vector<RankBufs> b = Prepare(Kind::kAllreduce, n, count, 500);
    HCHECK_OK(mics_group_start());
    for (int r = 0; r < n; ++r) HCHECK_OK(Issue(Kind::kAllreduce, b[r], count, comms[r]));
    for (int r = 0; r < n; ++r) HCHECK_OK(mics_comm_abort(comms[r]));
    HCHECK_RESULT(mics_group_end(), MICS_INVALID_USAGE);
    std::string why = mics_last_error(nullptr);
    HCHECK(why.find("call 0 of the group (allreduce on rank 0 of 3)") != std::string::npos &&
           why.find("aborted") != std::string::npos)
        << why;
    HCHECK(strstr(mics_last_error(comms[1]), "aborted")) << mics_last_error(comms[1]);
    HCHECK(Untouched(b));
    DestroyAll(comms);
  });
}

// Each rank's own thread may group its own calls too (one comm per group).
TEST(Group, PerThreadGroups) {
  InChild([] {
    const int n = 4;
    const size_t count = 2049;
    std::vector<mics_comm_t> comms = InitAll(n);
    std::vector<RankBufs> a = Prepare(Kind::kAllgather, n, count, 600);
    std::vector<RankBufs> c = Prepare(Kind::kReduceScatter, n, count, 601);
    std::vector<std::thread> threads;
    for (int r = 0; r < n; ++r) {
      threads.emplace_back([&, r] {
        HCHECK_OK(mics_group_start());
        HCHECK_OK(Issue(Kind::kAllgather, a[r], count, comms[r]));
        HCHECK_OK(Issue(Kind::kReduceScatter, c[r], count, comms[r]));
        HCHECK_OK(mics_group_end()) << " " << mics_last_error(nullptr);
      });
    }
    for (std::thread& t : threads) t.join();
    Verify(Kind::kAllgather, a, count, 600);
    Verify(Kind::kReduceScatter, c, count, 601);
    DestroyAll(comms);
  });
}

}  // namespace
