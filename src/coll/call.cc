#include "src/coll/call.h"

#include <sched.h>
#include <unistd.h>

#include <cinttypes>

#include "topo/node_id.h"

namespace mics::coll {
namespace {
constexpr uint64_t kShapeCountMask = (1ull << 48) - 1;
constexpr int kSpins = 64;           // doorbell polls before yielding the core
constexpr int64_t kSliceMs = 100;    // futex sleep per slice; liveness checked between slices
constexpr int64_t kNetPollUs = 100;  // with a network endpoint: busy-poll this long first
constexpr int64_t kFirstNapUs = 20;  // with a network endpoint: first nap between polls
constexpr int64_t kMaxNapUs = 500;   // ... growing to this, so protocol progress stays prompt

const char* type_name(uint32_t t) {
  static const char* names[] = {"int8",   "uint8",   "int32",   "uint32",  "int64",
                                "uint64", "float16", "float32", "float64", "bfloat16"};
  return t < MICS_NUM_TYPES ? names[t] : "?";
}

std::string describe(uint64_t tag) {
  char buf[128];
  snprintf(buf, sizeof(buf), "%s #%" PRIu64 " (%s, op %u, shape %05" PRIx64 ")",
           kind_name(static_cast<Kind>((tag >> 28) & 0xf)), tag >> 32,
           type_name(static_cast<uint32_t>((tag >> 24) & 0xf)),
           static_cast<unsigned>((tag >> 20) & 0xf), tag & 0xfffff);
  return buf;
}
// "rank 3", or "rank 1 (world rank 3)" in a subgroup, so that a failure inside
// the hierarchical algorithms' subgroups names the rank the user knows.
std::string rank_name(const mics_comm* c, int r) {
  std::string s = "rank " + std::to_string(r);
  if (c->ranks[r].rank != r) s += " (world rank " + std::to_string(c->ranks[r].rank) + ")";
  return s;
}

std::string peers_text(const mics_comm* c, int a, int b) {
  std::string s;
  if (a >= 0) s = rank_name(c, a);
  if (b >= 0 && b != a) s += (s.empty() ? "" : " and ") + rank_name(c, b);
  return s;
}

// Our left neighbour in the same call (sequence number) but on the other data
// path: if it exposes a buffer (single-copy path) or sends us a chunk (rings)
// for that call with another operation or shape, the calls are mismatched,
// and neither path alone would see it, since each side waits for what the
// other never sends. Only the left neighbour, as in the rings: some rank's
// left neighbour is on the other side of any mismatch, so someone detects it.
Result check_other_path(Call& call) {
  mics_comm* c = call.comm;
  if (!c->shm || c->size < 2) return MICS_SUCCESS;
  const int left = (c->rank + c->size - 1) % c->size;
  const uint64_t seq = call.tag >> 32;
  for (size_t i = 0; i < c->shm_ranks.size(); ++i) {
    if (c->shm_ranks[i] != left) continue;
    transport::shm::ShmDomain::Exposure e = c->shm->exposure(static_cast<int>(i), call.tag);
    if (e.tag >> 32 == seq) MICS_CHECK(check_chunk(call, left, {e.bytes, e.tag, e.shape}, e.bytes));
    transport::ChunkMeta meta;
    if (c->conn[left] && c->conn[left]->recv_slot(&meta) && meta.tag >> 32 == seq)
      MICS_CHECK(check_chunk(call, left, meta, meta.bytes));  // a peek: the slot stays
  }
  return MICS_SUCCESS;
}

// Ranks waiting for us would otherwise sit out their timeout: our node's
// learn it through the mailboxes, the other nodes' through a notice on the
// network. On the hierarchical algorithms' subgroups too, where our peers
// may be waiting inside a flat collective that watches only its subgroup
// (subgroups first: the parent's notices may wait for peers to poll it).
// Each names the first operation on its communicator we did not finish: a
// peer still in an earlier one needs nothing more from us and carries on.
void publish_failure(mics_comm* c, Result r, const char* message) {
  for (mics_comm* sub : {c->rail_comm.get(), c->node_comm.get()})
    if (sub) publish_failure(sub, r, message);
  const uint64_t from = c->completed_seq.load() + 1;
  if (c->shm) c->shm->publish_failure(r, message, from);
  if (c->net) c->net->publish_failure(r, message, from);
}

int left_of(const mics_comm* c) { return (c->rank + c->size - 1) % c->size; }
int right_of(const mics_comm* c) { return (c->rank + 1) % c->size; }
}  // namespace

// Is every peer of c that we could be waiting for still alive? (Shared-memory
// peers only: a network peer's death shows up as a transfer error.) Has any
// rank of our node given up on this communicator?
Result check_alive(const Call& call, const mics_comm* c, int peer_a, int peer_b) {
  for (int peer : {peer_a, peer_b}) {  // our own neighbours first: they may be the cause
    if (peer >= 0 && c->conn[peer] && !c->conn[peer]->peer_alive())
      return MICS_ERROR(MICS_REMOTE_ERROR, "%s #%" PRIu64 ": %s (pid %d) has exited",
                        kind_name(call.kind), call.seq, rank_name(c, peer).c_str(),
                        c->ranks[peer].pid);
  }
  int code = 0;
  std::string reason;
  // c->seq: the operation c is in (the parent's or a subgroup's own).
  int failed = c->shm ? c->shm->failed_peer(c->seq, &code, &reason) : -1;
  if (failed >= 0)
    return MICS_ERROR(MICS_REMOTE_ERROR,
                      "%s #%" PRIu64 ": %s gave up on this communicator (%s: %s)",
                      kind_name(call.kind), call.seq, rank_name(c, c->shm_ranks[failed]).c_str(),
                      mics_result_string(static_cast<mics_result_t>(code)), reason.c_str());
  return MICS_SUCCESS;
}

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::kAllgather:
      return "allgather";
    case Kind::kReduceScatter:
      return "reduce_scatter";
    case Kind::kAllreduce:
      return "allreduce";
    case Kind::kBroadcast:
      return "broadcast";
    case Kind::kBarrier:
      return "barrier";
    case Kind::kHierAllgather:
      return "hier_allgather";
  }
  return "?";
}

