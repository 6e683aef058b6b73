// Pipelined chain broadcast: root -> root+1 -> ... -> root-1. Each rank copies
// an arriving chunk into its output, frees the slot at once, and forwards from
// its output, so a slow successor never holds up its predecessor's slots.
// One-host communicators with large messages read the root's buffer directly
// instead (direct.h).
#include <cstring>

#include "src/coll/collectives.h"
#include "src/coll/direct.h"
#include "src/coll/ring.h"

namespace mics::coll {

Result broadcast(mics_comm* c, const void* send, void* recv, size_t count, mics_datatype_t type,
                 int root) {
  Call call(c, Kind::kBroadcast, type, MICS_SUM, count, root);
  const size_t total = count * mics_type_size(type);
  if (total == 0) return MICS_SUCCESS;
  if (use_direct(c, total) || use_inline(c, total))
    return finish(call, direct_broadcast(call, send, recv, total, root));
  const int n = c->size, rank = c->rank;
  if (rank == root && send != recv) memcpy(recv, send, total);
  if (n == 1) return MICS_SUCCESS;
  const int left = ring_left(rank, n), right = ring_right(rank, n);
  const bool forwards = right != root;
  transport::Connection* rx = rank == root ? nullptr : c->conn[left].get();
  transport::Connection* tx = forwards ? c->conn[right].get() : nullptr;
  const size_t chunk = c->ring_chunk;
  const size_t chunks = div_up(total, chunk);
  size_t received = rank == root ? chunks : 0, sent = forwards ? 0 : chunks;
  auto* out = static_cast<char*>(recv);
  Result r = MICS_SUCCESS;
  while (r == MICS_SUCCESS && (received < chunks || sent < chunks)) {
    uint32_t seen = c->wake_count();
    bool progressed = false;
    transport::ChunkMeta meta;
    while (received < chunks) {
      const void* slot = rx->recv_slot(&meta);
      if (!slot) break;
      size_t off = received * chunk, len = std::min(chunk, total - off);
      r = check_chunk(call, left, meta, len);
      if (r != MICS_SUCCESS) break;
      memcpy(out + off, slot, len);
      rx->recv_release();
      ++received;
      progressed = true;
    }
    while (r == MICS_SUCCESS && sent < received) {
      void* slot = tx->send_slot();
      if (!slot) break;
      size_t off = sent * chunk, len = std::min(chunk, total - off);
      memcpy(slot, out + off, len);
      tx->send_post(call.meta(len));
      ++sent;
      progressed = true;
    }
    if (r == MICS_SUCCESS && !progressed && (received < chunks || sent < chunks))
      // Only the neighbours we still need: a finished predecessor may have exited.
      r = wait_progress(call, seen, rx && received < chunks ? left : -1,
                        tx && sent < chunks ? right : -1);
  }
  if (r == MICS_SUCCESS) r = drain(call, tx, right);
  return finish(call, r);
}

}  // namespace mics::coll
