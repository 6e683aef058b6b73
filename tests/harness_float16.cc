// Test-side float16/bfloat16 conversions (harness.h), written apart from the
// library's so that the reference shares no code with what it checks.
#include <cmath>
#include <cstdint>
#include <cstring>

#include "harness.h"

namespace mics_test {

namespace {
uint32_t FloatBits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}
float BitsFloat(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}
// Drops the low `shift` bits of v, rounding to nearest, ties to even.
uint32_t RoundShift(uint32_t v, int shift) {
  const uint32_t q = v >> shift, rem = v & ((1u << shift) - 1), half = 1u << (shift - 1);
  return q + ((rem > half || (rem == half && (q & 1))) ? 1 : 0);
}
}  // namespace

uint16_t FloatToHalf(float f) {
  const uint32_t x = FloatBits(f);
  const uint32_t sign = (x >> 16) & 0x8000u, ax = x & 0x7fffffffu;
  if (ax > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);   // NaN
  if (ax >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // >= 65520: inf
  if (ax <= 0x33000000u) return static_cast<uint16_t>(sign);            // <= 2^-25: 0
  const int e = static_cast<int>(ax >> 23) - 127;
  if (e >= -14) {  // normal; a carry out of the mantissa bumps the exponent
    return static_cast<uint16_t>(sign + (static_cast<uint32_t>(e + 15) << 10) +
                                 RoundShift(ax & 0x7fffffu, 13));
  }
  // Subnormal: value = sig * 2^(e-23), counted in units of 2^-24.
  return static_cast<uint16_t>(sign | RoundShift((ax & 0x7fffffu) | 0x800000u, -e - 1));
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
  if (exp == 0) {
    const float v = std::ldexp(static_cast<float>(mant), -24);
    return sign ? -v : v;
  }
  if (exp == 31) return BitsFloat(sign | 0x7f800000u | (mant << 13));
  return BitsFloat(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t FloatToBf16(float f) {
  const uint32_t x = FloatBits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

float Bf16ToFloat(uint16_t b) { return BitsFloat(static_cast<uint32_t>(b) << 16); }

}  // namespace mics_test
