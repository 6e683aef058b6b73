// Test data of the perf binaries: deterministic inputs, expected outputs, checks.
#include <cmath>
#include <cstring>
#include <type_traits>

#include "perf_common.h"

namespace mics_perf {
namespace {

struct Half {
  uint16_t bits;
};
struct Bf16 {
  uint16_t bits;
};

uint32_t Mix(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352du;
  x ^= x >> 15;
  x *= 0x846ca68bu;
  x ^= x >> 16;
  return x;
}

uint32_t FloatBits(float f) {
  uint32_t x;
  std::memcpy(&x, &f, sizeof x);
  return x;
}

float BitsFloat(uint32_t x) {
  float f;
  std::memcpy(&f, &x, sizeof f);
  return f;
}

// IEEE binary16 with round-to-nearest-even.
uint16_t FloatToHalf(float f) {
  uint32_t x = FloatBits(f);
  uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  uint32_t a = x & 0x7fffffffu;
  if (a >= 0x7f800000u) return sign | (a > 0x7f800000u ? 0x7e00 : 0x7c00);
  if (a >= 0x477ff000u) return sign | 0x7c00;  // rounds to infinity
  if (a < 0x38800000u) {                       // half subnormal (or zero)
    return sign | static_cast<uint16_t>(std::nearbyint(BitsFloat(a) * 16777216.0f));
  }
  uint32_t h = (((a >> 23) - 112u) << 10) | ((a & 0x7fffffu) >> 13);
  uint32_t rem = a & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return sign | static_cast<uint16_t>(h);
}

float HalfToFloat(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t e = (h >> 10) & 0x1fu;
  uint32_t m = h & 0x3ffu;
  if (e == 0) {
    float v = std::ldexp(static_cast<float>(m), -24);
    return sign ? -v : v;
  }
  if (e == 31) return BitsFloat(sign | 0x7f800000u | (m << 13));
  return BitsFloat(sign | ((e + 112u) << 23) | (m << 13));
}

uint16_t FloatToBf16(float f) {
  uint32_t x = FloatBits(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);
  return static_cast<uint16_t>((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

float Bf16ToFloat(uint16_t b) { return BitsFloat(static_cast<uint32_t>(b) << 16); }

template <typename T>
void Put(T* p, double v) {
  if constexpr (std::is_integral_v<T>) {
    *p = static_cast<T>(static_cast<int64_t>(v));  // wraps like the library
  } else {
    *p = static_cast<T>(v);
  }
}
void Put(Half* p, double v) { p->bits = FloatToHalf(static_cast<float>(v)); }
void Put(Bf16* p, double v) { p->bits = FloatToBf16(static_cast<float>(v)); }

template <typename T>
double Get(const T& v) {
  return static_cast<double>(v);
}
double Get(const Half& v) { return HalfToFloat(v.bits); }
double Get(const Bf16& v) { return Bf16ToFloat(v.bits); }

template <typename T>
bool Same(const T& got, const T& want, double tol) {
  if constexpr (std::is_integral_v<T>) {
    return got == want;
  } else {
    double g = Get(got), w = Get(want);
    if (tol == 0) return g == w;
    return std::fabs(g - w) <= tol * std::fmax(1.0, std::fabs(w));
  }
}

// Calls f with a null pointer of the storage type of t.
template <typename F>
auto WithType(mics_datatype_t t, F&& f) {
  switch (t) {
    case MICS_INT8:
      return f(static_cast<int8_t*>(nullptr));
    case MICS_UINT8:
      return f(static_cast<uint8_t*>(nullptr));
    case MICS_INT32:
      return f(static_cast<int32_t*>(nullptr));
    case MICS_UINT32:
      return f(static_cast<uint32_t*>(nullptr));
    case MICS_INT64:
      return f(static_cast<int64_t*>(nullptr));
    case MICS_UINT64:
      return f(static_cast<uint64_t*>(nullptr));
    case MICS_FLOAT16:
      return f(static_cast<Half*>(nullptr));
    case MICS_FLOAT32:
      return f(static_cast<float*>(nullptr));
    case MICS_FLOAT64:
      return f(static_cast<double*>(nullptr));
    default:
      return f(static_cast<Bf16*>(nullptr));
  }
}

// Tolerance of a check: exact except AVG on floating types, where the library
// may divide or multiply by 1/n.
double Tolerance(mics_datatype_t t, mics_redop_t op) {
  if (op != MICS_AVG) return 0;
  switch (t) {
    case MICS_FLOAT16:
      return 2e-3;
    case MICS_BFLOAT16:
      return 1.6e-2;
    case MICS_FLOAT32:
      return 1e-6;
    case MICS_FLOAT64:
      return 1e-14;
    default:
      return 0;
  }
}

}  // namespace

double DataGen::Value(int r, size_t i) const {
  uint32_t h = Mix(static_cast<uint32_t>(i) * 0x9e3779b9u + static_cast<uint32_t>(i >> 32) +
                   Mix(seed + static_cast<uint32_t>(r) * 0x85ebca6bu));
  if (op == MICS_PROD) {
    // Ones, and a sparse two held by at most one rank per index: no overflow.
    return (i % static_cast<size_t>(nranks) == static_cast<size_t>(r) && (h & 3u) == 0) ? 2 : 1;
  }
  return static_cast<double>(h % (vmax + 1));
}

double DataGen::Reduce(size_t i) const {
  double acc = Value(0, i);
  for (int r = 1; r < nranks; ++r) {
    double v = Value(r, i);
    switch (op) {
      case MICS_PROD:
        acc *= v;
        break;
      case MICS_MAX:
        acc = std::fmax(acc, v);
        break;
      case MICS_MIN:
        acc = std::fmin(acc, v);
        break;
      default:
        acc += v;
    }
  }
  if (op == MICS_AVG) acc = is_int ? std::trunc(acc / nranks) : acc / nranks;
  return acc;
}

void FillInput(void* p, mics_datatype_t t, size_t n, const DataGen& g, const Collective& c) {
  WithType(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    T* out = static_cast<T*>(p);
    for (size_t i = 0; i < n; ++i) Put(&out[i], c.Input(g, i));
  });
}

void PoisonBuffer(void* p, mics_datatype_t t, size_t n) {
  if (n > 0) std::memset(p, 0xFF, n * mics_type_size(t));
}

size_t CountWrong(const void* p, mics_datatype_t t, size_t n, const DataGen& g,
                  const Collective& c) {
  double tol = Tolerance(t, g.op);
  return WithType(t, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const T* got = static_cast<const T*>(p);
    size_t wrong = 0;
    for (size_t i = 0; i < n; ++i) {
      T want;
      Put(&want, c.Expected(g, i));
      if (!Same(got[i], want, tol)) ++wrong;
    }
    return wrong;
  });
}

}  // namespace mics_perf
