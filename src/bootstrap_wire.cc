// Bootstrap wire formats: the unique id's encoding, and the pure parsing and
// bookkeeping of hellos, replies and rank tables (exposed for tests and the
// fuzzers in tests/fuzz/).
#include <sys/socket.h>

#include <cstring>

#include "src/bootstrap.h"

namespace mics {
namespace {

constexpr uint32_t kIdMagic = 0x4d494431;  // "MID1"

struct IdWire {
  uint32_t magic;
  uint32_t addr_len;
  uint8_t addr[sizeof(sockaddr_in6)];
  uint8_t secret[kSecretBytes];
};
static_assert(sizeof(IdWire) <= MICS_UNIQUE_ID_BYTES, "unique id too small");
static_assert(sizeof(Hello) == 52 && sizeof(Reply) == 24 && sizeof(RankInfo) == 96,
              "wire structs changed size");

bool same_secret(const uint8_t* a, const uint8_t* b) {
  uint8_t diff = 0;  // constant time: do not leak how much of a guess was right
  for (int i = 0; i < kSecretBytes; ++i) diff |= static_cast<uint8_t>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

// ---- pure parsing and bookkeeping ---------------------------------------------

const char* refuse_reason_string(uint32_t reason) {
  switch (reason) {
    case kReasonNone:
      return "no reason given";
    case kReasonBadHello:
      return "not a mics hello";
    case kReasonWrongSecret:
      return "wrong secret (the unique id is not the root's)";
    case kReasonVersion:
      return "another mics protocol version";
    case kReasonWorldSize:
      return "another world size than the ranks before it";
    case kReasonRank:
      return "rank outside the world";
    case kReasonDuplicate:
      return "a rank that already joined";
    case kReasonInfoSize:
      return "a rank description of the wrong size";
  }
  return "unknown reason";
}

uint32_t parse_hello(const uint8_t* data, size_t len, const uint8_t secret[kSecretBytes],
                     Hello* out) {
  uint32_t magic = 0;
  if (len >= sizeof(magic)) memcpy(&magic, data, sizeof(magic));
  if (len < sizeof(Hello) || magic != kHelloMagic) return kReasonBadHello;
  Hello h;
  memcpy(&h, data, sizeof(h));
  if (!same_secret(h.secret, secret)) return kReasonWrongSecret;
  *out = h;
  return kReasonNone;
}

uint32_t RootTable::admit(const Hello& h) const {
  if (h.version != kVersion) return kReasonVersion;
  if (h.info_bytes != sizeof(RankInfo)) return kReasonInfoSize;
  if (h.nranks < 1 || h.nranks > kMaxRanks || (expected_ > 0 && h.nranks != expected_))
    return kReasonWorldSize;
  if (h.rank < 0 || h.rank >= h.nranks) return kReasonRank;
  if (expected_ > 0 && arrived_flag_[h.rank]) return kReasonDuplicate;
  return kReasonNone;
}

uint32_t RootTable::fill(const Hello& h, const RankInfo& info) {
  uint32_t reason = admit(h);  // the table may have changed since the hello was admitted
  if (reason != kReasonNone) return reason;
  if (expected_ < 0) {
    expected_ = h.nranks;
    arrived_flag_.assign(expected_, 0);
    infos_.assign(expected_, RankInfo{});
  }
  RankInfo& slot = infos_[h.rank];
  slot = info;
  slot.rank = h.rank;
  slot.node_name[sizeof(slot.node_name) - 1] = '\0';
  arrived_flag_[h.rank] = 1;
  ++arrived_;
  return kReasonNone;
}

RootStep root_step(HelloReader* r, RootTable* table, const uint8_t secret[kSecretBytes],
                   uint32_t* reason) {
  *reason = kReasonNone;
  if (r->have > r->need) {  // a caller that read more than asked: never trust it
    *reason = kReasonBadHello;
    return RootStep::kRefused;
  }
  if (r->rank < 0) {  // still on the hello
    uint32_t magic = 0;
    if (r->have >= sizeof(magic)) memcpy(&magic, r->buf, sizeof(magic));
    if (r->have >= sizeof(magic) && magic != kHelloMagic) {  // garbage: no need to wait for more
      *reason = kReasonBadHello;
      return RootStep::kRefused;
    }
    if (r->have < sizeof(Hello)) return RootStep::kMore;
    Hello h;
    *reason = parse_hello(r->buf, r->have, secret, &h);
    if (*reason == kReasonNone) *reason = table->admit(h);
    if (*reason != kReasonNone) return RootStep::kRefused;
    r->rank = h.rank;
    r->need = sizeof(Hello) + sizeof(RankInfo);
    return RootStep::kMore;
  }
  if (r->have < r->need) return RootStep::kMore;
  Hello h;
  RankInfo info;
  memcpy(&h, r->buf, sizeof(h));
  memcpy(&info, r->buf + sizeof(Hello), sizeof(info));
  *reason = table->fill(h, info);
  return *reason == kReasonNone ? RootStep::kArrived : RootStep::kRefused;
}

Result check_reply(const Reply& r, int nranks, int rank, const char* root_name) {
  if (r.magic != kReplyMagic)
    return MICS_ERROR(MICS_REMOTE_ERROR,
                      "rank %d: the root %s sent no mics reply (another service on that port?)",
                      rank, root_name);
  if (r.status == MICS_TIMEOUT)
    return MICS_ERROR(MICS_TIMEOUT,
                      "rank %d: only %d of the %d ranks reached the root %s before the timeout",
                      rank, r.nranks, nranks, root_name);
  if (r.status != 0) {
    if (r.reason == kReasonWorldSize && r.nranks > 0)
      return MICS_ERROR(MICS_REMOTE_ERROR,
                        "rank %d: the root %s refused us: it expects %d ranks, we said %d", rank,
                        root_name, r.nranks, nranks);
    return MICS_ERROR(MICS_REMOTE_ERROR, "rank %d: the root %s refused us (%s: %s)", rank,
                      root_name, mics_result_string(static_cast<Result>(r.status)),
                      r.reason == kReasonNone ? "wrong secret, another world size, or a rank "
                                                "that joined twice"
                                              : refuse_reason_string(r.reason));
  }
  if (r.nranks != nranks)
    return MICS_ERROR(MICS_REMOTE_ERROR, "rank %d: the root %s announced %d ranks, we said %d",
                      rank, root_name, r.nranks, nranks);
  return MICS_SUCCESS;
}

Result check_rank_table(std::vector<RankInfo>* all, int rank, const RankInfo& mine) {
  const int n = static_cast<int>(all->size());
  for (int i = 0; i < n; ++i) {
    RankInfo& info = (*all)[i];
    info.node_name[sizeof(info.node_name) - 1] = '\0';
    if (info.rank != i)
      return MICS_ERROR(MICS_REMOTE_ERROR, "the root sent a bad table: entry %d says rank %d", i,
                        info.rank);
  }
  if (rank < 0 || rank >= n)
    return MICS_ERROR(MICS_REMOTE_ERROR, "the root sent a table of %d ranks without us (rank %d)",
                      n, rank);
  const RankInfo& ours = (*all)[rank];
  if (ours.node_hash != mine.node_hash || ours.physical_hash != mine.physical_hash ||
      ours.pid != mine.pid || ours.pid_namespace != mine.pid_namespace)
    return MICS_ERROR(MICS_REMOTE_ERROR,
                      "the root sent a table whose entry for us (rank %d) is not what we sent",
                      rank);
  return MICS_SUCCESS;
}

Result check_addresses(const std::vector<NetAddress>& addresses) {
  for (size_t i = 0; i < addresses.size(); ++i)
    if (addresses[i].len > sizeof(addresses[i].bytes))
      return MICS_ERROR(MICS_REMOTE_ERROR,
                        "the root sent a bad network address for rank %zu (%u bytes)", i,
                        addresses[i].len);
  return MICS_SUCCESS;
}

Result encode_unique_id(const UniqueId& id, mics_unique_id* out) {
  IdWire w{};
  w.magic = kIdMagic;
  if (id.root.len > sizeof(w.addr))
    return MICS_ERROR(MICS_INTERNAL_ERROR, "root address too long (%u bytes)", id.root.len);
  w.addr_len = id.root.len;
  memcpy(w.addr, &id.root.storage, id.root.len);
  memcpy(w.secret, id.secret, kSecretBytes);
  memset(out->internal, 0, sizeof(out->internal));
  memcpy(out->internal, &w, sizeof(w));
  return MICS_SUCCESS;
}

Result decode_unique_id(const mics_unique_id& in, UniqueId* out) {
  IdWire w;
  memcpy(&w, in.internal, sizeof(w));
  if (w.magic != kIdMagic || w.addr_len < sizeof(sa_family_t) || w.addr_len > sizeof(w.addr))
    return MICS_ERROR(MICS_INVALID_ARGUMENT,
                      "the unique id is malformed (not made by mics_get_unique_id?)");
  *out = UniqueId{};
  memcpy(&out->root.storage, w.addr, w.addr_len);
  out->root.len = w.addr_len;
  sa_family_t family = out->root.storage.ss_family;
  if ((family != AF_INET || w.addr_len != sizeof(sockaddr_in)) &&
      (family != AF_INET6 || w.addr_len != sizeof(sockaddr_in6)))
    return MICS_ERROR(MICS_INVALID_ARGUMENT, "the unique id holds no valid root address");
  memcpy(out->secret, w.secret, kSecretBytes);
  return MICS_SUCCESS;
}

bool needs_network(const std::vector<RankInfo>& ranks) {
  for (const RankInfo& r : ranks)
    if (r.node_hash != ranks[0].node_hash || r.physical_hash != ranks[0].physical_hash) return true;
  return false;
}

}  // namespace mics
