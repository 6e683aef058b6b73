// Several ranks of one job in one process (mics_comm_init_all): one thread per
// rank runs the whole collective matrix on its communicator, concurrently with
// the others, checked bit-exactly (harness.cc's reference, seed printed). Each
// case runs inside a forked child (run_ranks with one "rank" and no harness
// communicator), so the gtest process never touches mics.
#include <gtest/gtest.h>
#include <mics/mics.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace {

using mics_test::CheckCtx;
using mics_test::CheckedCollective;
using mics_test::Coll;
using mics_test::IsReduction;

constexpr size_t kLarge = 40009;  // odd, several shared-memory chunks for 8-byte types
const size_t kCounts[] = {0, 1, 7, 1000, kLarge};

// One forked child runs body; the harness turns its failures into gtest ones.
void InChild(const std::function<void()>& body, int timeout_s = 300) {
  mics_test::Options opts;
  opts.init = false;
  opts.timeout_s = timeout_s;
  mics_test::run_ranks(
      1, [&](mics_comm_t, int) { body(); }, opts);
}

// Runs fn(rank) on nranks threads at once and joins them.
void OnThreads(int nranks, const std::function<void(int)>& fn) {
  std::vector<std::thread> threads;
  for (int r = 0; r < nranks; ++r) threads.emplace_back(fn, r);
  for (std::thread& t : threads) t.join();
}

std::vector<mics_comm_t> InitAll(int n) {
  std::vector<mics_comm_t> comms(n, nullptr);
  HASSERT_OK(mics_comm_init_all(comms.data(), n, nullptr)) << " init_all(" << n << ")";
  for (int r = 0; r < n; ++r) {
    int rank = -1, size = -1;
    HASSERT_OK(mics_comm_rank(comms[r], &rank));
    HASSERT_OK(mics_comm_size(comms[r], &size));
    HASSERT(rank == r && size == n) << "comms[" << r << "] is rank " << rank << " of " << size;
  }
  return comms;
}

void DestroyAll(const std::vector<mics_comm_t>& comms) {
  for (mics_comm_t c : comms) HCHECK_OK(mics_comm_destroy(c));
}

// Every collective x type x op x count x mode; the large count once per
// (type, op) pair for reductions, alternating the mode (as collectives_test).
void RunMatrix(mics_comm_t comm, int rank, int n) {
  CheckCtx ctx{comm, rank, n};
  for (Coll coll : {Coll::kAllgather, Coll::kHierAllgather, Coll::kReduceScatter, Coll::kAllreduce,
                    Coll::kBroadcast}) {
    const int nops = IsReduction(coll) ? MICS_NUM_OPS : 1;
    for (int t = 0; t < MICS_NUM_TYPES; ++t) {
      for (int op = 0; op < nops; ++op) {
        for (size_t count : kCounts) {
          for (bool in_place : {false, true}) {
            if (count == kLarge && IsReduction(coll) && in_place != ((t + op + n) % 2 == 1))
              continue;
            std::vector<int> roots{0};
            if (coll == Coll::kBroadcast) {
              roots.clear();
              for (int root = 0; root < n; ++root)
                if (count != kLarge || root == t % n) roots.push_back(root);
            }
            for (int root : roots)
              CheckedCollective(ctx, {coll, static_cast<mics_datatype_t>(t),
                                      static_cast<mics_redop_t>(op), count, in_place, root});
          }
        }
      }
    }
  }
  HCHECK_OK(mics_barrier(comm));
  if (rank == 0)
    printf("[init_all n=%d] %llu checked calls per rank\n", n,
           static_cast<unsigned long long>(ctx.call));
}

class InitAllMatrix : public ::testing::TestWithParam<int> {};

TEST_P(InitAllMatrix, EveryCollectiveTypeOpModeOnThreads) {
  const int n = GetParam();
  InChild(
      [n] {
        std::vector<mics_comm_t> comms = InitAll(n);
        OnThreads(n, [&](int r) { RunMatrix(comms[r], r, n); });
        DestroyAll(comms);
      },
      590);
}

INSTANTIATE_TEST_SUITE_P(Ranks, InitAllMatrix, ::testing::Values(1, 2, 3, 4),
                         [](const ::testing::TestParamInfo<int>& p) {
                           return "n" + std::to_string(p.param);
                         });

