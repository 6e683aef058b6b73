// Shared-memory transport for ranks on one physical host.
//
// Every rank owns one mailbox segment. It holds a doorbell (a futex word the
// owner sleeps on) and, for each local peer, one channel: a ring of slots that
// only that peer writes into and only the owner reads. A send therefore is one
// copy into the receiver's mailbox, and a receive one copy (or reduction) out
// of it. Posting rings the receiver's doorbell; releasing a slot rings the
// sender's, so a rank waiting for anything sleeps on a single word.
//
// Besides the channels, the single-copy path (exposure.cc): an owner exposes
// a range of its own memory in its mailbox header, peers copy straight out of
// it (cross-memory attach, or memcpy between threads of one process) and
// release it. Tiny ranges travel inside the exposure's cache line.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "src/base/deadline.h"
#include "src/base/error.h"
#include "transport/connection.h"
#include "transport/shm/segment.h"

namespace mics::transport::shm {

struct ShmParams {
  size_t slot_bytes = 256 << 10;  // MICS_SHM_CHUNK_BYTES
  int nslots = 4;                 // MICS_SHM_SLOTS
  bool peer_reads = true;         // MICS_SHM_CMA: allow the single-copy path
  // MICS_SHM_DIRECT_BYTES: a rank's share from which the algorithms read peers'
  // buffers directly instead of going through the slots (measured, see
  // docs/PERFORMANCE.md).
  size_t direct_bytes = 256 << 10;
  // MICS_SHM_DIRECT_REDUCE: reduce-scatter (and allreduce's first half) on
  // host memory reads the peers' inputs directly too, from direct_bytes on.
  // Off by default: the ring reduces out of the mailboxes faster here
  // (docs/PERFORMANCE.md); device buffers always read directly.
  bool direct_reduce = false;
  // MICS_SHM_INLINE: tiny allgathers / broadcasts through the exposure line.
  bool inline_exposures = true;
  // MICS_SHM_SPIN_US: how long a waiting rank polls before it yields and
  // sleeps; -1 = automatic (see ShmDomain::spin_us).
  int64_t spin_us = -1;
};

// Reads MICS_SHM_CHUNK_BYTES / MICS_SHM_SLOTS / MICS_SHM_CMA / MICS_SHM_INLINE /
// MICS_SHM_DIRECT_BYTES / MICS_SHM_DIRECT_REDUCE / MICS_SHM_SPIN_US (validated).
Result shm_params_from_env(ShmParams* out);

struct MailboxHeader;
struct ChannelCtl;

class ShmDomain {
 public:
  // Creates this rank's mailbox for nlocal local ranks; my_index is ours.
  static Result create(const std::string& name, int my_index, int nlocal, const ShmParams& params,
                       std::unique_ptr<ShmDomain>* out);
  ~ShmDomain();
  ShmDomain(const ShmDomain&) = delete;
  ShmDomain& operator=(const ShmDomain&) = delete;

  // Maps every local peer's mailbox (names[i] belongs to local index i; pids
  // are for liveness checks, pid 0 = unknown). The last rank to map a mailbox
  // unlinks it.
  Result attach(const std::vector<std::string>& names, const std::vector<int>& pids,
                Deadline deadline);

  // The connection to local peer `index` (valid after attach, owned by the caller).
  std::unique_ptr<Connection> connect(int index);

  // Doorbell: read it, test your conditions, then wait(seen) if nothing moved.
  uint32_t doorbell() const;
  // Sleeps until the doorbell differs from seen or max_us pass.
  void wait(uint32_t seen, int64_t max_us);
  // Wakes this rank's waiter (used by abort from another thread).
  void ring_self();

  // Tells the local peers that this rank's communicator has failed (a code,
  // not 0) from operation `from_seq` on (the first it did not finish), so that
  // they stop waiting for it instead of timing out.
  void publish_failure(int code, const char* reason, uint64_t from_seq);
  // The local index of a peer that published a failure that concerns our
  // operation `seq` (its from_seq <= seq; its code and message in *code and
  // *reason), or -1. A peer that failed later finished `seq` already.
  int failed_peer(uint64_t seq, int* code, std::string* reason) const;

  // How long a waiter should poll before yielding the core: MICS_SHM_SPIN_US,
  // or by default a few tens of microseconds when the local ranks do not
  // outnumber the cores we may run on (a peer's answer is then on its way
  // while we poll), and 0 when they do (polling would steal its core).
  int64_t spin_us() const { return spin_us_; }

