// Ring allgather. In step s a rank sends block (rank - s) to its right and
// receives block (rank - s - 1) from its left; chunks of a block are forwarded
// as soon as they arrive, so the n-1 steps overlap into one pipeline.
// One-host communicators with large blocks take the single-copy path instead
// (direct.h: every rank reads its peers' blocks straight from their buffers).
#include <cstring>

#include "src/coll/collectives.h"
#include "src/coll/direct.h"
#include "src/coll/ring.h"

namespace mics::coll {

void BlockView::copy_out(size_t off, size_t len, void* dst) const {
  auto* out = static_cast<char*>(dst);
  while (len > 0) {
    size_t seg = off / seg_bytes, in_seg = off % seg_bytes;
    size_t n = std::min(len, seg_bytes - in_seg);
    memcpy(out, segs[seg] + in_seg, n);
    out += n, off += n, len -= n;
  }
}

void BlockView::copy_in(size_t off, size_t len, const void* src) const {
  auto* in = static_cast<const char*>(src);
  while (len > 0) {
    size_t seg = off / seg_bytes, in_seg = off % seg_bytes;
    size_t n = std::min(len, seg_bytes - in_seg);
    memcpy(segs[seg] + in_seg, in, n);
    in += n, off += n, len -= n;
  }
}

RingAllgather::RingAllgather(Call& call, const std::vector<BlockView>& blocks)
    : call_(call), blocks_(blocks), chunk_(call.comm->ring_chunk) {
  mics_comm* c = call.comm;
  const int n = c->size, rank = c->rank;
  if (n == 1) return;
  left_ = ring_left(rank, n);
  right_ = ring_right(rank, n);
  rx_ = c->conn[left_].get();
  tx_ = c->conn[right_].get();
  // Step s sends block (rank - s) and receives block (rank - s - 1).
  std::vector<size_t> send_chunks(n - 1), recv_chunks(n - 1);
  for (int s = 0; s < n - 1; ++s) {
    send_chunks[s] = div_up(blocks[ring_block(rank, s, n)].bytes(), chunk_);
    recv_chunks[s] = div_up(blocks[ring_block(rank, s + 1, n)].bytes(), chunk_);
  }
  send_ = RingCursor(send_chunks);
  recv_ = RingCursor(recv_chunks);
}

Result RingAllgather::poll(bool* progressed) {
  mics_comm* c = call_.comm;
  const int n = c->size, rank = c->rank;
  transport::ChunkMeta meta;
  while (!recv_.done()) {
    const void* slot = rx_->recv_slot(&meta);
    if (!slot) break;
    int b = ring_block(rank, static_cast<int>(recv_.step()) + 1, n);
    const BlockView& block = blocks_[b];
    size_t off = recv_.chunk() * chunk_, len = std::min(chunk_, block.bytes() - off);
    MICS_CHECK(check_chunk(call_, left_, meta, len));
    block.copy_in(off, len, slot);
    rx_->recv_release();
    recv_.advance();
    if (on_received) on_received(b, off + len);
    *progressed = true;
  }
  // A chunk of step s > 0 forwards what the same chunk of step s - 1 brought in;
  // a chunk of step 0 (our own block) may wait on own_ready.
  while (!send_.done()) {
    const BlockView& block = blocks_[ring_block(rank, static_cast<int>(send_.step()), n)];
    size_t off = send_.chunk() * chunk_, len = std::min(chunk_, block.bytes() - off);
    if (send_.step() == 0 ? own_ready && !own_ready(off + len)
                          : !recv_.passed(send_.step() - 1, send_.chunk()))
      break;
    void* slot = tx_->send_slot();
    if (!slot) break;
    block.copy_out(off, len, slot);
    tx_->send_post(call_.meta(len));
    send_.advance();
    *progressed = true;
  }
  return MICS_SUCCESS;
}

Result RingAllgather::finish() { return drain(call_, tx_, right_); }

Result ring_allgather(Call& call, const std::vector<BlockView>& blocks,
                      const std::function<bool()>& idle) {
  RingAllgather ring(call, blocks);
  while (!ring.done()) {
    uint32_t seen = call.comm->wake_count();
    bool progressed = false;
    MICS_CHECK(ring.poll(&progressed));
    if (!progressed && idle) progressed = idle();
    if (!progressed && !ring.done())
      MICS_CHECK(wait_progress(call, seen, ring.recv_done() ? -1 : ring.left(), ring.right()));
  }
  return ring.finish();
}

Result allgather(mics_comm* c, const void* send, void* recv, size_t count, mics_datatype_t type,
                 Kind kind) {
  Call call(c, kind, type, MICS_SUM, count, 0);
  const size_t bytes = count * mics_type_size(type);
  auto* out = static_cast<char*>(recv);
  if (bytes == 0) return MICS_SUCCESS;
  if (use_direct(c, bytes) || use_inline(c, bytes))
    return finish(call, direct_allgather(call, send, recv, bytes));
  char* mine = out + static_cast<size_t>(c->rank) * bytes;
  std::vector<BlockView> blocks(c->size);
  for (int r = 0; r < c->size; ++r) blocks[r] = {bytes, {out + static_cast<size_t>(r) * bytes}};
  // Out of place, the ring sends our block straight from sendbuf and copies it
  // into recvbuf in slices while it would otherwise wait for peers.
  blocks[c->rank].segs[0] = const_cast<char*>(static_cast<const char*>(send));
  size_t copied = send == mine ? bytes : 0;
  auto copy_slice = [&] {
    if (copied == bytes) return false;
    size_t len = std::min<size_t>(bytes - copied, 256 << 10);
    memcpy(mine + copied, static_cast<const char*>(send) + copied, len);
    copied += len;
    return true;
  };
  Result r = ring_allgather(call, blocks, copy_slice);
  while (r == MICS_SUCCESS && copy_slice()) {
  }
  return finish(call, r);
}

Result barrier(mics_comm* c) {
  // An allgather of one byte: a rank's ring completes only after every rank's
  // byte has reached it, i.e. after every rank has entered.
  Call call(c, Kind::kBarrier, MICS_UINT8, MICS_SUM, 1, 0);
  std::vector<char> tokens(c->size);
  if (use_inline(c, 1))
    return finish(call, direct_allgather(call, &tokens[c->rank], tokens.data(), 1));
  std::vector<BlockView> blocks(c->size);
  for (int r = 0; r < c->size; ++r) blocks[r] = {1, {&tokens[r]}};
  return finish(call, ring_allgather(call, blocks));
}

}  // namespace mics::coll
