// Device (CUDA) reduction kernels: the GPU twins of src/reduce/reduce.h, with the same semantics
// bit for bit (wire type float32 for float16/bfloat16, integer wraparound, AVG truncating toward
// zero for integers, NaN-propagating MAX/MIN with a == b giving b, round-to-nearest-even narrowing
// that keeps NaN a NaN; see reduce.h's header comment), so that a ring may mix host and device
// steps and still produce identical bytes.
//
// Every function enqueues its work on `stream` (on the current device) and returns without
// waiting. Pointers are device pointers (or anything the kernels can dereference: managed,
// mapped host memory), aligned for their element type; the aliasing forms allowed are the ones
// reduce.h allows, and any other overlap is undefined. n == 0 is a no-op that touches nothing.
//
// Errors: the functions return cudaError_t rather than mics_result_t so that the caller keeps
// CUDA's own code and text (cudaGetErrorString) for mics_last_error; cudaSuccess is 0, like
// MICS_SUCCESS. An invalid type or op, a null pointer with n > 0 or nranks < 1 returns
// cudaErrorInvalidValue without launching. Launch failures come from cudaGetLastError() after
// the launch, so an unrelated earlier non-sticky error of the calling thread can surface here.
//
// Included by plain C++ (g++) too: only the declarations below, which need cuda_runtime_api.h.
// The element helpers at the end are for .cu files (kernels and their tests).
#ifndef MICS_CUDA_REDUCE_KERNELS_CUH_
#define MICS_CUDA_REDUCE_KERNELS_CUH_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "mics/mics.h"

namespace mics {

// wire[i] = widen(src[i]); a device-to-device copy for non-16-bit types. wire may equal src only
// if the wire type is the type itself (then nothing is done).
cudaError_t cuda_to_wire(mics_datatype_t type, void* wire, const void* src, size_t n,
                         cudaStream_t stream);

// out_wire[i] = op(in_wire[i], widen(src[i])); AVG combines as SUM. out_wire may equal in_wire,
// or src if the wire type is the type itself.
cudaError_t cuda_reduce_to_wire(mics_datatype_t type, mics_redop_t op, void* out_wire,
                                const void* in_wire, const void* src, size_t n,
                                cudaStream_t stream);

// dst[i] = narrow(finish(op(in_wire[i], widen(src[i])))); finish divides by nranks for AVG.
// dst may equal src.
cudaError_t cuda_reduce_to_final(mics_datatype_t type, mics_redop_t op, void* dst,
                                 const void* in_wire, const void* src, size_t n, int nranks,
                                 cudaStream_t stream);

// dst[i] = narrow(finish(wire[i])). dst may equal wire only if the wire type is the type itself.
cudaError_t cuda_wire_to_final(mics_datatype_t type, mics_redop_t op, void* dst, const void* wire,
                               size_t n, int nranks, cudaStream_t stream);

// dst[i] = op(a[i], b[i]) in the type itself; 16-bit types are computed in float32 and rounded
// once. AVG combines as SUM (a two-operand average would round twice in a chain; finish with
// cuda_wire_to_final or cuda_reduce_to_final instead). a is the first operand of the NaN rule.
// dst may equal a or b. Equal to reduce_to_final(type, op, dst, widen(a), b, n, 1) on the host.
cudaError_t cuda_reduce(mics_datatype_t type, mics_redop_t op, void* dst, const void* a,
                        const void* b, size_t n, cudaStream_t stream);

// dst = src, `bytes` bytes, copied by the SMs (a kernel) rather than the copy engine: both are
// measured for the direct path's peer reads (MICS_CUDA_COPY). dst == src does nothing; other
// overlaps are undefined.
cudaError_t cuda_copy(void* dst, const void* src, size_t bytes, cudaStream_t stream);

// Load the kernels of cuda_copy and cuda_reduce_inputs without running them. CUDA loads
// kernels lazily (CUDA_MODULE_LOADING=LAZY, the default), and loading one may wait for the
// kernels already running: if one of those spins until this rank's next step (the latency
// path, tiny_allgather.cuh), that is a deadlock. Call both before such kernels can run.
cudaError_t cuda_preload_copy();
cudaError_t cuda_preload_reduce_inputs();

// Inputs folded by one kernel pass of cuda_reduce_inputs; more go through `scratch`.
constexpr int kMaxReduceInputs = 8;

// dst[i] = narrow(finish(op(...op(op(widen(srcs[0][i]), widen(srcs[1][i])), widen(srcs[2][i]))
// ..., widen(srcs[k-1][i])))): k inputs folded in the order given, in the wire type, exactly as
// the host chain to_wire, reduce_to_wire..., reduce_to_final (bit for bit); one pass over the
// inputs instead of k - 1. k >= 1 (k == 1: a copy, finished). dst may equal any input. More than
// kMaxReduceInputs inputs need `scratch`, n wire-type elements not overlapping anything else (the
// running partial); otherwise it may be null. The reduce-scatter that reads its peers' buffers
// directly (src/coll/direct.cc on device memory) is the user.
cudaError_t cuda_reduce_inputs(mics_datatype_t type, mics_redop_t op, void* dst,
                               const void* const* srcs, int k, size_t n, int nranks, void* scratch,
                               cudaStream_t stream);

}  // namespace mics

