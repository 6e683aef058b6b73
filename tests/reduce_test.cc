// Unit tests of the host reduction kernels against an independent scalar reference.
//
// The reference converts 16-bit floats through double arithmetic (frexp/ldexp/nearbyint) instead
// of bit tricks, and does integer arithmetic modulo 2^bits in uint64_t, so that it shares no code
// or method with src/reduce. Set MICS_TEST_SEED to replay a run; the seed is printed and recorded.
#include "src/reduce/reduce.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "mics/mics.h"

namespace {

// ---------------------------------------------------------------------------------------------
// Seed

uint64_t Seed() {
  static const uint64_t seed = [] {
    const char* env = std::getenv("MICS_TEST_SEED");
    uint64_t s = env != nullptr ? std::strtoull(env, nullptr, 0) : std::random_device{}();
    std::printf("reduce_test seed: %llu (set MICS_TEST_SEED to replay)\n",
                static_cast<unsigned long long>(s));
    return s;
  }();
  return seed;
}

class SeedRecorder : public ::testing::Test {
 protected:
  void SetUp() override { RecordProperty("seed", std::to_string(Seed())); }
};

// ---------------------------------------------------------------------------------------------
// Reference conversions

template <typename To, typename From>
To BitCast(From f) {
  static_assert(sizeof(To) == sizeof(From));
  To t;
  std::memcpy(&t, &f, sizeof(t));
  return t;
}

float RefHalfToFloat(uint16_t h) {
  const int exp = (h >> 10) & 0x1f;
  const int man = h & 0x3ff;
  const bool neg = (h & 0x8000) != 0;
  if (exp == 31) {
    // NaN keeps its payload and is quieted, as F16C's vcvtph2ps does.
    const uint32_t quiet = man != 0 ? 0x00400000u : 0u;
    return BitCast<float>((neg ? 0x80000000u : 0u) | 0x7f800000u | quiet | (uint32_t(man) << 13));
  }
  const double mag =
      exp == 0 ? std::ldexp(double(man), -24) : std::ldexp(double(1024 + man), exp - 25);
  return float(neg ? -mag : mag);
}

float RefBFloat16ToFloat(uint16_t h) {
  const int exp = (h >> 7) & 0xff;
  const int man = h & 0x7f;
  const bool neg = (h & 0x8000) != 0;
  if (exp == 255) return BitCast<float>(uint32_t(h) << 16);
  const double mag =
      exp == 0 ? std::ldexp(double(man), -133) : std::ldexp(double(128 + man), exp - 134);
  return float(neg ? -mag : mag);
}

// Rounds |x| to a multiple of 2^min_exp (subnormal step) or to `digits` significant bits,
// ties to even, in double (exact: the scaled value has at most 24 significant bits).
// Returns the integer count of quanta and the quantum's exponent.
struct Rounded {
  double count;
  int quantum_exp;
};
Rounded RoundMagnitude(double mag, int digits, int min_exp) {
  int e;
  std::frexp(mag, &e);  // mag = f * 2^e, f in [0.5, 1)
  const int qexp = std::max(e - digits, min_exp);
  const double scaled = std::ldexp(mag, -qexp);
  return {std::nearbyint(scaled), qexp};  // default rounding mode: to nearest even
}

uint16_t RefFloatToHalf(float f) {
  const uint32_t bits = BitCast<uint32_t>(f);
  const uint16_t sign = (bits >> 16) & 0x8000;
  if (std::isnan(f)) return uint16_t(sign | 0x7e00 | ((bits >> 13) & 0x3ff));
  const double mag = std::fabs(double(f));
  if (std::isinf(f) || mag >= 65520.0) return uint16_t(sign | 0x7c00);
  if (mag == 0) return sign;
  const Rounded r = RoundMagnitude(mag, 11, -24);
  if (r.quantum_exp == -24) return uint16_t(sign | uint16_t(r.count));  // 1024 = smallest normal
  // count in [1024, 2048]; 2048 carries into the exponent, which the addition below does.
  const int biased = r.quantum_exp + 10 + 15;
  return uint16_t(sign | ((biased << 10) + (int(r.count) - 1024)));
}

uint16_t RefFloatToBFloat16(float f) {
  const uint32_t bits = BitCast<uint32_t>(f);
  const uint16_t sign = (bits >> 16) & 0x8000;
  if (std::isnan(f)) return uint16_t((bits >> 16) | 0x40);
  if (std::isinf(f)) return uint16_t(sign | 0x7f80);
  const double mag = std::fabs(double(f));
  if (mag == 0) return sign;
  const Rounded r = RoundMagnitude(mag, 8, -133);
  const double v = std::ldexp(r.count, r.quantum_exp);
  if (v >= std::ldexp(1.0, 128)) return uint16_t(sign | 0x7f80);
  const uint32_t vb = BitCast<uint32_t>(float(v));
  EXPECT_EQ(vb & 0xffffu, 0u) << "reference bug for " << f;
  return uint16_t(sign | (vb >> 16));
}

// ---------------------------------------------------------------------------------------------
// Reference element types and ops

template <typename T>
struct RefPlain {
  using Src = T;
  using Wire = T;
  static Wire Widen(Src s) { return s; }
  static Src Narrow(Wire w) { return w; }
};
struct RefHalf {
  using Src = uint16_t;
  using Wire = float;
  static Wire Widen(Src s) { return RefHalfToFloat(s); }
  static Src Narrow(Wire w) { return RefFloatToHalf(w); }
};
struct RefBFloat {
  using Src = uint16_t;
  using Wire = float;
  static Wire Widen(Src s) { return RefBFloat16ToFloat(s); }
  static Src Narrow(Wire w) { return RefFloatToBFloat16(w); }
};

// Integer value modulo 2^bits, back to T as two's complement.
template <typename T>
T Wrap(uint64_t v) {
  constexpr int kBits = 8 * sizeof(T);
  if constexpr (kBits < 64) v &= (uint64_t{1} << kBits) - 1;
  if constexpr (std::is_unsigned_v<T>) {
    return T(v);
  } else {
    int64_t s;
    std::memcpy(&s, &v, sizeof(s));
    if constexpr (kBits < 64) {
      if ((v >> (kBits - 1)) != 0) s -= int64_t{1} << kBits;
    }
    return T(s);
  }
}

template <typename W>
W RefOp(mics_redop_t op, W a, W b) {
  if constexpr (std::is_integral_v<W>) {
    switch (op) {
      case MICS_SUM:
      case MICS_AVG:
        return Wrap<W>(uint64_t(a) + uint64_t(b));
      case MICS_PROD:
        return Wrap<W>(uint64_t(a) * uint64_t(b));
      case MICS_MAX:
        return std::max(a, b);
      case MICS_MIN:
        return std::min(a, b);
      default:
        ADD_FAILURE();
        return 0;
    }
  } else {
    switch (op) {
      case MICS_SUM:
      case MICS_AVG:
        return a + b;
      case MICS_PROD:
        return a * b;
      case MICS_MAX:
        if (std::isnan(a)) return a;
        if (std::isnan(b)) return b;
        return a > b ? a : b;
      case MICS_MIN:
        if (std::isnan(a)) return a;
        if (std::isnan(b)) return b;
        return a < b ? a : b;
      default:
        ADD_FAILURE();
        return 0;
    }
  }
}

template <typename W>
W RefFinish(mics_redop_t op, W a, int nranks) {
  if (op != MICS_AVG) return a;
  if constexpr (std::is_integral_v<W>) {
    if constexpr (std::is_signed_v<W>) {
      return W(int64_t(a) / int64_t(nranks));  // C division: toward zero
    } else {
      return W(uint64_t(a) / uint64_t(nranks));
    }
  } else {
    return a / W(nranks);
  }
}

// Bit-exact (so -0 != +0), except that any NaN matches any NaN: which payload survives an
// operation on two NaNs is the hardware's choice.
template <typename T>
::testing::AssertionResult Same(T expected, T actual) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(expected) && std::isnan(actual)) return ::testing::AssertionSuccess();
  }
  if (std::memcmp(&expected, &actual, sizeof(T)) == 0) return ::testing::AssertionSuccess();
  auto r = ::testing::AssertionFailure();
  if constexpr (std::is_floating_point_v<T>) {
    r << "expected " << expected << " got " << actual;
  } else {
    r << "expected " << +expected << " got " << +actual;
  }
  return r;
}

