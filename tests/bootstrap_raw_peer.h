// A raw peer of the bootstrap for the bootstrap security tests: the wire
// protocol (documented in src/bootstrap.h) restated from the outside, so that
// a test can act as a stranger, a hostile rank or a hostile root. The
// static_asserts and the fake-root test (which checks a real rank's hello field
// by field) catch any drift from the library's structs.
#ifndef MICS_TESTS_BOOTSTRAP_RAW_PEER_H_
#define MICS_TESTS_BOOTSTRAP_RAW_PEER_H_

#include <mics/mics.h>
#include <netinet/in.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace mics_test::bootstrap_peer {

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

IdWire IdOf(const mics_unique_id& id);

// An id made by hand (the layout of mics_get_unique_id) pointing at a port
// nobody serves (loopback port 1), with a fixed secret.
mics_unique_id HandMadeId();

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

// A zeroed Shared in a MAP_SHARED page (created before the harness forks);
// nullptr when mmap fails. munmap(s, 4096) releases it.
Shared* NewShared();

double Since(Clock::time_point t0);

// Polls v until it reaches want or seconds pass; true if it did.
bool WaitFor(const std::atomic<int>& v, int want, double seconds);

// ---- raw sockets ---------------------------------------------------------------

// A blocking connection to the root of id (-1 on failure).
int Connect(const mics_unique_id& id);
bool SendAll(int fd, const void* buf, size_t len);
// Reads exactly len bytes within seconds; false on EOF, error or timeout.
bool RecvAll(int fd, void* buf, size_t len, double seconds);
// Waits for the root to close fd (EOF or reset), discarding what it sends.
bool ClosedWithin(int fd, double seconds);
Hello MakeHello(const uint8_t* secret, int nranks, int rank, uint32_t info_bytes);

}  // namespace mics_test::bootstrap_peer

#endif  // MICS_TESTS_BOOTSTRAP_RAW_PEER_H_
