#include "src/bootstrap.h"

#include <poll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>

#include "src/base/log.h"

namespace mics {
namespace {

constexpr uint32_t kIdMagic = 0x4d494431;     // "MID1"
constexpr uint32_t kHelloMagic = 0x4d484c4f;  // "MHLO"
constexpr uint32_t kReplyMagic = 0x4d52504c;  // "MRPL"
constexpr uint32_t kVersion = 1;
constexpr int64_t kPerConnectionMs = 2000;  // sending the table to one admitted rank
constexpr int64_t kRootGraceMs = 1000;      // the root waits this much longer than ranks
constexpr int64_t kDrainMs = 200;           // a refused connection's time to read our reply
constexpr size_t kDrainCap = 4096;          // bytes discarded from it at most
constexpr int kAcceptBatch = 16;            // accepts per loop turn, so reads are not starved
constexpr int kLoggedRefusals = 3;          // refusals logged one by one, then only counted

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

// Root threads this process runs, keyed by their secret, so that init can
// wait for them. The only process-wide state in mics: a unique id has no
// context to hang off. The threads are detached from the start and signal
// their end through their handle: a root whose init failed is left to end at
// its own deadline, and one still running at exit ends with the process,
// neither needing a join (nor leaving a joinable std::thread behind).
struct RootHandle {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
};
std::mutex g_roots_mu;
std::map<std::string, std::shared_ptr<RootHandle>>* g_roots =
    new std::map<std::string, std::shared_ptr<RootHandle>>;  // never destroyed: a join from
                                                             // a static destructor still works

std::string key_of(const uint8_t secret[kSecretBytes]) {
  return std::string(reinterpret_cast<const char*>(secret), kSecretBytes);
}

// ---- the root's poll() loop --------------------------------------------------

// A connection that has not (yet) delivered its hello and RankInfo, or a
// refused one that is given a moment to read our reply before we close it
// (closing with its unread bytes queued would reset the connection and could
// destroy the reply in flight).
struct Pending {
  int fd = -1;
  Deadline deadline;
  SockAddr peer;
  HelloReader reader;
  bool draining = false;
  size_t drained = 0;
};

class Root {
 public:
  Root(int listen_fd, const std::string& secret, Deadline deadline)
      : listen_fd_(listen_fd),
        secret_(reinterpret_cast<const uint8_t*>(secret.data())),
        deadline_(deadline) {}
  void run();

 private:
  void gather();
  void accept_some();
  void service(Pending* p);
  void refuse(Pending* p, uint32_t reason);
  void drop(Pending* p);
  void evict_oldest();
  void reply_all();
  void reply_timeout();

