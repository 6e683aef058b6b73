// One rank's block in a single-copy allgather (direct.h); separate so that
// the communicator can keep a reusable list of them.
#pragma once

#include <cstddef>

namespace mics::coll {

// Where rank r's block goes here, and its size.
struct DirectBlock {
  char* dst;
  size_t bytes;
};

}  // namespace mics::coll
