// Ring reduce-scatter. In step s a rank sends the partial result of block
// (rank - s - 1) to its right; the partial it receives from its left (block
// rank - s - 2) is combined with its own input straight from the incoming slot
// into the outgoing slot, so no scratch buffer is needed. In the last step the
// block received is our own and is finished into the output. Partials travel in
// the wire type (float32 for 16-bit floats: they are rounded once, at the end).
// Items go chunk-major (see ChunkMajorCursor): chunk c travels the whole ring
// before chunk c+1 starts, which pipelines the steps without deadlock.
#include <cstring>

#include "src/coll/collectives.h"
#include "src/coll/direct.h"
#include "src/coll/ring.h"
#include "src/reduce/reduce.h"

namespace mics::coll {
namespace {

// The three things a ring step does to a chunk, for one ReduceMode.
class Reducer {
 public:
  explicit Reducer(const ReduceMode& m)
      : m_(m),
        wire_type_(wire_type_size(m.type) == 4 && mics_type_size(m.type) == 2 ? MICS_FLOAT32
                                                                              : m.type),
        src_type_(m.src_wire ? wire_type_ : m.type) {}

  size_t src_size() const { return mics_type_size(src_type_); }
  size_t wire_size() const { return mics_type_size(wire_type_); }
  size_t dst_size() const { return mics_type_size(m_.dst_wire ? wire_type_ : m_.type); }

  // Step 0: our input, as a partial.
  void first(void* out, const void* src, size_t n) const { to_wire(src_type_, out, src, n); }
  // Middle steps: incoming partial + our input.
  void middle(void* out, const void* in, const void* src, size_t n) const {
    reduce_to_wire(src_type_, m_.op, out, in, src, n);
  }
  // Last step: incoming partial + our input, finished into the output.
  void last(void* dst, const void* in, const void* src, size_t n) const {
    if (m_.dst_wire) {
      middle(dst, in, src, n);
    } else if (!m_.src_wire && m_.stream_dst) {
      reduce_to_final_streaming(m_.type, m_.op, dst, in, src, n, m_.divisor);
    } else if (!m_.src_wire) {
      reduce_to_final(m_.type, m_.op, dst, in, src, n, m_.divisor);
    } else {  // wire input (our scratch): combine in place, then finish
      void* scratch = const_cast<void*>(src);
      middle(scratch, in, src, n);
      wire_to_final(m_.type, m_.op, dst, scratch, n, m_.divisor);
    }
  }

