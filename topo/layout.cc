#include "topo/layout.h"

#include <unordered_map>

namespace mics::topo {

bool NodeLayout::uniform() const {
  for (const auto& ranks : node_ranks)
    if (ranks.size() != node_ranks.front().size()) return false;
  return true;
}

NodeLayout make_layout(const std::vector<uint64_t>& node_hash_of_rank) {
  NodeLayout layout;
  std::unordered_map<uint64_t, int> node_index;
  const int n = static_cast<int>(node_hash_of_rank.size());
  layout.node_of.resize(n);
  layout.local_rank_of.resize(n);
  for (int r = 0; r < n; ++r) {
    // Ranks are visited in order, so a node's index is fixed by its lowest rank.
    auto [it, inserted] = node_index.emplace(node_hash_of_rank[r], layout.nnodes());
    if (inserted) layout.node_ranks.emplace_back();
    auto& ranks = layout.node_ranks[it->second];
    layout.node_of[r] = it->second;
    layout.local_rank_of[r] = static_cast<int>(ranks.size());
    ranks.push_back(r);
  }
  return layout;
}

}  // namespace mics::topo
