#include "src/coll/direct.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "src/reduce/reduce.h"

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

// Starts copying peer's exposed range into dst once it is exposed (the
// caller flushes the memory's copies, then releases it). Never waits: *done
// says whether it started.
Result try_read_peer(Call& call, int peer, size_t bytes, void* dst, bool* done) {
  ShmDomain* shm = call.comm->shm.get();
  const int index = local_index(call.comm, peer);
  ShmDomain::Exposure e = shm->exposure(index, call.tag);
  MICS_CHECK(exposure_ready(call, peer, e, bytes, done));
  if (!*done) return MICS_SUCCESS;
  return direct_memory(call.comm).read(call, {peer, index, e}, 0, bytes, dst);
}

// Once the copies out of `peers`' exposures are complete, tells them so.
Result release_peers(Call& call, const std::vector<int>& peers) {
  if (peers.empty()) return MICS_SUCCESS;
  MICS_CHECK(direct_memory(call.comm).flush());
  for (int peer : peers) call.comm->shm->release_exposure(local_index(call.comm, peer), call.tag);
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
  uint64_t sidecar[ShmDomain::kSidecarBytes / 8];
  size_t sidecar_bytes = 0;
  if (!copy_inline)
    MICS_CHECK(direct_memory(c).describe(call, addr, bytes, sidecar, &sidecar_bytes));
  c->shm->expose(call.tag, call.shape, addr, bytes, indices, copy_inline, sidecar, sidecar_bytes);
  return MICS_SUCCESS;
}

// One pass over the pending peers: reads (and drops from *pending) those
// whose exposure for this call is there. Never waits.
Result read_exposed_peers(Call& call, const std::vector<DirectBlock>& blocks,
                          std::vector<int>* pending, bool* progressed) {
  *progressed = false;
  std::vector<int>& read = call.comm->direct_read;
  read.clear();
  for (size_t i = 0; i < pending->size();) {
    bool done = false;
    const DirectBlock& b = blocks[(*pending)[i]];
    MICS_CHECK(try_read_peer(call, (*pending)[i], b.bytes, b.dst, &done));
    if (done) {
      read.push_back((*pending)[i]);
      pending->erase(pending->begin() + static_cast<long>(i));
      *progressed = true;
    } else {
      ++i;
    }
  }
  return release_peers(call, read);
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

bool all_local(const mics_comm* c) {
  return c->size > 1 && c->shm && static_cast<int>(c->shm_ranks.size()) == c->size;
}

bool use_direct(const mics_comm* c, size_t bytes) {
  if (c->device_memory) return all_local(c);  // device buffers: peers mapped, any size
  return all_local(c) && bytes >= c->shm_params.direct_bytes && c->shm->peer_reads();
}

bool use_direct_reduce(const mics_comm* c, size_t bytes) {
  return use_direct(c, bytes) && (c->device_memory || c->shm_params.direct_reduce);
}

bool use_inline(const mics_comm* c, size_t bytes) {
  return !c->device_memory && all_local(c) && bytes <= ShmDomain::kInlineBytes &&
         c->shm_params.inline_exposures;
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
      MICS_CHECK(direct_memory(c).copy(mine.dst, own, mine.bytes));
      own_copied = progressed = true;
    }
    if (!progressed) MICS_CHECK(wait_progress(call, seen, pending.front(), -1));
  }
  if (!own_copied) MICS_CHECK(direct_memory(c).copy(mine.dst, own, mine.bytes));
  MICS_CHECK(direct_memory(c).flush());
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
    MICS_CHECK(direct_memory(c).copy(recv, send, bytes));
    MICS_CHECK(direct_memory(c).flush());
    return copy_inline ? MICS_SUCCESS : wait_released(call, call.tag);
  }
  for (;;) {
    uint32_t seen = c->wake_count();
    bool done = false;
    MICS_CHECK(try_read_peer(call, root, bytes, recv, &done));
    if (done) break;
    MICS_CHECK(wait_progress(call, seen, root, -1));
  }
  c->direct_read.assign(1, root);
  return release_peers(call, c->direct_read);
}

