// The reference's per-type codecs (used by harness_check.cc only): how test
// data is generated for each type and reduction, and how the expected result
// is computed from every rank's input, bit-exactly as the header defines it.
#ifndef MICS_TESTS_HARNESS_CODECS_H_
#define MICS_TESTS_HARNESS_CODECS_H_

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <type_traits>

#include "harness.h"

namespace mics_test {
namespace codecs {

// Which values a case's inputs take: raw bit patterns where nothing is
// computed, values picked per reduction where something is (see each Gen).
enum class Data { kRaw, kSum, kProd, kMinMax, kAvg };

// Integers: storage and compute type are the same; arithmetic wraps (done in
// the unsigned type to avoid signed-overflow UB).
template <class T>
struct IntCodec {
  using S = T;
  using C = T;
  using U = std::make_unsigned_t<T>;
  static C Dec(S s) { return s; }
  static S Gen(uint64_t h, Data d) {
    if (d == Data::kProd) {
      if ((h & 255) == 0) return 0;
      if ((h & 7) == 1) return 2;
      if ((h & 7) == 2) return static_cast<T>(-1);
      return static_cast<T>((h >> 8) | 1);  // odd: products never collapse to 0
    }
    if (d == Data::kAvg) {
      if constexpr (std::is_signed_v<T>) return static_cast<T>(static_cast<int>(h % 9) - 4);
      return static_cast<T>(h % 9);
    }
    return static_cast<T>(h);
  }
  static C Combine(C a, C b, mics_redop_t op) {
    switch (op) {
      case MICS_PROD:
        return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
      case MICS_MAX:
        return a > b ? a : b;
      case MICS_MIN:
        return a < b ? a : b;
      default:
        return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
    }
  }
  // AVG: the wrapped sum divided by nranks, truncated toward zero (C++ division).
  static S Finish(C acc, int n, mics_redop_t op) {
    return op == MICS_AVG ? static_cast<T>(acc / static_cast<T>(n)) : acc;
  }
  static double Value(S s) { return static_cast<double>(s); }
};

struct F32 {
  using S = float;
  using C = float;
  static S Enc(C c) { return c; }
  static C Dec(S s) { return s; }
};
struct F64 {
  using S = double;
  using C = double;
  static S Enc(C c) { return c; }
  static C Dec(S s) { return s; }
};
// 16-bit floats are reduced in float32 and rounded once, as the header says.
struct F16 {
  using S = uint16_t;
  using C = float;
  static S Enc(C c) { return FloatToHalf(c); }
  static C Dec(S s) { return HalfToFloat(s); }
};
struct BF16 {
  using S = uint16_t;
  using C = float;
  static S Enc(C c) { return FloatToBf16(c); }
  static C Dec(S s) { return Bf16ToFloat(s); }
};

template <class Tr>
struct FloatCodec : Tr {
  using S = typename Tr::S;
  using C = typename Tr::C;
  static S Gen(uint64_t h, Data d) {
    double v;
    switch (d) {
      case Data::kRaw: {
        S s;
        memcpy(&s, &h, sizeof s);
        return s;
      }
      case Data::kProd: {
        const int k = static_cast<int>(h % 8);
        v = k == 0 ? -1.0 : k == 1 ? 2.0 : k == 2 ? 0.5 : 1.0;
        break;
      }
      case Data::kMinMax:
        v = (static_cast<int>(h % 511) - 255) / 4.0;
        break;
      default:
        v = static_cast<int>(h % 9) - 4;
        break;
    }
    return Tr::Enc(static_cast<C>(v));
  }
  static C Combine(C a, C b, mics_redop_t op) {
    switch (op) {
      case MICS_PROD:
        return a * b;
      case MICS_MAX:
        return a > b ? a : b;
      case MICS_MIN:
        return a < b ? a : b;
      default:
        return a + b;
    }
  }
  // AVG: exact sum / nranks in the compute type, then one rounding to S.
  static S Finish(C acc, int n, mics_redop_t op) {
    return Tr::Enc(op == MICS_AVG ? acc / static_cast<C>(n) : acc);
  }
  static double Value(S s) { return static_cast<double>(Tr::Dec(s)); }
};

template <class F>
void DispatchType(mics_datatype_t t, F&& f) {
  switch (t) {
    case MICS_INT8:
      f(IntCodec<int8_t>());
      break;
    case MICS_UINT8:
      f(IntCodec<uint8_t>());
      break;
    case MICS_INT32:
      f(IntCodec<int32_t>());
      break;
    case MICS_UINT32:
      f(IntCodec<uint32_t>());
      break;
    case MICS_INT64:
      f(IntCodec<int64_t>());
      break;
    case MICS_UINT64:
      f(IntCodec<uint64_t>());
      break;
    case MICS_FLOAT16:
      f(FloatCodec<F16>());
      break;
    case MICS_FLOAT32:
      f(FloatCodec<F32>());
      break;
    case MICS_FLOAT64:
      f(FloatCodec<F64>());
      break;
    case MICS_BFLOAT16:
      f(FloatCodec<BF16>());
      break;
    default:
      HASSERT(false) << "bad type " << t << " in a test case";
      break;
  }
}

template <class Codec>
std::string Show(typename Codec::S s) {
  uint64_t bits = 0;
  memcpy(&bits, &s, sizeof s);
  char buf[64];
  snprintf(buf, sizeof buf, "0x%0*llx (%.9g)", static_cast<int>(2 * sizeof s),
           static_cast<unsigned long long>(bits), Codec::Value(s));
  return buf;
}

}  // namespace codecs
}  // namespace mics_test

#endif  // MICS_TESTS_HARNESS_CODECS_H_
