// MiCS hierarchical allgather, composed from flat rings on two subgroups:
//   1. rail ring: the n ranks sharing our local rank (one per node) gather
//      their blocks — k such rings run in parallel, one per local rank;
//   2. node ring: the k ranks of our node gather what each got in step 1.
// Every block is written straight to its final rank-major offset (the node
// ring moves each member's n blocks as one strided block), so there is no
// scratch buffer and no reshuffle copy. Cross-node bytes per rank: (n-1)*B
// instead of the flat ring's (p-1)*B. Both rings run in one loop: the node
// ring sends each chunk of our rail's blocks as soon as the rail ring has
// delivered it, so the two stages overlap chunk by chunk.
#include <unistd.h>

#include <algorithm>
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
  const int my_node = layout.node_of[c->rank];
  const int nlocal = static_cast<int>(layout.node_ranks[0].size());
  mics_comm* rail_comm = c->rail_comm.get();
  mics_comm* node_comm = c->node_comm.get();
  // Rail ring: member j is the rank with our local rank on node j.
  Call rail_call(rail_comm, Kind::kHierAllgather, type, MICS_SUM, count, 0);
  std::vector<BlockView> rail(nnodes);
  for (int j = 0; j < nnodes; ++j) rail[j] = {bytes, {block_of(layout.node_ranks[j][local])}};
  // Node ring: member l brings the n blocks of rail l, listed in the order the
  // rail ring delivers them (our node, then node-1, node-2, ...), which is the
  // same for every rank of our node.
  Call node_call(node_comm, Kind::kHierAllgather, type, MICS_SUM, count, 0);
  std::vector<BlockView> node(nlocal);
  for (int l = 0; l < nlocal; ++l) {
    node[l].seg_bytes = bytes;
    for (int s = 0; s < nnodes; ++s)
      node[l].segs.push_back(block_of(layout.node_ranks[(my_node + nnodes - s) % nnodes][l]));
  }
  // Pipelining: our node block may go out chunk by chunk as the rail ring
  // brings its pieces in, so the node ring of chunk i overlaps the rail ring of
  // chunk i+1. arrived[s] = bytes of the s-th delivered rail block in place.
  std::vector<size_t> arrived(nnodes, 0);
  arrived[0] = bytes;  // our own block
  RingAllgather rail_ring(rail_call, rail), node_ring(node_call, node);
  rail_ring.on_received = [&](int j, size_t end) {
    arrived[(my_node + nnodes - j) % nnodes] = end;
  };
  node_ring.own_ready = [&](size_t end) {
    size_t s = (end - 1) / bytes;  // the last delivered block the range touches
    for (size_t i = 0; i < s; ++i)
      if (arrived[i] < bytes) return false;
    return arrived[s] >= end - s * bytes;
  };
  auto t0 = Clock::now();
  double rail_ms = 0;
  WaitState ws;
  Result r = MICS_SUCCESS;
  while (r == MICS_SUCCESS && (!rail_ring.done() || !node_ring.done())) {
    uint32_t seen_rail = rail_comm->wake_count(), seen_node = node_comm->wake_count();
    bool progressed = false;
    r = rail_ring.poll(&progressed);
    if (r == MICS_SUCCESS) r = node_ring.poll(&progressed);
    if (rail_ring.done() && rail_ms == 0) rail_ms = ms_since(t0);
    if (r != MICS_SUCCESS || progressed) {
      ws.nap_us = 20;
      continue;
    }
    r = wait_either(call, rail_comm, node_comm, seen_rail, seen_node, &ws);
  }
  if (r == MICS_SUCCESS) r = rail_ring.finish();
  if (r == MICS_SUCCESS) r = node_ring.finish();
  finish(rail_call, r);
  finish(node_call, r);
  MICS_TRACE("hier_allgather #%llu: %zu bytes per rank, rail ring done at %.3f ms, all at %.3f ms",
             static_cast<unsigned long long>(call.seq), bytes, rail_ms, ms_since(t0));
  return finish(call, r);
}

}  // namespace mics::coll
