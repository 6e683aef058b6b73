// POSIX shared-memory segments, owner-only (0600). The creator names a
// segment; peers open it by name; the segment is unlinked as soon as every peer
// has mapped it, so nothing is left in /dev/shm once a communicator is up.
#pragma once

#include <cstddef>
#include <string>

#include "src/base/deadline.h"
#include "src/base/error.h"

namespace mics::transport::shm {

struct Mapping {
  void* base = nullptr;
  size_t size = 0;
};

// Creates name (O_EXCL, 0600) with size bytes and maps it.
Result create_segment(const std::string& name, size_t size, Mapping* out);
// Opens and maps name once it exists with at least min_size bytes, retrying until deadline.
Result open_segment(const std::string& name, size_t min_size, Deadline deadline, Mapping* out);
void unmap_segment(Mapping* m);
// shm_unlink, ignoring "already gone".
void unlink_segment(const std::string& name);

}  // namespace mics::transport::shm
