// MiCS hierarchical allgather, composed from flat rings on two subgroups:
//   1. rail ring: the n ranks sharing our local rank (one per node) gather
//      their blocks — k such rings run in parallel, one per local rank;
//   2. node ring: the k ranks of our node gather what each got in step 1.
// Every block is written straight to its final rank-major offset (the node
// ring moves each member's n blocks as one strided block), so there is no
// scratch buffer and no reshuffle copy. Cross-node bytes per rank: (n-1)*B
// instead of the flat ring's (p-1)*B.
#include <cstring>

#include "src/base/log.h"
#include "src/coll/collectives.h"

namespace mics::coll {

Result hier_allgather(mics_comm* c, const void* send, void* recv, size_t count,
                      mics_datatype_t type) {
  const auto& layout = c->layout;
  if (layout.nnodes() == 1 || !layout.uniform()) {
    if (layout.nnodes() > 1 && !c->hier_fallback_logged) {
      MICS_LOG_INFO("hier_allgather: nodes have unequal rank counts; using the flat ring");
      c->hier_fallback_logged = true;
    }
    return allgather(c, send, recv, count, type, Kind::kHierAllgather);
  }
  Call call(c, Kind::kHierAllgather, type, MICS_SUM, count, 0);
  const size_t bytes = count * mics_type_size(type);
  if (bytes == 0) return MICS_SUCCESS;
  MICS_CHECK(finish(call, ensure_subgroups(c)));
  auto* out = static_cast<char*>(recv);
  auto block_of = [&](int rank) { return out + static_cast<size_t>(rank) * bytes; };
  if (send != block_of(c->rank)) memcpy(block_of(c->rank), send, bytes);

  const int nnodes = layout.nnodes(), local = layout.local_rank_of[c->rank];
  const int nlocal = static_cast<int>(layout.node_ranks[0].size());
  // Stage 1: rail ring. Member j of our rail is the rank with our local rank on node j.
  Call rail_call(c->rail_comm.get(), Kind::kHierAllgather, type, MICS_SUM, count, 0);
  std::vector<BlockView> rail(nnodes);
  for (int j = 0; j < nnodes; ++j) rail[j] = {bytes, {block_of(layout.node_ranks[j][local])}};
  auto t0 = Clock::now();
  Result r = finish(rail_call, ring_allgather(rail_call, rail));
  double rail_ms = ms_since(t0);
  // Stage 2: node ring. Member l brings the n blocks of rail l, one per node.
  if (r == MICS_SUCCESS) {
    Call node_call(c->node_comm.get(), Kind::kHierAllgather, type, MICS_SUM, count, 0);
    std::vector<BlockView> node(nlocal);
    for (int l = 0; l < nlocal; ++l) {
      node[l].seg_bytes = bytes;
      for (int j = 0; j < nnodes; ++j) node[l].segs.push_back(block_of(layout.node_ranks[j][l]));
    }
    r = finish(node_call, ring_allgather(node_call, node));
  }
  MICS_TRACE("hier_allgather #%llu: %zu bytes per rank, rail ring %.3f ms, node ring %.3f ms",
             static_cast<unsigned long long>(call.seq), bytes, rail_ms, ms_since(t0) - rail_ms);
  return finish(call, r);
}

}  // namespace mics::coll
