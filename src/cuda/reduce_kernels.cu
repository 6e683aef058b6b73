// Device reduction kernels (see reduce_kernels.cuh for the API and src/reduce/reduce.h for the
// semantics). One element-wise kernel template covers every function: out = narrow(finish(op(
// widen(a), widen(b)))), or the one-operand form, instantiated per (types, op, AVG) and picked
// by a switch once per call.
#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <type_traits>

#include "src/cuda/kernel_common.cuh"
#include "src/cuda/reduce_kernels.cuh"

namespace mics {
namespace {

using cuda_detail::Bf16;
using cuda_detail::DeviceCache;
using cuda_detail::Finish;
using cuda_detail::Fp16;
using cuda_detail::kMinBlocksPerSm;
using cuda_detail::kThreads;
using cuda_detail::kUnroll;
using cuda_detail::MaxOp;
using cuda_detail::MinOp;
using cuda_detail::Narrow;
using cuda_detail::Pack;
using cuda_detail::ProdOp;
using cuda_detail::Span;
using cuda_detail::SumOp;
using cuda_detail::Visit;
using cuda_detail::VisitType;
using cuda_detail::WaveBlocks;
using cuda_detail::Widen;
using cuda_detail::Wire;

// ---- element functions: what one output element is ----

template <class A, class B, class O, class Op, bool kAvg>
struct Binary {
  using TA = A;
  using TB = B;
  using TO = O;
  static constexpr bool kUnary = false;
  __device__ __forceinline__ static O Apply(A a, B b, int nranks) {
    return Narrow<O>::Do(Finish<kAvg>(Op::Apply(Widen(a), Widen(b)), nranks));
  }
};

template <class A, class O, bool kAvg>
struct Unary {
  using TA = A;
  using TB = A;  // unused
  using TO = O;
  static constexpr bool kUnary = true;
  __device__ __forceinline__ static O Apply(A a, A /*unused*/, int nranks) {
    return Narrow<O>::Do(Finish<kAvg>(Widen(a), nranks));
  }
};

// ---- the kernel ----

template <class E, int V>
__global__ void __launch_bounds__(kThreads, kMinBlocksPerSm)
    ElementwiseKernel(typename E::TO* out, const typename E::TA* a, const typename E::TB* b, Span s,
                      int nranks) {
  using A = typename E::TA;
  using B = typename E::TB;
  using O = typename E::TO;
  const size_t stride = static_cast<size_t>(gridDim.x) * kThreads;
  const size_t gid = static_cast<size_t>(blockIdx.x) * kThreads + threadIdx.x;

  const size_t body_end = s.head + s.packs * V;
  for (size_t i = gid; i < s.head; i += stride) {
    out[i] = E::Apply(a[i], E::kUnary ? B{} : b[i], nranks);
  }
  for (size_t i = body_end + gid; i < s.n; i += stride) {
    out[i] = E::Apply(a[i], E::kUnary ? B{} : b[i], nranks);
  }

  const uint4* wa = reinterpret_cast<const uint4*>(a + s.head);
  const uint4* wb = reinterpret_cast<const uint4*>(b + s.head);
  uint4* wo = reinterpret_cast<uint4*>(out + s.head);
  for (size_t p0 = static_cast<size_t>(blockIdx.x) * kThreads * kUnroll + threadIdx.x; p0 < s.packs;
       p0 += stride * kUnroll) {
    Pack<A, V> ra[kUnroll];
    Pack<B, V> rb[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const size_t p = p0 + static_cast<size_t>(u) * kThreads;
      if (p < s.packs) {
#pragma unroll
        for (int k = 0; k < Pack<A, V>::kWords; ++k) ra[u].w[k] = wa[p * Pack<A, V>::kWords + k];
        if constexpr (!E::kUnary) {
#pragma unroll
          for (int k = 0; k < Pack<B, V>::kWords; ++k) rb[u].w[k] = wb[p * Pack<B, V>::kWords + k];
        }
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const size_t p = p0 + static_cast<size_t>(u) * kThreads;
      if (p < s.packs) {
        Pack<O, V> ro;
#pragma unroll
        for (int j = 0; j < V; ++j) {
          ro.v[j] = E::Apply(ra[u].v[j], E::kUnary ? B{} : rb[u].v[j], nranks);
        }
#pragma unroll
        for (int k = 0; k < Pack<O, V>::kWords; ++k) wo[p * Pack<O, V>::kWords + k] = ro.w[k];
      }
    }
  }
}

// ---- launch ----

// Elements before the first 16-byte boundary of all three operands (the smallest such count,
// below kV), or n (element by element throughout) when they are misaligned differently.
// Pointers are element-aligned (the contract).
template <class A, class B, class O, int kV>
size_t AlignedHead(const void* out, const void* a, const void* b, size_t n) {
  const auto aligned = [](const void* p, size_t bytes) {
    return (reinterpret_cast<uintptr_t>(p) + bytes) % 16 == 0;
  };
  for (size_t h = 0; h < kV && h < n; ++h) {
    if (aligned(out, h * sizeof(O)) && aligned(a, h * sizeof(A)) && aligned(b, h * sizeof(B))) {
      return h;
    }
  }
  return n;
}

template <class E>
cudaError_t Launch(void* out, const void* a, const void* b, size_t n, int nranks,
                   cudaStream_t stream) {
  using A = typename E::TA;
  using B = typename E::TB;
  using O = typename E::TO;
  constexpr size_t kMinSize = std::min({sizeof(A), sizeof(B), sizeof(O)});
  constexpr int kV = static_cast<int>(16 / kMinSize);  // elements per pack
  const auto kernel = ElementwiseKernel<E, kV>;
  if (E::kUnary) b = a;

  Span s;
  s.n = n;
  s.head = AlignedHead<A, B, O, kV>(out, a, b, n);
  s.packs = (n - s.head) / kV;
  const size_t scalars = n - s.packs * kV;

  static DeviceCache occupancy{};  // one per instantiation
  const size_t items = (s.packs + kUnroll - 1) / kUnroll + scalars;
  unsigned blocks = 0;
  const cudaError_t err = WaveBlocks(kernel, occupancy, items, &blocks);
  if (err != cudaSuccess) return err;
  kernel<<<blocks, kThreads, 0, stream>>>(static_cast<O*>(out), static_cast<const A*>(a),
                                          static_cast<const B*>(b), s, nranks);
  return cudaGetLastError();
}

// ---- dispatch: once per call on (type, op) ----

template <class S>
constexpr bool kWidens = !std::is_same_v<S, Wire<S>>;

}  // namespace

cudaError_t cuda_to_wire(mics_datatype_t type, void* wire, const void* src, size_t n,
                         cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  if (wire == nullptr || src == nullptr) return cudaErrorInvalidValue;
  return VisitType(type, [&](auto s) -> cudaError_t {
    using S = decltype(s);
    if constexpr (kWidens<S>) {
      return Launch<Unary<S, Wire<S>, false>>(wire, src, nullptr, n, 1, stream);
    } else {
      if (wire == src) return cudaSuccess;
      return cudaMemcpyAsync(wire, src, n * sizeof(S), cudaMemcpyDefault, stream);
    }
  });
}

cudaError_t cuda_reduce_to_wire(mics_datatype_t type, mics_redop_t op, void* out_wire,
                                const void* in_wire, const void* src, size_t n,
                                cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  if (out_wire == nullptr || in_wire == nullptr || src == nullptr) return cudaErrorInvalidValue;
  return Visit(type, op, [&](auto s, auto o, auto /*avg*/) {
    using S = decltype(s);
    using W = Wire<S>;
    return Launch<Binary<W, S, W, decltype(o), false>>(out_wire, in_wire, src, n, 1, stream);
  });
}

cudaError_t cuda_reduce_to_final(mics_datatype_t type, mics_redop_t op, void* dst,
                                 const void* in_wire, const void* src, size_t n, int nranks,
                                 cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  if (dst == nullptr || in_wire == nullptr || src == nullptr || nranks < 1) {
    return cudaErrorInvalidValue;
  }
  return Visit(type, op, [&](auto s, auto o, auto avg) {
    using S = decltype(s);
    return Launch<Binary<Wire<S>, S, S, decltype(o), avg()>>(dst, in_wire, src, n, nranks, stream);
  });
}

cudaError_t cuda_wire_to_final(mics_datatype_t type, mics_redop_t op, void* dst, const void* wire,
                               size_t n, int nranks, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  if (dst == nullptr || wire == nullptr || nranks < 1) return cudaErrorInvalidValue;
  return Visit(type, op, [&](auto s, auto /*op*/, auto avg) -> cudaError_t {
    using S = decltype(s);
    if constexpr (!avg() && !kWidens<S>) {
      if (dst == wire) return cudaSuccess;
      return cudaMemcpyAsync(dst, wire, n * sizeof(S), cudaMemcpyDefault, stream);
    } else {
      return Launch<Unary<Wire<S>, S, avg()>>(dst, wire, nullptr, n, nranks, stream);
    }
  });
}

cudaError_t cuda_reduce(mics_datatype_t type, mics_redop_t op, void* dst, const void* a,
                        const void* b, size_t n, cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  if (dst == nullptr || a == nullptr || b == nullptr) return cudaErrorInvalidValue;
  return Visit(type, op, [&](auto s, auto o, auto /*avg*/) {
    using S = decltype(s);
    return Launch<Binary<S, S, S, decltype(o), false>>(dst, a, b, n, 1, stream);
  });
}

}  // namespace mics
