// The single-copy half of ShmDomain: probing whether local ranks can read each
// other's memory, and the expose / read / release protocol on top of the
// mailboxes (see mailbox.h).
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "src/base/log.h"
#include "transport/shm/mailbox.h"
#include "transport/shm/mailbox_layout.h"
#include "transport/shm/peer_memory.h"
#include "transport/shm/tsan_sync.h"

namespace mics::transport::shm {

void ShmDomain::probe_peer_reads() {
  uint32_t verdict = params_.peer_reads ? kPeerReadsYes : kPeerReadsNo;
  for (int i = 0; i < nlocal_ && verdict == kPeerReadsYes; ++i) {
    if (i == my_index_) continue;
    // Read the peer's own view of its header: its magic proves the read reached
    // the right process and address.
    uint32_t magic = 0;
    int err = read_process_memory(pids_[i], header(i)->self_addr, &magic, sizeof(magic));
    if (err != 0 || magic != kMagic) {
      verdict = kPeerReadsNo;
      MICS_LOG_INFO(
          "shared memory: cannot read local peer %d's memory (pid %d: %s); collectives keep "
          "the two-copy path through the mailboxes",
          i, pids_[i], err != 0 ? strerror(err) : "unexpected contents");
    }
  }
  header(my_index_)->peer_reads.store(verdict, std::memory_order_release);
}

bool ShmDomain::peer_reads() const {
  if (peer_reads_ < 0) {
    // Every rank published its verdict during attach, before the barrier that
    // ends communicator construction, so every rank sees all of them here.
    bool all = true;
    for (int i = 0; i < nlocal_; ++i)
      all = all && header(i)->peer_reads.load(std::memory_order_acquire) == kPeerReadsYes;
    peer_reads_ = all ? 1 : 0;
  }
  return peer_reads_ == 1;
}

static_assert(ShmDomain::kSidecarBytes == kSidecarWords * 8, "one sidecar layout");

namespace {
uint32_t seq_of(uint64_t tag) { return static_cast<uint32_t>(tag >> 32); }
int line_of(uint64_t tag) { return static_cast<int>(seq_of(tag) & 1); }
}  // namespace

uint64_t ShmDomain::exposure_to_retire(uint64_t tag) const { return line_tag_[line_of(tag)]; }

void ShmDomain::expose(uint64_t tag, uint64_t shape, const void* addr, size_t bytes,
                       const std::vector<int>& readers, bool copy_inline, const void* sidecar,
                       size_t sidecar_bytes) {
  const int line = line_of(tag);
  ExposureLine& x = header(my_index_)->exposures[line];
  ExposureSidecar& side = header(my_index_)->sidecars[line];
  // Host exposures have none: skip the second cache line unless it held one.
  if (sidecar_bytes > 0 || side.bytes.load(std::memory_order_relaxed) != 0) {
    uint64_t words[kSidecarWords] = {};
    sidecar_bytes = std::min(sidecar_bytes, kSidecarBytes);
    if (sidecar_bytes > 0) memcpy(words, sidecar, sidecar_bytes);
    for (size_t i = 0; i < kSidecarWords; ++i)
      side.words[i].store(words[i], std::memory_order_relaxed);
    side.bytes.store(sidecar_bytes, std::memory_order_relaxed);
  }
  x.shape.store(shape, std::memory_order_relaxed);
  x.bytes.store(bytes, std::memory_order_relaxed);
  if (copy_inline) {
    uint64_t words[4] = {};
    memcpy(words, addr, std::min(bytes, sizeof(words)));
    for (int i = 0; i < 4; ++i) x.inline_words[i].store(words[i], std::memory_order_relaxed);
    x.addr.store(0, std::memory_order_relaxed);
  } else {
    x.addr.store(reinterpret_cast<uintptr_t>(addr), std::memory_order_relaxed);
  }
  MICS_TSAN_RELEASE(&x.tag);  // orders our writes to the exposed buffer before peers' reads
  x.tag.store(tag, std::memory_order_release);
  line_tag_[line] = tag;
  line_readers_[line] = readers;
  for (int i = 0; i < nlocal_; ++i)
    if (i != my_index_) ring_doorbell(header(i));
}

int ShmDomain::unreleased_reader(uint64_t tag, bool await) {
  // Dekker with release_exposure(): we publish "awaiting" then read the
  // releases; a reader stores its release then reads "awaiting".
  std::atomic<uint32_t>& awaiting = header(my_index_)->awaiting_release;
  if (await || awaiting.load(std::memory_order_relaxed) != 0)  // readers poll this line: no
    awaiting.store(await ? 1 : 0, std::memory_order_seq_cst);  // needless writes
  if (tag == 0) return -1;
  // Readers release our exposures in order: a later release covers this one.
  const int line = line_of(tag);
  if (line_tag_[line] != tag) return -1;  // not exposed, or already retired
  for (int i : line_readers_[line]) {
    const uint64_t released = channel(my_index_, i)->released.load(std::memory_order_seq_cst);
    if (static_cast<int32_t>(seq_of(released) - seq_of(tag)) < 0) return i;
  }
  // Their reads of our buffer come before whatever we write into it next.
#ifdef MICS_TSAN
  for (int i : line_readers_[line]) MICS_TSAN_ACQUIRE(&channel(my_index_, i)->released);
#endif
  return -1;
}

ShmDomain::Exposure ShmDomain::exposure(int index, uint64_t tag) const {
  const ExposureLine& x = header(index)->exposures[line_of(tag)];
  // The owner rewrites a line for its operation two after this one, which it
  // starts once every reader released this one; a reader can still catch it
  // half-way through publishing (fields new, tag old), so read until the tag
  // is the same on both sides of the fields. A stable tag that is the
  // reader's own operation has stable fields.
  for (;;) {
    Exposure e;
    e.tag = x.tag.load(std::memory_order_acquire);
    e.shape = x.shape.load(std::memory_order_relaxed);
    e.addr = x.addr.load(std::memory_order_relaxed);
    e.bytes = x.bytes.load(std::memory_order_relaxed);
    for (int i = 0; i < 4; ++i)
      e.inline_words[i] = x.inline_words[i].load(std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_acquire);
    if (x.tag.load(std::memory_order_relaxed) == e.tag) {
      MICS_TSAN_ACQUIRE(sync_key(index, &x.tag));
      return e;
    }
  }
}

size_t ShmDomain::exposure_sidecar(int index, uint64_t tag, void* out) const {
  const ExposureLine& x = header(index)->exposures[line_of(tag)];
  const ExposureSidecar& side = header(index)->sidecars[line_of(tag)];
  // Ordered by the tag's release (expose writes the sidecar first); the
  // owner rewrites it only after we released `tag`, which we have not yet.
  if (x.tag.load(std::memory_order_acquire) != tag) return 0;
  uint64_t words[kSidecarWords];
  for (size_t i = 0; i < kSidecarWords; ++i)
    words[i] = side.words[i].load(std::memory_order_relaxed);
  const size_t bytes =
      std::min<uint64_t>(side.bytes.load(std::memory_order_relaxed), kSidecarBytes);
  memcpy(out, words, bytes);
  return bytes;
}

int ShmDomain::read_exposed(int index, const Exposure& e, size_t off, size_t len, void* dst) const {
  if (off > e.bytes || len > e.bytes - off) return EFAULT;
  if (e.addr == 0) {
    if (e.bytes > kInlineBytes) return EFAULT;
    memcpy(dst, reinterpret_cast<const char*>(e.inline_words) + off, len);
    return 0;
  }
  return read_process_memory(pids_[index], e.addr + off, dst, len);
}

void ShmDomain::release_exposure(int index, uint64_t tag) {
  std::atomic<uint64_t>& released = channel(index, my_index_)->released;
  MICS_TSAN_RELEASE(sync_key(index, &released));  // our reads of its buffer come first
  released.store(tag, std::memory_order_seq_cst);
  if (header(index)->awaiting_release.load(std::memory_order_seq_cst)) ring_doorbell(header(index));
}

}  // namespace mics::transport::shm