Result direct_reduce_scatter(Call& call, const void* send, void* recv,
                             const std::vector<size_t>& counts, mics_datatype_t type,
                             mics_redop_t op) {
  mics_comm* c = call.comm;
  DirectMemory& mem = direct_memory(c);
  const int n = c->size, rank = c->rank;
  const size_t esize = mics_type_size(type), wsize = wire_type_size(type);
  size_t first = 0, total_count = 0;  // our block's first element; the input's length
  for (int r = 0; r < n; ++r) {
    if (r == rank) first = total_count;
    total_count += counts[r];
  }
  const size_t total = total_count * esize, count = counts[rank];
  std::vector<int>& readers = c->direct_pending;
  readers.clear();
  for (int k = 1; k < n; ++k) readers.push_back((rank + k) % n);
  MICS_CHECK(expose(call, send, total, readers, false));

  const size_t off = first * esize;
  const char* own = static_cast<const char*>(send) + off;
  char* out = static_cast<char*>(recv);
  // r's exposure for this call (even with nothing to read: r awaits our release).
  auto wait_exposed = [&](int r, ShmDomain::Exposure* e) -> Result {
    for (bool ready = false;;) {
      uint32_t seen = c->wake_count();
      *e = c->shm->exposure(local_index(c, r), call.tag);
      MICS_CHECK(exposure_ready(call, r, *e, total, &ready));
      if (ready) return MICS_SUCCESS;
      MICS_CHECK(wait_progress(call, seen, r, -1));
    }
  };
  // Views are mappings (device memory, threads of one process): one pass over
  // all the inputs, folded in rank order.
  if (mem.view_limit() == SIZE_MAX) {
    std::vector<const void*> srcs(n, own);
    for (int r = 0; r < n; ++r) {
      if (r == rank) continue;
      ShmDomain::Exposure e;
      MICS_CHECK(wait_exposed(r, &e));
      MICS_CHECK(mem.view(call, {r, local_index(c, r), e}, off, count * esize, &srcs[r]));
    }
    MICS_CHECK(mem.reduce_inputs(type, op, out, srcs, count, n));
    MICS_CHECK(mem.flush());
    for (int r = 0; r < n; ++r)
      if (r != rank) c->shm->release_exposure(local_index(c, r), call.tag);
    c->direct_read_all_seq = call.seq;
    return wait_released(call, call.tag);
  }
  // Views are copies of at most view_limit() bytes (host memory of other
  // processes): fold piece by piece into a wire-type partial, in rank order (waiting for each rank
  // in turn rather than taking whichever is exposed first): the same result on every run.
  void* acc_mem = nullptr;
  MICS_CHECK(mem.scratch(std::max<size_t>(count * wsize, 1), &acc_mem));
  char* acc = static_cast<char*>(acc_mem);
  const size_t step = std::max<size_t>(mem.view_limit() / esize, 1);
  for (int r = 0; r < n; ++r) {
    const int index = local_index(c, r);
    ShmDomain::Exposure e;
    if (r != rank) MICS_CHECK(wait_exposed(r, &e));
    for (size_t i = 0; i < count; i += step) {
      const size_t k = std::min(step, count - i);
      const void* src = own + i * esize;
      if (r != rank) MICS_CHECK(mem.view(call, {r, index, e}, off + i * esize, k * esize, &src));
      char* a = acc + i * wsize;
      if (r == 0)
        to_wire(type, a, src, k);
      else if (r == n - 1)
        reduce_to_final(type, op, out + i * esize, a, src, k, n);
      else
        reduce_to_wire(type, op, a, a, src, k);
    }
    if (r != rank) {
      MICS_CHECK(mem.flush());
      c->shm->release_exposure(index, call.tag);
    }
  }
  MICS_CHECK(mem.flush());
  c->direct_read_all_seq = call.seq;
  return wait_released(call, call.tag);
}

}  // namespace mics::coll
