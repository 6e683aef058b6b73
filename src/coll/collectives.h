// The algorithms, one file each. They move data through the communicator's
// connections and know nothing of the C API's argument checks (done before).
#pragma once

#include <algorithm>
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

// One block of a reduction, in elements: pieces of the input, in block order
// (one piece for a contiguous block; several for the strided or interleaved
// blocks of the hierarchical form).
class Span {
 public:
  Span() = default;
  Span(size_t offset, size_t count) { add(offset, count); }
  void add(size_t offset, size_t count) {
    offsets_.push_back(offset);
    starts_.push_back(count_);
    count_ += count;
  }
  size_t count() const { return count_; }
  // Calls fn(element index in the block, input element offset, n) for each
  // piece of the block range [off, off + len).
  template <class Fn>
  void for_pieces(size_t off, size_t len, Fn fn) const {
    size_t i = std::upper_bound(starts_.begin(), starts_.end(), off) - starts_.begin() - 1;
    while (len > 0) {
      size_t end = i + 1 < starts_.size() ? starts_[i + 1] : count_;
      size_t n = std::min(len, end - off);
      fn(off, offsets_[i] + (off - starts_[i]), n);
      off += n, len -= n, ++i;
    }
  }

 private:
  std::vector<size_t> offsets_;  // input offset of each piece
  std::vector<size_t> starts_;   // block index where each piece starts
  size_t count_ = 0;
};

// How a reduce-scatter reads its input and writes its output. Partials of
// 16-bit floats travel as float32 ("wire" type); a hierarchical reduce-scatter
// keeps them that way between its stages so that it still rounds only once.
struct ReduceMode {
  mics_datatype_t type;
  mics_redop_t op;
  bool src_wire = false;    // input elements are already in the wire type (ours to modify)
  bool dst_wire = false;    // leave the result in the wire type, unfinished (no AVG division)
  int divisor = 1;          // AVG divides by this (the number of contributing ranks)
  bool stream_dst = false;  // write the final output with non-temporal stores (large, cold)
};

// Ring allgather as a pollable state machine, so that the hierarchical
// algorithm can interleave two rings in one loop (and pipeline them).
class RingAllgather {
 public:
  RingAllgather(Call& call, const std::vector<BlockView>& blocks);
  // One pass: moves whatever can move now, never waits.
  Result poll(bool* progressed);
  bool done() const { return send_.done() && recv_.done(); }
  bool recv_done() const { return recv_.done(); }
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

// Ring reduce-scatter as a pollable state machine (see RingAllgather): block
// b's input is the pieces blocks[b] of src; the reduction of our block is
// written to dst, contiguous (dst may alias our input block when contiguous).
class RingReduceScatter {
 public:
  RingReduceScatter(Call& call, const void* src, void* dst, const std::vector<Span>& blocks,
                    const ReduceMode& mode);
  Result poll(bool* progressed);
  bool done() const { return send_.done() && recv_.done() && (left_ >= 0 || done_single_); }
  bool recv_done() const { return recv_.done(); }
  Result finish();
  int left() const { return left_; }
  int right() const { return right_; }

  // Optional: elements [0, end) of block b's input may be read only once this says so.
  std::function<bool(int block, size_t end)> src_ready;
  // Optional: told when elements [0, end) of our output are final.
  std::function<void(size_t end)> on_final;

 private:
  bool ready(int block, size_t end) const { return !src_ready || src_ready(block, end); }

  Call& call_;
  const char* src_;
  char* dst_;
  const std::vector<Span>& blocks_;
  ReduceMode mode_;
  size_t per_chunk_ = 0;  // elements per slot
  int left_ = -1, right_ = -1;
  transport::Connection* rx_ = nullptr;
  transport::Connection* tx_ = nullptr;
  ChunkMajorCursor send_{{}}, recv_{{}};
  bool done_single_ = false;  // size-1 communicator: the one pass is done
};

// Runs a RingReduceScatter to completion.
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