  int listen_fd_;
  const uint8_t* secret_;
  Deadline deadline_;
  RootTable table_;
  std::vector<Pending> pending_;  // in accept order: the front is the oldest
  std::vector<int> rank_fd_;      // connections of the ranks that arrived
  int refused_ = 0, dropped_ = 0, evicted_ = 0;
  bool accept_paused_ = false;  // out of descriptors: retry after a short nap
};

void Root::run() {
  gather();
  // No rank comes after this: refuse new connections at once rather than let
  // them wait in the backlog, and drop the stragglers still pending.
  close(listen_fd_);
  for (Pending& p : pending_) drop(&p);
  pending_.clear();
  if (refused_ + dropped_ + evicted_ > 0)
    MICS_WARN(
        "bootstrap root: %d connection(s) refused, %d dropped (closed or too slow), %d "
        "evicted (too many at once) while %d of %d ranks arrived",
        refused_, dropped_, evicted_, table_.arrived(), table_.expected());
  if (table_.complete()) {
    reply_all();
  } else {
    reply_timeout();
  }
  for (int fd : rank_fd_)
    if (fd >= 0) close(fd);
}

// Serves every connection at once until all ranks have arrived or the deadline passes.
void Root::gather() {
  std::vector<pollfd> fds;
  while (!table_.complete() && !deadline_.expired()) {
    fds.clear();
    const bool poll_listener = !accept_paused_;
    fds.push_back({listen_fd_, static_cast<short>(poll_listener ? POLLIN : 0), 0});
    int64_t wait_ms = deadline_.remaining_ms(1000);
    if (accept_paused_) wait_ms = std::min<int64_t>(wait_ms, 20);
    for (const Pending& p : pending_) {
      fds.push_back({p.fd, POLLIN, 0});
      wait_ms = std::min(wait_ms, p.deadline.remaining_ms());
    }
    int n = poll(fds.data(), fds.size(), static_cast<int>(wait_ms) + 1);
    if (n < 0 && errno != EINTR) {
      MICS_WARN("bootstrap root: poll failed: %s", strerror(errno));
      return;
    }
    accept_paused_ = false;
    // Connections first (each read takes what is there, never blocks), then
    // the expired ones, then new arrivals.
    for (size_t i = 0; i < pending_.size(); ++i) {
      if (n > 0 && fds[i + 1].revents != 0) service(&pending_[i]);
      if (table_.complete()) break;
    }
    for (Pending& p : pending_) {
      if (p.fd >= 0 && p.deadline.expired()) {
        if (!p.draining) ++dropped_;
        if (!p.draining && dropped_ <= kLoggedRefusals)
          MICS_WARN("bootstrap root: dropped %s: no complete hello within %lld ms",
                    p.peer.str().c_str(), static_cast<long long>(kHelloMs));
        drop(&p);
      }
    }
    pending_.erase(
        std::remove_if(pending_.begin(), pending_.end(), [](const Pending& p) { return p.fd < 0; }),
        pending_.end());
    if (!table_.complete() && poll_listener && n > 0 && (fds[0].revents & POLLIN)) accept_some();
  }
}

void Root::accept_some() {
  for (int i = 0; i < kAcceptBatch && !table_.complete(); ++i) {
    Pending p;
    if (tcp_try_accept(listen_fd_, &p.fd, &p.peer) != MICS_SUCCESS) {
      if (errno == EMFILE || errno == ENFILE) {
        if (!pending_.empty()) {
          evict_oldest();
          continue;
        }
        accept_paused_ = true;  // nothing of ours to free: let the listener rest
      }
      return;
    }
    if (p.fd < 0) return;  // nothing more queued
    if (pending_.size() >= static_cast<size_t>(kMaxPending)) evict_oldest();
    p.deadline = Deadline::after_ms(std::min(kHelloMs, deadline_.remaining_ms()));
    pending_.push_back(p);
    // A rank sends its hello right after connecting: it is usually here already.
    service(&pending_.back());
    if (pending_.back().fd < 0) pending_.pop_back();
  }
}

// Reads what the connection has for us (never more than its reader needs) and acts on it.
void Root::service(Pending* p) {
  while (p->fd >= 0) {
    if (p->draining) {  // refused: discard what it still sends, close at EOF or the deadline
      uint8_t junk[512];
      size_t got = 0;
      if (recv_some(p->fd, junk, sizeof(junk), &got) != MICS_SUCCESS ||
          (p->drained += got) > kDrainCap)
        drop(p);
      if (got == 0) return;
      continue;
    }
    HelloReader& r = p->reader;
    size_t got = 0;
    if (recv_some(p->fd, r.buf + r.have, r.need - r.have, &got) != MICS_SUCCESS) {
      ++dropped_;
      if (dropped_ <= kLoggedRefusals)
        MICS_WARN("bootstrap root: dropped %s: closed after %zu bytes of its hello",
                  p->peer.str().c_str(), r.have);
      drop(p);
      return;
    }
    if (got == 0) return;
    r.have += got;
    uint32_t reason = kReasonNone;
    switch (root_step(&r, &table_, secret_, &reason)) {
      case RootStep::kMore:
        break;
      case RootStep::kArrived:
        if (rank_fd_.size() < static_cast<size_t>(table_.expected()))
          rank_fd_.resize(table_.expected(), -1);
        rank_fd_[r.rank] = p->fd;
        p->fd = -1;  // the rank's connection now: not pending any more
        return;
      case RootStep::kRefused:
        refuse(p, reason);
        break;
    }
  }
}

// Tells the connection no (without ever blocking), then lets it read that.
void Root::refuse(Pending* p, uint32_t reason) {
  ++refused_;
  if (refused_ <= kLoggedRefusals)
    MICS_WARN("bootstrap root: refused %s: %s", p->peer.str().c_str(),
              refuse_reason_string(reason));
  // Unauthenticated peers learn nothing but "no"; ranks that presented the
  // secret also learn the world size the root expects.
  bool authenticated = reason != kReasonBadHello && reason != kReasonWrongSecret;
  Result status = authenticated ? MICS_INVALID_USAGE : MICS_REMOTE_ERROR;
  Reply reply{kReplyMagic, status, authenticated ? table_.expected() : -1, reason, 0};
  size_t sent = 0;
  send_some(p->fd, &reply, sizeof(reply), &sent);
  shutdown(p->fd, SHUT_WR);
  p->draining = true;
  p->deadline = Deadline::after_ms(std::min(kDrainMs, p->deadline.remaining_ms()));
}

void Root::drop(Pending* p) {
  if (p->fd < 0) return;
  close(p->fd);
  p->fd = -1;
}

// Makes room: the oldest connection that has not authenticated goes, or when
// all have (only holders of the secret can do that), the oldest of all.
void Root::evict_oldest() {
  Pending* victim = nullptr;
  for (Pending& p : pending_) {
    if (p.fd < 0) continue;
    if (!victim) victim = &p;
    if (p.reader.rank < 0) {
      victim = &p;
      break;
    }
  }
  if (victim) {
    if (!victim->draining) ++evicted_;
    if (!victim->draining && evicted_ <= kLoggedRefusals)
      MICS_WARN("bootstrap root: evicted %s: more than %d connections without a complete hello",
                victim->peer.str().c_str(), kMaxPending);
    drop(victim);
  }
  pending_.erase(
      std::remove_if(pending_.begin(), pending_.end(), [](const Pending& q) { return q.fd < 0; }),
      pending_.end());
}

void Root::reply_all() {
  const int expected = table_.expected();
  const std::vector<RankInfo>& infos = table_.infos();
  Reply r{kReplyMagic, 0, expected, kReasonNone, 0};
  getrandom(&r.session, sizeof(r.session), 0);
  for (int fd : rank_fd_) {
    Deadline d = Deadline::after_ms(kPerConnectionMs);
    if (send_all(fd, &r, sizeof(r), d) == MICS_SUCCESS)
      send_all(fd, infos.data(), infos.size() * sizeof(RankInfo), d);
  }
  if (!needs_network(infos)) return;
  // Ranks open their endpoints now; allow them the whole remaining timeout.
  std::vector<NetAddress> addrs(expected);
  bool ok = true;
  for (int i = 0; i < expected && ok; ++i)
    ok = recv_all(rank_fd_[i], &addrs[i], sizeof(NetAddress), deadline_) == MICS_SUCCESS &&
         addrs[i].len <= sizeof(addrs[i].bytes);
  for (int i = 0; i < expected && ok; ++i)
    send_all(rank_fd_[i], addrs.data(), addrs.size() * sizeof(NetAddress),
             Deadline::after_ms(kPerConnectionMs));
  if (!ok) MICS_WARN("bootstrap root: a rank did not send its network address");
}

void Root::reply_timeout() {
  MICS_WARN("bootstrap root: gave up after the timeout with %d of %d ranks", table_.arrived(),
            table_.expected());
  for (int fd : rank_fd_) {  // tell those who came, so they report a timeout, not a lost root
    if (fd < 0) continue;
    Reply r{kReplyMagic, MICS_TIMEOUT, table_.arrived(), kReasonNone, 0};
    send_all(fd, &r, sizeof(r), Deadline::after_ms(100));
  }
}

void root_main(int listen_fd, std::string secret, Deadline deadline) {
  Root(listen_fd, secret, deadline).run();
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

Result start_root(const SockAddr& listen_addr, const uint8_t secret[kSecretBytes],
                  int64_t timeout_ms, UniqueId* id) {
  int fd = -1;
  MICS_CHECK(tcp_listen(listen_addr, 1024, &fd, &id->root));
  memcpy(id->secret, secret, kSecretBytes);
  std::string key = key_of(secret);
  auto handle = std::make_shared<RootHandle>();
  // The root outlives the ranks' own deadline a little, so that a rank that
  // gives up hears "timeout" from it rather than a closed connection.
  Deadline deadline = Deadline::after_ms(timeout_ms + kRootGraceMs);
  try {
    std::thread([fd, key, deadline, handle] {
      root_main(fd, key, deadline);
      std::lock_guard<std::mutex> lock(handle->mu);
      handle->done = true;
      handle->cv.notify_all();
    }).detach();
  } catch (const std::system_error& e) {
    close(fd);
    return MICS_ERROR(MICS_SYSTEM_ERROR, "cannot start the bootstrap root thread: %s", e.what());
  }
  {
    std::lock_guard<std::mutex> lock(g_roots_mu);
    // Forget roots that have ended (inits that failed never waited for theirs);
    // an earlier root with the same secret is replaced: it ends by itself.
    for (auto it = g_roots->begin(); it != g_roots->end();) {
      std::lock_guard<std::mutex> done_lock(it->second->mu);
      it = it->second->done ? g_roots->erase(it) : std::next(it);
    }
    (*g_roots)[key] = handle;
  }
  MICS_LOG_INFO("bootstrap root listening on %s", id->root.str().c_str());
  return MICS_SUCCESS;
}

void join_root(const UniqueId& id) {
  std::shared_ptr<RootHandle> handle;
  {
    std::lock_guard<std::mutex> lock(g_roots_mu);
    auto it = g_roots->find(key_of(id.secret));
    if (it == g_roots->end()) return;
    handle = std::move(it->second);
    g_roots->erase(it);
  }
  std::unique_lock<std::mutex> lock(handle->mu);
  handle->cv.wait(lock, [&] { return handle->done; });
}

bool needs_network(const std::vector<RankInfo>& ranks) {
  for (const RankInfo& r : ranks)
    if (r.node_hash != ranks[0].node_hash || r.physical_hash != ranks[0].physical_hash) return true;
  return false;
}

Result rendezvous(const UniqueId& id, int nranks, int rank, const RankInfo& mine, Deadline deadline,
                  const std::function<Result(NetAddress*)>& make_address,
                  std::vector<RankInfo>* all, std::vector<NetAddress>* addresses,
                  uint64_t* session) {
  if (nranks < 1 || nranks > kMaxRanks)
    return MICS_ERROR(MICS_INVALID_ARGUMENT, "nranks %d is outside [1, %d]", nranks, kMaxRanks);
  int fd = -1;
  MICS_CHECK(tcp_connect(id.root, deadline, &fd));
  Hello h{kHelloMagic, kVersion, {}, nranks, rank, sizeof(RankInfo)};
  memcpy(h.secret, id.secret, kSecretBytes);
  Reply r{};
  Result res = send_all(fd, &h, sizeof(h), deadline);
  if (res == MICS_SUCCESS) res = send_all(fd, &mine, sizeof(mine), deadline);
  if (res == MICS_SUCCESS) res = recv_all(fd, &r, sizeof(r), deadline);
  if (res == MICS_TIMEOUT) {
    close(fd);
    return MICS_ERROR(MICS_TIMEOUT,
                      "rank %d: not every one of the %d ranks reached the root %s "
                      "before the timeout",
                      rank, nranks, id.root.str().c_str());
  }
  if (res == MICS_SUCCESS) res = check_reply(r, nranks, rank, id.root.str().c_str());
  if (res != MICS_SUCCESS) {
    close(fd);
    return trace_error(res, __FILE__, __LINE__);
  }
  all->resize(nranks);
  res = recv_all(fd, all->data(), all->size() * sizeof(RankInfo), deadline);
  if (res == MICS_SUCCESS) res = check_rank_table(all, rank, mine);
  if (res == MICS_SUCCESS && needs_network(*all)) {
    NetAddress ours{};
    Result made = make_address(&ours);
    if (made != MICS_SUCCESS) ours.len = 0;  // tell the others rather than leave them waiting
    res = send_all(fd, &ours, sizeof(ours), deadline);
    addresses->resize(nranks);
    if (res == MICS_SUCCESS)
      res = recv_all(fd, addresses->data(), addresses->size() * sizeof(NetAddress), deadline);
    if (res == MICS_SUCCESS) res = check_addresses(*addresses);
    if (made != MICS_SUCCESS) res = made;
  }
  close(fd);
  MICS_CHECK(res);
  *session = r.session;
  return MICS_SUCCESS;
}

}  // namespace mics