  // ---- Single-copy path: peers read a range of our memory directly. ----
  // The transport knows no collective: an owner exposes one range per
  // operation (tag), readers copy pieces of it and release it, and the owner
  // waits for every release before the memory may change.
  struct Exposure {
    uint64_t tag = 0;  // the owner's operation; 0 = nothing exposed yet
    uint64_t shape = 0;
    uint64_t addr = 0;  // in the owner's address space; 0 = the bytes are inline
    uint64_t bytes = 0;
    uint64_t inline_words[4] = {};
  };
  // Ranges up to this size travel inside the exposure itself (one cache line
  // with its tag): the reader's snapshot holds them, so the owner may return
  // at once and only waits for the releases before it exposes again.
  static constexpr size_t kInlineBytes = sizeof(Exposure::inline_words);
  // True when every local rank can read every other's memory: each probed
  // its peers at attach (cross-memory attach, or same process) and published
  // the result; all ranks compute the same answer after the init barrier.
  bool peer_reads() const;
  // Exposures alternate between two lines by the parity of the operation's
  // sequence number (tag >> 32): a reader still on operation s never sees the
  // owner publishing s + 1, and the owner need not wait for the releases of s
  // before it publishes s + 1, only for those of s - 1 (or whatever last used
  // the line) before s + 2.
  // Publishes [addr, addr + bytes) for operation tag and rings the peers;
  // `readers` (local indices) release it. The caller first makes sure the
  // exposure that last used tag's line (exposure_to_retire) is released.
  // inline: copy the bytes into the exposure (bytes <= kInlineBytes).
  // sidecar: up to kSidecarBytes the readers need to reach the range (a
  // device buffer's IPC handle), or none (sidecar_bytes 0).
  void expose(uint64_t tag, uint64_t shape, const void* addr, size_t bytes,
              const std::vector<int>& readers, bool copy_inline, const void* sidecar = nullptr,
              size_t sidecar_bytes = 0);
  static constexpr size_t kSidecarBytes = 128;
  // Copies the sidecar of peer `index`'s exposure `tag` into out (kSidecarBytes)
  // and returns its length; 0 when it has none, or when the line no longer
  // holds `tag` (call it after exposure() returned that tag).
  size_t exposure_sidecar(int index, uint64_t tag, void* out) const;
  // Our exposure that publishing `tag` would overwrite; 0 = none.
  uint64_t exposure_to_retire(uint64_t tag) const;
  // A reader of our exposure `tag` that has not released it yet, or -1 (also
  // when tag is 0 or was overwritten). await: and ask readers to ring our
  // doorbell when they release (before sleeping on the doorbell; call again
  // with await = false once done).
  int unreleased_reader(uint64_t tag, bool await);
  // What local peer `index` exposes now on the line of operation `tag` (its
  // own operation `tag`, or an earlier one).
  Exposure exposure(int index, uint64_t tag) const;
  // Copies [off, off + len) of e (peer `index`'s exposure) into dst. Returns
  // 0 or the errno of the failure (ESRCH: the peer is gone).
  int read_exposed(int index, const Exposure& e, size_t off, size_t len, void* dst) const;
  // Tells peer `index` that we are done reading its exposure `tag`.
  void release_exposure(int index, uint64_t tag);

 private:
  ShmDomain() = default;
  Result attach_one(int index, const std::string& name, Deadline deadline);
  MailboxHeader* header(int index) const;
  ChannelCtl* channel(int owner, int sender) const;
  char* slot(int owner, int sender, uint32_t seq) const;
  void probe_peer_reads();
  // TSan's key for `p`, an address inside local index `index`'s mailbox: p in
  // the owner's own mapping, or nullptr when the owner is another process
  // (transport/shm/tsan_sync.h).
  const void* sync_key(int index, const void* p) const;
  friend class ShmConnection;

  std::string name_;
  int my_index_ = 0;
  int nlocal_ = 0;
  ShmParams params_;
  size_t data_offset_ = 0;
  std::vector<Mapping> maps_;  // per local index; maps_[my_index_] is our own
  std::vector<int> pids_;
  int own_pid_ = 0;  // getpid() at creation (sync_key compares peers' with it)
  bool unlinked_ = false;
  int64_t spin_us_ = 0;
  mutable int peer_reads_ = -1;    // agreed answer of peer_reads(), -1 = not computed yet
  uint64_t line_tag_[2] = {0, 0};  // our exposure on each line and who must release it
  std::vector<int> line_readers_[2];
};

}  // namespace mics::transport::shm