// 16-bit results: NaN matches NaN, everything else bit-exact.
bool Is16Nan(uint16_t v, bool bf16) {
  return bf16 ? ((v & 0x7f80) == 0x7f80 && (v & 0x7f) != 0)
              : ((v & 0x7c00) == 0x7c00 && (v & 0x3ff) != 0);
}

template <class R>
constexpr bool kIs16 = std::is_same_v<R, RefHalf> || std::is_same_v<R, RefBFloat>;

template <class R>
::testing::AssertionResult SameSrc(typename R::Src expected, typename R::Src actual) {
  if constexpr (kIs16<R>) {
    constexpr bool bf16 = std::is_same_v<R, RefBFloat>;
    if (Is16Nan(expected, bf16) && Is16Nan(actual, bf16)) return ::testing::AssertionSuccess();
    if (expected == actual) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << std::hex << "expected 0x" << expected << " got 0x" << actual;
  } else {
    return Same(expected, actual);
  }
}

// ---------------------------------------------------------------------------------------------
// Random data

template <class R>
struct Gen {
  using S = typename R::Src;
  using W = typename R::Wire;

  static S Src(std::mt19937_64& rng) {
    if constexpr (kIs16<R>) {
      return S(rng());  // every bit pattern: zeros, subnormals, inf, NaN included
    } else if constexpr (std::is_integral_v<S>) {
      // Mostly small values (so PROD/SUM do not always overflow), plus full-range ones.
      if (rng() % 2) return S(rng());
      return S(int64_t(rng() % 21) - 10);
    } else {
      return Float<S>(rng);
    }
  }

