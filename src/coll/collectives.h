// The algorithms, one file each. They move data through the communicator's
// connections and know nothing of the C API's argument checks (done before).
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

#include "src/coll/call.h"
#include "src/comm.h"

namespace mics::coll {

// Where one ring block lives in this rank's memory: segs.size() pieces of
// seg_bytes each (one piece for a contiguous block). Hierarchical algorithms use
// several pieces to write received data straight to its final offsets.
struct BlockView {
  size_t seg_bytes = 0;
  std::vector<char*> segs;

  size_t bytes() const { return seg_bytes * segs.size(); }
  void copy_out(size_t off, size_t len, void* dst) const;
  void copy_in(size_t off, size_t len, const void* src) const;
};

// Element range of one block of a reduction: [offset, offset + count).
struct Span {
  size_t offset = 0;
  size_t count = 0;
};

// Ring allgather: blocks[r] is where rank r's block lives here; ours must
// already hold our contribution (it is only read). Every rank ends with every
// block. `idle`, when given, is called whenever the ring would otherwise wait;
// it does a slice of side work and returns false once it has none left.
Result ring_allgather(Call& call, const std::vector<BlockView>& blocks,
                      const std::function<bool()>& idle = nullptr);

// Ring reduce-scatter: block b's input is src + blocks[b].offset elements;
// the reduction of our block is written to dst (which may alias our input block).
Result ring_reduce_scatter(Call& call, const void* src, void* dst, const std::vector<Span>& blocks,
                           mics_datatype_t type, mics_redop_t op);

// Entry points used by the API and by communicator construction.
Result allgather(mics_comm* c, const void* send, void* recv, size_t count, mics_datatype_t type,
                 Kind kind);
Result reduce_scatter(mics_comm* c, const void* send, void* recv, size_t count,
                      mics_datatype_t type, mics_redop_t op);
Result allreduce(mics_comm* c, const void* send, void* recv, size_t count, mics_datatype_t type,
                 mics_redop_t op);
Result broadcast(mics_comm* c, const void* send, void* recv, size_t count, mics_datatype_t type,
                 int root);
Result barrier(mics_comm* c);
Result hier_allgather(mics_comm* c, const void* send, void* recv, size_t count,
                      mics_datatype_t type);

}  // namespace mics::coll
