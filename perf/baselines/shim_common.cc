// Pieces of the mics API shim shared by the MPI and Gloo baselines: type
// sizes, the last-error string, node layout from host names. The result names
// (mics_result_string) are libmics' own src/result_string.cc, compiled in.
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "shim.h"

namespace mics_shim {
namespace {
thread_local std::string g_last_error;
}

mics_result_t Fail(mics_result_t code, const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  g_last_error = buf;
  return code;
}

std::string NodeKey() {
  const char* id = std::getenv("MICS_HOST_ID");
  if (id != nullptr && *id != '\0') return std::string("id:") + id;
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return std::string("host:") + host;
}

void Layout(const std::string* keys, int nranks, int rank, int* node, int* nnodes, int* local,
            int* local_size) {
  int nodes = 0, my_node = -1, my_local = 0, my_local_size = 0;
  for (int r = 0; r < nranks; ++r) {
    int first = r;
    for (int q = 0; q < r; ++q) {
      if (keys[q] == keys[r]) {
        first = q;
        break;
      }
    }
    if (first == r) ++nodes;  // r is the lowest rank of a new node
    if (keys[r] == keys[rank]) {
      if (r < rank) ++my_local;
      ++my_local_size;
      if (my_node < 0) my_node = nodes - 1;
    }
  }
  if (node) *node = my_node;
  if (nnodes) *nnodes = nodes;
  if (local) *local = my_local;
  if (local_size) *local_size = my_local_size;
}

bool RankFromEnv(int* rank, int* size) {
  const char* r = std::getenv("RANK");
  const char* s = std::getenv("WORLD_SIZE");
  if (r == nullptr || s == nullptr) {
    r = std::getenv("OMPI_COMM_WORLD_RANK");
    s = std::getenv("OMPI_COMM_WORLD_SIZE");
  }
  if (r == nullptr || s == nullptr) {
    Fail(MICS_INVALID_ARGUMENT, "RANK/WORLD_SIZE (or OMPI_COMM_WORLD_RANK/SIZE) not set");
    return false;
  }
  char* end = nullptr;
  errno = 0;
  long rv = std::strtol(r, &end, 10);
  bool ok = end != r && *end == '\0' && errno == 0;
  long sv = std::strtol(s, &end, 10);
  ok = ok && end != s && *end == '\0' && errno == 0 && sv >= 1 && rv >= 0 && rv < sv;
  if (!ok) {
    Fail(MICS_INVALID_ARGUMENT, "bad rank '%s' / size '%s' in the environment", r, s);
    return false;
  }
  *rank = static_cast<int>(rv);
  *size = static_cast<int>(sv);
  return true;
}

}  // namespace mics_shim

extern "C" {

const char* mics_last_error(mics_comm_t) { return mics_shim::g_last_error.c_str(); }

// 0: not libmics (the table header then reads "mics-library=0").
mics_result_t mics_get_version(int* version) {
  if (version == nullptr) return MICS_INVALID_ARGUMENT;
  *version = 0;
  return MICS_SUCCESS;
}

size_t mics_type_size(mics_datatype_t type) {
  switch (type) {
    case MICS_INT8:
    case MICS_UINT8:
      return 1;
    case MICS_FLOAT16:
    case MICS_BFLOAT16:
      return 2;
    case MICS_INT32:
    case MICS_UINT32:
    case MICS_FLOAT32:
      return 4;
    case MICS_INT64:
    case MICS_UINT64:
    case MICS_FLOAT64:
      return 8;
    default:
      return 0;
  }
}

}  // extern "C"
