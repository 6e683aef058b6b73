// Fuzzes a rank's side of the bootstrap (src/bootstrap.cc): what a rank makes
// of the root's reply, rank table and address table, as rendezvous() does, then
// uses the addresses as init does. A hostile or broken root must yield an error,
// never an out-of-bounds read.
//
// Input: byte 0 = nranks - 1 (1..16), byte 1 = our rank (mod 17, so sometimes
// outside), byte 2 = flags (bit 0: take our RankInfo from the table so that
// the "is it ours" check can pass), then Reply, RankInfo[nranks], NetAddress[nranks]
// (missing bytes are zero).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "src/bootstrap.h"

using namespace mics;

#define FUZZ_CHECK(cond)  \
  do {                    \
    if (!(cond)) abort(); \
  } while (0)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const int nranks = data[0] % 16 + 1;
  const int rank = data[1] % 17;
  const bool own_from_table = data[2] & 1;
  size_t at = 3;
  auto take = [&](void* out, size_t n) {
    memset(out, 0, n);
    size_t k = std::min(n, size - at);
    memcpy(out, data + at, k);
    at += k;
  };
  Reply reply;
  take(&reply, sizeof(reply));
  std::vector<RankInfo> all(nranks);
  take(all.data(), all.size() * sizeof(RankInfo));
  std::vector<NetAddress> addresses(nranks);
  take(addresses.data(), addresses.size() * sizeof(NetAddress));

  if (check_reply(reply, nranks, rank, "127.0.0.1:1") != MICS_SUCCESS) return 0;
  FUZZ_CHECK(reply.status == 0 && reply.nranks == nranks);
  RankInfo mine{};
  if (own_from_table && rank < nranks) mine = all[rank];
  if (check_rank_table(&all, rank, mine) != MICS_SUCCESS) return 0;
  FUZZ_CHECK(rank >= 0 && rank < nranks);
  size_t names = 0;
  for (int i = 0; i < nranks; ++i) {
    FUZZ_CHECK(all[i].rank == i);
    names += strlen(all[i].node_name);  // NUL-terminated: ASan checks the read
  }
  (void)needs_network(all);
  if (check_addresses(addresses) != MICS_SUCCESS) return 0;
  size_t bytes = 0;
  for (const NetAddress& a : addresses)  // as init.cc hands them to the endpoint
    bytes += std::string(reinterpret_cast<const char*>(a.bytes), a.len).size();
  FUZZ_CHECK(bytes <= addresses.size() * sizeof(addresses[0].bytes));
  (void)names;
  return 0;
}
