// Rendezvous of the ranks of a new world communicator. A root (a thread in the
// process that made the unique id, or in rank 0 under mics_comm_init_env)
// collects one RankInfo per rank over TCP and returns the full table to all;
// after that the ranks talk over their own transports and the root exits.
//
// Wire protocol (host byte order: all ranks of a job share an architecture):
//   rank -> root: Hello{magic, version, secret[32], nranks, rank, info_bytes} RankInfo
//   root -> rank: Reply{magic, status, nranks, session} RankInfo[nranks]   (status 0)
//                 Reply{magic, status != 0, nranks, reason, ...}          (refused)
// and, only when the ranks span several nodes (needs_network), a second round:
//   rank -> root: NetAddress            root -> rank: NetAddress[nranks]
//
// The root serves every connection at once from one poll() loop: each has a
// small fixed buffer (hello + RankInfo) and its own deadline (kHelloMs). It
// reads the fixed-size Hello first and checks the magic and the secret
// (constant time) before it reads anything else, and never reads more than
// sizeof(RankInfo) afterwards. Garbage, a wrong secret, a truncated or late
// hello, a silent connection: each is refused or dropped on its own, without
// delaying the ranks. At most kMaxPending connections are pending at once; a
// new one beyond that evicts the oldest that has not authenticated (a rank
// sends its hello at once, so the oldest silent connection is the least likely
// to be one). Nothing is reserved for a hello until its RankInfo is complete.
#pragma once

#include <cstddef>
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

// ---- Root and reply parsing: pure functions, exposed for tests and fuzzers ----

constexpr uint32_t kHelloMagic = 0x4d484c4f;  // "MHLO"
constexpr uint32_t kReplyMagic = 0x4d52504c;  // "MRPL"
constexpr uint32_t kVersion = 1;              // of the hello/reply protocol
constexpr int kMaxRanks = 1 << 20;            // the largest world the root accepts
constexpr int kMaxPending = 64;               // connections without a complete hello + RankInfo
constexpr int64_t kHelloMs = 3000;            // a connection's time to send hello + RankInfo

struct Hello {
  uint32_t magic;
  uint32_t version;
  uint8_t secret[kSecretBytes];
  int32_t nranks;
  int32_t rank;
  uint32_t info_bytes;
};

struct Reply {
  uint32_t magic;
  int32_t status;   // 0, or the mics_result_t of a refusal or MICS_TIMEOUT
  int32_t nranks;   // status 0: the world size; refused: the size the root expects
                    // (-1: none yet); MICS_TIMEOUT: how many ranks arrived
  uint32_t reason;  // refused: a RefuseReason (0 otherwise)
  uint64_t session;
};

enum RefuseReason : uint32_t {
  kReasonNone = 0,
  kReasonBadHello,     // not a mics hello (magic)
  kReasonWrongSecret,  // a hello with another secret
  kReasonVersion,      // another protocol version
  kReasonWorldSize,    // nranks outside [1, kMaxRanks] or not the size announced first
  kReasonRank,         // rank outside [0, nranks)
  kReasonDuplicate,    // a rank that already joined
  kReasonInfoSize,     // info_bytes != sizeof(RankInfo)
};
const char* refuse_reason_string(uint32_t reason);  // never NULL

// Checks a received hello of len bytes: kReasonNone and *out filled when it is
// a complete hello with our magic and secret. Only magic and secret: the rest
// is the RootTable's business. A short input whose first 4 bytes are already
// not the magic yields kReasonBadHello; other short inputs kReasonBadHello too.
uint32_t parse_hello(const uint8_t* data, size_t len, const uint8_t secret[kSecretBytes],
                     Hello* out);

// The ranks that have arrived at the root. The first rank to arrive sets the
// world size. A hello is checked when it is complete (admit) and again when its
// RankInfo has arrived (fill); nothing is reserved in between, so a connection
// that stalls after its hello holds up no one: the first complete copy of a
// rank wins, later ones are refused as duplicates.
class RootTable {
 public:
  // kReasonNone when this authenticated hello may go on to send its RankInfo;
  // otherwise why it is refused. Changes nothing.
  uint32_t admit(const Hello& h) const;
  // The RankInfo of an admitted hello arrived: kReasonNone when the rank now
  // counts as arrived (its rank field and node name are sanitised), else why
  // it is refused.
  uint32_t fill(const Hello& h, const RankInfo& info);
  int expected() const { return expected_; }
  int arrived() const { return arrived_; }
  bool complete() const { return expected_ > 0 && arrived_ == expected_; }
  const std::vector<RankInfo>& infos() const { return infos_; }

 private:
  int expected_ = -1;
  int arrived_ = 0;
  std::vector<uint8_t> arrived_flag_;
  std::vector<RankInfo> infos_;
};

// One connection at the root: a fixed buffer that takes the hello and, once
// admitted, the RankInfo; never more. The root reads at most need - have.
struct HelloReader {
  uint8_t buf[sizeof(Hello) + sizeof(RankInfo)];
  size_t have = 0;
  size_t need = sizeof(Hello);
  int rank = -1;  // the hello's rank once it is admitted (authenticated)
};

enum class RootStep { kMore, kArrived, kRefused };
// The root's decision after bytes were appended to r->buf (r->have advanced).
// kRefused: *reason says why.
RootStep root_step(HelloReader* r, RootTable* table, const uint8_t secret[kSecretBytes],
                   uint32_t* reason);

// Rank side: checks the root's reply to our hello. SUCCESS for a table of
// nranks to follow; TIMEOUT, REMOTE_ERROR (refused, with the reason) or
// REMOTE_ERROR (not a mics reply) otherwise, with a message naming root_name.
Result check_reply(const Reply& r, int nranks, int rank, const char* root_name);
// Rank side: checks the table the root sent (entry i is rank i, ours is what
// we sent) and NUL-terminates the node names.
Result check_rank_table(std::vector<RankInfo>* all, int rank, const RankInfo& mine);
// Rank side: checks the second round's addresses (lengths within bounds).
Result check_addresses(const std::vector<NetAddress>& addresses);

}  // namespace mics
