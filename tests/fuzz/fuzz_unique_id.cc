// Fuzzes decode_unique_id (src/bootstrap.cc): a mics_unique_id is copied
// between processes by the user, so any 128 bytes may arrive. A decoded id
// must hold a well-formed IPv4/IPv6 address and survive an encode/decode trip.
#include <sys/socket.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "src/bootstrap.h"

using namespace mics;

#define FUZZ_CHECK(cond)  \
  do {                    \
    if (!(cond)) abort(); \
  } while (0)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mics_unique_id in;
  memset(in.internal, 0, sizeof(in.internal));
  memcpy(in.internal, data, std::min(size, sizeof(in.internal)));
  UniqueId id;
  Result r = decode_unique_id(in, &id);
  if (r != MICS_SUCCESS) {
    FUZZ_CHECK(r == MICS_INVALID_ARGUMENT);
    return 0;
  }
  const sa_family_t family = id.root.storage.ss_family;
  FUZZ_CHECK((family == AF_INET && id.root.len == sizeof(sockaddr_in)) ||
             (family == AF_INET6 && id.root.len == sizeof(sockaddr_in6)));
  FUZZ_CHECK(!id.root.str().empty());
  mics_unique_id again;
  FUZZ_CHECK(encode_unique_id(id, &again) == MICS_SUCCESS);
  UniqueId back;
  FUZZ_CHECK(decode_unique_id(again, &back) == MICS_SUCCESS);
  FUZZ_CHECK(back.root.len == id.root.len &&
             memcmp(&back.root.storage, &id.root.storage, id.root.len) == 0 &&
             memcmp(back.secret, id.secret, kSecretBytes) == 0);
  return 0;
}
