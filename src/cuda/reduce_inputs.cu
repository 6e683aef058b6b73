// cuda_reduce_inputs (reduce_kernels.cuh): up to kMaxReduceInputs inputs folded per element in
// one pass, so that a k-rank reduction reads each input once and writes its output once
// (k + 1 streams of bytes) instead of k - 1 pairwise passes (3(k - 1)). Same element semantics
// as reduce_kernels.cu, in the same order: bit-identical results.
#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "src/cuda/kernel_common.cuh"
#include "src/cuda/reduce_kernels.cuh"

namespace mics {
namespace {

using cuda_detail::DeviceCache;
using cuda_detail::Finish;
using cuda_detail::kMinBlocksPerSm;
using cuda_detail::kThreads;
using cuda_detail::Narrow;
using cuda_detail::Pack;
using cuda_detail::Span;
using cuda_detail::Visit;
using cuda_detail::WaveBlocks;
using cuda_detail::Widen;
using cuda_detail::Wire;

template <class S>
struct Inputs {
  const S* p[kMaxReduceInputs];
};

// One pass: acc = (partial ? partial[i] : widen(in[0][i])), folded with the remaining inputs,
// stored as O: the wire type (a partial for the next pass) or S (finished).
template <class S, class O, class Op, bool kAvg, bool kPartial, int V>
__global__ void __launch_bounds__(kThreads, kMinBlocksPerSm)
    FoldKernel(O* out, const Wire<S>* partial, Inputs<S> in, int k, Span s, int nranks) {
  using W = Wire<S>;
  const size_t stride = static_cast<size_t>(gridDim.x) * kThreads;
  const size_t gid = static_cast<size_t>(blockIdx.x) * kThreads + threadIdx.x;
  const int first = kPartial ? 0 : 1;
  auto element = [&](size_t i) {
    W acc = kPartial ? partial[i] : Widen(in.p[0][i]);
    for (int j = first; j < k; ++j) acc = Op::Apply(acc, Widen(in.p[j][i]));
    out[i] = Narrow<O>::Do(Finish<kAvg>(acc, nranks));
  };
  const size_t body_end = s.head + s.packs * V;
  for (size_t i = gid; i < s.head; i += stride) element(i);
  for (size_t i = body_end + gid; i < s.n; i += stride) element(i);

  for (size_t p = gid; p < s.packs; p += stride) {
    const size_t e0 = s.head + p * V;  // first element of this pack
    Pack<W, V> acc;
    if constexpr (kPartial) {
      const uint4* w = reinterpret_cast<const uint4*>(partial + e0);
#pragma unroll
      for (int q = 0; q < Pack<W, V>::kWords; ++q) acc.w[q] = w[q];
    } else {
      Pack<S, V> x;
      const uint4* w = reinterpret_cast<const uint4*>(in.p[0] + e0);
#pragma unroll
      for (int q = 0; q < Pack<S, V>::kWords; ++q) x.w[q] = w[q];
#pragma unroll
      for (int e = 0; e < V; ++e) acc.v[e] = Widen(x.v[e]);
    }
    for (int j = first; j < k; ++j) {
      Pack<S, V> x;
      const uint4* w = reinterpret_cast<const uint4*>(in.p[j] + e0);
#pragma unroll
      for (int q = 0; q < Pack<S, V>::kWords; ++q) x.w[q] = w[q];
#pragma unroll
      for (int e = 0; e < V; ++e) acc.v[e] = Op::Apply(acc.v[e], Widen(x.v[e]));
    }
    Pack<O, V> o;
#pragma unroll
    for (int e = 0; e < V; ++e) o.v[e] = Narrow<O>::Do(Finish<kAvg>(acc.v[e], nranks));
    uint4* wo = reinterpret_cast<uint4*>(out + e0);
#pragma unroll
    for (int q = 0; q < Pack<O, V>::kWords; ++q) wo[q] = o.w[q];
  }
}

bool Aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

// Elements before the first 16-byte boundary common to every operand (below kV), or n when
// they are misaligned differently (then element by element throughout).
template <class S, class O, int kV>
size_t CommonHead(const O* out, const Wire<S>* partial, const Inputs<S>& in, int k, size_t n) {
  for (size_t h = 0; h < static_cast<size_t>(kV) && h < n; ++h) {
    bool all = Aligned16(out + h) && (partial == nullptr || Aligned16(partial + h));
    for (int j = 0; j < k && all; ++j) all = Aligned16(in.p[j] + h);
    if (all) return h;
  }
  return n;
}

template <class S, class O, class Op, bool kAvg, bool kPartial>
cudaError_t LaunchFold(O* out, const Wire<S>* partial, const Inputs<S>& in, int k, size_t n,
                       int nranks, cudaStream_t stream) {
  constexpr int kV = static_cast<int>(16 / sizeof(S));  // S is never wider than O or its wire
  const auto kernel = FoldKernel<S, O, Op, kAvg, kPartial, kV>;
  Span s;
  s.n = n;
  s.head = CommonHead<S, O, kV>(out, kPartial ? partial : nullptr, in, k, n);
  s.packs = (n - s.head) / kV;
  static DeviceCache occupancy{};  // one per instantiation
  unsigned blocks = 0;
  const cudaError_t err = WaveBlocks(kernel, occupancy, s.packs + (n - s.packs * kV), &blocks);
  if (err != cudaSuccess) return err;
  kernel<<<blocks, kThreads, 0, stream>>>(out, partial, in, k, s, nranks);
  return cudaGetLastError();
}

// Loads FoldKernel for (S, O, Op, kAvg, kPartial) without running it.
template <class S, class O, class Op, bool kAvg, bool kPartial>
cudaError_t LoadFold() {
  cudaFuncAttributes attr{};
  return cudaFuncGetAttributes(
      &attr, FoldKernel<S, O, Op, kAvg, kPartial, static_cast<int>(16 / sizeof(S))>);
}

}  // namespace

cudaError_t cuda_preload_reduce_inputs() {
  for (int t = 0; t < MICS_NUM_TYPES; ++t)
    for (int o = 0; o < MICS_NUM_OPS; ++o) {
      const cudaError_t e = Visit(static_cast<mics_datatype_t>(t), static_cast<mics_redop_t>(o),
                                  [](auto s, auto op, auto avg) -> cudaError_t {
                                    using S = decltype(s);
                                    using W = Wire<S>;
                                    using OpT = decltype(op);
                                    cudaError_t r = LoadFold<S, S, OpT, avg(), false>();
                                    if (r == cudaSuccess) r = LoadFold<S, W, OpT, false, false>();
                                    if (r == cudaSuccess) r = LoadFold<S, S, OpT, avg(), true>();
                                    if (r == cudaSuccess) r = LoadFold<S, W, OpT, false, true>();
                                    return r;
                                  });
      if (e != cudaSuccess) return e;
    }
  return cudaSuccess;
}

cudaError_t cuda_reduce_inputs(mics_datatype_t type, mics_redop_t op, void* dst,
                               const void* const* srcs, int k, size_t n, int nranks, void* scratch,
                               cudaStream_t stream) {
  if (n == 0) return cudaSuccess;
  if (dst == nullptr || srcs == nullptr || k < 1 || nranks < 1) return cudaErrorInvalidValue;
  if (k > kMaxReduceInputs && scratch == nullptr) return cudaErrorInvalidValue;
  for (int j = 0; j < k; ++j)
    if (srcs[j] == nullptr) return cudaErrorInvalidValue;
  return Visit(type, op, [&](auto s, auto o, auto avg) -> cudaError_t {
    using S = decltype(s);
    using W = Wire<S>;
    using OpT = decltype(o);
    auto* wire = static_cast<W*>(scratch);
    // Passes of up to kMaxReduceInputs inputs: the first starts from input 0, later ones from
    // the partial in scratch; only the last finishes into dst.
    for (int j0 = 0; j0 < k;) {
      const int first = j0 == 0 ? 0 : 1;  // later passes: the partial counts as an operand
      const int take = std::min(k - j0, kMaxReduceInputs);
      Inputs<S> in{};
      for (int j = 0; j < take; ++j) in.p[j] = static_cast<const S*>(srcs[j0 + j]);
      const bool last = j0 + take == k;
      cudaError_t e;
      if (first == 0 && last)
        e = LaunchFold<S, S, OpT, avg(), false>(static_cast<S*>(dst), nullptr, in, take, n, nranks,
                                                stream);
      else if (first == 0)
        e = LaunchFold<S, W, OpT, false, false>(wire, nullptr, in, take, n, 1, stream);
      else if (last)
        e = LaunchFold<S, S, OpT, avg(), true>(static_cast<S*>(dst), wire, in, take, n, nranks,
                                               stream);
      else
        e = LaunchFold<S, W, OpT, false, true>(wire, wire, in, take, n, 1, stream);
      if (e != cudaSuccess) return e;
      j0 += take;
    }
    return cudaSuccess;
  });
}

}  // namespace mics
