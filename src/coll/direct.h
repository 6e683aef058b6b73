// Single-copy algorithms for communicators whose ranks all share one host:
// every rank exposes its buffer (transport/shm: ShmDomain::expose) and the
// others copy straight out of it (cross-memory attach, or memcpy between
// threads of one process), instead of sender -> mailbox slot -> receiver.
// Used from a per-rank share of MICS_SHM_DIRECT_BYTES on, and for tiny
// messages whose bytes travel inside the exposure itself (one cache line:
// about one cross-core transfer per call instead of a dozen through the
// channel); the sizes between and multi-node communicators keep the rings.
#pragma once

#include <cstddef>
#include <vector>

#include "src/coll/call.h"
#include "src/coll/direct_block.h"
#include "src/comm.h"

namespace mics::coll {

// True when c's ranks are all on our host, can read each other's memory, and
// `bytes` (one rank's share) is large enough. The same answer on every rank.
bool use_direct(const mics_comm* c, size_t bytes);

// True when reduce-scatter reads the peers' inputs directly: use_direct, and
// device buffers or MICS_SHM_DIRECT_REDUCE=1 (on host memory the ring's
// reductions out of the mailboxes measure faster; docs/PERFORMANCE.md).
bool use_direct_reduce(const mics_comm* c, size_t bytes);

// True when c's ranks are all on our host and `bytes` fits inside an
// exposure (ShmDomain::kInlineBytes): the latency path for tiny messages,
// which needs no cross-memory attach.
bool use_inline(const mics_comm* c, size_t bytes);

// Allgather of `bytes` per rank into recv (send may be recv + rank * bytes).
Result direct_allgather(Call& call, const void* send, void* recv, size_t bytes);

// Allgather of blocks of any sizes: blocks[r] is where rank r's block goes
// here; ours is read by the peers from `own` (and copied to blocks[rank].dst
// when own differs from it).
// copy_inline: the block travels inside the exposure (use_inline).
Result direct_allgather_blocks(Call& call, const void* own, const std::vector<DirectBlock>& blocks,
                               bool copy_inline);

// Reduce-scatter with every rank reading its span of each peer's input
// straight from the peer's buffer and combining them in rank order (through a
// wire-type scratch: 16-bit floats are rounded once). counts[r] elements
// are rank r's block; the blocks follow each other in send. The result goes
// to recv.
Result direct_reduce_scatter(Call& call, const void* send, void* recv,
                             const std::vector<size_t>& counts, mics_datatype_t type,
                             mics_redop_t op);

// Broadcast of `bytes` from root's send into every rank's recv.
Result direct_broadcast(Call& call, const void* send, void* recv, size_t bytes, int root);

}  // namespace mics::coll
