// Security tests of the bootstrap (src/bootstrap.cc): the root serves real
// ranks while strangers send it garbage, truncated or wrong-secret hellos,
// nothing at all, huge sizes, or floods of connections; a rank with the wrong
// secret is refused; a hostile "root" cannot make a rank read out of bounds;
// malformed unique ids are rejected; shared-memory segments are owner-only.
//
// The test speaks the wire protocol itself (documented in src/bootstrap.h),
// so the structs are restated here; the static_asserts and the fake-root test
// (which checks a real rank's hello field by field) catch any drift.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <mics/mics.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "harness.h"

namespace {

using mics_test::Options;
using mics_test::run_ranks;
using Clock = std::chrono::steady_clock;

// ---- the wire format (src/bootstrap.h, src/bootstrap.cc) ----------------------

constexpr uint32_t kIdMagic = 0x4d494431;     // "MID1"
constexpr uint32_t kHelloMagic = 0x4d484c4f;  // "MHLO"
constexpr uint32_t kReplyMagic = 0x4d52504c;  // "MRPL"
constexpr int kSecretBytes = 32;

struct IdWire {  // the first bytes of a mics_unique_id
  uint32_t magic;
  uint32_t addr_len;
  uint8_t addr[sizeof(sockaddr_in6)];
  uint8_t secret[kSecretBytes];
};
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
  uint32_t reason;
  uint64_t session;
};
struct RankInfo {
  uint64_t node_hash;
  uint64_t physical_hash;
  uint64_t pid_namespace;
  int32_t pid;
  int32_t rank;
  char node_name[64];
};
static_assert(sizeof(Hello) == 52 && sizeof(Reply) == 24 && sizeof(RankInfo) == 96, "wire");
static_assert(sizeof(IdWire) <= sizeof(mics_unique_id), "id");

IdWire IdOf(const mics_unique_id& id) {
  IdWire w;
  memcpy(&w, id.internal, sizeof(w));
  return w;
}

// ---- shared state between the forked ranks ------------------------------------

struct Shared {
  std::atomic<int> id_ready;
  std::atomic<int> junk_ready;
  std::atomic<int> done;            // ranks that finished their part
  std::atomic<int> stop;            // tells the attacker to stop flooding
  std::atomic<int64_t> init_us[8];  // [rank]: with junk, [4 + rank]: without
  mics_unique_id id;
  mics_unique_id id2;
  mics_unique_id id3;
};

static_assert(sizeof(Shared) <= 4096, "Shared lives in one page");

Shared* NewShared() {
  void* p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : new (p) Shared();
}

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

bool WaitFor(const std::atomic<int>& v, int want, double seconds) {
  const auto t0 = Clock::now();
  while (v.load() < want && Since(t0) < seconds) usleep(500);
  return v.load() >= want;
}

// ---- raw sockets ---------------------------------------------------------------

sockaddr_storage RootAddr(const mics_unique_id& id, socklen_t* len) {
  IdWire w = IdOf(id);
  sockaddr_storage a{};
  memcpy(&a, w.addr, std::min<size_t>(w.addr_len, sizeof(w.addr)));
  *len = w.addr_len;
  return a;
}

// A blocking connection to the root (-1 on failure).
int Connect(const mics_unique_id& id) {
  socklen_t len = 0;
  sockaddr_storage a = RootAddr(id, &len);
  int fd = socket(a.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), len) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

