// The bootstrap root: a thread per rendezvous that serves every connection
// from one poll() loop (protocol and limits in src/bootstrap.h), and the
// process-wide registry of running roots, so that init can wait for its own.
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
#include <string>
#include <system_error>
#include <thread>

#include "src/base/log.h"
#include "src/bootstrap.h"

namespace mics {
namespace {

constexpr int64_t kPerConnectionMs = 2000;  // sending the table to one admitted rank
constexpr int64_t kRootGraceMs = 1000;      // the root waits this much longer than ranks
constexpr int64_t kDrainMs = 200;           // a refused connection's time to read our reply
constexpr size_t kDrainCap = 4096;          // bytes discarded from it at most
constexpr int kAcceptBatch = 16;            // accepts per loop turn, so reads are not starved
constexpr int kLoggedRefusals = 3;          // refusals logged one by one, then only counted

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

}  // namespace mics
