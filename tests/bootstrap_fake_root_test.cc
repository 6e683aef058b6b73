// Security tests of the bootstrap (see bootstrap_security_test.cc): a fake
// root scripts the replies a real rank gets, hostile ones included.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <mics/mics.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "bootstrap_raw_peer.h"
#include "harness.h"

namespace mics_test::bootstrap_peer {
namespace {

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

// The names in /dev/shm that start with "mics" and contain part.
std::vector<std::string> ShmEntriesWith(const std::string& part) {
  std::vector<std::string> out;
  for (std::string& n : MicsShmEntries()) {
    if (n.find(part) != std::string::npos) out.push_back(std::move(n));
  }
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
}  // namespace mics_test::bootstrap_peer
