// Micro-benchmark of the host reduction kernels (the inner loop of reduce-scatter / allreduce).
//
// Argument: size in bytes of the user-type buffer (src / dst); the wire buffers of FLOAT16 and
// BFLOAT16 are twice that. Bytes/second counts every byte read and written. A second variant runs
// the ring's in-place forms (out_wire == in_wire, dst == src).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "mics/mics.h"
#include "src/reduce/reduce.h"

namespace {

// Local, so the benchmark needs only the reduce sources (not libmics's mics_type_size).
size_t TypeSize(mics_datatype_t type) { return type == MICS_INT32 || type == MICS_FLOAT32 ? 4 : 2; }

// Normal, modest values: subnormals or NaN would measure the FPU's slow paths, not the kernel.
void FillTyped(mics_datatype_t type, void* dst, size_t n, bool wire) {
  for (size_t i = 0; i < n; ++i) {
    const float f = 1.0f + static_cast<float>(i % 1024) / 1024.0f;
    if (type == MICS_INT32) {
      static_cast<int32_t*>(dst)[i] = static_cast<int32_t>(i * 2654435761u);
    } else if (type == MICS_FLOAT32 || wire) {
      static_cast<float*>(dst)[i] = f;
    } else if (type == MICS_BFLOAT16) {
      static_cast<uint16_t*>(dst)[i] = 0x3f80 | static_cast<uint16_t>(i % 128);  // [1, 2)
    } else {
      static_cast<uint16_t*>(dst)[i] = 0x3c00 | static_cast<uint16_t>(i % 1024);  // [1, 2)
    }
  }
}

struct Buffers {
  Buffers(mics_datatype_t type, size_t bytes)
      : n(bytes / TypeSize(type)),
        in(n * mics::wire_type_size(type)),
        out(n * mics::wire_type_size(type)),
        src(bytes),
        dst(bytes) {
    FillTyped(type, in.data(), n, true);
    FillTyped(type, src.data(), n, false);
    out = in;
  }
  size_t n;
  std::vector<unsigned char> in, out, src, dst;
};

void SetLabels(benchmark::State& state) {
#if defined(__x86_64__)
  state.SetLabel(__builtin_cpu_supports("avx2") ? "avx2 clone" : "default clone");
#endif
}

// state.range(0): bytes of user-type data; state.range(1): 1 for the in-place form.
template <mics_datatype_t kType>
void BM_ReduceToWire(benchmark::State& state) {
  Buffers b(kType, static_cast<size_t>(state.range(0)));
  const bool in_place = state.range(1) != 0;
  void* out = in_place ? b.in.data() : b.out.data();
  for (auto _ : state) {
    mics::reduce_to_wire(kType, MICS_SUM, out, b.in.data(), b.src.data(), b.n);
    benchmark::ClobberMemory();
  }
  const size_t wsz = mics::wire_type_size(kType), sz = TypeSize(kType);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(b.n * (2 * wsz + sz)));
  SetLabels(state);
}

template <mics_datatype_t kType>
void BM_ReduceToFinal(benchmark::State& state) {
  Buffers b(kType, static_cast<size_t>(state.range(0)));
  const bool in_place = state.range(1) != 0;
  void* dst = in_place ? b.src.data() : b.dst.data();
  for (auto _ : state) {
    // In place the sums feed back and grow, at worst to inf, which costs the same as finite
    // values (only subnormals are slow).
    mics::reduce_to_final(kType, MICS_SUM, dst, b.in.data(), b.src.data(), b.n, 2);
    benchmark::ClobberMemory();
  }
  const size_t wsz = mics::wire_type_size(kType), sz = TypeSize(kType);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(b.n * (wsz + 2 * sz)));
  SetLabels(state);
}

void Sizes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"bytes", "in_place"});
  for (int in_place = 0; in_place <= 1; ++in_place) {
    for (int64_t bytes = 4 << 10; bytes <= 16 << 20; bytes *= 4) b->Args({bytes, in_place});
  }
}

BENCHMARK_TEMPLATE(BM_ReduceToWire, MICS_FLOAT32)->Apply(Sizes);
BENCHMARK_TEMPLATE(BM_ReduceToWire, MICS_BFLOAT16)->Apply(Sizes);
BENCHMARK_TEMPLATE(BM_ReduceToWire, MICS_FLOAT16)->Apply(Sizes);
BENCHMARK_TEMPLATE(BM_ReduceToWire, MICS_INT32)->Apply(Sizes);
BENCHMARK_TEMPLATE(BM_ReduceToFinal, MICS_FLOAT32)->Apply(Sizes);
BENCHMARK_TEMPLATE(BM_ReduceToFinal, MICS_BFLOAT16)->Apply(Sizes);
BENCHMARK_TEMPLATE(BM_ReduceToFinal, MICS_FLOAT16)->Apply(Sizes);
BENCHMARK_TEMPLATE(BM_ReduceToFinal, MICS_INT32)->Apply(Sizes);

}  // namespace

BENCHMARK_MAIN();
