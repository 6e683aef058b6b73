// One in-flight collective on one rank: its identity (sequence number and
// operation fingerprint, carried with every chunk so mismatched calls are
// caught), its deadline, and the single place where it waits.
#pragma once

#include <cstddef>
#include <cstdint>

#include "src/base/deadline.h"
#include "src/comm.h"

namespace mics::coll {

enum class Kind : uint32_t {
  kAllgather = 1,
  kReduceScatter,
  kAllreduce,
  kBroadcast,
  kBarrier,
  kHierAllgather
};

const char* kind_name(Kind kind);

struct Call {
  Call(mics_comm* c, Kind k, mics_datatype_t type, mics_redop_t op, size_t count, int root);
  ~Call();  // records completion for the state dump
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;

  mics_comm* comm;
  Kind kind;
  uint64_t seq;
  uint64_t tag;    // seq:32 | kind:4 | type:4 | op:4 | hash(count, root):20
  uint64_t shape;  // count | root << 48: compared in full, so no count mismatch hides in a hash
  Deadline deadline;

  transport::ChunkMeta meta(size_t bytes) const { return {bytes, tag, shape}; }
};

// Call after a pass over the algorithm's conditions made no progress; `seen`
// is the doorbell read before that pass. Returns when something may have moved,
// or fails on abort, on the deadline (naming the ranks waited for), or when one
// of them has died.
Result wait_progress(Call& call, uint32_t seen, int peer_a, int peer_b);

// For two rings run in one loop on two communicators (the hierarchical
// algorithms): polls both network endpoints, then naps (growing to 0.5 ms) on
// the doorbell of whichever has shared memory. Abort and the deadline are
// those of `call`, the collective on the parent communicator.
struct WaitState {
  int64_t nap_us = 20;  // grows while nothing moves; reset it when something does
  Clock::time_point last_liveness = Clock::now();
};
Result wait_either(Call& call, mics_comm* a, mics_comm* b, uint32_t seen_a, uint32_t seen_b,
                   WaitState* ws);

// Fails (REMOTE_ERROR) when shared-memory peer_a or peer_b (comm ranks, -1 =
// none) has exited, or when a rank of our node published a failure on c.
Result check_alive(const Call& call, const mics_comm* c, int peer_a, int peer_b);

// Waits until everything sent to `peer` over tx has been taken (see
// Connection::sends_done). Every algorithm ends with it.
Result drain(Call& call, transport::Connection* tx, int peer);

// Checks a received chunk against what this rank expects (same operation, same size).
Result check_chunk(Call& call, int peer, const transport::ChunkMeta& meta, size_t expected_bytes);

// Turns a failure half-way through a collective into the communicator's sticky
// error: its channels are in an unknown state, so later calls must not use them.
Result finish(Call& call, Result r);

}  // namespace mics::coll
