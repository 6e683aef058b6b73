// Allreduce = ring reduce-scatter into our block of the output, then ring
// allgather of the blocks in place. Blocks differ by at most one element so
// that any count works (count < size leaves some blocks empty). On one host
// with large blocks the allgather half reads the peers' blocks directly
// (direct.h): one copy per byte instead of two.
#include "src/coll/collectives.h"
#include "src/coll/direct.h"

namespace mics::coll {
namespace {
std::vector<DirectBlock> direct_blocks(const std::vector<BlockView>& views) {
  std::vector<DirectBlock> blocks(views.size());
  for (size_t b = 0; b < views.size(); ++b) blocks[b] = {views[b].segs[0], views[b].bytes()};
  return blocks;
}
}  // namespace

Result allreduce(mics_comm* c, const void* send, void* recv, size_t count, mics_datatype_t type,
                 mics_redop_t op) {
  Call call(c, Kind::kAllreduce, type, op, count, 0);
  if (count == 0) return MICS_SUCCESS;
  const int n = c->size;
  const size_t esize = mics_type_size(type);
  std::vector<Span> spans(n);
  size_t mine_offset = 0;
  std::vector<BlockView> views(n);
  size_t offset = 0;
  for (int r = 0; r < n; ++r) {
    size_t len = count / n + (static_cast<size_t>(r) < count % n ? 1 : 0);
    spans[r] = Span(offset, len);
    if (r == c->rank) mine_offset = offset;
    views[r] = {len * esize, {static_cast<char*>(recv) + offset * esize}};
    offset += len;
  }
  char* mine = static_cast<char*>(recv) + mine_offset * esize;
  if (use_direct_reduce(c, count / n * esize)) {
    // Both halves expose a buffer: the allgather is a call of its own (its
    // own sequence number), so that no reader mistakes one for the other.
    std::vector<size_t> counts(n);
    for (int b = 0; b < n; ++b) counts[b] = views[b].bytes() / esize;
    Result r = finish(call, direct_reduce_scatter(call, send, mine, counts, type, op));
    if (r != MICS_SUCCESS) return r;
    Call gather(c, Kind::kAllreduce, type, op, count, 0);
    return finish(gather, direct_allgather_blocks(gather, mine, direct_blocks(views), false));
  }
  Result r = ring_reduce_scatter(call, send, mine, spans, ReduceMode{type, op, false, false, n});
  if (r == MICS_SUCCESS && use_direct(c, count / n * esize)) {
    r = direct_allgather_blocks(call, mine, direct_blocks(views), false);
  } else if (r == MICS_SUCCESS) {
    r = ring_allgather(call, views);
  }
  return finish(call, r);
}

}  // namespace mics::coll
