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

// Calls fn(element offset in the block, input pointer, count) for each piece of
// [off, off + len) of a segmented block.
template <class Fn>
void for_pieces(const Span& block, const char* src, size_t esize, size_t off, size_t len, Fn fn) {
  while (len > 0) {
    size_t seg = off / block.seg_count, in_seg = off % block.seg_count;
    size_t n = std::min(len, block.seg_count - in_seg);
    fn(off, src + (block.segs[seg] + in_seg) * esize, n);
    off += n, len -= n;
  }
}

}  // namespace

Result ring_reduce_scatter(Call& call, const void* src, void* dst, const std::vector<Span>& blocks,
                           const ReduceMode& mode) {
  mics_comm* c = call.comm;
  const int n = c->size, rank = c->rank;
  const Reducer red(mode);
  const size_t ssize = red.src_size(), wsize = red.wire_size(), dsize = red.dst_size();
  auto* in_base = static_cast<const char*>(src);
  auto* out = static_cast<char*>(dst);
  if (n == 1) {  // nothing to combine: convert/finish our block
    for_pieces(blocks[0], in_base, ssize, 0, blocks[0].count(), [&](size_t off, const char* p, size_t len) {
      if (mode.dst_wire) {
        red.first(out + off * dsize, p, len);
      } else if (!mode.src_wire) {
        if (out + off * dsize != p) memcpy(out + off * dsize, p, len * ssize);
      } else {
        wire_to_final(mode.type, mode.op, out + off * dsize, p, len, mode.divisor);
      }
    });
    return MICS_SUCCESS;
  }
  const int left = ring_left(rank, n), right = ring_right(rank, n);
  transport::Connection* rx = c->conn[left].get();
  transport::Connection* tx = c->conn[right].get();
  const size_t per_chunk = c->ring_chunk / wsize;  // elements per slot
  // Step s sends block (rank - s - 1) and receives block (rank - s - 2).
  std::vector<size_t> send_chunks(n - 1), recv_chunks(n - 1);
  for (int s = 0; s < n - 1; ++s) {
    send_chunks[s] = div_up(blocks[ring_block(rank, s + 1, n)].count(), per_chunk);
    recv_chunks[s] = div_up(blocks[ring_block(rank, s + 2, n)].count(), per_chunk);
  }
  ChunkMajorCursor send(send_chunks), recv(recv_chunks);
  const size_t last = static_cast<size_t>(n - 2);
  while (!send.done() || !recv.done()) {
    uint32_t seen = c->wake_count();
    bool progressed = false;
    size_t bytes = 0;
    uint64_t tag = 0;
    while (!send.done()) {
      const Span& block = blocks[ring_block(rank, static_cast<int>(send.step()) + 1, n)];
      size_t off = send.chunk() * per_chunk, len = std::min(per_chunk, block.count() - off);
      const char* in = nullptr;
      if (send.step() > 0) {  // combine the partial of the same chunk of the step before
        if (recv.chunk() != send.chunk() || recv.step() + 1 != send.step()) break;
        in = static_cast<const char*>(rx->recv_slot(&bytes, &tag));
        if (!in) break;
        MICS_CHECK(check_chunk(call, left, bytes, tag, len * wsize));
      }
      auto* slot = static_cast<char*>(tx->send_slot());
      if (!slot) break;
      for_pieces(block, in_base, ssize, off, len, [&](size_t o, const char* p, size_t k) {
        char* w = slot + (o - off) * wsize;
        if (in) {
          red.middle(w, in + (o - off) * wsize, p, k);
        } else {
          red.first(w, p, k);
        }
      });
      if (in) {
        rx->recv_release();
        recv.advance();
      }
      tx->send_post(len * wsize, call.tag);
      send.advance();
      progressed = true;
    }
    while (!recv.done() && recv.step() == last) {
      const auto* in = static_cast<const char*>(rx->recv_slot(&bytes, &tag));
      if (!in) break;
      const Span& block = blocks[rank];
      size_t off = recv.chunk() * per_chunk, len = std::min(per_chunk, block.count() - off);
      MICS_CHECK(check_chunk(call, left, bytes, tag, len * wsize));
      for_pieces(block, in_base, ssize, off, len, [&](size_t o, const char* p, size_t k) {
        red.last(out + o * dsize, in + (o - off) * wsize, p, k);
      });
      rx->recv_release();
      recv.advance();
      progressed = true;
    }
    if (!progressed && (!send.done() || !recv.done()))
      MICS_CHECK(wait_progress(call, seen, left, right));
  }
  return drain(call, tx, right);
}

Result reduce_scatter(mics_comm* c, const void* send, void* recv, size_t count,
                      mics_datatype_t type, mics_redop_t op) {
  Call call(c, Kind::kReduceScatter, type, op, count, 0);
  if (count == 0) return MICS_SUCCESS;
  std::vector<Span> blocks(c->size);
  for (int r = 0; r < c->size; ++r) blocks[r] = {count, {static_cast<size_t>(r) * count}};
  ReduceMode mode{type, op, false, false, c->size};
  return finish(call, ring_reduce_scatter(call, send, recv, blocks, mode));
}

}  // namespace mics::coll
