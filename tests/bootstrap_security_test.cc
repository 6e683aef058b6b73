// Security tests of the bootstrap (src/bootstrap.cc), in three files of one
// binary, each over a raw peer that speaks the wire itself (bootstrap_raw_peer.h):
//  - here, floods: the root serves real ranks while strangers send it garbage,
//    truncated or wrong-secret hellos, nothing at all, huge sizes, or floods of
//    connections (evicted oldest first);
//  - bootstrap_id_test.cc: a rank with the wrong secret is refused, malformed
//    unique ids are rejected;
//  - bootstrap_fake_root_test.cc: a hostile "root" cannot make a rank read out
//    of bounds; shared-memory segments are owner-only.
#include <gtest/gtest.h>
#include <mics/mics.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "bootstrap_raw_peer.h"
#include "harness.h"

namespace mics_test::bootstrap_peer {
namespace {

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

}  // namespace
}  // namespace mics_test::bootstrap_peer
