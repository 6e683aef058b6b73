#include "src/reduce/reduce.h"

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "src/reduce/half.h"
#include "src/reduce/ops.h"

// Inner loops are compiled twice, for AVX2 and for the baseline ISA, and the dynamic loader picks
// one per CPU (ifunc), so the default build stays portable. -DMICS_REDUCE_PORTABLE_ONLY builds
// the baseline only (to test that path on an AVX2 machine). GCC only: clang (as of 14) rejects
// target_clones on templates, and builds the baseline loops.
#if defined(__x86_64__) && defined(__has_attribute) && !defined(__clang__) && \
    !defined(MICS_REDUCE_PORTABLE_ONLY)
#if __has_attribute(target_clones)
#define MICS_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#endif
#endif
#ifndef MICS_VECTOR_CLONES
#define MICS_VECTOR_CLONES
#endif

namespace mics {
namespace {

using reduce_detail::BFloat;
using reduce_detail::Finish;
using reduce_detail::Half;
using reduce_detail::MaxOp;
using reduce_detail::MinOp;
using reduce_detail::Plain;
using reduce_detail::ProdOp;
using reduce_detail::SumOp;

// ---- inner loops: flat, so GCC vectorises them; aliasing is resolved by its runtime checks,
// except the documented in-place forms, which get their own loops (one pointer for both roles)
// so that the exact overlap does not send them down the scalar fallback. ----

template <class T>
MICS_VECTOR_CLONES void WidenLoop(typename T::Wire* wire, const typename T::Src* src, size_t n) {
  for (size_t i = 0; i < n; ++i) wire[i] = T::Widen(src[i]);
}

template <class T, class Op>
MICS_VECTOR_CLONES void ReduceToWireLoop(typename T::Wire* out, const typename T::Wire* in,
                                         const typename T::Src* src, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = Op::Apply(in[i], T::Widen(src[i]));
}

template <class T, class Op>
MICS_VECTOR_CLONES void ReduceToWireInPlaceLoop(typename T::Wire* inout, const typename T::Src* src,
                                                size_t n) {
  for (size_t i = 0; i < n; ++i) inout[i] = Op::Apply(inout[i], T::Widen(src[i]));
}

template <class T, class Op, bool kAvg>
MICS_VECTOR_CLONES void ReduceToFinalLoop(typename T::Src* dst, const typename T::Wire* in,
                                          const typename T::Src* src, size_t n, int nranks) {
  for (size_t i = 0; i < n; ++i) {
    dst[i] = T::Narrow(Finish<kAvg>(Op::Apply(in[i], T::Widen(src[i])), nranks));
  }
}

template <class T, class Op, bool kAvg>
MICS_VECTOR_CLONES void ReduceToFinalInPlaceLoop(typename T::Src* inout, const typename T::Wire* in,
                                                 size_t n, int nranks) {
  for (size_t i = 0; i < n; ++i) {
    inout[i] = T::Narrow(Finish<kAvg>(Op::Apply(in[i], T::Widen(inout[i])), nranks));
  }
}

template <class T, bool kAvg>
MICS_VECTOR_CLONES void NarrowLoop(typename T::Src* dst, const typename T::Wire* wire, size_t n,
                                   int nranks) {
  for (size_t i = 0; i < n; ++i) dst[i] = T::Narrow(Finish<kAvg>(wire[i], nranks));
}

// ---- float16: convert blocks through a float buffer on the stack, so that the conversions can
// use F16C (half.cc) while the arithmetic runs in the float32 loops above. ----

constexpr size_t kHalfBlock = 512;
using Float = Plain<float>;

template <class Op>
void HalfReduceToWire(float* out, const float* in, const uint16_t* src, size_t n) {
  float tmp[kHalfBlock];
  for (size_t i = 0; i < n; i += kHalfBlock) {
    const size_t m = std::min(kHalfBlock, n - i);
    HalfToFloatN(tmp, src + i, m);
    if (out == in) {
      ReduceToWireInPlaceLoop<Float, Op>(out + i, tmp, m);
    } else {
      ReduceToWireLoop<Float, Op>(out + i, in + i, tmp, m);
    }
  }
}

// dst may equal src: each block is read whole before it is written.
template <class Op, bool kAvg>
void HalfReduceToFinal(uint16_t* dst, const float* in, const uint16_t* src, size_t n, int nranks) {
  float tmp[kHalfBlock];
  for (size_t i = 0; i < n; i += kHalfBlock) {
    const size_t m = std::min(kHalfBlock, n - i);
    HalfToFloatN(tmp, src + i, m);
    // tmp = finish(op(in, tmp)): the in-place loop takes its first operand from `in`.
    ReduceToFinalInPlaceLoop<Float, Op, kAvg>(tmp, in + i, m, nranks);
    FloatToHalfN(dst + i, tmp, m);
  }
}

template <bool kAvg>
void HalfWireToFinal(uint16_t* dst, const float* wire, size_t n, int nranks) {
  if constexpr (!kAvg) {
    FloatToHalfN(dst, wire, n);
  } else {
    float tmp[kHalfBlock];
    for (size_t i = 0; i < n; i += kHalfBlock) {
      const size_t m = std::min(kHalfBlock, n - i);
      NarrowLoop<Float, true>(tmp, wire + i, m, nranks);
      FloatToHalfN(dst + i, tmp, m);
    }
  }
}

// ---- dispatch: once per call on (type, op) ----

// Calls f(T{}) with the element traits of `type`; returns false for an invalid type.
template <class F>
bool VisitType(mics_datatype_t type, F&& f) {
  switch (type) {
    case MICS_INT8:
      f(Plain<int8_t>{});
      return true;
    case MICS_UINT8:
      f(Plain<uint8_t>{});
      return true;
    case MICS_INT32:
      f(Plain<int32_t>{});
      return true;
    case MICS_UINT32:
      f(Plain<uint32_t>{});
      return true;
    case MICS_INT64:
      f(Plain<int64_t>{});
      return true;
    case MICS_UINT64:
      f(Plain<uint64_t>{});
      return true;
    case MICS_FLOAT16:
      f(Half{});
      return true;
    case MICS_FLOAT32:
      f(Plain<float>{});
      return true;
    case MICS_FLOAT64:
      f(Plain<double>{});
      return true;
    case MICS_BFLOAT16:
      f(BFloat{});
      return true;
    default:
      return false;
  }
}

// Calls f(T{}, Op{}, std::bool_constant<is AVG>{}); AVG combines as SUM.
template <class F>
bool Visit(mics_datatype_t type, mics_redop_t op, F&& f) {
  if (static_cast<unsigned>(op) >= MICS_NUM_OPS) return false;
  return VisitType(type, [&](auto t) {
    switch (op) {
      case MICS_SUM:
        f(t, SumOp{}, std::false_type{});
        break;
      case MICS_PROD:
        f(t, ProdOp{}, std::false_type{});
        break;
      case MICS_MAX:
        f(t, MaxOp{}, std::false_type{});
        break;
      case MICS_MIN:
        f(t, MinOp{}, std::false_type{});
        break;
      case MICS_AVG:
        f(t, SumOp{}, std::true_type{});
        break;
      default:
        break;
    }
  });
}

template <class T>
constexpr bool kWidens = !std::is_same_v<typename T::Src, typename T::Wire>;
template <class T>
constexpr bool kIsHalf = std::is_same_v<T, Half>;

}  // namespace

size_t type_size(mics_datatype_t type) {
  size_t size = 0;
  VisitType(type, [&](auto t) { size = sizeof(typename decltype(t)::Src); });
  return size;
}

size_t wire_type_size(mics_datatype_t type) {
  size_t size = 0;
  VisitType(type, [&](auto t) { size = sizeof(typename decltype(t)::Wire); });
  return size;
}

void to_wire(mics_datatype_t type, void* wire, const void* src, size_t n) {
  if (n == 0) return;
  const bool ok = VisitType(type, [&](auto t) {
    using T = decltype(t);
    if constexpr (kIsHalf<T>) {
      HalfToFloatN(static_cast<float*>(wire), static_cast<const uint16_t*>(src), n);
    } else if constexpr (kWidens<T>) {
      WidenLoop<T>(static_cast<typename T::Wire*>(wire), static_cast<const typename T::Src*>(src),
                   n);
    } else if (wire != src) {
      std::memmove(wire, src, n * sizeof(typename T::Src));
    }
  });
  assert(ok);
  (void)ok;
}

void reduce_to_wire(mics_datatype_t type, mics_redop_t op, void* out_wire, const void* in_wire,
                    const void* src, size_t n) {
  if (n == 0) return;
  const bool ok = Visit(type, op, [&](auto t, auto o, auto /*avg*/) {
    using T = decltype(t);
    using Op = decltype(o);
    using W = typename T::Wire;
    const auto* s = static_cast<const typename T::Src*>(src);
    if constexpr (kIsHalf<T>) {
      HalfReduceToWire<Op>(static_cast<W*>(out_wire), static_cast<const W*>(in_wire), s, n);
    } else if (out_wire == in_wire) {
      ReduceToWireInPlaceLoop<T, Op>(static_cast<W*>(out_wire), s, n);
    } else if (kWidens<T> || out_wire != src) {
      ReduceToWireLoop<T, Op>(static_cast<W*>(out_wire), static_cast<const W*>(in_wire), s, n);
    } else {
      // out == src (same type): out[i] = op(in[i], out[i]) is the final step's in-place loop.
      ReduceToFinalInPlaceLoop<T, Op, false>(static_cast<typename T::Src*>(out_wire),
                                             static_cast<const W*>(in_wire), n, 1);
    }
  });
  assert(ok);
  (void)ok;
}

void reduce_to_final(mics_datatype_t type, mics_redop_t op, void* dst, const void* in_wire,
                     const void* src, size_t n, int nranks) {
  if (n == 0) return;
  const bool ok = Visit(type, op, [&](auto t, auto o, auto avg) {
    using T = decltype(t);
    using Op = decltype(o);
    using S = typename T::Src;
    const auto* in = static_cast<const typename T::Wire*>(in_wire);
    if constexpr (kIsHalf<T>) {
      HalfReduceToFinal<Op, avg()>(static_cast<S*>(dst), in, static_cast<const S*>(src), n, nranks);
    } else if (dst == src) {
      ReduceToFinalInPlaceLoop<T, Op, avg()>(static_cast<S*>(dst), in, n, nranks);
    } else {
      ReduceToFinalLoop<T, Op, avg()>(static_cast<S*>(dst), in, static_cast<const S*>(src), n,
                                      nranks);
    }
  });
  assert(ok);
  (void)ok;
}

void wire_to_final(mics_datatype_t type, mics_redop_t op, void* dst, const void* wire, size_t n,
                   int nranks) {
  if (n == 0) return;
  const bool ok = Visit(type, op, [&](auto t, auto /*op*/, auto avg) {
    using T = decltype(t);
    if constexpr (kIsHalf<T>) {
      HalfWireToFinal<avg()>(static_cast<uint16_t*>(dst), static_cast<const float*>(wire), n,
                             nranks);
    } else if constexpr (!avg() && !kWidens<T>) {
      if (dst != wire) std::memmove(dst, wire, n * sizeof(typename T::Src));
    } else {
      NarrowLoop<T, avg()>(static_cast<typename T::Src*>(dst),
                           static_cast<const typename T::Wire*>(wire), n, nranks);
    }
  });
  assert(ok);
  (void)ok;
}

}  // namespace mics