  static W Wire(std::mt19937_64& rng) {
    if constexpr (kIs16<R>) {
      switch (rng() % 4) {
        case 0:
          return R::Widen(S(rng()));
        case 1:
          return BitCast<float>(uint32_t(rng()));
        case 2: {
          // Around the 16-bit type's rounding points: few-bit mantissa noise on a widened value.
          const uint32_t b = BitCast<uint32_t>(R::Widen(S(rng())));
          return BitCast<float>(b ^ uint32_t(rng() % (1u << 15)));
        }
        default:
          return Float<float>(rng);
      }
    } else {
      return Src(rng);
    }
  }

  template <typename F>
  static F Float(std::mt19937_64& rng) {
    using U = std::conditional_t<sizeof(F) == 4, uint32_t, uint64_t>;
    constexpr F kSpecial[] = {F(0),
                              -F(0),
                              std::numeric_limits<F>::infinity(),
                              -std::numeric_limits<F>::infinity(),
                              std::numeric_limits<F>::quiet_NaN(),
                              std::numeric_limits<F>::denorm_min(),
                              -std::numeric_limits<F>::denorm_min(),
                              std::numeric_limits<F>::min(),
                              std::numeric_limits<F>::max(),
                              -std::numeric_limits<F>::max(),
                              F(65504),
                              F(65520),
                              F(1)};
    switch (rng() % 8) {
      case 0:
        return kSpecial[rng() % (sizeof(kSpecial) / sizeof(kSpecial[0]))];
      case 1:
        return BitCast<F>(U(rng()));
      default: {
        std::uniform_real_distribution<F> d(-1, 1);
        const int e = int(rng() % 40) - 25;
        return std::ldexp(d(rng), e);
      }
    }
  }
};

template <typename T>
std::vector<T> Random(std::mt19937_64& rng, size_t n, T (*gen)(std::mt19937_64&)) {
  std::vector<T> v(n);
  for (auto& x : v) x = gen(rng);
  return v;
}

// ---------------------------------------------------------------------------------------------
// Buffers with guard elements on both sides. 17 guards put the data off any vector alignment
// (but aligned for T, as the API requires), to exercise the loops' unaligned heads.

template <typename T>
class Guarded {
 public:
  static constexpr size_t kGuard = 17;
  explicit Guarded(size_t n) : n_(n), buf_((n + 2 * kGuard) * sizeof(T)) {
    for (size_t i = 0; i < buf_.size(); ++i) buf_[i] = uint8_t(0xa5 ^ i);
  }
  T* data() { return reinterpret_cast<T*>(buf_.data() + kGuard * sizeof(T)); }
  void Fill(const std::vector<T>& v) {
    if (n_ != 0) std::memcpy(data(), v.data(), n_ * sizeof(T));
  }
  T at(size_t i) {
    T t;
    std::memcpy(&t, reinterpret_cast<uint8_t*>(data()) + i * sizeof(T), sizeof(T));
    return t;
  }
  bool GuardsIntact() const {
    const size_t lo = kGuard * sizeof(T), hi = lo + n_ * sizeof(T);
    for (size_t i = 0; i < buf_.size(); ++i) {
      if ((i < lo || i >= hi) && buf_[i] != uint8_t(0xa5 ^ i)) return false;
    }
    return true;
  }

 private:
  size_t n_;
  std::vector<uint8_t> buf_;
};

// ---------------------------------------------------------------------------------------------
// Per (type, op) checks

constexpr size_t kLengths[] = {0, 1, 7, 33, 1000, 4099};
constexpr int kRanks[] = {1, 3, 8};

