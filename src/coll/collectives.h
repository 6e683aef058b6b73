// The algorithms, one file each. They move data through the communicator's
// connections and know nothing of the C API's argument checks (done before).
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

#include "src/coll/call.h"
#include "src/coll/ring.h"
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

// One block of a reduction, in elements: segs.size() pieces of seg_count
// elements each, at the given element offsets of the input (one piece for a
// contiguous block; several for the strided blocks of the hierarchical form).
struct Span {
  size_t seg_count = 0;
  std::vector<size_t> segs;

  size_t count() const { return seg_count * segs.size(); }
};

// How a reduce-scatter reads its input and writes its output. Partials of
// 16-bit floats travel as float32 ("wire" type); a hierarchical reduce-scatter
// keeps them that way between its stages so that it still rounds only once.
struct ReduceMode {
  mics_datatype_t type;
  mics_redop_t op;
  bool src_wire = false;  // input elements are already in the wire type (ours to modify)
  bool dst_wire = false;  // leave the result in the wire type, unfinished (no AVG division)
  int divisor = 1;        // AVG divides by this (the number of contributing ranks)
};

// Ring allgather as a pollable state machine, so that the hierarchical
// algorithm can interleave two rings in one loop (and pipeline them).
class RingAllgather {
 public:
  RingAllgather(Call& call, const std::vector<BlockView>& blocks);
  // One pass: moves whatever can move now, never waits.
  Result poll(bool* progressed);
  bool done() const { return send_.done() && recv_.done(); }
  // Waits until our last sends have been taken (see drain).
  Result finish();
  int left() const { return left_; }
  int right() const { return right_; }

  // Optional: our own block's byte range [0, end) may be sent only once this says so.
  std::function<bool(size_t end)> own_ready;
  // Optional: told when bytes [0, end) of block b have arrived.
  std::function<void(int block, size_t end)> on_received;

 private:
  Call& call_;
  const std::vector<BlockView>& blocks_;
  size_t chunk_;
  int left_ = -1, right_ = -1;
  transport::Connection* rx_ = nullptr;
  transport::Connection* tx_ = nullptr;
  RingCursor send_{{}}, recv_{{}};
};

// Ring allgather: blocks[r] is where rank r's block lives here; ours must
// already hold our contribution (it is only read). Every rank ends with every
// block. `idle`, when given, is called whenever the ring would otherwise wait;
// it does a slice of side work and returns false once it has none left.
Result ring_allgather(Call& call, const std::vector<BlockView>& blocks,
                      const std::function<bool()>& idle = nullptr);

// Ring reduce-scatter: block b's input is at src + blocks[b].segs[i] elements;
// the reduction of our block is written to dst, contiguous (dst may alias our
// input block when that is contiguous).
Result ring_reduce_scatter(Call& call, const void* src, void* dst, const std::vector<Span>& blocks,
                           const ReduceMode& mode);

// The rail and node subgroups of the hierarchical algorithms, made once per
// communicator (collectively: every rank makes the same hierarchical call).
Result ensure_subgroups(mics_comm* c);
// True when c spans several nodes with the same number of ranks on each and
// more than one rank per node: the shape the hierarchical algorithms need.
bool hierarchical_shape(const mics_comm* c);

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
Result hier_reduce_scatter(mics_comm* c, const void* send, void* recv, size_t count,
                           mics_datatype_t type, mics_redop_t op);
Result hier_allreduce(mics_comm* c, const void* send, void* recv, size_t count,
                      mics_datatype_t type, mics_redop_t op);

// What the API calls: ring or hierarchical, per MICS_ALGO and the cost model.
Result select_allgather(mics_comm* c, const void* send, void* recv, size_t count,
                        mics_datatype_t type);
Result select_reduce_scatter(mics_comm* c, const void* send, void* recv, size_t count,
                             mics_datatype_t type, mics_redop_t op);
Result select_allreduce(mics_comm* c, const void* send, void* recv, size_t count,
                        mics_datatype_t type, mics_redop_t op);

}  // namespace mics::coll
