// Checked reads of environment variables: garbage is an error that names the
// variable and the accepted range, never a silent default.
#pragma once

#include <cstdint>
#include <string>

#include "src/base/error.h"

namespace mics {

// *out = value of name in [lo, hi], or def when unset/empty.
Result env_int(const char* name, int64_t def, int64_t lo, int64_t hi, int64_t* out);
// Parses a whole decimal integer in [lo, hi]; false on garbage or overflow.
bool parse_int(const char* text, int64_t lo, int64_t hi, int64_t* out);
// Value of name, or "" when unset.
std::string env_str(const char* name);

}  // namespace mics