template <class R>
void CheckAll(mics_datatype_t type, mics_redop_t op, std::mt19937_64& rng) {
  using S = typename R::Src;
  using W = typename R::Wire;
  ASSERT_EQ(mics::wire_type_size(type), sizeof(W));
  for (size_t n : kLengths) {
    SCOPED_TRACE("n=" + std::to_string(n));
    const std::vector<S> src = Random<S>(rng, n, &Gen<R>::Src);
    const std::vector<W> in = Random<W>(rng, n, &Gen<R>::Wire);

    {  // to_wire
      Guarded<W> wire(n);
      mics::to_wire(type, wire.data(), src.data(), n);
      for (size_t i = 0; i < n; ++i) {
        ASSERT_TRUE(Same(R::Widen(src[i]), wire.at(i))) << "to_wire i=" << i;
      }
      ASSERT_TRUE(wire.GuardsIntact()) << "to_wire";
    }
    {  // reduce_to_wire, separate output and out == in
      Guarded<W> out(n), inout(n);
      Guarded<W> in_buf(n);
      Guarded<S> src_buf(n);
      in_buf.Fill(in);
      src_buf.Fill(src);
      inout.Fill(in);
      mics::reduce_to_wire(type, op, out.data(), in_buf.data(), src_buf.data(), n);
      mics::reduce_to_wire(type, op, inout.data(), inout.data(), src_buf.data(), n);
      for (size_t i = 0; i < n; ++i) {
        const W want = RefOp(op, in[i], R::Widen(src[i]));
        ASSERT_TRUE(Same(want, out.at(i))) << "reduce_to_wire i=" << i;
        ASSERT_TRUE(Same(want, inout.at(i))) << "reduce_to_wire in place i=" << i;
      }
      ASSERT_TRUE(out.GuardsIntact() && inout.GuardsIntact()) << "reduce_to_wire";
      if constexpr (std::is_same_v<S, W>) {  // out == src, allowed where nothing widens
        Guarded<W> outsrc(n);
        outsrc.Fill(src);
        mics::reduce_to_wire(type, op, outsrc.data(), in_buf.data(), outsrc.data(), n);
        for (size_t i = 0; i < n; ++i) {
          ASSERT_TRUE(Same(RefOp(op, in[i], src[i]), outsrc.at(i)))
              << "reduce_to_wire out == src i=" << i;
        }
        ASSERT_TRUE(outsrc.GuardsIntact()) << "reduce_to_wire out == src";
      }
    }
    for (int nranks : kRanks) {
      SCOPED_TRACE("nranks=" + std::to_string(nranks));
      {  // reduce_to_final, separate output and dst == src
        Guarded<S> dst(n), inplace(n), src_buf(n);
        Guarded<W> in_buf(n);
        in_buf.Fill(in);
        src_buf.Fill(src);
        inplace.Fill(src);
        mics::reduce_to_final(type, op, dst.data(), in_buf.data(), src_buf.data(), n, nranks);
        mics::reduce_to_final(type, op, inplace.data(), in_buf.data(), inplace.data(), n, nranks);
        for (size_t i = 0; i < n; ++i) {
          const S want = R::Narrow(RefFinish(op, RefOp(op, in[i], R::Widen(src[i])), nranks));
          ASSERT_TRUE(SameSrc<R>(want, dst.at(i))) << "reduce_to_final i=" << i;
          ASSERT_TRUE(SameSrc<R>(want, inplace.at(i))) << "reduce_to_final in place i=" << i;
        }
        ASSERT_TRUE(dst.GuardsIntact() && inplace.GuardsIntact()) << "reduce_to_final";
      }
      {  // wire_to_final; in place only where the wire type is the type itself
        Guarded<S> dst(n);
        Guarded<W> in_buf(n);
        in_buf.Fill(in);
        mics::wire_to_final(type, op, dst.data(), in_buf.data(), n, nranks);
        for (size_t i = 0; i < n; ++i) {
          ASSERT_TRUE(SameSrc<R>(R::Narrow(RefFinish(op, in[i], nranks)), dst.at(i)))
              << "wire_to_final i=" << i;
        }
        ASSERT_TRUE(dst.GuardsIntact()) << "wire_to_final";
        if constexpr (std::is_same_v<S, W>) {
          mics::wire_to_final(type, op, in_buf.data(), in_buf.data(), n, nranks);
          for (size_t i = 0; i < n; ++i) {
            ASSERT_TRUE(SameSrc<R>(R::Narrow(RefFinish(op, in[i], nranks)), in_buf.at(i)))
                << "wire_to_final in place i=" << i;
          }
          ASSERT_TRUE(in_buf.GuardsIntact()) << "wire_to_final in place";
        }
      }
    }
  }
}