// Splits and MiCS partition groups made from init_all communicators, each
// rank's thread driving its world, partition and replication groups.
TEST(InitAll, SplitsAndPartitionGroups) {
  InChild([] {
    const int n = 4, p = 2;
    std::vector<mics_comm_t> comms = InitAll(n);
    OnThreads(n, [&](int r) {
      mics_comm_t part = nullptr, repl = nullptr, half = nullptr;
      HASSERT_OK(mics_create_partition_groups(comms[r], p, &part, &repl));
      HASSERT_OK(mics_comm_split(comms[r], r % 2, -r, &half));  // reversed order by key
      int pr = -1, rr = -1, hr = -1;
      HCHECK_OK(mics_comm_rank(part, &pr));
      HCHECK_OK(mics_comm_rank(repl, &rr));
      HCHECK_OK(mics_comm_rank(half, &hr));
      HCHECK_EQ(pr, r % p);
      HCHECK_EQ(rr, r / p);
      HCHECK_EQ(hr, (n - 1 - r) / 2);
      CheckCtx pc{part, pr, p, 1}, rc{repl, rr, n / p, 2}, hc{half, hr, n / 2, 3};
      for (size_t count : {size_t{1}, size_t{1001}}) {
        for (bool in_place : {false, true}) {
          CheckedCollective(pc, {Coll::kAllgather, MICS_BFLOAT16, MICS_SUM, count, in_place, 0});
          CheckedCollective(pc, {Coll::kReduceScatter, MICS_FLOAT32, MICS_SUM, count, in_place, 0});
          CheckedCollective(rc, {Coll::kAllreduce, MICS_INT64, MICS_PROD, count, in_place, 0});
          CheckedCollective(hc, {Coll::kBroadcast, MICS_UINT8, MICS_SUM, count, in_place, 1});
          CheckedCollective(hc, {Coll::kAllreduce, MICS_FLOAT64, MICS_MAX, count, in_place, 0});
        }
      }
      // grad_sync on the groups: integer SUM is exact whatever the order.
      const size_t shard = 333;
      std::vector<int32_t> grads(shard * p), accum(shard, 0);
      for (size_t i = 0; i < grads.size(); ++i) grads[i] = static_cast<int32_t>(i * 7 + r);
      HCHECK_OK(mics_grad_sync(grads.data(), accum.data(), shard, MICS_INT32, MICS_SUM, 1, part,
                               repl, nullptr));
      for (size_t i = 0; i < shard; ++i) {
        const size_t g = (r % p) * shard + i;  // our shard's element in the flat gradient
        int32_t want = 0;
        for (int q = 0; q < n; ++q) want += static_cast<int32_t>(g * 7 + q);
        if (accum[i] != want) {
          HFAIL() << "grad_sync rank " << r << " shard[" << i << "] = " << accum[i] << ", expected "
                  << want;
          break;
        }
      }
      HCHECK_OK(mics_comm_destroy(half));
      HCHECK_OK(mics_comm_destroy(repl));
      HCHECK_OK(mics_comm_destroy(part));
    });
    DestroyAll(comms);
  });
}

// Two jobs of init_all communicators in one process, all eight ranks busy at
// once: nothing of one job may reach the other.
TEST(InitAll, TwoJobsAtOnce) {
  InChild([] {
    std::vector<mics_comm_t> a = InitAll(3), b = InitAll(4);
    OnThreads(7, [&](int t) {
      const bool in_a = t < 3;
      const int r = in_a ? t : t - 3, n = in_a ? 3 : 4;
      CheckCtx ctx{in_a ? a[r] : b[r], r, n, in_a ? 10u : 20u};
      for (int i = 0; i < 20; ++i) {
        CheckedCollective(ctx, {Coll::kAllgather, MICS_INT32, MICS_SUM, 4099, i % 2 == 0, 0});
        CheckedCollective(ctx, {Coll::kAllreduce, MICS_FLOAT32, MICS_SUM, 5001, i % 2 == 1, 0});
      }
    });
    DestroyAll(a);
    DestroyAll(b);
  });
}

