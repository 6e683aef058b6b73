// Who this process is, machine-wise: the logical node it belongs to (host name
// + boot id, like NCCL's host hash, or MICS_HOST_ID so that one machine can
// pose as several nodes) and the physical host it really runs on (which decides
// whether shared memory can reach a peer).
#pragma once

#include <cstdint>
#include <string>

#include "src/base/error.h"

namespace mics::topo {

struct HostIdentity {
  std::string node_name;       // MICS_HOST_ID, or "hostname"
  uint64_t node_hash = 0;      // hash of MICS_HOST_ID, or of hostname + boot id
  uint64_t physical_hash = 0;  // hash of hostname + boot id, never overridden
  uint64_t pid_namespace = 0;  // inode of /proc/self/ns/pid: pids are comparable only inside one
};

// INVALID_ARGUMENT when MICS_HOST_ID is set but empty of meaning (longer than 63
// characters or containing non-printable characters).
Result local_identity(HostIdentity* out);

uint64_t hash_bytes(const void* data, size_t len, uint64_t seed = 0xcbf29ce484222325ull);

}  // namespace mics::topo
