// A connection moves byte chunks between this rank and one peer, in both
// directions, through a fixed ring of slots per direction. It knows nothing of
// collectives: the algorithms in src/coll decide what goes in each slot.
//
// Protocol: a sender fills send_slot() and publishes it with send_post(); the
// receiver reads recv_slot() and frees it with recv_release(). Slots are
// delivered in order. Neither call blocks: a nullptr slot means "not now", and
// the caller waits on its communicator's doorbell, which every post and release
// aimed at this rank rings.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mics::transport {

// What travels with every chunk besides its payload: its size and the
// sender's view of the operation (tag: sequence number, collective, type, op;
// shape: element count and root), so a receiver can tell mismatched calls.
struct ChunkMeta {
  uint64_t bytes = 0;
  uint64_t tag = 0;
  uint64_t shape = 0;
};

class Connection {
 public:
  virtual ~Connection() = default;

  virtual size_t slot_bytes() const = 0;

  // A free slot to fill, or nullptr while every slot is in flight.
  virtual void* send_slot() = 0;
  // Publishes the slot from send_slot() holding meta.bytes of payload.
  virtual void send_post(const ChunkMeta& meta) = 0;

  // The oldest slot that has arrived, or nullptr.
  virtual const void* recv_slot(ChunkMeta* meta) = 0;
  virtual void recv_release() = 0;

  // True once everything posted has reached the peer and needs nothing more
  // from us. Shared memory: at once. Network with manual progress: only when
  // the peer has consumed it, which a collective waits for before returning so
  // that no transfer depends on a rank that has moved on.
  virtual bool sends_done() = 0;

  // False once the peer is known to be gone (checked only while waiting).
  virtual bool peer_alive() const = 0;
};

}  // namespace mics::transport
