// Rendezvous of the ranks of a new world communicator. A root (a thread in the
// process that made the unique id, or in rank 0 under mics_comm_init_env)
// collects one RankInfo per rank over TCP and returns the full table to all;
// after that the ranks talk over their own transports and the root exits.
//
// Wire protocol (host byte order: all ranks of a job share an architecture):
//   rank -> root: Hello{magic, version, secret[32], nranks, rank, info_bytes} RankInfo
//   root -> rank: Reply{magic, status, nranks, session} RankInfo[nranks]   (status 0)
//                 Reply{magic, status != 0, ...}                          (refused)
// and, only when the ranks span several nodes (needs_network), a second round:
//   rank -> root: NetAddress            root -> rank: NetAddress[nranks]
// The root reads the fixed-size Hello first and checks the secret before it
// reads anything else, and never reads more than sizeof(RankInfo) afterwards.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "mics/mics.h"
#include "src/base/deadline.h"
#include "src/base/error.h"
#include "src/base/socket.h"

namespace mics {

constexpr int kSecretBytes = 32;

// What every rank tells every other at init. Fixed layout: sent as raw bytes.
struct RankInfo {
  uint64_t node_hash;      // logical node (MICS_HOST_ID or host)
  uint64_t physical_hash;  // physical host (decides shared-memory reachability)
  uint64_t pid_namespace;
  int32_t pid;
  int32_t rank;
  char node_name[64];
};

// The decoded contents of a mics_unique_id.
struct UniqueId {
  SockAddr root;
  uint8_t secret[kSecretBytes];
};

Result encode_unique_id(const UniqueId& id, mics_unique_id* out);
// INVALID_ARGUMENT when the bytes are not a mics unique id.
Result decode_unique_id(const mics_unique_id& in, UniqueId* out);

// Starts a root thread listening on listen_addr (port 0: ephemeral) that serves
// one rendezvous, or gives up at timeout_ms. id->root gets the bound address.
Result start_root(const SockAddr& listen_addr, const uint8_t secret[kSecretBytes],
                  int64_t timeout_ms, UniqueId* id);
// Joins the root thread of id if this process runs it (no-op otherwise).
void join_root(const UniqueId& id);

// True when the ranks span several nodes (or machines): then a second round
// exchanges network addresses. Every rank and the root decide it the same way.
bool needs_network(const std::vector<RankInfo>& ranks);

// A network address, exchanged raw in the second round.
struct NetAddress {
  uint32_t len;
  uint8_t bytes[124];
};

// Sends our info to the root and returns everyone's (indexed by rank). When
// needs_network(*all), calls make_address for ours and fills *addresses.
Result rendezvous(const UniqueId& id, int nranks, int rank, const RankInfo& mine, Deadline deadline,
                  const std::function<Result(NetAddress*)>& make_address,
                  std::vector<RankInfo>* all, std::vector<NetAddress>* addresses,
                  uint64_t* session);

}  // namespace mics
