#include "topo/node_id.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

namespace mics::topo {

uint64_t hash_bytes(const void* data, size_t len, uint64_t seed) {
  // FNV-1a with a final avalanche; ids only need to be distinct, not secret.
  uint64_t h = seed;
  auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < len; ++i) h = (h ^ p[i]) * 0x100000001b3ull;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

Result local_identity(HostIdentity* out) {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  std::string boot_id;
  std::ifstream("/proc/sys/kernel/random/boot_id") >> boot_id;
  std::string physical = std::string(host) + "/" + boot_id;
  out->physical_hash = hash_bytes(physical.data(), physical.size());

  const char* override_id = getenv("MICS_HOST_ID");
  if (override_id && *override_id) {
    std::string id(override_id);
    bool printable = id.size() <= 63;
    for (char c : id) printable = printable && c > ' ' && c < 127;
    if (!printable)
      return MICS_ERROR(MICS_INVALID_ARGUMENT,
                        "MICS_HOST_ID='%.64s' must be 1-63 printable characters without spaces",
                        override_id);
    out->node_name = id;
    out->node_hash = hash_bytes(id.data(), id.size(), 0x9e3779b97f4a7c15ull);
  } else {
    out->node_name = host;
    out->node_hash = out->physical_hash;
  }
  struct stat st {};
  out->pid_namespace = stat("/proc/self/ns/pid", &st) == 0 ? st.st_ino : 0;
  return MICS_SUCCESS;
}

}  // namespace mics::topo
