// float16 (IEEE binary16) and bfloat16 <-> float32 conversions.
//
// Written as straight-line integer/float arithmetic with selects instead of branches, so that a
// loop calling them auto-vectorises. Narrowing rounds to nearest even (assuming the default FP
// rounding mode), keeps NaN a NaN (quieted, top payload bits kept) and sends overflow to inf.
// float16 results are bit-identical to F16C's vcvtph2ps / vcvtps2ph (widening quiets NaN too),
// so the bulk conversions below may use either. 16-bit values travel as uint16_t bit patterns.
#ifndef MICS_REDUCE_HALF_H_
#define MICS_REDUCE_HALF_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace mics {

// Bulk float16 conversions (half.cc): F16C where the CPU has it, else the functions below.
void HalfToFloatN(float* dst, const uint16_t* src, size_t n);
void FloatToHalfN(uint16_t* dst, const float* src, size_t n);

inline uint32_t FloatToBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

inline float BitsToFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

// c ? a : b on bits. A plain ?: lets GCC sink the unused side's float arithmetic into a branch,
// which it then cannot if-convert (the arithmetic might trap), and the loop stays scalar.
inline uint32_t Select(bool c, uint32_t a, uint32_t b) {
  const uint32_t m = 0u - static_cast<uint32_t>(c);
  return (a & m) | (b & ~m);
}

// bfloat16 is the upper half of a float32, so widening is exact.
inline float BFloat16ToFloat(uint16_t h) { return BitsToFloat(static_cast<uint32_t>(h) << 16); }

inline uint16_t FloatToBFloat16(float f) {
  const uint32_t x = FloatToBits(f);
  // Signed compare: AVX2 has no unsigned one, and the masked value is below 2^31 anyway.
  const bool is_nan = static_cast<int32_t>(x & 0x7fffffffu) > 0x7f800000;
  // Adding 0x7fff plus the lowest kept bit rounds half to even; a carry into the exponent is the
  // right answer, all the way up to inf. A NaN is truncated instead (rounding could carry it into
  // the sign) and gets the quiet bit, so that a payload in the low bits only cannot become inf.
  // Selecting the addends rather than two results keeps the vector code short.
  const uint32_t bias = is_nan ? 0u : 0x7fffu + ((x >> 16) & 1u);
  const uint32_t quiet = is_nan ? 0x00400000u : 0u;
  return static_cast<uint16_t>(((x + bias) | quiet) >> 16);
}

inline float HalfToFloat(uint16_t h) {
  const uint32_t sign = (static_cast<uint32_t>(h) & 0x8000u) << 16;
  // Exponent and mantissa moved to their float32 positions; exponent still biased by 15.
  const uint32_t mag = (static_cast<uint32_t>(h) & 0x7fffu) << 13;
  const uint32_t exp = mag & 0x0f800000u;
  const uint32_t normal = mag + ((127u - 15u) << 23);
  // Exponent 31: inf, or NaN, which gets the quiet bit as vcvtph2ps does.
  const uint32_t quiet = Select((mag & 0x007fffffu) != 0, 0x00400000u, 0);
  const uint32_t inf_nan = (mag + ((255u - 31u) << 23)) | quiet;
  // A subnormal m * 2^-24 is exactly (2^-14 + m * 2^-24) - 2^-14; the first term is the normal
  // float32 built from the same mantissa bits, so one exact subtraction does the scaling.
  const float sub = BitsToFloat(mag + (113u << 23)) - BitsToFloat(113u << 23);
  uint32_t r = Select(exp == 0x0f800000u, inf_nan, normal);
  r = Select(exp == 0, FloatToBits(sub), r);
  return BitsToFloat(r | sign);
}

inline uint16_t FloatToHalf(float f) {
  const uint32_t x = FloatToBits(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t a = x & 0x7fffffffu;
  // Normal results: rebias the exponent and round 23 mantissa bits to 10, half to even. A carry
  // into the exponent is correct (e.g. to the next binade).
  const uint32_t normal = (a - ((127u - 15u) << 23) + 0xfffu + ((a >> 13) & 1u)) >> 13;
  // Below 2^-14 the result is subnormal: after adding 0.5 the float32 ulp is 2^-24, the half
  // subnormal step, so the FPU's own rounding (to nearest even) does the work. The mantissa then
  // counts 2^-24 units; a count of 0x400 is the smallest normal half, which is also right.
  const uint32_t sub = FloatToBits(BitsToFloat(a) + 0.5f) - 0x3f000000u;
  // Quiet bit plus the top 10 payload bits.
  const uint32_t nan = 0x7e00u | ((a >> 13) & 0x3ffu);
  uint32_t r = Select(a < 0x38800000u, sub, normal);
  // 65520 (0x477ff000) is the tie between 65504 (odd mantissa) and 65536: it and above go to inf.
  r = Select(a >= 0x477ff000u, 0x7c00u, r);
  r = Select(a > 0x7f800000u, nan, r);
  return static_cast<uint16_t>(r | sign);
}

}  // namespace mics

#endif  // MICS_REDUCE_HALF_H_
