#include "src/reduce/half.h"

// -DMICS_REDUCE_PORTABLE_ONLY builds the baseline code only (to test it on an AVX2 machine).
#if defined(__x86_64__) && !defined(MICS_REDUCE_PORTABLE_ONLY)
#define MICS_REDUCE_F16C 1
#include <cpuid.h>
#include <immintrin.h>
#endif

namespace mics {
namespace {

void HalfToFloatPortable(float* dst, const uint16_t* src, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = HalfToFloat(src[i]);
}

void FloatToHalfPortable(uint16_t* dst, const float* src, size_t n) {
  for (size_t i = 0; i < n; ++i) dst[i] = FloatToHalf(src[i]);
}

#if MICS_REDUCE_F16C
// F16C converts 8 values per instruction; GCC does not auto-vectorise _Float16 conversions, so
// these are written with intrinsics. Explicit rounding (to nearest even) rather than MXCSR's, like
// the portable code's integer path.
__attribute__((target("avx2,f16c"))) void HalfToFloatF16c(float* dst, const uint16_t* src,
                                                          size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + i));
    _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(h));
  }
  for (; i < n; ++i) dst[i] = HalfToFloat(src[i]);
}

__attribute__((target("avx2,f16c"))) void FloatToHalfF16c(uint16_t* dst, const float* src,
                                                          size_t n) {
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + i), h);
  }
  for (; i < n; ++i) dst[i] = FloatToHalf(src[i]);
}

bool HasF16c() {
  static const bool has = [] {
    __builtin_cpu_init();  // we may run before libgcc's own constructor has
    // F16C is CPUID.1:ECX bit 29 (asked directly: not every compiler's __builtin_cpu_supports
    // knows "f16c"). The avx2 check also covers the OS saving the YMM registers.
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    return __builtin_cpu_supports("avx2") && __get_cpuid(1, &eax, &ebx, &ecx, &edx) != 0 &&
           (ecx & bit_F16C) != 0;
  }();
  return has;
}
#endif

}  // namespace

void HalfToFloatN(float* dst, const uint16_t* src, size_t n) {
#if MICS_REDUCE_F16C
  if (HasF16c()) return HalfToFloatF16c(dst, src, n);
#endif
  HalfToFloatPortable(dst, src, n);
}

void FloatToHalfN(uint16_t* dst, const float* src, size_t n) {
#if MICS_REDUCE_F16C
  if (HasF16c()) return FloatToHalfF16c(dst, src, n);
#endif
  FloatToHalfPortable(dst, src, n);
}

}  // namespace mics
