// One libfabric RDM endpoint per communicator, and the per-peer slot rings
// that implement transport::Connection over it with tagged messages.
//
// Per peer and direction there are nslots registered buffers (registered once,
// at connect time). The receiver keeps a receive posted for each of the next
// nslots sequence numbers (exact tags, so completion order does not matter);
// releasing a slot re-posts it and returns a credit to the sender, which never
// has more than nslots messages beyond the last credit — the same head/tail
// protocol as the shared-memory rings. Progress is manual: it happens when the
// communicator polls (every slot query and every wait).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "src/base/error.h"
#include "transport/connection.h"
#include "transport/ofi/ofi_domain.h"

struct fid_ep;
struct fid_cq;
struct fid_av;

namespace mics::transport::ofi {

class OfiPeer;

class OfiEndpoint {
 public:
  // my_rank: this rank's index in the communicator (carried in tags).
  static Result open(std::shared_ptr<OfiDomain> domain, int my_rank,
                     std::unique_ptr<OfiEndpoint>* out);
  ~OfiEndpoint();
  OfiEndpoint(const OfiEndpoint&) = delete;
  OfiEndpoint& operator=(const OfiEndpoint&) = delete;

  // This endpoint's address, to publish to peers.
  const std::string& address() const { return address_; }
  // Inserts a peer's address, registers its buffers and pre-posts receives.
  Result add_peer(int rank, const std::string& address, const std::string& peer_name);
  // A Connection to a peer added before (owned by the caller; the state stays here).
  std::unique_ptr<Connection> connect(int rank);

  // Drains the completion queue and retries deferred posts. *progressed tells
  // whether anything moved. Fails once a transfer with some peer has failed,
  // or a peer sent a failure notice (REMOTE_ERROR naming it and its reason).
  Result progress(bool* progressed);

  // Tells every peer that this rank's communicator failed (code, reason), so
  // that none waits for us until its timeout; waits up to kNoticeWaitMs for
  // the notices to leave (best effort: an unreachable peer is skipped).
  void publish_failure(int code, const char* reason, uint64_t from_seq);
  // The operation this rank's communicator is in now: a peer's notice counts
  // from the operation it names on (the peer finished the ones before).
  void enter_operation(uint64_t seq) { current_seq_ = seq; }
  static constexpr int64_t kNoticeWaitMs = 200;

  const OfiDomain& domain() const { return *domain_; }

 private:
  friend class OfiPeer;
  OfiEndpoint() = default;
  // Reads completions; a failed transfer becomes failure_ (a failed notice
  // does not: it was best effort).
  Result drain_completions(bool* progressed);

  std::shared_ptr<OfiDomain> domain_;
  int my_rank_ = 0;
  fid_ep* ep_ = nullptr;
  fid_cq* cq_ = nullptr;
  fid_av* av_ = nullptr;
  std::string address_;
  std::vector<std::unique_ptr<OfiPeer>> peers_;  // indexed by rank; null where not added
  std::string failure_;                          // first transfer error, sticky
  uint64_t current_seq_ = 0;                     // enter_operation
};

}  // namespace mics::transport::ofi
