#include "src/base/env.h"

#include <cerrno>
#include <cstdlib>

namespace mics {

bool parse_int(const char* text, int64_t lo, int64_t hi, int64_t* out) {
  if (!text || !*text) return false;
  errno = 0;
  char* end = nullptr;
  long long v = strtoll(text, &end, 10);
  if (errno != 0 || *end != '\0' || v < lo || v > hi) return false;
  *out = v;
  return true;
}

Result env_int(const char* name, int64_t def, int64_t lo, int64_t hi, int64_t* out) {
  const char* v = getenv(name);
  if (!v || !*v) {
    *out = def;
    return MICS_SUCCESS;
  }
  if (!parse_int(v, lo, hi, out))
    return MICS_ERROR(MICS_INVALID_ARGUMENT, "%s='%.64s' is not an integer in [%lld, %lld]", name,
                      v, static_cast<long long>(lo), static_cast<long long>(hi));
  return MICS_SUCCESS;
}

std::string env_str(const char* name) {
  const char* v = getenv(name);
  return v ? std::string(v) : std::string();
}

}  // namespace mics
