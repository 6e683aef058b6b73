// Fuzzes the bootstrap root's side of the wire (src/bootstrap.cc): hellos and
// RankInfos arriving in arbitrary pieces on up to 8 connections at once, fed
// through HelloReader / root_step / RootTable exactly as the root's poll()
// loop feeds them. Checks the invariants the loop relies on.
//
// Input: byte 0 = flags (bits 0-2: connections - 1; bit 3: write our secret
// into every hello, so that mutations get past the secret check), then
// records [conn, len, len bytes]; len 0 closes the connection.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "src/bootstrap.h"

using namespace mics;

namespace {

#define FUZZ_CHECK(cond)  \
  do {                    \
    if (!(cond)) abort(); \
  } while (0)

const uint8_t kSecret[kSecretBytes] = {
    0x73, 0x65, 0x63, 0x72, 0x65, 0x74, 0x21, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
    0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87, 0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f};

struct Conn {
  HelloReader reader;
  bool done = false;
};

constexpr size_t kSecretAt = offsetof(Hello, secret);

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int nconn = (data[0] & 7) + 1;
  const bool patch_secret = data[0] & 8;
  std::vector<Conn> conns(nconn);
  RootTable table;
  size_t i = 1;
  while (i + 2 <= size && !table.complete()) {
    Conn& c = conns[data[i] % nconn];
    size_t len = data[i + 1];
    i += 2;
    len = std::min(len, size - i);
    const uint8_t* p = data + i;
    i += len;
    if (c.done) continue;
    if (len == 0) {  // the peer closed: the root just drops it
      c.done = true;
      continue;
    }
    HelloReader& r = c.reader;
    while (len > 0 && !c.done) {
      FUZZ_CHECK(r.have < r.need && r.need <= sizeof(r.buf));
      size_t take = std::min(len, r.need - r.have);
      memcpy(r.buf + r.have, p, take);
      if (patch_secret)
        for (size_t k = r.have; k < r.have + take; ++k)
          if (k >= kSecretAt && k < kSecretAt + kSecretBytes) r.buf[k] = kSecret[k - kSecretAt];
      if (r.rank < 0 && r.have < offsetof(Hello, nranks) + 4 &&
          r.have + take >= offsetof(Hello, nranks) + 4) {
        // Keep worlds small (a table of 2^20 ranks costs 96 MB per input);
        // sizes outside [1, kMaxRanks] still get through unchanged.
        int32_t n;
        memcpy(&n, r.buf + offsetof(Hello, nranks), sizeof(n));
        if (n > 64 && n <= kMaxRanks) n = n % 64 + 1;
        memcpy(r.buf + offsetof(Hello, nranks), &n, sizeof(n));
      }
      r.have += take;
      p += take;
      len -= take;
      const bool was_admitted = r.rank >= 0;
      uint32_t reason = 12345;
      RootStep step = root_step(&r, &table, kSecret, &reason);
      FUZZ_CHECK(r.have <= r.need && r.need <= sizeof(r.buf));
      switch (step) {
        case RootStep::kMore:
          FUZZ_CHECK(reason == kReasonNone);
          FUZZ_CHECK(r.have < r.need);
          if (!was_admitted && r.rank >= 0) {  // just admitted: the hello is genuine
            FUZZ_CHECK(r.have == sizeof(Hello));
            FUZZ_CHECK(memcmp(r.buf + kSecretAt, kSecret, kSecretBytes) == 0);
            FUZZ_CHECK(r.need == sizeof(Hello) + sizeof(RankInfo));
          }
          break;
        case RootStep::kArrived: {
          FUZZ_CHECK(reason == kReasonNone && r.rank >= 0 && r.have == r.need);
          FUZZ_CHECK(table.expected() > 0 && r.rank < table.expected());
          const RankInfo& info = table.infos()[r.rank];
          FUZZ_CHECK(info.rank == r.rank);
          FUZZ_CHECK(memchr(info.node_name, 0, sizeof(info.node_name)) != nullptr);
          c.done = true;
          break;
        }
        case RootStep::kRefused:
          FUZZ_CHECK(reason != kReasonNone && reason != 12345);
          FUZZ_CHECK(refuse_reason_string(reason) != nullptr);
          if (reason == kReasonWrongSecret)
            FUZZ_CHECK(memcmp(r.buf + kSecretAt, kSecret, kSecretBytes) != 0);
          c.done = true;
          break;
      }
      FUZZ_CHECK(table.arrived() >= 0);
      if (table.expected() > 0) {
        FUZZ_CHECK(table.arrived() <= table.expected());
        FUZZ_CHECK(table.infos().size() == static_cast<size_t>(table.expected()));
      } else {
        FUZZ_CHECK(table.arrived() == 0);
      }
    }
  }
  // The standalone parser on the raw input: never reads past size.
  Hello h;
  uint32_t reason = parse_hello(data, size, kSecret, &h);
  if (reason == kReasonNone) FUZZ_CHECK(size >= sizeof(Hello));
  return 0;
}