// A whole ring's worth of steps, as the algorithms chain them: to_wire, reduce_to_wire * k,
// reduce_to_final. 16-bit types must round only once, at the end.
template <class R>
void CheckChain(mics_datatype_t type, mics_redop_t op, std::mt19937_64& rng) {
  using S = typename R::Src;
  using W = typename R::Wire;
  constexpr int kRanksInChain = 5;
  const size_t n = 1031;
  std::vector<std::vector<S>> src;
  for (int r = 0; r < kRanksInChain; ++r) src.push_back(Random<S>(rng, n, &Gen<R>::Src));
  std::vector<W> wire(n);
  std::vector<S> out(n);
  mics::to_wire(type, wire.data(), src[0].data(), n);
  for (int r = 1; r < kRanksInChain - 1; ++r) {
    mics::reduce_to_wire(type, op, wire.data(), wire.data(), src[r].data(), n);
  }
  mics::reduce_to_final(type, op, out.data(), wire.data(), src[kRanksInChain - 1].data(), n,
                        kRanksInChain);
  for (size_t i = 0; i < n; ++i) {
    W acc = R::Widen(src[0][i]);
    for (int r = 1; r < kRanksInChain; ++r) acc = RefOp(op, acc, R::Widen(src[r][i]));
    ASSERT_TRUE(SameSrc<R>(R::Narrow(RefFinish(op, acc, kRanksInChain)), out[i])) << "i=" << i;
  }
}

template <class F>
void WithRef(mics_datatype_t type, F&& f) {
  switch (type) {
    case MICS_INT8:
      f(RefPlain<int8_t>{});
      break;
    case MICS_UINT8:
      f(RefPlain<uint8_t>{});
      break;
    case MICS_INT32:
      f(RefPlain<int32_t>{});
      break;
    case MICS_UINT32:
      f(RefPlain<uint32_t>{});
      break;
    case MICS_INT64:
      f(RefPlain<int64_t>{});
      break;
    case MICS_UINT64:
      f(RefPlain<uint64_t>{});
      break;
    case MICS_FLOAT16:
      f(RefHalf{});
      break;
    case MICS_FLOAT32:
      f(RefPlain<float>{});
      break;
    case MICS_FLOAT64:
      f(RefPlain<double>{});
      break;
    case MICS_BFLOAT16:
      f(RefBFloat{});
      break;
    default:
      FAIL() << "bad type";
  }
}

const char* const kTypeNames[] = {"INT8",   "UINT8",   "INT32",   "UINT32",  "INT64",
                                  "UINT64", "FLOAT16", "FLOAT32", "FLOAT64", "BFLOAT16"};
const char* const kOpNames[] = {"SUM", "PROD", "MAX", "MIN", "AVG"};

class ReduceTypeOpTest
    : public SeedRecorder,
      public ::testing::WithParamInterface<std::tuple<mics_datatype_t, mics_redop_t>> {};

TEST_P(ReduceTypeOpTest, MatchesReference) {
  const mics_datatype_t type = std::get<0>(GetParam());
  const mics_redop_t op = std::get<1>(GetParam());
  std::mt19937_64 rng(Seed() ^ (uint64_t(type) << 32) ^ uint64_t(op));
  SCOPED_TRACE("seed=" + std::to_string(Seed()));
  WithRef(type, [&](auto r) { CheckAll<decltype(r)>(type, op, rng); });
}

TEST_P(ReduceTypeOpTest, RingChainRoundsOnce) {
  const mics_datatype_t type = std::get<0>(GetParam());
  const mics_redop_t op = std::get<1>(GetParam());
  std::mt19937_64 rng(Seed() ^ (uint64_t(type) << 32) ^ uint64_t(op) ^ 0x5bd1e995);
  SCOPED_TRACE("seed=" + std::to_string(Seed()));
  WithRef(type, [&](auto r) { CheckChain<decltype(r)>(type, op, rng); });
}

INSTANTIATE_TEST_SUITE_P(
    AllTypesAllOps, ReduceTypeOpTest,
    ::testing::Combine(::testing::Values(MICS_INT8, MICS_UINT8, MICS_INT32, MICS_UINT32, MICS_INT64,
                                         MICS_UINT64, MICS_FLOAT16, MICS_FLOAT32, MICS_FLOAT64,
                                         MICS_BFLOAT16),
                       ::testing::Values(MICS_SUM, MICS_PROD, MICS_MAX, MICS_MIN, MICS_AVG)),
    [](const auto& param_info) {
      return std::string(kTypeNames[std::get<0>(param_info.param)]) + "_" +
             kOpNames[std::get<1>(param_info.param)];
    });

// ---------------------------------------------------------------------------------------------
// Conversions

using ReduceConvTest = SeedRecorder;

