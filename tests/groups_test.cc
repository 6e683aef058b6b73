// Sub-communicators (split, MiCS partition/replication groups), topology with
// emulated nodes (MICS_HOST_ID), and collectives inside groups and across
// emulated nodes.
#include <gtest/gtest.h>
#include <mics/mics.h>

#include <algorithm>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "harness.h"

namespace {

using mics_test::Case;
using mics_test::CheckCtx;
using mics_test::CheckedCollective;
using mics_test::Coll;
using mics_test::Options;
using mics_test::run_ranks;

// Checks rank/size of comm and that its members, in comm rank order, are
// exactly `members` (world ranks), via an allgather of world ranks.
void CheckMembers(mics_comm_t comm, int world_rank, const std::vector<int>& members,
                  const char* what) {
  const int want_rank =
      static_cast<int>(std::find(members.begin(), members.end(), world_rank) - members.begin());
  int rank = -1, size = -1;
  HCHECK_OK(mics_comm_rank(comm, &rank));
  HCHECK_OK(mics_comm_size(comm, &size));
  HCHECK_EQ(rank, want_rank) << "rank in " << what;
  HCHECK_EQ(size, static_cast<int>(members.size())) << "size of " << what;
  std::vector<int32_t> got(members.size(), -1);
  const int32_t me = world_rank;
  HASSERT_OK(mics_allgather(&me, got.data(), 1, MICS_INT32, comm, nullptr)) << " in " << what;
  for (size_t i = 0; i < members.size(); ++i) {
    HCHECK_EQ(got[i], members[i]) << "world rank of member " << i << " of " << what;
  }
}

// A mixed batch of checked collectives; every rank of ctx.comm must run it.
void RunBatch(CheckCtx& ctx, size_t big) {
  const Case cases[] = {
      {Coll::kAllgather, MICS_UINT8, MICS_SUM, 1001, false, 0},
      {Coll::kReduceScatter, MICS_BFLOAT16, MICS_SUM, 333, true, 0},
      {Coll::kAllreduce, MICS_INT64, MICS_PROD, 4097, false, 0},
      {Coll::kBroadcast, MICS_FLOAT64, MICS_SUM, 77, false, ctx.nranks - 1},
      {Coll::kHierAllgather, MICS_FLOAT16, MICS_SUM, 555, true, 0},
      {Coll::kAllreduce, MICS_FLOAT32, MICS_AVG, big, true, 0},
  };
  for (const Case& c : cases) CheckedCollective(ctx, c);
}

// ---- split ---------------------------------------------------------------------

TEST(Split, ColorsKeysAndNoColor) {
  run_ranks(8, [](mics_comm_t world, int rank) {
    // color rank % 3 (rank 7 opts out); keys collide so ties fall back to
    // parent rank order.
    auto color = [](int r) { return r == 7 ? MICS_SPLIT_NOCOLOR : r % 3; };
    auto key = [](int r) { return (r * 5) % 4; };
    mics_comm_t sub = reinterpret_cast<mics_comm_t>(0x1);  // must be overwritten
    HASSERT_OK(mics_comm_split(world, color(rank), key(rank), &sub));
    if (color(rank) == MICS_SPLIT_NOCOLOR) {
      HCHECK(sub == nullptr) << "MICS_SPLIT_NOCOLOR must give a NULL comm";
    } else {
      HASSERT(sub != nullptr);
      std::vector<std::pair<int, int>> order;
      for (int r = 0; r < 8; ++r) {
        if (color(r) == color(rank)) order.emplace_back(key(r), r);
      }
      std::sort(order.begin(), order.end());
      std::vector<int> members;
      for (const auto& kr : order) members.push_back(kr.second);
      CheckMembers(sub, rank, members, "split(color, key)");
      int sub_rank = 0, sub_size = 0;
      mics_comm_rank(sub, &sub_rank);
      mics_comm_size(sub, &sub_size);
      CheckCtx ctx{sub, sub_rank, sub_size, static_cast<uint64_t>(color(rank)) + 1};
      RunBatch(ctx, 20001);

      // Split of a split: halves by sub rank parity, reversed by key.
      mics_comm_t subsub = nullptr;
      HASSERT_OK(mics_comm_split(sub, sub_rank % 2, -sub_rank, &subsub));
      HASSERT(subsub != nullptr);
      std::vector<int> nested;
      for (int i = static_cast<int>(members.size()) - 1; i >= 0; --i) {
        if (i % 2 == sub_rank % 2) nested.push_back(members[i]);
      }
      CheckMembers(subsub, rank, nested, "split of a split");
      HCHECK_OK(mics_comm_destroy(subsub));
      HCHECK_OK(mics_comm_destroy(sub));
    }
    // The parent still works after its children are gone.
    CheckCtx wctx{world, rank, 8, 99};
    RunBatch(wctx, 1001);
  });
}

TEST(Split, EveryoneNoColorAndSingleColorReversed) {
  run_ranks(4, [](mics_comm_t world, int rank) {
    mics_comm_t sub = reinterpret_cast<mics_comm_t>(0x1);
    HASSERT_OK(mics_comm_split(world, MICS_SPLIT_NOCOLOR, rank, &sub));
    HCHECK(sub == nullptr) << "NOCOLOR must give NULL";
    HASSERT_OK(mics_comm_split(world, 5, -rank, &sub));
    HASSERT(sub != nullptr);
    CheckMembers(sub, rank, {3, 2, 1, 0}, "split(color 5, key -rank)");
    HCHECK_OK(mics_comm_destroy(sub));
  });
}

// ---- MiCS partition / replication groups ------------------------------------------

class Partition : public ::testing::TestWithParam<std::tuple<int, int>> {};

TEST_P(Partition, MembershipAndCollectives) {
  const auto [n, p] = GetParam();
  run_ranks(n, [n = n, p = p](mics_comm_t world, int rank) {
    mics_comm_t part = nullptr, repl = nullptr;
    HASSERT_OK(mics_create_partition_groups(world, p, &part, &repl)) << " p=" << p;
    HASSERT(part != nullptr && repl != nullptr);
    const int g = rank / p, i = rank % p;
    std::vector<int> part_members, repl_members;
    for (int r = g * p; r < (g + 1) * p; ++r) part_members.push_back(r);
    for (int r = i; r < n; r += p) repl_members.push_back(r);
    CheckMembers(part, rank, part_members, "partition group");
    CheckMembers(repl, rank, repl_members, "replication group");

    // The partition groups run at the same time, each on its own ranks (then
    // the replication groups); salts differ so data leaking between groups
    // shows up as a mismatch.
    CheckCtx pctx{part, i, p, 100u + static_cast<uint64_t>(g)};
    CheckCtx rctx{repl, g, n / p, 200u + static_cast<uint64_t>(i)};
    RunBatch(pctx, 100003);
    RunBatch(rctx, 100003);
    // One process alternating between its groups (and the world) with no
    // synchronisation in between.
    CheckCtx wctx{world, rank, n, 300};
    for (int it = 0; it < 4; ++it) {
      const auto type = static_cast<mics_datatype_t>((it * 3) % MICS_NUM_TYPES);
      CheckedCollective(pctx, {Coll::kAllreduce, type, MICS_SUM, 30001, it % 2 == 0, 0});
      CheckedCollective(rctx, {Coll::kAllgather, type, MICS_SUM, 20011, it % 2 == 1, 0});
      CheckedCollective(pctx, {Coll::kReduceScatter, type, MICS_MAX, 5003, false, 0});
      CheckedCollective(wctx, {Coll::kAllreduce, type, MICS_MIN, 777, true, 0});
      CheckedCollective(rctx, {Coll::kBroadcast, type, MICS_SUM, 999, false, it % (n / p)});
    }
    HCHECK_OK(mics_comm_destroy(part));
    HCHECK_OK(mics_comm_destroy(repl));
  });
}

INSTANTIATE_TEST_SUITE_P(Groups, Partition,
                         ::testing::Values(std::make_tuple(4, 1), std::make_tuple(4, 2),
                                           std::make_tuple(4, 4), std::make_tuple(8, 1),
                                           std::make_tuple(8, 2), std::make_tuple(8, 4),
                                           std::make_tuple(8, 8), std::make_tuple(6, 3)),
                         [](const ::testing::TestParamInfo<std::tuple<int, int>>& p) {
                           return "n" + std::to_string(std::get<0>(p.param)) + "_p" +
                                  std::to_string(std::get<1>(p.param));
                         });

// ---- topology with emulated nodes -----------------------------------------------

struct Topo {
  int node, nnodes, local_rank, local_size;
};

// The header's rule: nodes numbered in the order of their lowest rank, local
// ranks in rank order. `ids[k]` is the host id of comm rank k.
Topo ExpectedTopo(const std::vector<std::string>& ids, int me) {
  std::vector<std::string> nodes;  // in order of first appearance = lowest rank
  for (const auto& id : ids) {
    if (std::find(nodes.begin(), nodes.end(), id) == nodes.end()) nodes.push_back(id);
  }
  Topo t{static_cast<int>(std::find(nodes.begin(), nodes.end(), ids[me]) - nodes.begin()),
         static_cast<int>(nodes.size()), 0, 0};
  for (int r = 0; r < static_cast<int>(ids.size()); ++r) {
    if (ids[r] != ids[me]) continue;
    if (r < me) ++t.local_rank;
    ++t.local_size;
  }
  return t;
}

void CheckTopology(mics_comm_t comm, const std::vector<std::string>& ids, int me,
                   const std::string& what) {
  const Topo want = ExpectedTopo(ids, me);
  Topo got{-1, -1, -1, -1};
  HCHECK_OK(mics_comm_topology(comm, &got.node, &got.nnodes, &got.local_rank, &got.local_size));
  HCHECK_EQ(got.node, want.node) << "node of " << what;
  HCHECK_EQ(got.nnodes, want.nnodes) << "nnodes of " << what;
  HCHECK_EQ(got.local_rank, want.local_rank) << "local_rank of " << what;
  HCHECK_EQ(got.local_size, want.local_size) << "local_size of " << what;
  // Every out pointer may be NULL.
  int node = -1;
  HCHECK_OK(mics_comm_topology(comm, &node, nullptr, nullptr, nullptr));
  HCHECK_EQ(node, want.node) << "node of " << what << " (other pointers NULL)";
  HCHECK_OK(mics_comm_topology(comm, nullptr, nullptr, nullptr, nullptr));
}

// Host id layouts: name -> ids per rank. Names sort differently from their
// rank order on purpose, so numbering by name instead of lowest rank fails.
const std::vector<std::pair<std::string, std::vector<std::string>>>& Layouts() {
  static const std::vector<std::pair<std::string, std::vector<std::string>>> kLayouts = {
      {"two_by_four", {"zz", "zz", "zz", "zz", "aa", "aa", "aa", "aa"}},
      {"two_by_two", {"q", "q", "p", "p"}},
      {"uneven_3_2", {"node-9", "node-9", "node-9", "node-1", "node-1"}},
      {"interleaved", {"zeta", "alpha", "zeta", "alpha", "mid", "zeta"}},
      {"alternating_8", {"b", "a", "b", "a", "b", "a", "b", "a"}},
      {"three_uneven_8", {"c", "c", "c", "b", "b", "b", "a", "a"}},
      {"one_rank_per_node", {"n3", "n2", "n1", "n0"}},
      {"single_node", {"same", "same", "same", "same"}},
  };
  return kLayouts;
}

class Nodes : public ::testing::TestWithParam<size_t> {};

TEST_P(Nodes, TopologyAndCollectives) {
  const auto& ids = Layouts()[GetParam()].second;
  const int n = static_cast<int>(ids.size());
  Options opts;
  opts.host_ids = ids;
  run_ranks(
      n,
      [&ids, n](mics_comm_t world, int rank) {
        CheckTopology(world, ids, rank, "the world comm");
        // Sub-communicators see the nodes of their own members.
        mics_comm_t sub = nullptr;
        HASSERT_OK(mics_comm_split(world, rank % 2, n - rank, &sub));
        std::vector<std::string> sub_ids;  // key n - rank: descending world rank
        for (int r = n - 1; r >= 0; --r) {
          if (r % 2 == rank % 2) sub_ids.push_back(ids[r]);
        }
        int sub_rank = 0;
        HCHECK_OK(mics_comm_rank(sub, &sub_rank));
        CheckTopology(sub, sub_ids, sub_rank, "split(rank % 2, key n - rank)");
        HCHECK_OK(mics_comm_destroy(sub));

        // Collectives over the emulated nodes; the op and the mode rotate.
        CheckCtx ctx{world, rank, n, 7};
        const mics_datatype_t types[] = {MICS_INT8, MICS_FLOAT16, MICS_FLOAT32, MICS_UINT64,
                                         MICS_BFLOAT16};
        const Coll colls[] = {Coll::kAllgather, Coll::kHierAllgather, Coll::kReduceScatter,
                              Coll::kAllreduce};
        int k = 0;
        for (Coll coll : colls) {
          for (mics_datatype_t type : types) {
            for (size_t count : {size_t{0}, size_t{1}, size_t{7}, size_t{1000}, size_t{65537}}) {
              ++k;
              const auto op = static_cast<mics_redop_t>(k % MICS_NUM_OPS);
              CheckedCollective(ctx, {coll, type, op, count, k % 2 == 0, 0});
            }
          }
          // One large odd count per collective.
          CheckedCollective(ctx, {coll, MICS_FLOAT32, MICS_SUM, (size_t{1} << 20) + 3, false, 0});
        }
      },
      opts);
}

INSTANTIATE_TEST_SUITE_P(Emulated, Nodes, ::testing::Range<size_t>(0, Layouts().size()),
                         [](const ::testing::TestParamInfo<size_t>& p) {
                           return Layouts()[p.param].first;
                         });

TEST(Topology, WithoutHostIdOneNode) {
  // All children run on this machine, so without MICS_HOST_ID they share a node.
  run_ranks(3, [](mics_comm_t world, int rank) {
    CheckTopology(world, {"h", "h", "h"}, rank, "the world comm without MICS_HOST_ID");
  });
}

// Partition groups over 2 nodes x 4: a partition of 4 is one node; its
// replication group spans both nodes with one rank on each.
TEST(Topology, PartitionGroupsOverTwoNodes) {
  Options opts;
  opts.host_ids = {"n0", "n0", "n0", "n0", "n1", "n1", "n1", "n1"};
  run_ranks(
      8,
      [](mics_comm_t world, int rank) {
        for (int p : {2, 4}) {
          mics_comm_t part = nullptr, repl = nullptr;
          HASSERT_OK(mics_create_partition_groups(world, p, &part, &repl));
          std::vector<std::string> part_ids, repl_ids;
          for (int r = (rank / p) * p; r < (rank / p + 1) * p; ++r) {
            part_ids.push_back(r < 4 ? "n0" : "n1");
          }
          for (int r = rank % p; r < 8; r += p) repl_ids.push_back(r < 4 ? "n0" : "n1");
          CheckTopology(part, part_ids, rank % p, "partition group p=" + std::to_string(p));
          CheckTopology(repl, repl_ids, rank / p, "replication group p=" + std::to_string(p));
          HCHECK_OK(mics_comm_destroy(part));
          HCHECK_OK(mics_comm_destroy(repl));
        }
      },
      opts);
}

}  // namespace