#ifdef __CUDACC__
// ---- element semantics for the kernels (reduce_kernels.cu), and for the tests, which check the
// conversions' host instantiation against src/reduce/half.h without a GPU. The conversions are
// bit arithmetic rather than cvt instructions: their NaN results (quieted, payload kept) then
// match the host's exactly, and the kernels are memory-bound, so the few extra integer
// operations are free. ----
namespace mics {
namespace cuda_detail {

__host__ __device__ inline uint32_t FloatBits(float f) {
#ifdef __CUDA_ARCH__
  return __float_as_uint(f);
#else
  uint32_t u;
  __builtin_memcpy(&u, &f, sizeof(u));
  return u;
#endif
}

__host__ __device__ inline float BitsFloat(uint32_t u) {
#ifdef __CUDA_ARCH__
  return __uint_as_float(u);
#else
  float f;
  __builtin_memcpy(&f, &u, sizeof(f));
  return f;
#endif
}

__host__ __device__ inline float BFloat16BitsToFloat(uint16_t h) {
  return BitsFloat(static_cast<uint32_t>(h) << 16);
}

// Round half to even by adding 0x7fff plus the lowest kept bit (a carry into the exponent is the
// right answer, up to inf); a NaN is truncated and quieted so it cannot become inf.
__host__ __device__ inline uint16_t FloatToBFloat16Bits(float f) {
  const uint32_t x = FloatBits(f);
  const bool is_nan = (x & 0x7fffffffu) > 0x7f800000u;
  const uint32_t bias = is_nan ? 0u : 0x7fffu + ((x >> 16) & 1u);
  const uint32_t quiet = is_nan ? 0x00400000u : 0u;
  return static_cast<uint16_t>(((x + bias) | quiet) >> 16);
}

__host__ __device__ inline float HalfBitsToFloat(uint16_t h) {
  const uint32_t sign = (static_cast<uint32_t>(h) & 0x8000u) << 16;
  const uint32_t mag = (static_cast<uint32_t>(h) & 0x7fffu) << 13;  // float32 field positions
  const uint32_t exp = mag & 0x0f800000u;
  uint32_t r;
  if (exp == 0x0f800000u) {  // inf or NaN; NaN gets the quiet bit
    r = (mag + ((255u - 31u) << 23)) | ((mag & 0x007fffffu) != 0 ? 0x00400000u : 0u);
  } else if (exp == 0) {  // zero or subnormal m * 2^-24 = (2^-14 + m * 2^-24) - 2^-14, exactly
    r = FloatBits(BitsFloat(mag + (113u << 23)) - BitsFloat(113u << 23));
  } else {
    r = mag + ((127u - 15u) << 23);
  }
  return BitsFloat(r | sign);
}

__host__ __device__ inline uint16_t FloatToHalfBits(float f) {
  const uint32_t x = FloatBits(f);
  const uint32_t sign = (x >> 16) & 0x8000u;
  const uint32_t a = x & 0x7fffffffu;
  uint32_t r;
  if (a > 0x7f800000u) {  // NaN: quiet bit plus the top 10 payload bits
    r = 0x7e00u | ((a >> 13) & 0x3ffu);
  } else if (a >= 0x477ff000u) {  // 65520 (the tie above 65504) and up: inf
    r = 0x7c00u;
  } else if (a < 0x38800000u) {
    // Subnormal: after adding 0.5 the float32 ulp is 2^-24, the half subnormal step, so the
    // FPU's round-to-nearest-even does the rounding; 0x400 is the smallest normal, also right.
    r = FloatBits(BitsFloat(a) + 0.5f) - 0x3f000000u;
  } else {  // rebias and round 23 mantissa bits to 10, half to even
    r = (a - ((127u - 15u) << 23) + 0xfffu + ((a >> 13) & 1u)) >> 13;
  }
  return static_cast<uint16_t>(r | sign);
}

// ---- element types and operators: as src/reduce/ops.h ----

// 16-bit floats travel as their bits; distinct types so that overloads pick the conversion.
struct Fp16 {
  uint16_t bits;
};
struct Bf16 {
  uint16_t bits;
};

template <class S>
struct WireOf {
  using type = S;
};
template <>
struct WireOf<Fp16> {
  using type = float;
};
template <>
struct WireOf<Bf16> {
  using type = float;
};
template <class S>
using Wire = typename WireOf<S>::type;

template <class W>
__device__ __forceinline__ W Widen(W w) {
  return w;
}
__device__ __forceinline__ float Widen(Fp16 s) { return HalfBitsToFloat(s.bits); }
__device__ __forceinline__ float Widen(Bf16 s) { return BFloat16BitsToFloat(s.bits); }

template <class O>
struct Narrow {
  __device__ __forceinline__ static O Do(O w) { return w; }
};
template <>
struct Narrow<Fp16> {
  __device__ __forceinline__ static Fp16 Do(float w) { return Fp16{FloatToHalfBits(w)}; }
};
template <>
struct Narrow<Bf16> {
  __device__ __forceinline__ static Bf16 Do(float w) { return Bf16{FloatToBFloat16Bits(w)}; }
};

// Operators.

// Integer arithmetic in an unsigned type at least as wide as unsigned int: defined wraparound,
// and no promotion of narrow types to (overflowing) int.
template <class W>
using WrapType = std::make_unsigned_t<std::common_type_t<W, unsigned>>;

struct SumOp {
  template <class W>
  __device__ __forceinline__ static W Apply(W a, W b) {
    if constexpr (std::is_integral_v<W>) {
      return static_cast<W>(static_cast<WrapType<W>>(a) + static_cast<WrapType<W>>(b));
    } else {
      return a + b;
    }
  }
};

struct ProdOp {
  template <class W>
  __device__ __forceinline__ static W Apply(W a, W b) {
    if constexpr (std::is_integral_v<W>) {
      return static_cast<W>(static_cast<WrapType<W>>(a) * static_cast<WrapType<W>>(b));
    } else {
      return a * b;
    }
  }
};

// NaN in a wins, then NaN in b (the compare is false), else the larger; a == b gives b. Written
// as compares, not fmaxf, which would drop the NaN.
struct MaxOp {
  template <class W>
  __device__ __forceinline__ static W Apply(W a, W b) {
    const W m = a > b ? a : b;
    if constexpr (std::is_floating_point_v<W>) return a != a ? a : m;
    return m;
  }
};

struct MinOp {
  template <class W>
  __device__ __forceinline__ static W Apply(W a, W b) {
    const W m = a < b ? a : b;
    if constexpr (std::is_floating_point_v<W>) return a != a ? a : m;
    return m;
  }
};

// AVG's final division; integers truncate toward zero (C division) in a type that holds nranks.
template <bool kAvg, class W>
__device__ __forceinline__ W Finish(W a, int nranks) {
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

}  // namespace cuda_detail
}  // namespace mics
#endif  // __CUDACC__

#endif  // MICS_CUDA_REDUCE_KERNELS_CUH_
