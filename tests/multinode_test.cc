// Multi-node matrix over the real inter-node transport: n emulated nodes
// (MICS_HOST_ID) of k ranks, so ranks of different nodes talk through
// libfabric (tcp;ofi_rxm on loopback) and ranks of one node through shared
// memory. Every collective, type and op, in and out of place, odd counts,
// with the flat ring and the hierarchical algorithms forced in turn
// (MICS_ALGO), checked bit-exactly by the harness's reference.
#include <gtest/gtest.h>
#include <mics/mics.h>

#include <string>
#include <tuple>
#include <vector>

#include "harness.h"

namespace {

using mics_test::CheckCtx;
using mics_test::CheckedCollective;
using mics_test::Coll;
using mics_test::IsReduction;

std::vector<std::string> NodeIds(int nnodes, int k) {
  std::vector<std::string> ids;
  for (int r = 0; r < nnodes * k; ++r) ids.push_back("mn-node" + std::to_string(r / k));
  return ids;
}

mics_test::Options NodeOptions(int nnodes, int k, const char* algo) {
  mics_test::Options opts;
  opts.timeout_s = 590;
  opts.host_ids = NodeIds(nnodes, k);
  opts.env = {{"MICS_ALGO", algo}, {"MICS_FI_PROVIDER", "tcp;ofi_rxm"}, {"MICS_NET_IFACE", "lo"}};
  return opts;
}

// Odd counts; the large one exceeds a network chunk so that pipelining and
// credits are exercised. Reductions run every type x op at the small counts
// and rotate over the pairs at the large one (two ranks per core here).
const size_t kCounts[] = {0, 1, 7, 1000, 70001};

void RunAll(mics_comm_t comm, int rank, int n) {
  CheckCtx ctx{comm, rank, n};
  const Coll colls[] = {Coll::kAllgather, Coll::kHierAllgather, Coll::kReduceScatter,
                        Coll::kAllreduce, Coll::kBroadcast};
  int pair = 0;
  for (Coll coll : colls) {
    const int nops = IsReduction(coll) ? MICS_NUM_OPS : 1;
    for (int t = 0; t < MICS_NUM_TYPES; ++t) {
      for (int op = 0; op < nops; ++op, ++pair) {
        for (size_t count : kCounts) {
          if (count == 70001 && IsReduction(coll) && pair % 4 != 0) continue;
          for (bool in_place : {false, true}) {
            int root = coll == Coll::kBroadcast ? (t % n) : 0;
            mics_test::Case c{coll,
                              static_cast<mics_datatype_t>(t),
                              static_cast<mics_redop_t>(op),
                              count,
                              in_place,
                              root};
            CheckedCollective(ctx, c);
          }
        }
      }
    }
  }
}

class MultiNode : public ::testing::TestWithParam<std::tuple<int, int, const char*>> {};

TEST_P(MultiNode, EveryCollectiveTypeOp) {
  const auto [nnodes, k, algo] = GetParam();
  const int n = nnodes * k;
  mics_test::run_ranks(
      n,
      [n = n, nnodes = nnodes](mics_comm_t comm, int rank) {
        int node = -1, count = -1;
        HCHECK_OK(mics_comm_topology(comm, &node, &count, nullptr, nullptr));
        HCHECK_EQ(count, nnodes);
        RunAll(comm, rank, n);
      },
      NodeOptions(nnodes, k, algo));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, MultiNode,
    ::testing::Values(std::make_tuple(2, 1, "ring"), std::make_tuple(2, 2, "ring"),
                      std::make_tuple(2, 2, "hier"), std::make_tuple(2, 3, "hier"),
                      std::make_tuple(3, 1, "ring"), std::make_tuple(3, 2, "ring"),
                      std::make_tuple(3, 2, "hier"), std::make_tuple(3, 3, "hier"),
                      std::make_tuple(4, 2, "hier"), std::make_tuple(4, 3, "ring")),
    [](const ::testing::TestParamInfo<std::tuple<int, int, const char*>>& p) {
      return std::to_string(std::get<0>(p.param)) + "nodes_x" +
             std::to_string(std::get<1>(p.param)) + "_" + std::get<2>(p.param);
    });

// Partition groups that live inside one node and that span two, with their
// replication groups crossing nodes: collectives inside both, both algorithms.
TEST(MultiNodeGroups, PartitionsWithinAndAcrossNodes) {
  for (const char* algo : {"ring", "hier"}) {
    mics_test::run_ranks(
        8,
        [](mics_comm_t comm, int) {
          for (int p : {2, 4}) {
            mics_comm_t part = nullptr, repl = nullptr;
            HASSERT_OK(mics_create_partition_groups(comm, p, &part, &repl));
            int pr = -1, rr = -1, nnodes = -1;
            mics_comm_rank(part, &pr);
            mics_comm_rank(repl, &rr);
            HCHECK_OK(mics_comm_topology(part, nullptr, &nnodes, nullptr, nullptr));
            HCHECK_EQ(nnodes, p / 2);  // 4 nodes x 2 ranks: p=2 stays in a node, p=4 spans 2
            CheckCtx pctx{part, pr, p, 100u + p};
            CheckCtx rctx{repl, rr, 8 / p, 200u + p};
            for (int t : {MICS_FLOAT32, MICS_BFLOAT16, MICS_INT64}) {
              for (size_t count : {size_t{1}, size_t{4097}}) {
                auto type = static_cast<mics_datatype_t>(t);
                CheckedCollective(pctx, {Coll::kHierAllgather, type, MICS_SUM, count, false, 0});
                CheckedCollective(pctx, {Coll::kReduceScatter, type, MICS_AVG, count, true, 0});
                CheckedCollective(rctx, {Coll::kAllreduce, type, MICS_SUM, count, false, 0});
              }
            }
            mics_comm_destroy(part);
            mics_comm_destroy(repl);
          }
        },
        NodeOptions(4, 2, algo));
  }
}

}  // namespace