// Narrowing through the public entry points: wire_to_final with SUM over one rank is narrow().
uint16_t Narrow(mics_datatype_t type, float f) {
  uint16_t h = 0;
  mics::wire_to_final(type, MICS_SUM, &h, &f, 1, 1);
  return h;
}

TEST_F(ReduceConvTest, WidenAllSixteenBitPatterns) {
  std::vector<uint16_t> all(65536);
  for (uint32_t i = 0; i < 65536; ++i) all[i] = uint16_t(i);
  std::vector<float> half(65536), bf(65536);
  mics::to_wire(MICS_FLOAT16, half.data(), all.data(), all.size());
  mics::to_wire(MICS_BFLOAT16, bf.data(), all.data(), all.size());
  for (uint32_t i = 0; i < 65536; ++i) {
    ASSERT_EQ(BitCast<uint32_t>(half[i]), BitCast<uint32_t>(RefHalfToFloat(uint16_t(i))))
        << std::hex << "half 0x" << i;
    ASSERT_EQ(BitCast<uint32_t>(bf[i]), BitCast<uint32_t>(RefBFloat16ToFloat(uint16_t(i))))
        << std::hex << "bf16 0x" << i;
  }
}

TEST_F(ReduceConvTest, NarrowKnownValues) {
  const float inf = std::numeric_limits<float>::infinity();
  const float nan = std::numeric_limits<float>::quiet_NaN();
  struct Case {
    float f;
    uint16_t half, bf16;
  };
  const Case cases[] = {
      {0.0f, 0x0000, 0x0000},
      {-0.0f, 0x8000, 0x8000},
      {1.0f, 0x3c00, 0x3f80},
      {-2.0f, 0xc000, 0xc000},
      {inf, 0x7c00, 0x7f80},
      {-inf, 0xfc00, 0xff80},
      {nan, 0x7e00, 0x7fc0},
      {65504.0f, 0x7bff, 0x4780},
      {65519.99f, 0x7bff, 0x4780},
      {65520.0f, 0x7c00, 0x4780},                          // half: tie to even is inf
      {1e6f, 0x7c00, 0x4974},                              // half overflow
      {std::ldexp(1.0f, -24), 0x0001, 0x3380},             // smallest half subnormal
      {std::ldexp(1.0f, -25), 0x0000, 0x3300},             // half: tie, even is 0
      {std::ldexp(3.0f, -25), 0x0002, 0x33c0},             // half: tie 1.5 ulp -> 2
      {std::ldexp(1.0f, -14), 0x0400, 0x3880},             // smallest normal half
      {std::ldexp(1023.5f, -24), 0x0400, 0x3880},          // subnormal rounding up into the normals
      {1.0f + std::ldexp(1.0f, -11), 0x3c00, 0x3f80},      // half tie, even down
      {1.0f + 3 * std::ldexp(1.0f, -11), 0x3c02, 0x3f80},  // half tie, even up
      {BitCast<float>(0x3f808000u), 0x3c04, 0x3f80},       // bf16 tie, even down
      {BitCast<float>(0x3f818000u), 0x3c0c, 0x3f82},       // bf16 tie, even up
      {std::numeric_limits<float>::max(), 0x7c00, 0x7f80},  // bf16 rounds up to inf
      {std::numeric_limits<float>::denorm_min(), 0x0000, 0x0000},
      {BitCast<float>(0x7f800001u), 0x7e00, 0x7fc0},  // signalling NaN with low payload
      {BitCast<float>(0xffc12345u), 0xfe09, 0xffc1},  // negative NaN keeps payload top bits
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Narrow(MICS_FLOAT16, c.f), c.half)
        << std::hex << "float bits 0x" << BitCast<uint32_t>(c.f);
    EXPECT_EQ(Narrow(MICS_BFLOAT16, c.f), c.bf16)
        << std::hex << "float bits 0x" << BitCast<uint32_t>(c.f);
    // And the reference agrees with the hand-written values.
    EXPECT_EQ(RefFloatToHalf(c.f), c.half)
        << std::hex << "ref, float bits 0x" << BitCast<uint32_t>(c.f);
    EXPECT_EQ(RefFloatToBFloat16(c.f), c.bf16)
        << std::hex << "ref, float bits 0x" << BitCast<uint32_t>(c.f);
  }
}

