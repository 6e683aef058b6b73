// MiCS hierarchical reductions, composed from the flat rings on subgroups.
//
// reduce-scatter (n nodes x k ranks, block B per rank):
//   1. node ring reduce-scatter: local rank l collects the node's partial sums
//      of the n blocks destined to the ranks with local rank l (a strided block);
//   2. rail ring reduce-scatter of those n partials: each rank finishes its own.
//   Cross-node bytes per rank: (n-1)*B, against (nk-1)*B for the flat ring.
// allreduce: node reduce-scatter -> rail allreduce -> node allgather.
// Partials stay in the wire type (float32 for 16-bit floats) between stages,
// so a result is still rounded once; AVG divides once, by n*k.
#include <cstring>

#include "src/coll/collectives.h"
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
  const int nnodes = layout.nnodes(), nlocal = static_cast<int>(layout.node_ranks[0].size());
  const size_t wsize = wire_type_size(type);
  char* partial = scratch(c, static_cast<size_t>(nnodes) * count * wsize);

  // Stage 1: node ring; member l's block is the n blocks of the ranks with local rank l.
  Call node_call(c->node_comm.get(), Kind::kReduceScatter, type, op, count, 0);
  std::vector<Span> node_blocks(nlocal);
  for (int l = 0; l < nlocal; ++l) {
    node_blocks[l].seg_count = count;
    for (int j = 0; j < nnodes; ++j)
      node_blocks[l].segs.push_back(static_cast<size_t>(layout.node_ranks[j][l]) * count);
  }
  Result r = finish(node_call, ring_reduce_scatter(node_call, send, partial, node_blocks,
                                                   ReduceMode{type, op, false, true, 1}));
  // Stage 2: rail ring over the n node partials; rail member j finishes block j.
  if (r == MICS_SUCCESS) {
    Call rail_call(c->rail_comm.get(), Kind::kReduceScatter, type, op, count, 0);
    std::vector<Span> rail_blocks(nnodes);
    for (int j = 0; j < nnodes; ++j) rail_blocks[j] = {count, {static_cast<size_t>(j) * count}};
    r = finish(rail_call, ring_reduce_scatter(rail_call, partial, recv, rail_blocks,
                                              ReduceMode{type, op, true, false, c->size}));
  }
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
    spans[l] = {len, {offset}};
    views[l] = {len * esize, {static_cast<char*>(recv) + offset * esize}};
    offset += len;
  }
  const Span& mine = spans[node->rank];
  char* partial = scratch(c, mine.count() * wsize);

  // Stage 1: node reduce-scatter into our span's partial (wire type).
  Call node_call(node, Kind::kAllreduce, type, op, count, 0);
  Result r = ring_reduce_scatter(node_call, send, partial, spans, ReduceMode{type, op, false, true, 1});
  // Stage 2: rail allreduce of the partial, still in the wire type.
  if (r == MICS_SUCCESS && mine.count() > 0) {
    Call rail_call(rail, Kind::kAllreduce, type, op, mine.count(), 0);
    std::vector<Span> rail_spans(nnodes);
    std::vector<BlockView> rail_views(nnodes);
    size_t off = 0;
    for (int j = 0; j < nnodes; ++j) {
      size_t len = mine.count() / nnodes + (static_cast<size_t>(j) < mine.count() % nnodes ? 1 : 0);
      rail_spans[j] = {len, {off}};
      rail_views[j] = {len * wsize, {partial + off * wsize}};
      off += len;
    }
    char* my_part = partial + rail_spans[rail->rank].segs[0] * wsize;
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
