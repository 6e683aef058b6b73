// MiCS hierarchical reductions, composed from the flat rings on subgroups.
//
// reduce-scatter (n nodes x k ranks, block B per rank):
//   1. node ring reduce-scatter: local rank l collects the node's partial sums
//      of the n blocks destined to the ranks with local rank l (a strided block);
//   2. rail ring reduce-scatter of those n partials: each rank finishes its own.
//   Both rings run in one loop, the rail ring starting on a chunk as soon as
//   the node ring has finished it (chunk-major partial layout).
//   Cross-node bytes per rank: (n-1)*B, against (nk-1)*B for the flat ring.
// allreduce: node reduce-scatter -> rail allreduce -> node allgather.
// Partials stay in the wire type (float32 for 16-bit floats) between stages,
// so a result is still rounded once; AVG divides once, by n*k.
#include <cstring>

#include "src/coll/collectives.h"
#include "src/coll/ring.h"
#include "src/reduce/reduce.h"

namespace mics::coll {
namespace {

char* scratch(mics_comm* c, size_t bytes) {
  if (c->scratch.size() < bytes) c->scratch.resize(bytes);
  return c->scratch.data();
}

}  // namespace

Result hier_reduce_scatter(mics_comm* c, const void* send, void* recv, size_t count,
                           mics_datatype_t type, mics_redop_t op) {
  if (!hierarchical_shape(c)) return reduce_scatter(c, send, recv, count, type, op);
  Call call(c, Kind::kReduceScatter, type, op, count, 0);
  if (count == 0) return MICS_SUCCESS;
  MICS_CHECK(finish(call, ensure_subgroups(c)));
  const auto& layout = c->layout;
  mics_comm* node_comm = c->node_comm.get();
  mics_comm* rail_comm = c->rail_comm.get();
  const int nnodes = layout.nnodes(), nlocal = node_comm->size;
  const size_t wsize = wire_type_size(type);
  // The node partials are laid out chunk-major: chunk c of all n blocks, then
  // chunk c+1, ... (E = the rail ring's chunk). The node ring finishes them in
  // that order, and the rail ring consumes them in that order, so the rail
  // ring can start on chunk c while the node ring still works on chunk c+1.
  const size_t per_chunk = rail_comm->ring_chunk / wsize;
  const size_t nchunks = div_up(count, per_chunk);
  auto chunk_len = [&](size_t ch) { return std::min(per_chunk, count - ch * per_chunk); };
  auto partial_at = [&](size_t ch, int j) { return ch * nnodes * per_chunk + j * chunk_len(ch); };
  char* partial = scratch(c, static_cast<size_t>(nnodes) * count * wsize);

  // Stage 1, node ring: member l reduces the n blocks of the ranks with local rank l.
  Call node_call(node_comm, Kind::kReduceScatter, type, op, count, 0);
  std::vector<Span> node_blocks(nlocal);
  for (int l = 0; l < nlocal; ++l)
    for (size_t ch = 0; ch < nchunks; ++ch)
      for (int j = 0; j < nnodes; ++j)
        node_blocks[l].add(static_cast<size_t>(layout.node_ranks[j][l]) * count + ch * per_chunk,
                           chunk_len(ch));
  // Stage 2, rail ring over the n node partials: member j finishes block j.
  Call rail_call(rail_comm, Kind::kReduceScatter, type, op, count, 0);
  std::vector<Span> rail_blocks(nnodes);
  for (int j = 0; j < nnodes; ++j)
    for (size_t ch = 0; ch < nchunks; ++ch) rail_blocks[j].add(partial_at(ch, j), chunk_len(ch));

  RingReduceScatter node_ring(node_call, send, partial, node_blocks,
                              ReduceMode{type, op, false, true, 1});
  RingReduceScatter rail_ring(rail_call, partial, recv, rail_blocks,
                              ReduceMode{type, op, true, false, c->size});
  size_t final_end = 0;  // node partials [0, final_end) are complete
  node_ring.on_final = [&](size_t end) { final_end = end; };
  rail_ring.src_ready = [&](int j, size_t end) {
    size_t ch = (end - 1) / per_chunk;
    return final_end >= partial_at(ch, j) + (end - ch * per_chunk);
  };
  WaitState ws;
  Result r = MICS_SUCCESS;
  while (r == MICS_SUCCESS && (!node_ring.done() || !rail_ring.done())) {
    uint32_t seen_rail = rail_comm->wake_count(), seen_node = node_comm->wake_count();
    bool progressed = false;
    r = node_ring.poll(&progressed);
    if (r == MICS_SUCCESS) r = rail_ring.poll(&progressed);
    if (r != MICS_SUCCESS || progressed) {
      ws.nap_us = 20;
      continue;
    }
    r = wait_either(call, rail_comm, node_comm, seen_rail, seen_node, &ws);
  }
  if (r == MICS_SUCCESS) r = node_ring.finish();
  if (r == MICS_SUCCESS) r = rail_ring.finish();
  finish(node_call, r);
  finish(rail_call, r);
  return finish(call, r);
}

Result hier_allreduce(mics_comm* c, const void* send, void* recv, size_t count,
                      mics_datatype_t type, mics_redop_t op) {
  if (!hierarchical_shape(c)) return allreduce(c, send, recv, count, type, op);
  Call call(c, Kind::kAllreduce, type, op, count, 0);
  if (count == 0) return MICS_SUCCESS;
  MICS_CHECK(finish(call, ensure_subgroups(c)));
  mics_comm* node = c->node_comm.get();
  mics_comm* rail = c->rail_comm.get();
  const int nlocal = node->size, nnodes = rail->size;
  const size_t esize = mics_type_size(type), wsize = wire_type_size(type);
  // Local rank l owns span l of the vector (spans differ by at most one element).
  std::vector<Span> spans(nlocal);
  std::vector<BlockView> views(nlocal);
  size_t offset = 0;
  for (int l = 0; l < nlocal; ++l) {
    size_t len = count / nlocal + (static_cast<size_t>(l) < count % nlocal ? 1 : 0);
    spans[l] = Span(offset, len);
    views[l] = {len * esize, {static_cast<char*>(recv) + offset * esize}};
    offset += len;
  }
  const Span& mine = spans[node->rank];
  char* partial = scratch(c, mine.count() * wsize);

  // Stage 1: node reduce-scatter into our span's partial (wire type).
  Call node_call(node, Kind::kAllreduce, type, op, count, 0);
  Result r =
      ring_reduce_scatter(node_call, send, partial, spans, ReduceMode{type, op, false, true, 1});
  // Stage 2: rail allreduce of the partial, still in the wire type.
  if (r == MICS_SUCCESS && mine.count() > 0) {
    Call rail_call(rail, Kind::kAllreduce, type, op, mine.count(), 0);
    std::vector<Span> rail_spans(nnodes);
    size_t my_off = 0;
    std::vector<BlockView> rail_views(nnodes);
    size_t off = 0;
    for (int j = 0; j < nnodes; ++j) {
      size_t len = mine.count() / nnodes + (static_cast<size_t>(j) < mine.count() % nnodes ? 1 : 0);
      rail_spans[j] = Span(off, len);
      rail_views[j] = {len * wsize, {partial + off * wsize}};
      if (j == rail->rank) my_off = off;
      off += len;
    }
    char* my_part = partial + my_off * wsize;
    r = ring_reduce_scatter(rail_call, partial, my_part, rail_spans,
                            ReduceMode{type, op, true, true, 1});
    if (r == MICS_SUCCESS) r = ring_allgather(rail_call, rail_views);
    r = finish(rail_call, r);
  }
  // Finish our span once (AVG divides by every rank), then the node allgather.
  if (r == MICS_SUCCESS) {
    wire_to_final(type, op, views[node->rank].segs[0], partial, mine.count(), c->size);
    r = ring_allgather(node_call, views);
  }
  finish(node_call, r);
  return finish(call, r);
}

}  // namespace mics::coll