 private:
  ReduceMode m_;
  mics_datatype_t wire_type_;
  mics_datatype_t src_type_;
};

}  // namespace

RingReduceScatter::RingReduceScatter(Call& call, const void* src, void* dst,
                                     const std::vector<Span>& blocks, const ReduceMode& mode)
    : call_(call),
      src_(static_cast<const char*>(src)),
      dst_(static_cast<char*>(dst)),
      blocks_(blocks),
      mode_(mode) {
  mics_comm* c = call.comm;
  const int n = c->size, rank = c->rank;
  if (n == 1) return;
  left_ = ring_left(rank, n);
  right_ = ring_right(rank, n);
  rx_ = c->conn[left_].get();
  tx_ = c->conn[right_].get();
  per_chunk_ = c->ring_chunk / Reducer(mode).wire_size();
  // Step s sends block (rank - s - 1) and receives block (rank - s - 2).
  std::vector<size_t> send_chunks(n - 1), recv_chunks(n - 1);
  for (int s = 0; s < n - 1; ++s) {
    send_chunks[s] = div_up(blocks[ring_block(rank, s + 1, n)].count(), per_chunk_);
    recv_chunks[s] = div_up(blocks[ring_block(rank, s + 2, n)].count(), per_chunk_);
  }
  send_ = ChunkMajorCursor(send_chunks);
  recv_ = ChunkMajorCursor(recv_chunks);
}

Result RingReduceScatter::poll(bool* progressed) {
  mics_comm* c = call_.comm;
  const int n = c->size, rank = c->rank;
  const Reducer red(mode_);
  const size_t ssize = red.src_size(), wsize = red.wire_size(), dsize = red.dst_size();
  if (n == 1) {  // nothing to combine: convert/finish our block
    const Span& block = blocks_[0];
    if (done_single_ || !ready(0, block.count())) return MICS_SUCCESS;
    block.for_pieces(0, block.count(), [&](size_t off, size_t in, size_t len) {
      const char* p = src_ + in * ssize;
      char* out = dst_ + off * dsize;
      if (mode_.dst_wire) {
        red.first(out, p, len);
      } else if (!mode_.src_wire) {
        if (out != p) memcpy(out, p, len * ssize);
      } else {
        wire_to_final(mode_.type, mode_.op, out, p, len, mode_.divisor);
      }
    });
    done_single_ = true;
    if (on_final) on_final(block.count());
    *progressed = true;
    return MICS_SUCCESS;
  }
  transport::ChunkMeta meta;
  const size_t last = static_cast<size_t>(n - 2);
  while (!send_.done()) {
    int b = ring_block(rank, static_cast<int>(send_.step()) + 1, n);
    const Span& block = blocks_[b];
    size_t off = send_.chunk() * per_chunk_, len = std::min(per_chunk_, block.count() - off);
    if (!ready(b, off + len)) break;
    const char* in = nullptr;
    if (send_.step() > 0) {  // combine the partial of the same chunk of the step before
      if (recv_.chunk() != send_.chunk() || recv_.step() + 1 != send_.step()) break;
      in = static_cast<const char*>(rx_->recv_slot(&meta));
      if (!in) break;
      MICS_CHECK(check_chunk(call_, left_, meta, len * wsize));
    }
    auto* slot = static_cast<char*>(tx_->send_slot());
    if (!slot) break;
    block.for_pieces(off, len, [&](size_t o, size_t at, size_t k) {
      char* w = slot + (o - off) * wsize;
      if (in) {
        red.middle(w, in + (o - off) * wsize, src_ + at * ssize, k);
      } else {
        red.first(w, src_ + at * ssize, k);
      }
    });
    if (in) {
      rx_->recv_release();
      recv_.advance();
    }
    tx_->send_post(call_.meta(len * wsize));
    send_.advance();
    *progressed = true;
  }
  while (!recv_.done() && recv_.step() == last) {
    const Span& block = blocks_[rank];
    size_t off = recv_.chunk() * per_chunk_, len = std::min(per_chunk_, block.count() - off);
    if (!ready(rank, off + len)) break;
    const auto* in = static_cast<const char*>(rx_->recv_slot(&meta));
    if (!in) break;
    MICS_CHECK(check_chunk(call_, left_, meta, len * wsize));
    block.for_pieces(off, len, [&](size_t o, size_t at, size_t k) {
      red.last(dst_ + o * dsize, in + (o - off) * wsize, src_ + at * ssize, k);
    });
    rx_->recv_release();
    recv_.advance();
    if (on_final) on_final(off + len);
    *progressed = true;
  }
  return MICS_SUCCESS;
}

Result RingReduceScatter::finish() {
  return call_.comm->size == 1 ? MICS_SUCCESS : drain(call_, tx_, right_);
}

Result ring_reduce_scatter(Call& call, const void* src, void* dst, const std::vector<Span>& blocks,
                           const ReduceMode& mode) {
  RingReduceScatter ring(call, src, dst, blocks, mode);
  bool progressed = false;
  if (call.comm->size == 1) return ring.poll(&progressed);
  while (!ring.done()) {
    uint32_t seen = call.comm->wake_count();
    progressed = false;
    MICS_CHECK(ring.poll(&progressed));
    if (!progressed && !ring.done())
      MICS_CHECK(wait_progress(call, seen, ring.recv_done() ? -1 : ring.left(), ring.right()));
  }
  return ring.finish();
}

Result reduce_scatter(mics_comm* c, const void* send, void* recv, size_t count,
                      mics_datatype_t type, mics_redop_t op) {
  Call call(c, Kind::kReduceScatter, type, op, count, 0);
  if (count == 0) return MICS_SUCCESS;
  if (use_direct_reduce(c, count * mics_type_size(type))) {
    std::vector<size_t> counts(c->size, count);
    return finish(call, direct_reduce_scatter(call, send, recv, counts, type, op));
  }
  std::vector<Span> blocks(c->size);
  for (int r = 0; r < c->size; ++r) blocks[r] = Span(static_cast<size_t>(r) * count, count);
  ReduceMode mode{type, op, false, false, c->size};
  // Out of place, a block larger than the caches is written cold: stream it
  // (docs/PERFORMANCE.md: +16 % from 32 MiB blocks on, -10 % below; the
  // threshold is MICS_STREAM_BYTES, 0 = never).
  const size_t bytes = count * mics_type_size(type);
  const char* own = static_cast<const char*>(send) + static_cast<size_t>(c->rank) * bytes;
  mode.stream_dst =
      own != recv && c->stream_bytes > 0 && bytes >= static_cast<size_t>(c->stream_bytes);
  return finish(call, ring_reduce_scatter(call, send, recv, blocks, mode));
}

}  // namespace mics::coll