// Every 16-bit value and every midpoint between neighbours (the ties), each with its 3 nearest
// float32 neighbours on either side, the overflow thresholds, and a sparse sweep of all float32
// bit patterns.
TEST_F(ReduceConvTest, NarrowMatchesReference) {
  constexpr float kInf = std::numeric_limits<float>::infinity();
  std::vector<float> in;
  auto around = [&](float x) {
    in.push_back(x);
    float lo = x, hi = x;
    for (int d = 0; d < 3; ++d) {
      lo = std::nextafter(lo, -kInf);
      hi = std::nextafter(hi, kInf);
      in.push_back(lo);
      in.push_back(hi);
    }
  };
  for (float (*widen)(uint16_t) : {&RefHalfToFloat, &RefBFloat16ToFloat}) {
    for (uint32_t h = 0; h < 65536; ++h) {
      const float x = widen(uint16_t(h));
      if (!std::isfinite(x)) continue;
      around(x);
      const float next = h + 1 < 65536 ? widen(uint16_t(h + 1)) : kInf;
      // The midpoint of two 16-bit values is exact in float32 (at most 12 significant bits).
      if (std::isfinite(next)) around(float((double(x) + double(next)) / 2));
    }
  }
  for (float x : {65520.0f, BitCast<float>(0x7f7f8000u)}) {  // half / bf16 overflow ties
    around(x);
    around(-x);
  }
  for (uint64_t b = 0; b < (uint64_t{1} << 32); b += 4093)
    in.push_back(BitCast<float>(uint32_t(b)));
  std::vector<uint16_t> half(in.size()), bf(in.size());
  mics::wire_to_final(MICS_FLOAT16, MICS_SUM, half.data(), in.data(), in.size(), 1);
  mics::wire_to_final(MICS_BFLOAT16, MICS_MAX, bf.data(), in.data(), in.size(), 1);
  for (size_t i = 0; i < in.size(); ++i) {
    ASSERT_EQ(half[i], RefFloatToHalf(in[i]))
        << std::hex << "float bits 0x" << BitCast<uint32_t>(in[i]);
    ASSERT_EQ(bf[i], RefFloatToBFloat16(in[i]))
        << std::hex << "float bits 0x" << BitCast<uint32_t>(in[i]);
  }
}

// ---------------------------------------------------------------------------------------------
// Integer semantics spelled out

TEST(ReduceIntTest, WrapsAround) {
  int8_t i8_in = 127, i8_src = 1, i8_out = 0;
  mics::reduce_to_final(MICS_INT8, MICS_SUM, &i8_out, &i8_in, &i8_src, 1, 1);
  EXPECT_EQ(i8_out, -128);

  int32_t i32_in = std::numeric_limits<int32_t>::min(), i32_src = -1, i32_out = 0;
  mics::reduce_to_wire(MICS_INT32, MICS_PROD, &i32_out, &i32_in, &i32_src, 1);
  EXPECT_EQ(i32_out, std::numeric_limits<int32_t>::min());

  uint8_t u8_in = 200, u8_src = 100, u8_out = 0;
  mics::reduce_to_wire(MICS_UINT8, MICS_SUM, &u8_out, &u8_in, &u8_src, 1);
  EXPECT_EQ(u8_out, 44);
  u8_in = 16, u8_src = 17;
  mics::reduce_to_wire(MICS_UINT8, MICS_PROD, &u8_out, &u8_in, &u8_src, 1);
  EXPECT_EQ(u8_out, 16);  // 272 mod 256

  int64_t i64_in = std::numeric_limits<int64_t>::max(), i64_src = 2, i64_out = 0;
  mics::reduce_to_wire(MICS_INT64, MICS_SUM, &i64_out, &i64_in, &i64_src, 1);
  EXPECT_EQ(i64_out, std::numeric_limits<int64_t>::min() + 1);
  mics::reduce_to_wire(MICS_INT64, MICS_PROD, &i64_out, &i64_in, &i64_src, 1);
  EXPECT_EQ(i64_out, -2);

  uint64_t u64_in = 0, u64_src = 1, u64_out = 0;
  u64_in = std::numeric_limits<uint64_t>::max();
  mics::reduce_to_wire(MICS_UINT64, MICS_SUM, &u64_out, &u64_in, &u64_src, 1);
  EXPECT_EQ(u64_out, 0u);
}

