// Element types and operators of the reduction kernels (internal to src/reduce).
#ifndef MICS_REDUCE_OPS_H_
#define MICS_REDUCE_OPS_H_

#include <cstdint>
#include <type_traits>

#include "src/reduce/half.h"

namespace mics {
namespace reduce_detail {

// ---- element types ----

template <typename T>
struct Plain {
  using Src = T;
  using Wire = T;
  static Wire Widen(Src s) { return s; }
  static Src Narrow(Wire w) { return w; }
};

// float16 has no per-element Widen/Narrow: it converts in blocks (the Half* kernels in
// reduce.cc), so that the conversions can use F16C.
struct Half {
  using Src = uint16_t;
  using Wire = float;
};

struct BFloat {
  using Src = uint16_t;
  using Wire = float;
  static Wire Widen(Src s) { return BFloat16ToFloat(s); }
  static Src Narrow(Wire w) { return FloatToBFloat16(w); }
};

// ---- operators ----

// Integer arithmetic goes through an unsigned type at least as wide as unsigned int: wraparound is
// then defined, and narrow types cannot be promoted to (overflowing) int.
template <typename W>
using WrapType = std::make_unsigned_t<std::common_type_t<W, unsigned>>;

struct SumOp {
  template <typename W>
  static W Apply(W a, W b) {
    if constexpr (std::is_integral_v<W>) {
      return static_cast<W>(static_cast<WrapType<W>>(a) + static_cast<WrapType<W>>(b));
    } else {
      return a + b;
    }
  }
};

struct ProdOp {
  template <typename W>
  static W Apply(W a, W b) {
    if constexpr (std::is_integral_v<W>) {
      return static_cast<W>(static_cast<WrapType<W>>(a) * static_cast<WrapType<W>>(b));
    } else {
      return a * b;
    }
  }
};

// NaN propagates (a's first) so the result does not depend on where in the ring a NaN entered.
// `a > b ? a : b` alone already yields b when b is NaN; it maps onto maxps/maxpd.
struct MaxOp {
  template <typename W>
  static W Apply(W a, W b) {
    const W m = a > b ? a : b;
    if constexpr (std::is_floating_point_v<W>) {
      return a != a ? a : m;
    } else {
      return m;
    }
  }
};

struct MinOp {
  template <typename W>
  static W Apply(W a, W b) {
    const W m = a < b ? a : b;
    if constexpr (std::is_floating_point_v<W>) {
      return a != a ? a : m;
    } else {
      return m;
    }
  }
};

// AVG's final division; integers use C division (truncation toward zero) in a type wide enough
// that nranks is not truncated.
template <bool kAvg, typename W>
W Finish(W a, int nranks) {
  if constexpr (!kAvg) {
    return a;
  } else if constexpr (std::is_floating_point_v<W>) {
    return a / static_cast<W>(nranks);
  } else if constexpr (std::is_signed_v<W>) {
    return static_cast<W>(a / static_cast<std::common_type_t<W, int>>(nranks));
  } else {
    return static_cast<W>(a / static_cast<std::common_type_t<W, unsigned>>(nranks));
  }
}

}  // namespace reduce_detail
}  // namespace mics

#endif  // MICS_REDUCE_OPS_H_