Call::~Call() {
  comm->in_flight_kind.store(0, std::memory_order_relaxed);
  if (comm->fatal.load(std::memory_order_relaxed) == MICS_SUCCESS)
    comm->completed_seq.store(seq, std::memory_order_relaxed);
}

Call::Call(mics_comm* c, Kind k, mics_datatype_t type, mics_redop_t op, size_t count, int root)
    : comm(c),
      kind(k),
      seq(++c->seq),
      shape((count & kShapeCountMask) | static_cast<uint64_t>(root) << 48),
      deadline(Deadline::after_ms(c->timeout_ms)) {
  // Device calls on the direct path expose device memory: a rank that called
  // with host buffers must see a mismatch, not read device addresses.
  if (c->device_memory) shape |= uint64_t{1} << 63;
  if (c->net) c->net->enter_operation(seq);
  c->in_flight_kind.store(static_cast<uint32_t>(k), std::memory_order_relaxed);
  uint64_t key[2] = {count, static_cast<uint64_t>(root)};
  uint64_t h = topo::hash_bytes(key, sizeof(key)) & 0xfffff;
  tag = (seq & 0xffffffffull) << 32 | (static_cast<uint64_t>(k) & 0xf) << 28 |
        (static_cast<uint64_t>(type) & 0xf) << 24 | (static_cast<uint64_t>(op) & 0xf) << 20 | h;
}

Result wait_progress(Call& call, uint32_t seen, int peer_a, int peer_b) {
  mics_comm* c = call.comm;
  // Something moved: a shared-memory peer rang, or the network made progress.
  auto moved = [&](bool* yes) -> Result {
    *yes = c->wake_count() != seen;
    if (!*yes && c->net) MICS_CHECK(c->net->progress(yes));
    return MICS_SUCCESS;
  };
  bool yes = false;
  auto spin = [&]() -> Result {
    for (int i = 0; i < kSpins && !yes; ++i) {
      MICS_CHECK(moved(&yes));
      if (!yes) __builtin_ia32_pause();
    }
    return MICS_SUCCESS;
  };
  MICS_CHECK(spin());
  if (yes) return MICS_SUCCESS;
  // With a core per local rank, the peer's answer is usually microseconds
  // away: poll through a time budget before paying for a yield and a futex
  // sleep and wake-up (tens of microseconds). 0 on oversubscribed hosts.
  if (const int64_t spin_us = c->shm ? c->shm->spin_us() : 0; spin_us > 0) {
    auto until = Clock::now() + std::chrono::microseconds(spin_us);
    while (!yes && Clock::now() < until) MICS_CHECK(spin());
    if (yes) return MICS_SUCCESS;
  }
  // A network round trip (data, then the credit back) takes tens of
  // microseconds: poll through it before napping, yielding between polls so an
  // oversubscribed core still goes to the peer we wait for.
  if (c->net) {
    auto until = Clock::now() + std::chrono::microseconds(kNetPollUs);
    while (Clock::now() < until) {
      MICS_CHECK(moved(&yes));
      if (yes) return MICS_SUCCESS;
      sched_yield();
    }
  }
  // Before the first sleep: a mismatch across the two data paths is found at
  // once by the rank that sees it, as the rings find theirs on arrival.
  MICS_CHECK(check_other_path(call));
  sched_yield();  // oversubscribed hosts: let the peer we wait for run
  // Network completions ring no doorbell, so with a network endpoint we sleep
  // in short, growing naps; with shared memory only, until the doorbell rings.
  int64_t nap_us = kFirstNapUs;
  auto last_liveness = Clock::now();
  for (;;) {
    if (c->aborted.load())
      return MICS_ERROR(MICS_INVALID_USAGE, "%s #%" PRIu64 ": the communicator was aborted",
                        kind_name(call.kind), call.seq);
    MICS_CHECK(moved(&yes));
    if (yes) return MICS_SUCCESS;
    int64_t left = call.deadline.remaining_ms();
    if (left == 0)
      return MICS_ERROR(MICS_TIMEOUT,
                        "%s #%" PRIu64 " on rank %d timed out after %" PRId64 " ms waiting for %s",
                        kind_name(call.kind), call.seq, c->rank, c->timeout_ms,
                        peers_text(c, peer_a, peer_b).c_str());
    int64_t sleep_us = c->net ? nap_us : std::min(left, kSliceMs) * 1000;
    if (c->shm) {
      c->shm->wait(seen, sleep_us);
    } else {
      usleep(static_cast<useconds_t>(sleep_us));
    }
    nap_us = std::min(nap_us * 2, kMaxNapUs);
    if (c->wake_count() != seen) return MICS_SUCCESS;
    if (Clock::now() - last_liveness < std::chrono::milliseconds(kSliceMs)) continue;
    last_liveness = Clock::now();
    MICS_CHECK(check_other_path(call));
    MICS_CHECK(check_alive(call, c, peer_a, peer_b));
  }
}