TEST(ReduceIntTest, AvgTruncatesTowardZero) {
  int8_t i8_in = -4, i8_src = -3, i8_out = 0;
  mics::reduce_to_final(MICS_INT8, MICS_AVG, &i8_out, &i8_in, &i8_src, 1, 2);
  EXPECT_EQ(i8_out, -3);  // -7 / 2
  // Wrapped sum first: 100 + 100 = -56 in int8, / 3 = -18.
  i8_in = 100, i8_src = 100;
  mics::reduce_to_final(MICS_INT8, MICS_AVG, &i8_out, &i8_in, &i8_src, 1, 3);
  EXPECT_EQ(i8_out, -18);
  // nranks above the type's range must not be truncated.
  i8_in = -100, i8_src = -100;  // wraps to 56
  mics::reduce_to_final(MICS_INT8, MICS_AVG, &i8_out, &i8_in, &i8_src, 1, 300);
  EXPECT_EQ(i8_out, 0);

  uint8_t u8_in = 200, u8_src = 100, u8_out = 0;  // 44 / 3
  mics::reduce_to_final(MICS_UINT8, MICS_AVG, &u8_out, &u8_in, &u8_src, 1, 3);
  EXPECT_EQ(u8_out, 14);

  int32_t i32 = -7, i32_out = 0;
  mics::wire_to_final(MICS_INT32, MICS_AVG, &i32_out, &i32, 1, 4);
  EXPECT_EQ(i32_out, -1);
  uint32_t u32 = 0xffffffffu, u32_out = 0;
  mics::wire_to_final(MICS_UINT32, MICS_AVG, &u32_out, &u32, 1, 2);
  EXPECT_EQ(u32_out, 0x7fffffffu);
  int64_t i64 = std::numeric_limits<int64_t>::min(), i64_out = 0;
  mics::wire_to_final(MICS_INT64, MICS_AVG, &i64_out, &i64, 1, 3);
  EXPECT_EQ(i64_out, std::numeric_limits<int64_t>::min() / 3);
}

TEST(ReduceFloatTest, NanPropagatesThroughMaxMin) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float a[4] = {nan, 1.0f, nan, -0.0f};
  const float b[4] = {1.0f, nan, nan, 0.0f};
  float mx[4], mn[4];
  mics::reduce_to_wire(MICS_FLOAT32, MICS_MAX, mx, a, b, 4);
  mics::reduce_to_wire(MICS_FLOAT32, MICS_MIN, mn, a, b, 4);
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(std::isnan(mx[i])) << i;
    EXPECT_TRUE(std::isnan(mn[i])) << i;
  }
  // Equal operands give the local (second) one.
  EXPECT_FALSE(std::signbit(mx[3]));
  EXPECT_FALSE(std::signbit(mn[3]));
}

TEST(ReduceFloatTest, SixteenBitReducesInFloat32) {
  // 2048 + 1 + 1 in float16 would be 2048 if rounded each step; in float32 it is 2050.
  const uint16_t h2048 = 0x6800, h1 = 0x3c00;
  float wire[1];
  uint16_t out = 0;
  mics::to_wire(MICS_FLOAT16, wire, &h2048, 1);
  mics::reduce_to_wire(MICS_FLOAT16, MICS_SUM, wire, wire, &h1, 1);
  mics::reduce_to_final(MICS_FLOAT16, MICS_SUM, &out, wire, &h1, 1, 3);
  EXPECT_EQ(out, 0x6801);  // 2050
  mics::reduce_to_final(MICS_FLOAT16, MICS_AVG, &out, wire, &h1, 1, 3);
  EXPECT_EQ(out, RefFloatToHalf(2050.0f / 3.0f));
}

TEST(ReduceMiscTest, WireTypeSizes) {
  EXPECT_EQ(mics::wire_type_size(MICS_INT8), 1u);
  EXPECT_EQ(mics::wire_type_size(MICS_UINT8), 1u);
  EXPECT_EQ(mics::wire_type_size(MICS_INT32), 4u);
  EXPECT_EQ(mics::wire_type_size(MICS_UINT32), 4u);
  EXPECT_EQ(mics::wire_type_size(MICS_INT64), 8u);
  EXPECT_EQ(mics::wire_type_size(MICS_UINT64), 8u);
  EXPECT_EQ(mics::wire_type_size(MICS_FLOAT16), 4u);
  EXPECT_EQ(mics::wire_type_size(MICS_FLOAT32), 4u);
  EXPECT_EQ(mics::wire_type_size(MICS_FLOAT64), 8u);
  EXPECT_EQ(mics::wire_type_size(MICS_BFLOAT16), 4u);
  EXPECT_EQ(mics::wire_type_size(MICS_NUM_TYPES), 0u);
}

TEST(ReduceMiscTest, ZeroLengthTouchesNothing) {
  mics::to_wire(MICS_FLOAT16, nullptr, nullptr, 0);
  mics::reduce_to_wire(MICS_INT32, MICS_SUM, nullptr, nullptr, nullptr, 0);
  mics::reduce_to_final(MICS_BFLOAT16, MICS_AVG, nullptr, nullptr, nullptr, 0, 4);
  mics::wire_to_final(MICS_FLOAT64, MICS_AVG, nullptr, nullptr, 0, 4);
}

}  // namespace
