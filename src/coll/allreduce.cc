// Allreduce = ring reduce-scatter into our block of the output, then ring
// allgather of the blocks in place. Blocks differ by at most one element so
// that any count works (count < size leaves some blocks empty). On one host
// with large blocks the allgather half reads the peers' blocks directly
// (direct.h): one copy per byte instead of two.
#include "src/coll/collectives.h"
#include "src/coll/direct.h"

namespace mics::coll {

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
  Result r = ring_reduce_scatter(call, send, mine, spans, ReduceMode{type, op, false, false, n});
  if (r == MICS_SUCCESS && use_direct(c, count / n * esize)) {
    std::vector<DirectBlock> blocks(n);
    for (int b = 0; b < n; ++b) blocks[b] = {views[b].segs[0], views[b].bytes()};
    r = direct_allgather_blocks(call, mine, blocks, false);
  } else if (r == MICS_SUCCESS) {
    r = ring_allgather(call, views);
  }
  return finish(call, r);
}

}  // namespace mics::coll
