// Subgroups for the hierarchical algorithms (UCC cl/hier style): the layout
// of nodes and rails is data from topo/, the transports serving each subgroup
// are whatever build_comm picks for its members (shared memory inside a node,
// the network along a rail).
#include "src/coll/collectives.h"

namespace mics::coll {

bool hierarchical_shape(const mics_comm* c) {
  const auto& layout = c->layout;
  return layout.nnodes() > 1 && layout.uniform() && layout.node_ranks[0].size() > 1;
}

Result ensure_subgroups(mics_comm* c) {
  if (c->rail_comm && c->node_comm) return MICS_SUCCESS;
  int node = c->layout.node_of[c->rank], local = c->layout.local_rank_of[c->rank];
  mics_comm* rail = nullptr;
  mics_comm* node_comm = nullptr;
  MICS_CHECK(split_comm(c, local, node, &rail));
  c->rail_comm.reset(rail);
  MICS_CHECK(split_comm(c, node, local, &node_comm));
  c->node_comm.reset(node_comm);
  return MICS_SUCCESS;
}

}  // namespace mics::coll
