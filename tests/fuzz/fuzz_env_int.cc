// Fuzzes parse_int / env_int (src/base/env.cc), which read every integer
// variable (MICS_TIMEOUT_MS, MICS_SHM_SLOTS, RANK, ...), against an
// independent reference: optional leading white space and sign, decimal
// digits, nothing after, value in [lo, hi].
//
// Input: 8 bytes lo, 8 bytes hi (swapped when lo > hi), then the text.
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "src/base/env.h"

using namespace mics;

#define FUZZ_CHECK(cond)  \
  do {                    \
    if (!(cond)) abort(); \
  } while (0)

namespace {

bool reference(const char* s, int64_t lo, int64_t hi, int64_t* out) {
  while (*s == ' ' || (*s >= '\t' && *s <= '\r')) ++s;
  bool neg = false;
  if (*s == '+' || *s == '-') neg = *s++ == '-';
  if (!isdigit(static_cast<unsigned char>(*s))) return false;
  __int128 v = 0;
  for (; isdigit(static_cast<unsigned char>(*s)); ++s) {
    v = v * 10 + (*s - '0');
    if (v > (static_cast<__int128>(1) << 64)) v = static_cast<__int128>(1) << 64;  // saturate
  }
  if (*s != '\0') return false;
  if (neg) v = -v;
  if (v < INT64_MIN || v > INT64_MAX || v < lo || v > hi) return false;
  *out = static_cast<int64_t>(v);
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 16 || size > 4096) return 0;
  int64_t lo, hi;
  memcpy(&lo, data, 8);
  memcpy(&hi, data + 8, 8);
  if (lo > hi) std::swap(lo, hi);
  // Often pick the ranges the library uses, so in-range values get exercised.
  switch (data[0] & 3) {
    case 0:
      lo = 1, hi = INT32_MAX;
      break;
    case 1:
      lo = 0, hi = 1000000;
      break;
    default:
      break;
  }
  const std::string text(reinterpret_cast<const char*>(data + 16), size - 16);
  const char* s = text.c_str();  // up to the first NUL, as an environment value would be
  int64_t got = 0x5a5a, want = 0x5a5a;
  const bool ok = parse_int(s, lo, hi, &got);
  const bool ref = reference(s, lo, hi, &want);
  FUZZ_CHECK(ok == ref);
  if (ok) FUZZ_CHECK(got == want && got >= lo && got <= hi);
  if (!ok) FUZZ_CHECK(got == 0x5a5a);  // untouched on failure

  // env_int: the same through the environment; unset/empty gives the default.
  setenv("MICS_FUZZ_INT", s, 1);
  int64_t v = 0;
  Result r = env_int("MICS_FUZZ_INT", lo, lo, hi, &v);
  if (*s == '\0') {
    FUZZ_CHECK(r == MICS_SUCCESS && v == lo);
  } else {
    FUZZ_CHECK((r == MICS_SUCCESS) == ok);
    if (ok) FUZZ_CHECK(v == got);
    if (!ok) FUZZ_CHECK(r == MICS_INVALID_ARGUMENT);
  }
  return 0;
}
