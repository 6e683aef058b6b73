// Shared-memory transport for ranks on one physical host.
//
// Every rank owns one mailbox segment. It holds a doorbell (a futex word the
// owner sleeps on) and, for each local peer, one channel: a ring of slots that
// only that peer writes into and only the owner reads. A send therefore is one
// copy into the receiver's mailbox, and a receive one copy (or reduction) out
// of it. Posting rings the receiver's doorbell; releasing a slot rings the
// sender's, so a rank waiting for anything sleeps on a single word.
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
};

// Reads MICS_SHM_CHUNK_BYTES / MICS_SHM_SLOTS (validated).
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
  // not 0), so that they stop waiting for it instead of timing out.
  void publish_failure(int code, const char* reason);
  // The local index of a peer that published a failure (its code and message
  // in *code and *reason), or -1.
  int failed_peer(int* code, std::string* reason) const;

 private:
  ShmDomain() = default;
  Result attach_one(int index, const std::string& name, Deadline deadline);
  MailboxHeader* header(int index) const;
  ChannelCtl* channel(int owner, int sender) const;
  char* slot(int owner, int sender, uint32_t seq) const;
  friend class ShmConnection;

  std::string name_;
  int my_index_ = 0;
  int nlocal_ = 0;
  ShmParams params_;
  size_t data_offset_ = 0;
  std::vector<Mapping> maps_;  // per local index; maps_[my_index_] is our own
  std::vector<int> pids_;
  bool unlinked_ = false;
};

}  // namespace mics::transport::shm