bool SendAll(int fd, const void* buf, size_t len) {
  auto* p = static_cast<const char*>(buf);
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

// Reads exactly len bytes within seconds; false on EOF, error or timeout.
bool RecvAll(int fd, void* buf, size_t len, double seconds) {
  auto* p = static_cast<char*>(buf);
  const auto t0 = Clock::now();
  while (len > 0) {
    pollfd pfd{fd, POLLIN, 0};
    int left_ms = static_cast<int>((seconds - Since(t0)) * 1000);
    if (left_ms <= 0 || poll(&pfd, 1, left_ms) <= 0) return false;
    ssize_t n = recv(fd, p, len, 0);
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

// Waits for the root to close fd (EOF or reset), discarding what it sends.
bool ClosedWithin(int fd, double seconds) {
  const auto t0 = Clock::now();
  char junk[256];
  while (Since(t0) < seconds) {
    pollfd pfd{fd, POLLIN, 0};
    if (poll(&pfd, 1, 50) <= 0) continue;
    ssize_t n = recv(fd, junk, sizeof(junk), 0);
    if (n <= 0) return true;
  }
  return false;
}

Hello MakeHello(const uint8_t* secret, int nranks, int rank, uint32_t info_bytes) {
  Hello h{};
  h.magic = kHelloMagic;
  h.version = 1;
  memcpy(h.secret, secret, kSecretBytes);
  h.nranks = nranks;
  h.rank = rank;
  h.info_bytes = info_bytes;
  return h;
}

// ---- the attack: every kind of junk connection at once ----------------------

struct Junk {
  std::vector<int> garbage, truncated, wrong_secret, silent, huge_wrong, huge_right, flood;
  std::vector<int> all() const {
    std::vector<int> v;
    for (auto* g : {&garbage, &truncated, &wrong_secret, &silent, &huge_wrong, &huge_right, &flood})
      v.insert(v.end(), g->begin(), g->end());
    return v;
  }
};

// Opens the junk connections of (a)-(f) against the root of id. The flood
// connections are opened last, so they are the freshest when the ranks come.
Junk OpenJunk(const mics_unique_id& id, int flood) {
  Junk j;
  const IdWire w = IdOf(id);
  uint64_t x = mics_test::TestSeed() ^ 0xbadc0ffee;
  // (a) random garbage, 4 KiB each
  for (int i = 0; i < 5; ++i) {
    int fd = Connect(id);
    if (fd < 0) continue;
    std::vector<uint64_t> bytes(512);
    for (auto& b : bytes) b = x = mics_test::Mix64(x);
    if (i == 0) bytes[0] = (bytes[0] & ~0xffffffffull) | kHelloMagic;  // magic, then garbage
    send(fd, bytes.data(), bytes.size() * 8, MSG_NOSIGNAL | MSG_DONTWAIT);
    j.garbage.push_back(fd);
  }
  // (b) truncated hellos (right magic and secret, the rest never comes), held open
  for (size_t cut : {size_t{4}, size_t{20}, sizeof(Hello) - 1, sizeof(Hello) + 10}) {
    int fd = Connect(id);
    if (fd < 0) continue;
    uint8_t buf[sizeof(Hello) + sizeof(RankInfo)] = {};
    Hello h = MakeHello(w.secret, 3, 2, sizeof(RankInfo));
    memcpy(buf, &h, sizeof(h));
    SendAll(fd, buf, cut);
    j.truncated.push_back(fd);
  }
  // (c) complete hellos with a wrong secret, for each rank of the real job
  for (int r = 0; r < 3; ++r) {
    int fd = Connect(id);
    if (fd < 0) continue;
    uint8_t secret[kSecretBytes];
    memcpy(secret, w.secret, kSecretBytes);
    secret[r * 7] ^= 0x01;  // one bit off
    Hello h = MakeHello(secret, 3, r, sizeof(RankInfo));
    RankInfo info{};
    info.rank = r;
    SendAll(fd, &h, sizeof(h));
    SendAll(fd, &info, sizeof(info));
    j.wrong_secret.push_back(fd);
  }
  // (d) slow loris: connected, silent, held open
  for (int i = 0; i < 8; ++i) {
    int fd = Connect(id);
    if (fd >= 0) j.silent.push_back(fd);
  }
  // (e) huge claimed sizes: a wrong secret with absurd fields followed by a
  // stream of data, and the right secret with an absurd info size and world
  for (int i = 0; i < 2; ++i) {
    int fd = Connect(id);
    if (fd < 0) continue;
    uint8_t secret[kSecretBytes] = {};
    Hello h = MakeHello(secret, INT32_MAX, INT32_MAX - 1, 0xfffffff0u);
    SendAll(fd, &h, sizeof(h));
    std::vector<char> tail(256 << 10, 'x');
    send(fd, tail.data(), tail.size(), MSG_NOSIGNAL | MSG_DONTWAIT);  // whatever fits
    j.huge_wrong.push_back(fd);
  }
  {
    int fd = Connect(id);
    if (fd >= 0) {
      Hello h = MakeHello(w.secret, 3, 1, 0xffffffffu);
      SendAll(fd, &h, sizeof(h));
      j.huge_right.push_back(fd);
    }
    fd = Connect(id);
    if (fd >= 0) {
      Hello h = MakeHello(w.secret, INT32_MAX, 0, sizeof(RankInfo));
      SendAll(fd, &h, sizeof(h));
      j.huge_right.push_back(fd);
    }
  }
  // (f) a flood of connections at once, silent
  for (int i = 0; i < flood; ++i) {
    int fd = Connect(id);
    if (fd >= 0) j.flood.push_back(fd);
  }
  return j;
}

// Reads a refusal Reply from fd; returns its status (or -1 when none came).
int RefusalStatus(int fd, Reply* out) {
  Reply r{};
  if (!RecvAll(fd, &r, sizeof(r), 5.0) || r.magic != kReplyMagic) return -1;
  if (out) *out = r;
  return r.status;
}

// Times a 3-rank init against id and proves the communicator works.
double TimedInit(const mics_unique_id& id, int rank) {
  mics_comm_t comm = nullptr;
  const auto t0 = Clock::now();
  mics_result_t r = mics_comm_init_rank(&comm, 3, id, rank);
  const double took = Since(t0);
  HASSERT_OK(r) << " init of rank " << rank << ": " << mics_last_error(nullptr);
  int v = rank + 1, sum = 0;
  HCHECK_OK(mics_allreduce(&v, &sum, 1, MICS_INT32, MICS_SUM, comm, nullptr));
  HCHECK_EQ(sum, 6);
  HCHECK_OK(mics_comm_destroy(comm));
  return took;
}

// The three real ranks: an init against s->id once the junk is in place
// there. With baseline, also clean inits: s->id2 before (it warms up the
// process: topology discovery, first mappings) and s->id3 after, the one
// compared with.
void RealRank(Shared* s, int rank, double limit_s, bool baseline) {
  if (baseline) {
    if (rank == 0) {
      HASSERT_OK(mics_get_unique_id(&s->id2));
      HASSERT_OK(mics_get_unique_id(&s->id3));
      s->id_ready.fetch_add(1);
    }
    HASSERT(WaitFor(s->id_ready, 2, 30)) << "rank 0 did not publish the ids";
    TimedInit(s->id2, rank);
  }
  HASSERT(WaitFor(s->junk_ready, 1, 60)) << "the attacker did not get ready";
  const double took = TimedInit(s->id, rank);
  s->init_us[rank].store(static_cast<int64_t>(took * 1e6));
  double clean = 0;
  if (baseline) {
    clean = TimedInit(s->id3, rank);
    s->init_us[4 + rank].store(static_cast<int64_t>(clean * 1e6));
  }
  fprintf(stderr, "rank %d: init %.1f ms with junk connections at the root", rank, took * 1e3);
  if (baseline) fprintf(stderr, ", %.1f ms without", clean * 1e3);
  fprintf(stderr, "\n");
  HCHECK(took < limit_s) << "rank " << rank << ": init took " << took
                         << " s with junk at the root (limit " << limit_s << " s; " << clean
                         << " s without)";
}

// Junk arrives at the root first, then the real ranks: they must initialise
// at once (no per-connection stall), the root must refuse or drop every piece
// of junk, and answer the wrong-secret and wrong-size hellos with a refusal.
TEST(BootstrapSecurity, JunkConnectionsDoNotDelayRealRanks) {
  Shared* s = NewShared();
  ASSERT_NE(s, nullptr);
  Options opts;
  opts.init = false;
  opts.mics_timeout_ms = 20000;
  opts.timeout_s = 120;
  run_ranks(
      4,
      [s](mics_comm_t, int rank) {
        if (rank == 0) {
          HASSERT_OK(mics_get_unique_id(&s->id));
          s->id_ready.store(1);
        }
        if (rank < 3) {
          RealRank(s, rank, 1.5, true);
          s->done.fetch_add(1);
          return;
        }
        // rank 3: the attacker
        HASSERT(WaitFor(s->id_ready, 1, 30));
        const auto t0 = Clock::now();
        Junk j = OpenJunk(s->id, 200);
        fprintf(stderr, "attacker: %zu junk connections open in %.1f ms\n", j.all().size(),
                Since(t0) * 1e3);
        HCHECK(j.flood.size() >= 190) << "only " << j.flood.size() << " flood connections";
        s->junk_ready.store(1);
        HCHECK(WaitFor(s->done, 3, 60)) << "the real ranks did not finish";
        // Wrong secrets: refused with REMOTE_ERROR (nothing more is told).
        for (int fd : j.wrong_secret) {
          Reply r{};
          HCHECK_EQ(RefusalStatus(fd, &r), static_cast<int>(MICS_REMOTE_ERROR));
          HCHECK_EQ(r.nranks, -1) << "the root told a stranger the world size ";
          HCHECK(ClosedWithin(fd, 5)) << "the root kept a refused connection open";
        }
        for (int fd : j.huge_wrong) {
          HCHECK_EQ(RefusalStatus(fd, nullptr), static_cast<int>(MICS_REMOTE_ERROR));
          HCHECK(ClosedWithin(fd, 5)) << "the root kept a huge-size connection open";
        }
        // The right secret with absurd sizes: refused with INVALID_USAGE.
        for (int fd : j.huge_right)
          HCHECK_EQ(RefusalStatus(fd, nullptr), static_cast<int>(MICS_INVALID_USAGE));
        // Everything else: closed by the root (refused, dropped, evicted or
        // closed with the listener when the ranks had all arrived).
        for (auto* g : {&j.garbage, &j.truncated, &j.silent, &j.flood})
          for (int fd : *g) HCHECK(ClosedWithin(fd, 10)) << "a junk connection stayed open";
        for (int fd : j.all()) close(fd);
        // The root has closed its listener: no one can connect any more.
        HCHECK_EQ(Connect(s->id), -1) << "the root still listens after the init ";
      },
      opts);
  double worst = 0, clean = 0;
  for (int r = 0; r < 3; ++r) {
    worst = std::max(worst, s->init_us[r].load() / 1e3);
    clean = std::max(clean, s->init_us[4 + r].load() / 1e3);
  }
  printf(
      "[ junk ] 3-rank init, slowest rank: %.1f ms with %d junk connections at the root, "
      "%.1f ms without\n",
      worst, 5 + 4 + 3 + 8 + 4 + 200, clean);
  munmap(s, 4096);
}

// Connections keep pouring in (and stay open) while the ranks initialise:
// the flood is evicted oldest first, the ranks get through at once.
TEST(BootstrapSecurity, FloodDuringInitDoesNotStopRealRanks) {
  Shared* s = NewShared();
  ASSERT_NE(s, nullptr);
  Options opts;
  opts.init = false;
  opts.mics_timeout_ms = 20000;
  opts.timeout_s = 120;
  run_ranks(
      4,
      [s](mics_comm_t, int rank) {
        if (rank == 0) {
          HASSERT_OK(mics_get_unique_id(&s->id));
          s->id_ready.store(1);
        }
        if (rank < 3) {
          RealRank(s, rank, 2.0, false);
          s->done.fetch_add(1);
          return;
        }
        HASSERT(WaitFor(s->id_ready, 1, 30));
        std::vector<int> held;  // never closed before the end: each would stall a serial root
        int opened = 0;
        while (s->done.load() < 3 && opened < 600) {
          int fd = Connect(s->id);
          if (fd < 0) break;  // the root closed its listener: the ranks are in
          ++opened;
          if (opened % 3 == 0) send(fd, "GET / HTTP/1.0\r\n\r\n", 18, MSG_NOSIGNAL);
          held.push_back(fd);
          if (opened == 100) s->junk_ready.store(1);  // ranks start amid the flood
        }
        if (s->junk_ready.load() == 0) s->junk_ready.store(1);
        HCHECK(WaitFor(s->done, 3, 60)) << "the real ranks did not finish";
        fprintf(stderr, "attacker: opened %d connections during the init\n", opened);
        HCHECK(opened >= 100) << "the flood did not get going (" << opened << " connections)";
        for (int fd : held) close(fd);
      },
      opts);
  munmap(s, 4096);
}

// A rank with a tampered id (one bit of the secret off) is refused with
// REMOTE_ERROR and a message that says so, quickly; the real ranks carry on.
TEST(BootstrapSecurity, WrongSecretRankIsRefused) {
  Shared* s = NewShared();
  ASSERT_NE(s, nullptr);
  Options opts;
  opts.init = false;
  opts.mics_timeout_ms = 10000;
  run_ranks(
      3,
      [s](mics_comm_t, int rank) {
        if (rank == 0) {
          HASSERT_OK(mics_get_unique_id(&s->id));
          s->id_ready.store(1);
        }
        HASSERT(WaitFor(s->id_ready, 1, 30));
        if (rank == 2) {  // the impostor claims rank 1 first
          mics_unique_id bad = s->id;
          bad.internal[offsetof(IdWire, secret) + 5] ^= 0x10;
          mics_comm_t comm = nullptr;
          const auto t0 = Clock::now();
          mics_result_t r = mics_comm_init_rank(&comm, 2, bad, 1);
          const double took = Since(t0);
          const std::string e = mics_last_error(nullptr);
          HCHECK_EQ(r, MICS_REMOTE_ERROR) << mics_result_string(r) << ": " << e;
          HCHECK(e.find("refused") != std::string::npos) << "message: " << e;
          HCHECK(e.find("secret") != std::string::npos) << "message: " << e;
          HCHECK(took < 2.0) << "the refusal took " << took << " s";
          fprintf(stderr, "impostor refused in %.1f ms: %s\n", took * 1e3, e.c_str());
          if (r == MICS_SUCCESS) mics_comm_destroy(comm);
          s->junk_ready.store(1);
          return;
        }
        HASSERT(WaitFor(s->junk_ready, 1, 30));
        mics_comm_t comm = nullptr;
        HASSERT_OK(mics_comm_init_rank(&comm, 2, s->id, rank)) << mics_last_error(nullptr);
        HCHECK_OK(mics_barrier(comm));
        HCHECK_OK(mics_comm_destroy(comm));
      },
      opts);
  munmap(s, 4096);
}

// An id made by hand (the layout of mics_get_unique_id) pointing at a port
// nobody serves; corruptions of it.
mics_unique_id HandMadeId() {
  IdWire w{};
  w.magic = kIdMagic;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(1);  // nobody listens on port 1
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  w.addr_len = sizeof(a);
  memcpy(w.addr, &a, sizeof(a));
  for (int i = 0; i < kSecretBytes; ++i) w.secret[i] = static_cast<uint8_t>(i * 37 + 1);
  mics_unique_id id;
  memset(id.internal, 0, sizeof(id.internal));
  memcpy(id.internal, &w, sizeof(w));
  return id;
}

TEST(BootstrapSecurity, CorruptedUniqueIdsAreInvalidArgument) {
  Options opts;
  opts.init = false;
  opts.mics_timeout_ms = 300;
  run_ranks(
      1,
      [](mics_comm_t, int) {
        // The uncorrupted id decodes (the layout above is right): init then
        // times out against the unserved port, it is not rejected.
        mics_comm_t comm = nullptr;
        mics_unique_id good = HandMadeId();
        mics_result_t r = mics_comm_init_rank(&comm, 2, good, 1);
        HCHECK(r == MICS_TIMEOUT || r == MICS_REMOTE_ERROR)
            << "hand-made id: " << mics_result_string(r) << " " << mics_last_error(nullptr);
        if (r == MICS_SUCCESS) mics_comm_destroy(comm);

        std::vector<std::pair<std::string, mics_unique_id>> bad;
        auto with = [&](const std::string& what, auto edit) {
          mics_unique_id id = good;
          IdWire w = IdOf(id);
          edit(&w);
          memcpy(id.internal, &w, sizeof(w));
          bad.push_back({what, id});
        };
        for (uint32_t bit = 0; bit < 32; ++bit)
          with("magic bit " + std::to_string(bit), [bit](IdWire* w) { w->magic ^= 1u << bit; });
        for (uint32_t len : {0u, 1u, 2u, 8u, 15u, 17u, 27u, 29u, 128u, 0xffffffffu})
          with("addr_len " + std::to_string(len), [len](IdWire* w) { w->addr_len = len; });
        for (int family : {AF_UNSPEC, AF_UNIX, AF_INET6, AF_PACKET, 0xffff})
          with("family " + std::to_string(family), [family](IdWire* w) {
            sa_family_t f = static_cast<sa_family_t>(family);
            memcpy(w->addr, &f, sizeof(f));
          });
        with("IPv6 family with an IPv4 length", [](IdWire* w) {
          sa_family_t f = AF_INET6;
          memcpy(w->addr, &f, sizeof(f));
        });
        // Random ids: 1000 of them.
        uint64_t x = mics_test::TestSeed();
        for (int i = 0; i < 1000; ++i) {
          mics_unique_id id;
          for (char& ch : id.internal) ch = static_cast<char>(x = mics_test::Mix64(x));
          bad.push_back({"random #" + std::to_string(i), id});
        }
        const auto t0 = Clock::now();
        for (const auto& [what, id] : bad) {
          mics_comm_t c = nullptr;
          mics_result_t got = mics_comm_init_rank(&c, 2, id, 1);
          HCHECK_EQ(got, MICS_INVALID_ARGUMENT)
              << what << ": " << mics_result_string(got) << " " << mics_last_error(nullptr);
          if (got == MICS_SUCCESS) mics_comm_destroy(c);
        }
        HCHECK(Since(t0) < 5.0) << bad.size() << " bad ids took " << Since(t0) << " s";
      },
      opts);
}

// ---- a fake root: what a rank does with a hostile or scripted reply -----------

struct FakeRoot {
  int listen_fd = -1;
  mics_unique_id id;
};

FakeRoot ListenFakeRoot() {
  FakeRoot f;
  f.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (bind(f.listen_fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      listen(f.listen_fd, 16) != 0 ||
      getsockname(f.listen_fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    close(f.listen_fd);
    f.listen_fd = -1;
    return f;
  }
  f.id = HandMadeId();
  IdWire w = IdOf(f.id);
  memcpy(w.addr, &a, sizeof(a));
  memcpy(f.id.internal, &w, sizeof(w));
  return f;
}

// Accepts one rank and reads its hello and RankInfo, checking the hello.
int AcceptRank(const FakeRoot& f, int nranks, int rank, RankInfo* info) {
  pollfd p{f.listen_fd, POLLIN, 0};
  if (poll(&p, 1, 20000) != 1) return -1;
  int fd = accept4(f.listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
  Hello h{};
  HCHECK(RecvAll(fd, &h, sizeof(h), 10)) << "no hello from the rank";
  HCHECK(RecvAll(fd, info, sizeof(*info), 10)) << "no RankInfo from the rank";
  const IdWire w = IdOf(f.id);
  HCHECK_EQ(h.magic, kHelloMagic);
  HCHECK_EQ(h.version, 1u);
  HCHECK(memcmp(h.secret, w.secret, kSecretBytes) == 0) << "the hello carries another secret";
  HCHECK_EQ(h.nranks, nranks);
  HCHECK_EQ(h.rank, rank);
  HCHECK_EQ(h.info_bytes, sizeof(RankInfo));
  HCHECK_EQ(info->rank, rank);
  return fd;
}

std::vector<std::string> ShmEntriesWith(const std::string& part) {
  std::vector<std::string> out;
  DIR* d = opendir("/dev/shm");
  if (!d) return out;
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n.rfind("mics", 0) == 0 && n.find(part) != std::string::npos) out.push_back(n);
  }
  closedir(d);
  return out;
}

// The fake root answers a real rank 0 with a table of two ranks on this
// machine, rank 1 being the fake root's own process (alive, so rank 0 waits
// for its mailbox until the timeout). Rank 0's own mailbox segment meanwhile
// sits in /dev/shm: it must be 0600 and ours, and gone once rank 0 gives up.
TEST(BootstrapSecurity, SharedMemorySegmentsAreOwnerOnly) {
  Shared* s = NewShared();
  ASSERT_NE(s, nullptr);
  Options opts;
  opts.init = false;
  opts.mics_timeout_ms = 3000;
  run_ranks(
      2,
      [s](mics_comm_t, int rank) {
        if (rank == 1) {  // the real rank 0 of a 2-rank job
          HASSERT(WaitFor(s->id_ready, 1, 30));
          mics_comm_t comm = nullptr;
          mics_result_t r = mics_comm_init_rank(&comm, 2, s->id, 0);
          HCHECK(r == MICS_TIMEOUT || r == MICS_REMOTE_ERROR)
              << "init against the fake root: " << mics_result_string(r) << " "
              << mics_last_error(nullptr);
          if (r == MICS_SUCCESS) mics_comm_destroy(comm);
          s->done.store(1);
          return;
        }
        FakeRoot f = ListenFakeRoot();
        HASSERT(f.listen_fd >= 0) << "cannot listen: " << strerror(errno);
        s->id = f.id;
        s->id_ready.store(1);
        RankInfo info{};
        int fd = AcceptRank(f, 2, 0, &info);
        HASSERT(fd >= 0) << "the rank did not connect";
        const uint64_t session = 0x5ec0000000000000ull | (mics_test::TestSeed() & 0xffffffffull);
        Reply reply{kReplyMagic, 0, 2, 0, session};
        RankInfo table[2] = {info, info};
        table[1].rank = 1;
        table[1].pid = getpid();
        HASSERT(SendAll(fd, &reply, sizeof(reply)) && SendAll(fd, table, sizeof(table)));
        char hex[32];
        snprintf(hex, sizeof(hex), "%016" PRIx64, session);
        std::vector<std::string> seen;
        const auto t0 = Clock::now();
        while (seen.empty() && Since(t0) < 10 && s->done.load() == 0) {
          seen = ShmEntriesWith(hex);
          if (seen.empty()) usleep(1000);
        }
        HCHECK(!seen.empty()) << "rank 0 never created its mailbox segment";
        for (const std::string& n : seen) {
          struct stat st {};
          HCHECK(stat(("/dev/shm/" + n).c_str(), &st) == 0) << n << ": " << strerror(errno);
          HCHECK_EQ(st.st_mode & 07777, 0600u)
              << "segment " << n << " has mode " << std::oct << (st.st_mode & 07777) << std::dec;
          HCHECK_EQ(st.st_uid, getuid()) << "segment " << n << " owner ";
          fprintf(stderr, "segment /dev/shm/%s mode %o uid %u\n", n.c_str(),
                  static_cast<unsigned>(st.st_mode & 07777), static_cast<unsigned>(st.st_uid));
        }
        HCHECK(WaitFor(s->done, 1, 30)) << "rank 0 did not give up";
        HCHECK(ShmEntriesWith(hex).empty()) << "rank 0 left its segment behind after failing";
        close(fd);
        close(f.listen_fd);
      },
      opts);
  munmap(s, 4096);
}

// Hostile replies: a rank must fail cleanly (REMOTE_ERROR, quickly), never
// read out of bounds or trust a table that is not its own.
TEST(BootstrapSecurity, HostileRootRepliesAreRejected) {
  enum Kind { kGarbage, kWrongSize, kBadTableRank, kNotOurEntry, kEarlyClose, kCount };
  Shared* s = NewShared();
  ASSERT_NE(s, nullptr);
  Options opts;
  opts.init = false;
  opts.mics_timeout_ms = 5000;
  run_ranks(
      2,
      [s](mics_comm_t, int rank) {
        for (int kind = 0; kind < kCount; ++kind) {
          if (rank == 1) {  // the real rank 0 of 2
            HASSERT(WaitFor(s->id_ready, kind + 1, 30));
            mics_comm_t comm = nullptr;
            const auto t0 = Clock::now();
            mics_result_t r = mics_comm_init_rank(&comm, 2, s->id, 0);
            HCHECK_EQ(r, MICS_REMOTE_ERROR)
                << "reply kind " << kind << ": " << mics_result_string(r) << " "
                << mics_last_error(nullptr);
            HCHECK(Since(t0) < 3.0) << "reply kind " << kind << " took " << Since(t0) << " s";
            if (r == MICS_SUCCESS) mics_comm_destroy(comm);
            s->done.store(kind + 1);
            continue;
          }
          FakeRoot f = ListenFakeRoot();
          HASSERT(f.listen_fd >= 0);
          s->id = f.id;
          s->id_ready.store(kind + 1);
          RankInfo info{};
          int fd = AcceptRank(f, 2, 0, &info);
          HASSERT(fd >= 0);
          Reply reply{kReplyMagic, 0, 2, 0, 1};
          RankInfo table[2] = {info, info};
          table[1].rank = 1;
          table[1].node_hash ^= 1;  // (a second node: never reached, every kind fails before)
          memset(table[0].node_name, 'A', sizeof(table[0].node_name));  // no NUL
          switch (kind) {
            case kGarbage: {
              char junk[sizeof(Reply)];
              memset(junk, 0x5a, sizeof(junk));
              SendAll(fd, junk, sizeof(junk));
              break;
            }
            case kWrongSize:
              reply.nranks = 1000000;
              SendAll(fd, &reply, sizeof(reply));
              break;
            case kBadTableRank:
              table[1].rank = 7;
              SendAll(fd, &reply, sizeof(reply));
              SendAll(fd, table, sizeof(table));
              break;
            case kNotOurEntry:
              table[0].pid ^= 0x40000;
              SendAll(fd, &reply, sizeof(reply));
              SendAll(fd, table, sizeof(table));
              break;
            case kEarlyClose:
              SendAll(fd, &reply, sizeof(reply));
              SendAll(fd, table, sizeof(table) / 2);
              break;
          }
          if (kind == kEarlyClose) close(fd);
          HCHECK(WaitFor(s->done, kind + 1, 30));
          if (kind != kEarlyClose) close(fd);
          close(f.listen_fd);
        }
      },
      opts);
  munmap(s, 4096);
}

}  // namespace
