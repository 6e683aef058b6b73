// The collective matrix: every collective x type x op x count x in/out-of-place
// x world size, checked bit-exactly against the reference in harness.cc (see
// there for how inputs are chosen so that results do not depend on the order
// in which the library combines ranks).
#include <gtest/gtest.h>
#include <mics/mics.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <tuple>
#include <vector>

#include "harness.h"

namespace {

using mics_test::CheckCtx;
using mics_test::CheckedCollective;
using mics_test::Coll;
using mics_test::IsReduction;
using mics_test::run_ranks;

constexpr size_t kLarge = (size_t{1} << 20) + 3;
const size_t kCounts[] = {0, 1, 7, 1000, kLarge};
const int kWorldSizes[] = {1, 2, 3, 4, 8};

// The large odd count is what costs time. Measured on 2 cores, running every
// type x op in both modes at every world size would take several minutes for
// reduce_scatter on 8 ranks alone, so reductions run each type x op pair at the
// large count on every world size >= 2 in one mode, alternating with the
// parity of (type + op + n) so that each pair sees both modes across world
// sizes. Data-movement collectives are cheap and run every type in both modes.
// World size 1 runs every combination at the small counts only.
bool LargeSelected(Coll coll, int n, int type, int op, bool in_place) {
  if (n == 1) return false;
  if (!IsReduction(coll)) return true;
  return in_place == ((type + op + n) % 2 == 1);
}

// Every root at the small counts; at the large count one root per type,
// rotating over first, middle and last.
std::vector<int> Roots(int n, size_t count, int type) {
  if (count == kLarge) {
    const int pick[] = {0, n / 2, n - 1};
    return {pick[type % 3]};
  }
  std::vector<int> roots;
  for (int r = 0; r < n; ++r) roots.push_back(r);
  return roots;
}

// Host ids for hier_allgather: two emulated nodes (uneven for odd sizes), so
// the matrix exercises the inter-node rings; groups_test covers other layouts.
std::vector<std::string> TwoNodes(int n) {
  std::vector<std::string> ids;
  for (int r = 0; r < n; ++r) ids.push_back(r < (n + 1) / 2 ? "node-a" : "node-b");
  return ids;
}

void RunMatrix(Coll coll, mics_comm_t comm, int rank, int n) {
  const auto t0 = std::chrono::steady_clock::now();
  CheckCtx ctx{comm, rank, n};
  int failed = 0;
  const int nops = IsReduction(coll) ? MICS_NUM_OPS : 1;
  for (int t = 0; t < MICS_NUM_TYPES; ++t) {
    for (int op = 0; op < nops; ++op) {
      for (size_t count : kCounts) {
        for (bool in_place : {false, true}) {
          if (count == kLarge && !LargeSelected(coll, n, t, op, in_place)) continue;
          const std::vector<int> roots =
              coll == Coll::kBroadcast ? Roots(n, count, t) : std::vector<int>{0};
          for (int root : roots) {
            mics_test::Case c{coll,
                              static_cast<mics_datatype_t>(t),
                              static_cast<mics_redop_t>(op),
                              count,
                              in_place,
                              root};
            if (!CheckedCollective(ctx, c)) ++failed;
          }
        }
      }
    }
  }
  if (rank == 0) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    printf("[rank 0] %s on %d ranks: %llu calls, %d failed, %.1f s\n", CollName(coll), n,
           static_cast<unsigned long long>(ctx.call), failed, s);
    fflush(stdout);
  }
}

class Matrix : public ::testing::TestWithParam<std::tuple<Coll, int>> {};

TEST_P(Matrix, AllTypesOpsCountsModes) {
  const auto [coll, n] = GetParam();
  mics_test::Options opts;
  opts.timeout_s = 590;
  if (coll == Coll::kHierAllgather && n > 1) opts.host_ids = TwoNodes(n);
  run_ranks(
      n, [coll = coll, n = n](mics_comm_t comm, int rank) { RunMatrix(coll, comm, rank, n); },
      opts);
}

