// The node layout of one communicator: which ranks share a node. Nodes are
// numbered in the order of their lowest rank; local ranks in rank order.
// Pure data, computed identically on every rank from the exchanged hashes.
#pragma once

#include <cstdint>
#include <vector>

namespace mics::topo {

struct NodeLayout {
  std::vector<int> node_of;                  // per rank
  std::vector<int> local_rank_of;            // per rank
  std::vector<std::vector<int>> node_ranks;  // per node: its ranks, ascending

  int nnodes() const { return static_cast<int>(node_ranks.size()); }
  // True when every node has the same number of ranks (the hierarchical algorithms need it).
  bool uniform() const;
};

NodeLayout make_layout(const std::vector<uint64_t>& node_hash_of_rank);

}  // namespace mics::topo