TEST(InitAll, BadArguments) {
  InChild([] {
    mics_comm_t comms[4] = {reinterpret_cast<mics_comm_t>(0x1), nullptr, nullptr, nullptr};
    HCHECK_RESULT(mics_comm_init_all(nullptr, 2, nullptr), MICS_INVALID_ARGUMENT);
    HCHECK(strstr(mics_last_error(nullptr), "comms is NULL")) << mics_last_error(nullptr);
    HCHECK_RESULT(mics_comm_init_all(comms, 0, nullptr), MICS_INVALID_ARGUMENT);
    HCHECK(strstr(mics_last_error(nullptr), "nranks 0")) << mics_last_error(nullptr);
    HCHECK_RESULT(mics_comm_init_all(comms, -3, nullptr), MICS_INVALID_ARGUMENT);

    // A device outside the visible ones: CUDA_ERROR without a usable device
    // (or a host-only build), INVALID_ARGUMENT with one. Either way all NULL.
    const int bad_devices[2] = {0, -1};
    comms[0] = comms[1] = reinterpret_cast<mics_comm_t>(0x1);
    mics_result_t r = mics_comm_init_all(comms, 2, bad_devices);
    HCHECK(r == MICS_CUDA_ERROR || r == MICS_INVALID_ARGUMENT) << mics_result_string(r);
    HCHECK(comms[0] == nullptr && comms[1] == nullptr) << "comms not cleared on failure";
    std::string why = mics_last_error(nullptr);
    HCHECK(why.find(r == MICS_CUDA_ERROR ? "no CUDA device" : "devices[1] = -1") !=
           std::string::npos)
        << why;
    printf("[init_all] devices refused: %s: %s\n", mics_result_string(r), why.c_str());

    HCHECK_OK(mics_group_start());
    HCHECK_RESULT(mics_comm_init_all(comms, 2, nullptr), MICS_INVALID_USAGE);
    HCHECK_OK(mics_group_end());

    // The last error is per thread: another thread's failure does not show here.
    HCHECK_RESULT(mics_comm_init_all(comms, 0, nullptr), MICS_INVALID_ARGUMENT);
    std::thread([] {
      HCHECK_RESULT(mics_comm_init_all(nullptr, 1, nullptr), MICS_INVALID_ARGUMENT);
    }).join();
    HCHECK(strstr(mics_last_error(nullptr), "nranks 0")) << mics_last_error(nullptr);

    // Works after all that.
    DestroyAll(InitAll(2));
  });
}

int CountMaps() {
  std::ifstream maps("/proc/self/maps");
  int n = 0;
  for (std::string line; std::getline(maps, line);) ++n;
  return n;
}

std::vector<std::string> TaggedShm(const std::string& tag) {
  std::vector<std::string> out;
  for (const std::string& name : mics_test::MicsShmEntries())
    if (name.find(tag) != std::string::npos) out.push_back(name);
  return out;
}

// 200 init_all/destroy cycles: descriptors, threads, mappings and segments
// come back (a warm-up cycle first, for what is made once per process).
TEST(InitAll, NoLeaksOver200Cycles) {
  const std::string tag = "ia" + std::to_string(getpid());
  mics_test::Options opts;
  opts.init = false;
  opts.env = {{"MICS_JOB_TAG", tag}};
  mics_test::run_ranks(
      1,
      [&](mics_comm_t, int) {
        DestroyAll(InitAll(4));
        const int fds = mics_test::CountProcEntries("fd");
        const int tasks = mics_test::CountProcEntries("task");
        const int maps = CountMaps();
        for (int i = 0; i < 200; ++i) {
          std::vector<mics_comm_t> comms = InitAll(4);
          if (i % 50 == 0) OnThreads(4, [&](int r) { HCHECK_OK(mics_barrier(comms[r])); });
          DestroyAll(comms);
        }
        HCHECK_EQ(mics_test::CountProcEntries("fd"), fds) << "descriptors leaked";
        HCHECK_EQ(mics_test::CountProcEntries("task"), tasks) << "threads leaked";
        // Mappings may grow by a few that are not ours (a malloc arena for a
        // thread that first met contention late, a sanitizer's per-thread
        // state); a leak per cycle would show as hundreds (4 ranks x 3 peers).
        HCHECK(CountMaps() <= maps + 64) << CountMaps() - maps << " mappings leaked";
        HCHECK(TaggedShm(tag).empty()) << TaggedShm(tag).size() << " segments left";
      },
      opts);
}

}  // namespace