Result wait_either(Call& call, mics_comm* a, mics_comm* b, uint32_t seen_a, uint32_t seen_b,
                   WaitState* ws) {
  // The parent too: a rank that fails publishes on the parent communicator,
  // whose endpoint and mailboxes the subgroups' loops would not look at.
  for (mics_comm* c : {a, b, call.comm}) {
    bool moved = false;
    if (c->net) MICS_CHECK(c->net->progress(&moved));
    if (moved && c != call.comm) return MICS_SUCCESS;
  }
  if (a->wake_count() != seen_a || b->wake_count() != seen_b) return MICS_SUCCESS;
  if (call.comm->aborted.load())
    return MICS_ERROR(MICS_INVALID_USAGE, "%s #%" PRIu64 ": the communicator was aborted",
                      kind_name(call.kind), call.seq);
  if (call.deadline.expired())
    return MICS_ERROR(MICS_TIMEOUT,
                      "%s #%" PRIu64 " on rank %d timed out after %" PRId64
                      " ms waiting for its rail peers (%s) or node peers (%s)",
                      kind_name(call.kind), call.seq, call.comm->rank, call.comm->timeout_ms,
                      peers_text(a, left_of(a), right_of(a)).c_str(),
                      peers_text(b, left_of(b), right_of(b)).c_str());
  if (b->shm) {
    b->shm->wait(seen_b, ws->nap_us);
  } else if (a->shm) {
    a->shm->wait(seen_a, ws->nap_us);
  } else {
    usleep(static_cast<useconds_t>(ws->nap_us));
  }
  ws->nap_us = std::min(ws->nap_us * 2, kMaxNapUs);
  if (Clock::now() - ws->last_liveness >= std::chrono::milliseconds(kSliceMs)) {
    ws->last_liveness = Clock::now();
    for (mics_comm* c : {a, b}) MICS_CHECK(check_alive(call, c, left_of(c), right_of(c)));
    MICS_CHECK(check_alive(call, call.comm, -1, -1));  // failures published on the parent
  }
  return MICS_SUCCESS;
}

Result drain(Call& call, transport::Connection* tx, int peer) {
  for (;;) {
    uint32_t seen = call.comm->wake_count();
    if (!tx || tx->sends_done()) return MICS_SUCCESS;
    MICS_CHECK(wait_progress(call, seen, peer, -1));
  }
}

Result check_chunk(Call& call, int peer, const transport::ChunkMeta& meta, size_t expected_bytes) {
  const uint64_t tag = meta.tag;
  const size_t bytes = meta.bytes;
  if (call.comm->peer_seq) call.comm->peer_seq[peer].store(tag >> 32, std::memory_order_relaxed);
  if (tag != call.tag)
    return MICS_ERROR(MICS_INVALID_USAGE,
                      "mismatched collectives: rank %d is in %s, rank %d is in %s", call.comm->rank,
                      describe(call.tag).c_str(), peer, describe(tag).c_str());
  if (meta.shape != call.shape)
    return MICS_ERROR(MICS_INVALID_USAGE,
                      "mismatched collectives: %s: rank %d has count %" PRIu64 " (root %" PRIu64
                      "), rank %d has count %" PRIu64 " (root %" PRIu64 ")",
                      describe(call.tag).c_str(), peer, meta.shape & kShapeCountMask,
                      meta.shape >> 48, call.comm->rank, call.shape & kShapeCountMask,
                      call.shape >> 48);
  if (bytes != expected_bytes)
    return MICS_ERROR(MICS_INVALID_USAGE,
                      "mismatched collectives: %s: rank %d sent a %zu-byte chunk, rank %d "
                      "expected %zu bytes",
                      describe(call.tag).c_str(), peer, bytes, call.comm->rank, expected_bytes);
  return MICS_SUCCESS;
}

Result finish(Call& call, Result r) {
  if (r != MICS_SUCCESS && call.comm->fatal.load() == MICS_SUCCESS) {
    call.comm->fatal_message = thread_error();
    call.comm->fatal.store(r, std::memory_order_release);
    publish_failure(call.comm, r, call.comm->fatal_message.c_str());
  }
  return r;
}

}  // namespace mics::coll
