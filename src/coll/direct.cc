#include "src/coll/direct.h"

#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <vector>

#include "transport/shm/liveness.h"

namespace mics::coll {
namespace {
using transport::shm::ShmDomain;

// Local (shared-memory) index of comm rank r. All ranks are local here.
int local_index(const mics_comm* c, int r) {
  for (size_t i = 0; i < c->shm_ranks.size(); ++i)
    if (c->shm_ranks[i] == r) return static_cast<int>(i);
  return -1;
}

// Is peer's exposure the one for this call? Fails on a peer in the same
// call (sequence number) with another operation or shape.
Result exposure_ready(Call& call, int peer, const ShmDomain::Exposure& e, size_t bytes,
                      bool* ready) {
  *ready = false;
  if (e.tag >> 32 != call.tag >> 32) return MICS_SUCCESS;  // still in an earlier call
  MICS_CHECK(check_chunk(call, peer, {e.bytes, e.tag, e.shape}, bytes));
  *ready = true;
  return MICS_SUCCESS;
}

Result read_failed(Call& call, int peer, int err) {
  mics_comm* c = call.comm;
  const int pid = c->ranks[peer].pid;
  if (err == ESRCH || !transport::shm::process_alive(pid))
    return MICS_ERROR(MICS_REMOTE_ERROR, "%s #%" PRIu64 ": rank %d (pid %d) has exited",
                      kind_name(call.kind), call.seq, peer, pid);
  // The probe at communicator creation succeeded, so a policy changed since
  // (seccomp, Yama): the peers have chosen this path already, no way back now.
  return MICS_ERROR(MICS_INTERNAL_ERROR,
                    "%s #%" PRIu64 ": reading rank %d's buffer (pid %d) failed: %s%s",
                    kind_name(call.kind), call.seq, peer, pid, strerror(err),
                    err == EPERM || err == ENOSYS
                        ? " (cross-memory attach was refused after the communicator was "
                          "created; set MICS_SHM_CMA=0 on every rank to avoid it)"
                        : "");
}

// Copies peer's exposed range into dst once it is exposed, then releases it.
// Never waits: *done says whether it happened.
Result try_read_peer(Call& call, int peer, size_t bytes, void* dst, bool* done) {
  ShmDomain* shm = call.comm->shm.get();
  const int index = local_index(call.comm, peer);
  ShmDomain::Exposure e = shm->exposure(index, call.tag);
  MICS_CHECK(exposure_ready(call, peer, e, bytes, done));
  if (!*done) return MICS_SUCCESS;
  int err = shm->read_exposed(index, e, 0, bytes, dst);
  if (err != 0) return read_failed(call, peer, err);
  shm->release_exposure(index, call.tag);
  return MICS_SUCCESS;
}

// Waits until every reader has released our exposure `tag`: until then the
// exposed memory (our buffer, or the inline bytes) must not change.
Result wait_released(Call& call, uint64_t tag) {
  mics_comm* c = call.comm;
  if (c->shm->unreleased_reader(tag, false) < 0) return MICS_SUCCESS;
  for (;;) {
    uint32_t seen = c->wake_count();
    int index = c->shm->unreleased_reader(tag, true);
    if (index < 0) break;
    Result r = wait_progress(call, seen, c->shm_ranks[index], -1);
    if (r != MICS_SUCCESS) {
      c->shm->unreleased_reader(tag, false);
      return trace_error(r, __FILE__, __LINE__);
    }
  }
  c->shm->unreleased_reader(tag, false);
  return MICS_SUCCESS;
}

// Exposes [addr, addr + bytes) to the comm ranks `readers`, once the exposure
// it replaces (from two or more calls ago) has been released. That is known
// without looking when our previous call read every peer: a peer exposes
// call s only after finishing call s - 1, so all of them had finished every
// earlier call, and with it every read of ours.
Result expose(Call& call, const void* addr, size_t bytes, const std::vector<int>& readers,
              bool copy_inline) {
  mics_comm* c = call.comm;
  const uint64_t old = c->shm->exposure_to_retire(call.tag);
  const bool known_released =
      old != 0 && static_cast<int32_t>(static_cast<uint32_t>(old >> 32) -
                                       static_cast<uint32_t>(c->direct_read_all_seq)) < 0;
  if (!known_released) MICS_CHECK(wait_released(call, old));
  std::vector<int>& indices = c->direct_indices;
  indices.clear();
  for (int r : readers) indices.push_back(local_index(c, r));
  c->shm->expose(call.tag, call.shape, addr, bytes, indices, copy_inline);
  return MICS_SUCCESS;
}

// One pass over the pending peers: reads (and drops from *pending) those
// whose exposure for this call is there. Never waits.
Result read_exposed_peers(Call& call, const std::vector<DirectBlock>& blocks,
                          std::vector<int>* pending, bool* progressed) {
  *progressed = false;
  for (size_t i = 0; i < pending->size();) {
    bool done = false;
    const DirectBlock& b = blocks[(*pending)[i]];
    MICS_CHECK(try_read_peer(call, (*pending)[i], b.bytes, b.dst, &done));
    if (done) {
      pending->erase(pending->begin() + static_cast<long>(i));
      *progressed = true;
    } else {
      ++i;
    }
  }
  return MICS_SUCCESS;
}

// Inline exposures: within the polling budget, watch the exposures
// themselves rather than the doorbell. An owner's store is then one cache-line
// transfer away from us, where the doorbell adds a round trip on its own line
// (and a second transfer of the exposure once it rang).
Result poll_inline(Call& call, const std::vector<DirectBlock>& blocks, std::vector<int>* pending) {
  const int64_t spin_us = call.comm->shm->spin_us();
  if (spin_us <= 0) return MICS_SUCCESS;
  const Deadline until = Deadline::after_us(spin_us);
  for (int polls = 1; !pending->empty(); ++polls) {
    bool progressed = false;
    MICS_CHECK(read_exposed_peers(call, blocks, pending, &progressed));
    if (polls % 64 == 0 && until.expired()) break;  // the clock costs more than a poll
    __builtin_ia32_pause();
  }
  return MICS_SUCCESS;
}
}  // namespace

bool use_direct(const mics_comm* c, size_t bytes) {
  return c->size > 1 && c->shm && static_cast<int>(c->shm_ranks.size()) == c->size &&
         bytes >= c->shm_params.direct_bytes && c->shm->peer_reads();
}

bool use_inline(const mics_comm* c, size_t bytes) {
  return c->size > 1 && c->shm && static_cast<int>(c->shm_ranks.size()) == c->size &&
         bytes <= ShmDomain::kInlineBytes && c->shm_params.inline_exposures;
}

Result direct_allgather(Call& call, const void* send, void* recv, size_t bytes) {
  std::vector<DirectBlock>& blocks = call.comm->direct_blocks;
  blocks.resize(call.comm->size);
  for (size_t r = 0; r < blocks.size(); ++r)
    blocks[r] = {static_cast<char*>(recv) + r * bytes, bytes};
  return direct_allgather_blocks(call, send, blocks, use_inline(call.comm, bytes));
}

Result direct_allgather_blocks(Call& call, const void* own, const std::vector<DirectBlock>& blocks,
                               bool copy_inline) {
  mics_comm* c = call.comm;
  const int n = c->size, rank = c->rank;
  const DirectBlock& mine = blocks[rank];
  // Peers in ring order from our right, so that n readers start on n different
  // buffers; whichever is exposed first is read first.
  std::vector<int>& pending = c->direct_pending;
  pending.clear();
  for (int k = 1; k < n; ++k) pending.push_back((rank + k) % n);
  MICS_CHECK(expose(call, own, mine.bytes, pending, copy_inline));
  bool own_copied = own == mine.dst;
  if (copy_inline) MICS_CHECK(poll_inline(call, blocks, &pending));
  while (!pending.empty()) {
    uint32_t seen = c->wake_count();
    bool progressed = false;
    MICS_CHECK(read_exposed_peers(call, blocks, &pending, &progressed));
    if (!progressed && !own_copied) {  // side work while late peers get going
      memcpy(mine.dst, own, mine.bytes);
      own_copied = progressed = true;
    }
    if (!progressed) MICS_CHECK(wait_progress(call, seen, pending.front(), -1));
  }
  if (!own_copied) memcpy(mine.dst, own, mine.bytes);
  c->direct_read_all_seq = call.seq;
  return copy_inline ? MICS_SUCCESS : wait_released(call, call.tag);
}

Result direct_broadcast(Call& call, const void* send, void* recv, size_t bytes, int root) {
  mics_comm* c = call.comm;
  if (c->rank == root) {
    std::vector<int> readers;
    for (int r = 0; r < c->size; ++r)
      if (r != root) readers.push_back(r);
    const bool copy_inline = use_inline(c, bytes);
    MICS_CHECK(expose(call, send, bytes, readers, copy_inline));
    if (send != recv) memcpy(recv, send, bytes);
    return copy_inline ? MICS_SUCCESS : wait_released(call, call.tag);
  }
  for (;;) {
    uint32_t seen = c->wake_count();
    bool done = false;
    MICS_CHECK(try_read_peer(call, root, bytes, recv, &done));
    if (done) return MICS_SUCCESS;
    MICS_CHECK(wait_progress(call, seen, root, -1));
  }
}

}  // namespace mics::coll
