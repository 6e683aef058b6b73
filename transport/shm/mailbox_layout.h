// The layout of a mailbox segment, shared by the two halves of ShmDomain
// (mailbox.cc: channels and doorbell; exposure.cc: the single-copy path).
// Private to transport/shm.
#pragma once

#include <atomic>
#include <cstdint>

#include "transport/connection.h"

namespace mics::transport::shm {

constexpr uint32_t kMagic = 0x4d494353;  // "MICS"
constexpr int kMaxSlots = 16;

// peer_reads flag values in MailboxHeader.
constexpr uint32_t kPeerReadsUnknown = 0, kPeerReadsNo = 1, kPeerReadsYes = 2;

// One exposure (ShmDomain::expose), one cache line: a reader polling it gets
// the tag, the range and inline bytes in one transfer. tag is stored last
// (release); the other fields are relaxed, ordered by it.
struct alignas(64) ExposureLine {
  std::atomic<uint64_t> tag;
  std::atomic<uint64_t> shape;
  std::atomic<uint64_t> addr;
  std::atomic<uint64_t> bytes;
  std::atomic<uint64_t> inline_words[4];  // the bytes of an inline exposure
};
static_assert(sizeof(ExposureLine) == 64, "one cache line");

// What a reader needs besides the address to reach an exposed range (a device
// buffer's IPC handle); opaque here. Written before the line's tag, read after
// it, so a reader that sees its tag sees the sidecar of the same exposure.
constexpr size_t kSidecarWords = 16;  // ShmDomain::kSidecarBytes / 8
struct alignas(64) ExposureSidecar {
  std::atomic<uint64_t> bytes;  // 0: none
  std::atomic<uint64_t> words[kSidecarWords];
};

// Lives at offset 0 of every mailbox. Cache-line separated: the doorbell is
// hammered by peers, the rest is read-mostly.
struct alignas(64) MailboxHeader {
  uint32_t magic;
  uint32_t nlocal;
  uint32_t nslots;
  uint32_t pad;
  uint64_t slot_bytes;
  uint64_t direct_bytes;             // must agree too: it picks the algorithm
  uint64_t self_addr;                // where the owner maps this header (the probe reads it)
  std::atomic<uint32_t> ready;       // set last by the creator
  std::atomic<uint32_t> attached;    // peers that have mapped the mailbox
  std::atomic<uint32_t> peer_reads;  // kPeerReads*: can the owner read all its peers?
  std::atomic<int32_t> failed;       // the owner's first failure (mics_result_t), 0 = none
  char reason[384];                  // its message, written before `failed` is published
  // The first operation the owner did not finish (with `reason`, before `failed`):
  // peers still in an earlier one need nothing more from it.
  std::atomic<uint64_t> failed_from;
  alignas(64) std::atomic<uint32_t> doorbell;
  std::atomic<uint32_t> waiting;  // the owner is (about to be) asleep in futex_wait
  // The owner's exposed ranges, alternating by the parity of the operation's
  // sequence number (ExposureLine).
  ExposureLine exposures[2];
  ExposureSidecar sidecars[2];  // one per exposure line
  // The owner waits for releases: readers ring its doorbell only then (an
  // inline exposure is mostly released long before its owner looks).
  alignas(64) std::atomic<uint32_t> awaiting_release;
};

// One channel: sender -> mailbox owner. head is written only by the sender,
// tail only by the owner; each on its own cache line. released is written by
// the sender: the last exposure tag of the owner it has finished reading.
struct alignas(64) ChannelCtl {
  alignas(64) std::atomic<uint32_t> head;
  alignas(64) std::atomic<uint32_t> tail;
  alignas(64) std::atomic<uint64_t> released;
  alignas(64) ChunkMeta meta[kMaxSlots];
};

// Bumps the owner's doorbell and wakes it if it sleeps (mailbox.cc).
void ring_doorbell(MailboxHeader* h);

}  // namespace mics::transport::shm