INSTANTIATE_TEST_SUITE_P(
    Collectives, Matrix,
    ::testing::Combine(::testing::Values(Coll::kAllgather, Coll::kHierAllgather,
                                         Coll::kReduceScatter, Coll::kAllreduce, Coll::kBroadcast),
                       ::testing::ValuesIn(kWorldSizes)),
    [](const ::testing::TestParamInfo<std::tuple<Coll, int>>& p) {
      return std::string(CollName(std::get<0>(p.param))) + "_n" +
             std::to_string(std::get<1>(p.param));
    });

// A tiny shared-memory channel (the smallest shapes the library accepts, and a
// chunk size that is not a multiple of any element size > 1) makes every
// medium count wrap around the slots many times and split elements across
// chunks.
class SmallChannel : public ::testing::TestWithParam<const char*> {};

TEST_P(SmallChannel, ManyChunksAndSlotReuse) {
  mics_test::Options opts;
  opts.env = {{"MICS_SHM_CHUNK_BYTES", GetParam()}, {"MICS_SHM_SLOTS", "2"}};
  run_ranks(
      4,
      [](mics_comm_t comm, int rank) {
        CheckCtx ctx{comm, rank, 4};
        const mics_datatype_t types[] = {MICS_INT8, MICS_FLOAT16, MICS_INT32, MICS_FLOAT64};
        int k = 0;
        for (Coll coll : {Coll::kAllgather, Coll::kHierAllgather, Coll::kReduceScatter,
                          Coll::kAllreduce, Coll::kBroadcast}) {
          for (mics_datatype_t type : types) {
            for (size_t count : {size_t{1000}, size_t{4097}, size_t{100003}}) {
              for (bool in_place : {false, true}) {
                ++k;
                CheckedCollective(ctx, {coll, type, static_cast<mics_redop_t>(k % MICS_NUM_OPS),
                                        count, in_place, k % 4});
              }
            }
          }
        }
      },
      opts);
}

INSTANTIATE_TEST_SUITE_P(Shm, SmallChannel, ::testing::Values("4096", "4100"),
                         [](const ::testing::TestParamInfo<const char*>& p) {
                           return std::string("chunk") + p.param;
                         });

// The barrier returns only after every rank entered it: each rank raises its
// flag (in a page shared by the children) just before entering, late ranks
// after a delay, and nobody may see a lowered flag after the barrier.
TEST(Barrier, ReturnsOnlyAfterEveryRankEntered) {
  void* page = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(page, MAP_FAILED);
  auto* entered = new (page) std::atomic<int>[64]();
  run_ranks(4, [entered](mics_comm_t comm, int rank) {
    for (int round = 0; round < 10; ++round) {
      usleep(static_cast<useconds_t>(((rank + round) % 4) * 20000));
      entered[round * 4 + rank].store(1);
      HASSERT_OK(mics_barrier(comm));
      for (int r = 0; r < 4; ++r) {
        HCHECK(entered[round * 4 + r].load() == 1)
            << "round " << round << ": barrier returned before rank " << r << " entered";
      }
    }
  });
  munmap(page, 4096);
}

