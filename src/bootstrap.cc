#include "src/bootstrap.h"

#include <sys/random.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "src/base/log.h"

namespace mics {
namespace {

constexpr uint32_t kIdMagic = 0x4d494431;     // "MID1"
constexpr uint32_t kHelloMagic = 0x4d484c4f;  // "MHLO"
constexpr uint32_t kReplyMagic = 0x4d52504c;  // "MRPL"
constexpr uint32_t kVersion = 1;
constexpr int64_t kPerConnectionMs = 2000;  // a connected rank sends its hello at once
constexpr int64_t kRootGraceMs = 1000;      // the root waits this much longer than ranks

struct IdWire {
  uint32_t magic;
  uint32_t addr_len;
  uint8_t addr[sizeof(sockaddr_in6)];
  uint8_t secret[kSecretBytes];
};
static_assert(sizeof(IdWire) <= MICS_UNIQUE_ID_BYTES, "unique id too small");

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
  int32_t status;
  int32_t nranks;
  uint32_t pad;
  uint64_t session;
};

bool same_secret(const uint8_t* a, const uint8_t* b) {
  uint8_t diff = 0;  // constant time: do not leak how much of a guess was right
  for (int i = 0; i < kSecretBytes; ++i) diff |= static_cast<uint8_t>(a[i] ^ b[i]);
  return diff == 0;
}

// Root threads this process runs, keyed by their secret, so init can join them.
// The only process-wide state in mics: a unique id has no context to hang off.
// A root still running at process exit is detached, not joined (it ends at
// its own deadline, or with the process): a joinable std::thread destroyed
// at exit would terminate the program.
struct RootThreads {
  std::map<std::string, std::thread> threads;
  ~RootThreads() {
    for (auto& [key, t] : threads)
      if (t.joinable()) t.detach();
  }
};
std::mutex g_roots_mu;
RootThreads g_roots;

std::string key_of(const uint8_t secret[kSecretBytes]) {
  return std::string(reinterpret_cast<const char*>(secret), kSecretBytes);
}

void refuse(int fd, Result status, Deadline deadline) {
  Reply r{kReplyMagic, status, 0, 0, 0};
  send_all(fd, &r, sizeof(r), deadline);
}

void root_main(int listen_fd, std::string secret, Deadline deadline) {
  std::vector<int> fds;
  std::vector<RankInfo> infos;
  int expected = -1, arrived = 0;
  while (expected < 0 || arrived < expected) {
    int fd = -1;
    if (tcp_accept(listen_fd, deadline, &fd) != MICS_SUCCESS) break;
    Deadline conn_deadline =
        Deadline::after_ms(std::min<int64_t>(kPerConnectionMs, deadline.remaining_ms()));
    Hello h{};
    bool ok = recv_all(fd, &h, sizeof(h), conn_deadline) == MICS_SUCCESS &&
              h.magic == kHelloMagic &&
              same_secret(h.secret, reinterpret_cast<const uint8_t*>(secret.data()));
    if (!ok) {  // garbage, a stranger or a wrong secret: tell it no and move on
      MICS_WARN("bootstrap root: refused a connection (bad hello or wrong secret)");
      refuse(fd, MICS_REMOTE_ERROR, conn_deadline);
      close(fd);
      continue;
    }
    if (expected < 0 && h.nranks >= 1 && h.nranks <= (1 << 20)) {
      expected = h.nranks;
      fds.assign(expected, -1);
      infos.resize(expected);
    }
    RankInfo info{};
    bool valid = h.version == kVersion && h.nranks == expected && h.rank >= 0 &&
                 h.rank < expected && fds[h.rank] < 0 && h.info_bytes == sizeof(RankInfo) &&
                 recv_all(fd, &info, sizeof(info), conn_deadline) == MICS_SUCCESS;
    if (!valid) {
      MICS_WARN("bootstrap root: refused rank %d of %d (expected %d ranks, or duplicate rank)",
                h.rank, h.nranks, expected);
      refuse(fd, MICS_INVALID_USAGE, conn_deadline);
      close(fd);
      continue;
    }
    info.rank = h.rank;
    infos[h.rank] = info;
    fds[h.rank] = fd;
    ++arrived;
  }
  if (expected > 0 && arrived == expected) {
    Reply r{kReplyMagic, 0, expected, 0, 0};
    getrandom(&r.session, sizeof(r.session), 0);
    for (int fd : fds) {
      Deadline d = Deadline::after_ms(kPerConnectionMs);
      if (send_all(fd, &r, sizeof(r), d) == MICS_SUCCESS)
        send_all(fd, infos.data(), infos.size() * sizeof(RankInfo), d);
    }
    if (needs_network(infos)) {
      // Ranks open their endpoints now; allow them the whole remaining timeout.
      std::vector<NetAddress> addrs(expected);
      bool ok = true;
      for (int i = 0; i < expected && ok; ++i)
        ok = recv_all(fds[i], &addrs[i], sizeof(NetAddress), deadline) == MICS_SUCCESS &&
             addrs[i].len <= sizeof(addrs[i].bytes);
      for (int i = 0; i < expected && ok; ++i)
        send_all(fds[i], addrs.data(), addrs.size() * sizeof(NetAddress),
                 Deadline::after_ms(kPerConnectionMs));
      if (!ok) MICS_WARN("bootstrap root: a rank did not send its network address");
    }
  } else {
    MICS_WARN("bootstrap root: gave up after the timeout with %d of %d ranks", arrived, expected);
    for (int fd : fds) {  // tell those who came, so they report a timeout, not a lost root
      if (fd < 0) continue;
      Reply r{kReplyMagic, MICS_TIMEOUT, arrived, 0, 0};
      send_all(fd, &r, sizeof(r), Deadline::after_ms(100));
    }
  }
  for (int fd : fds)
    if (fd >= 0) close(fd);
  close(listen_fd);
}

}  // namespace

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
  std::lock_guard<std::mutex> lock(g_roots_mu);
  std::string key = key_of(secret);
  auto it = g_roots.threads.find(key);
  if (it != g_roots.threads.end()) {  // a finished root of an earlier init with the same secret
    if (it->second.joinable()) it->second.join();
    g_roots.threads.erase(it);
  }
  // The root outlives the ranks' own deadline a little, so that a rank that
  // gives up hears "timeout" from it rather than a closed connection.
  g_roots.threads.emplace(
      key, std::thread(root_main, fd, key, Deadline::after_ms(timeout_ms + kRootGraceMs)));
  MICS_LOG_INFO("bootstrap root listening on %s", id->root.str().c_str());
  return MICS_SUCCESS;
}

