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

Result ring_reduce_scatter(Call& call, const void* src, void* dst, const std::vector<Span>& blocks,
                           mics_datatype_t type, mics_redop_t op) {
  mics_comm* c = call.comm;
  const int n = c->size, rank = c->rank;
  const size_t esize = mics_type_size(type), wsize = wire_type_size(type);
  auto input = [&](int block, size_t elem) {
    return static_cast<const char*>(src) + (blocks[block].offset + elem) * esize;
  };
  if (n == 1) {
    if (dst != input(0, 0)) memcpy(dst, input(0, 0), blocks[0].count * esize);
    return MICS_SUCCESS;
  }
  const int left = ring_left(rank, n), right = ring_right(rank, n);
  transport::Connection* rx = c->conn[left].get();
  transport::Connection* tx = c->conn[right].get();
  const size_t per_chunk = c->ring_chunk / wsize;  // elements per slot
  // Step s sends block (rank - s - 1) and receives block (rank - s - 2).
  std::vector<size_t> send_chunks(n - 1), recv_chunks(n - 1);
  for (int s = 0; s < n - 1; ++s) {
    send_chunks[s] = div_up(blocks[ring_block(rank, s + 1, n)].count, per_chunk);
    recv_chunks[s] = div_up(blocks[ring_block(rank, s + 2, n)].count, per_chunk);
  }
  ChunkMajorCursor send(send_chunks), recv(recv_chunks);
  const size_t last = static_cast<size_t>(n - 2);
  while (!send.done() || !recv.done()) {
    uint32_t seen = c->wake_count();
    bool progressed = false;
    size_t bytes = 0;
    uint64_t tag = 0;
    while (!send.done()) {
      int block = ring_block(rank, static_cast<int>(send.step()) + 1, n);
      size_t off = send.chunk() * per_chunk, len = std::min(per_chunk, blocks[block].count - off);
      const void* in = nullptr;
      if (send.step() > 0) {  // combine the partial of the same chunk of the step before
        if (recv.chunk() != send.chunk() || recv.step() + 1 != send.step()) break;
        in = rx->recv_slot(&bytes, &tag);
        if (!in) break;
        MICS_CHECK(check_chunk(call, left, bytes, tag, len * wsize));
      }
      void* out = tx->send_slot();
      if (!out) break;
      if (in) {
        reduce_to_wire(type, op, out, in, input(block, off), len);
        rx->recv_release();
        recv.advance();
      } else {
        to_wire(type, out, input(block, off), len);
      }
      tx->send_post(len * wsize, call.tag);
      send.advance();
      progressed = true;
    }
    while (!recv.done() && recv.step() == last) {
      const void* in = rx->recv_slot(&bytes, &tag);
      if (!in) break;
      size_t off = recv.chunk() * per_chunk, len = std::min(per_chunk, blocks[rank].count - off);
      MICS_CHECK(check_chunk(call, left, bytes, tag, len * wsize));
      reduce_to_final(type, op, static_cast<char*>(dst) + off * esize, in, input(rank, off), len,
                      n);
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
  for (int r = 0; r < c->size; ++r) blocks[r] = {static_cast<size_t>(r) * count, count};
  return finish(call, ring_reduce_scatter(call, send, recv, blocks, type, op));
}

}  // namespace mics::coll