// Integer AVG is defined as the wrapped (two's complement) sum divided by
// nranks, truncated toward zero -- not the mathematically exact mean. The
// matrix keeps AVG inputs small so it never wraps; this pins down the wrap.
TEST(IntegerAvg, IsWrappedSumDividedByNranks) {
  run_ranks(3, [](mics_comm_t comm, int rank) {
    // INT8: 3 x 100 = 300 wraps to 44; 44 / 3 = 14 (exact mean would be 100).
    // Also -7 on rank 0 and 0 elsewhere: -7 / 3 truncates to -2 (floor is -3).
    int8_t i8[2] = {100, static_cast<int8_t>(rank == 0 ? -7 : 0)};
    HCHECK_OK(mics_allreduce(i8, i8, 2, MICS_INT8, MICS_AVG, comm, nullptr));
    HCHECK_EQ(static_cast<int>(i8[0]), 14) << "INT8 AVG of 3 x 100 (wrapped sum 44)";
    HCHECK_EQ(static_cast<int>(i8[1]), -2) << "INT8 AVG of {-7, 0, 0} truncates toward zero";
    // UINT8: 3 x 200 = 600 wraps to 88; 88 / 3 = 29.
    uint8_t u8 = 200;
    HCHECK_OK(mics_allreduce(&u8, &u8, 1, MICS_UINT8, MICS_AVG, comm, nullptr));
    HCHECK_EQ(static_cast<int>(u8), 29) << "UINT8 AVG of 3 x 200 (wrapped sum 88)";
    // INT64 through reduce_scatter: 3 x INT64_MAX wraps to INT64_MAX - 2 ... / 3.
    int64_t send[3] = {INT64_MAX, INT64_MAX, INT64_MAX}, recv = 0;
    HCHECK_OK(mics_reduce_scatter(send, &recv, 1, MICS_INT64, MICS_AVG, comm, nullptr));
    const int64_t wrapped = static_cast<int64_t>(3 * static_cast<uint64_t>(INT64_MAX));
    HCHECK_EQ(recv, wrapped / 3) << "INT64 AVG of 3 x INT64_MAX";
  });
}

// The reference conversions must themselves be right, or every 16-bit float
// comparison is meaningless.
TEST(Reference, HalfConversionsRoundToNearestEven) {
  using mics_test::FloatToHalf;
  using mics_test::HalfToFloat;
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(-2.0f), 0xc000);
  EXPECT_EQ(FloatToHalf(65504.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(65519.0f), 0x7bff);
  EXPECT_EQ(FloatToHalf(65520.0f), 0x7c00);
  EXPECT_EQ(FloatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3c00);      // tie -> even
  EXPECT_EQ(FloatToHalf(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);  // tie -> even (up)
  EXPECT_EQ(FloatToHalf(1.0f / 3.0f), 0x3555);
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -14)), 0x0400);  // smallest normal
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -24)), 0x0001);  // smallest subnormal
  EXPECT_EQ(FloatToHalf(std::ldexp(1.0f, -25)), 0x0000);  // tie -> even (0)
  EXPECT_EQ(FloatToHalf(std::ldexp(3.0f, -26)), 0x0001);  // above the tie
  EXPECT_EQ(FloatToHalf(std::ldexp(3.0f, -25)), 0x0002);  // 1.5 units: tie -> even
  EXPECT_EQ(FloatToHalf(-0.0f), 0x8000);
  // Every finite half survives the round trip.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) == 0x7c00) continue;
    ASSERT_EQ(FloatToHalf(HalfToFloat(static_cast<uint16_t>(h))), h) << std::hex << h;
  }
  EXPECT_FLOAT_EQ(HalfToFloat(0x3555), 0.333251953125f);
}

TEST(Reference, Bfloat16ConversionsRoundToNearestEven) {
  using mics_test::Bf16ToFloat;
  using mics_test::FloatToBf16;
  EXPECT_EQ(FloatToBf16(1.0f), 0x3f80);
  EXPECT_EQ(FloatToBf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);      // tie -> even
  EXPECT_EQ(FloatToBf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);  // tie -> even (up)
  EXPECT_EQ(FloatToBf16(1.0f / 3.0f), 0x3eab);
  EXPECT_EQ(FloatToBf16(-3.0f), 0xc040);
  for (uint32_t b = 0; b < 0x10000; ++b) {
    if ((b & 0x7f80) == 0x7f80) continue;
    ASSERT_EQ(FloatToBf16(Bf16ToFloat(static_cast<uint16_t>(b))), b) << std::hex << b;
  }
}

}  // namespace