void join_root(const UniqueId& id) {
  std::thread t;
  {
    std::lock_guard<std::mutex> lock(g_roots_mu);
    auto it = g_roots.threads.find(key_of(id.secret));
    if (it == g_roots.threads.end()) return;
    t = std::move(it->second);
    g_roots.threads.erase(it);
  }
  if (t.joinable()) t.join();
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
  if (res != MICS_SUCCESS) {
    close(fd);
    return trace_error(res, __FILE__, __LINE__);
  }
  if (r.magic == kReplyMagic && r.status == MICS_TIMEOUT) {
    close(fd);
    return MICS_ERROR(MICS_TIMEOUT,
                      "rank %d: only %d of the %d ranks reached the root %s before "
                      "the timeout",
                      rank, r.nranks, nranks, id.root.str().c_str());
  }
  if (r.magic != kReplyMagic || r.status != 0) {
    close(fd);
    return MICS_ERROR(
        MICS_REMOTE_ERROR,
        "rank %d: the root %s refused us (%s: wrong secret, another world size, or "
        "a rank that joined twice)",
        rank, id.root.str().c_str(),
        r.magic == kReplyMagic ? mics_result_string(static_cast<Result>(r.status)) : "bad reply");
  }
  all->resize(nranks);
  res = recv_all(fd, all->data(), all->size() * sizeof(RankInfo), deadline);
  if (res == MICS_SUCCESS && needs_network(*all)) {
    NetAddress ours{};
    Result made = make_address(&ours);
    if (made != MICS_SUCCESS) ours.len = 0;  // tell the others rather than leave them waiting
    res = send_all(fd, &ours, sizeof(ours), deadline);
    addresses->resize(nranks);
    if (res == MICS_SUCCESS)
      res = recv_all(fd, addresses->data(), addresses->size() * sizeof(NetAddress), deadline);
    if (made != MICS_SUCCESS) res = made;
  }
  close(fd);
  MICS_CHECK(res);
  *session = r.session;
  return MICS_SUCCESS;
}

}  // namespace mics
