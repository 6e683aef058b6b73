// The device reduction kernels (src/cuda) against the host kernels (src/reduce), element by
// element on random data: every type x op x length, aligned and misaligned operands, and the
// aliasing forms each function allows. Whole buffers are compared, so a write outside the operand
// fails too. Bit-exact, except that a NaN made by SUM/PROD/AVG arithmetic matches any NaN: the GPU
// returns its canonical NaN where x86 keeps (and the compiler may swap) the operands' payloads;
// MAX/MIN and the pure conversions select or convert bits, so their NaNs must match exactly.
// Without a CUDA device every GPU test skips; the conversion tests run anywhere.
// Set MICS_TEST_SEED to replay a run; the seed is printed and recorded.
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "src/cuda/reduce_kernels.cuh"
#include "src/reduce/half.h"
#include "src/reduce/reduce.h"

namespace {

using mics::cuda_detail::FloatBits;

uint64_t Seed() {
  static const uint64_t seed = [] {
    const char* env = std::getenv("MICS_TEST_SEED");
    const uint64_t s = env != nullptr ? std::strtoull(env, nullptr, 0) : std::random_device{}();
    std::printf("reduce_kernels_test seed: %" PRIu64 " (set MICS_TEST_SEED to replay)\n", s);
    return s;
  }();
  return seed;
}

// splitmix64: fast enough to fill millions of elements per case.
struct Rng {
  uint64_t s;
  uint64_t Next() {
    uint64_t z = (s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  double Uniform(double r) { return (static_cast<double>(Next() >> 11) * 0x1p-53 * 2 - 1) * r; }
};

bool IsHalfType(mics_datatype_t t) { return t == MICS_FLOAT16 || t == MICS_BFLOAT16; }
mics_datatype_t WireOf(mics_datatype_t t) { return IsHalfType(t) ? MICS_FLOAT32 : t; }
size_t SizeOf(mics_datatype_t t) {
  static const size_t kSize[] = {1, 1, 4, 4, 8, 8, 2, 4, 8, 2};
  return kSize[t];
}
const char* TypeName(mics_datatype_t t) {
  static const char* kName[] = {"int8",   "uint8",   "int32",   "uint32",  "int64",
                                "uint64", "float16", "float32", "float64", "bfloat16"};
  return kName[t];
}

// A float value: mostly ordinary numbers (the rounding cases), some from a small set (so that
// operands tie, -0 vs +0 included), some specials and raw bit patterns (NaN payloads, sNaN).
double RandomValue(Rng& rng, bool* raw) {
  static const double kSmall[] = {0.0, -0.0, 1.0, -1.0, 0.5};
  static const double kSpecial[] = {HUGE_VAL, -HUGE_VAL, NAN,      -NAN,   65504.0,
                                    65520.0,  0x1p-24,   -0x1p-25, 3.0e38, 0x1p-149};
  const uint64_t r = rng.Next() % 100;
  *raw = false;
  if (r < 50) return rng.Uniform(100);
  if (r < 70) return rng.Uniform(2);
  if (r < 82) return kSmall[rng.Next() % 5];
  if (r < 90) return kSpecial[rng.Next() % 10];
  *raw = true;
  return 0;
}

void FillRandom(mics_datatype_t t, uint8_t* p, size_t n, Rng& rng) {
  for (size_t i = 0; i < n; ++i) {
    const uint64_t bits = rng.Next();
    bool raw = false;
    const double v =
        t == MICS_FLOAT16 || t == MICS_BFLOAT16 || t == MICS_FLOAT32 || t == MICS_FLOAT64
            ? RandomValue(rng, &raw)
            : 0;
    if (t == MICS_FLOAT16 && !raw) {
      const uint16_t h = mics::FloatToHalf(static_cast<float>(v));
      std::memcpy(p + 2 * i, &h, 2);
    } else if (t == MICS_BFLOAT16 && !raw) {
      const uint16_t h = mics::FloatToBFloat16(static_cast<float>(v));
      std::memcpy(p + 2 * i, &h, 2);
    } else if (t == MICS_FLOAT32 && !raw) {
      const float f = static_cast<float>(v);
      std::memcpy(p + 4 * i, &f, 4);
    } else if (t == MICS_FLOAT64 && !raw) {
      std::memcpy(p + 8 * i, &v, 8);
    } else {  // integers and raw float bits
      std::memcpy(p + SizeOf(t) * i, &bits, SizeOf(t));
    }
  }
}

bool IsNan(mics_datatype_t t, const uint8_t* p) {
  uint64_t u = 0;
  std::memcpy(&u, p, SizeOf(t));
  switch (t) {
    case MICS_FLOAT16:
      return (u & 0x7fff) > 0x7c00;
    case MICS_BFLOAT16:
      return (u & 0x7fff) > 0x7f80;
    case MICS_FLOAT32:
      return (u & 0x7fffffffu) > 0x7f800000u;
    case MICS_FLOAT64:
      return (u & 0x7fffffffffffffffull) > 0x7ff0000000000000ull;
    default:
      return false;
  }
}

// One buffer: an operand of n elements of type t at element offset off, guard bytes around it.
struct Buffer {
  mics_datatype_t t;
  size_t off;
  size_t n;
  std::vector<uint8_t> init;
  size_t begin() const { return off * SizeOf(t); }
  size_t end() const { return begin() + n * SizeOf(t); }
};

Buffer MakeBuffer(mics_datatype_t t, size_t n, size_t off, Rng* rng) {
  Buffer b{t, off, n, std::vector<uint8_t>((off + n) * SizeOf(t) + 32, 0xcd)};  // poison
  if (rng != nullptr) FillRandom(t, b.init.data() + b.begin(), n, *rng);
  return b;
}

struct DeviceMemory {
  void* p = nullptr;
  explicit DeviceMemory(size_t bytes) { EXPECT_EQ(cudaMalloc(&p, bytes), cudaSuccess); }
  DeviceMemory(DeviceMemory&& o) noexcept : p(o.p) { o.p = nullptr; }
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;
  DeviceMemory& operator=(DeviceMemory&&) = delete;
  ~DeviceMemory() {
    if (p != nullptr) cudaFree(p);
  }
};

std::string NoDeviceReason() {
  static const std::string reason = [] {
    int count = 0;
    const cudaError_t err = cudaGetDeviceCount(&count);
    if (err != cudaSuccess) {
      return std::string(cudaGetErrorName(err)) + " (" + cudaGetErrorString(err) + ")";
    }
    return count == 0 ? std::string("cudaGetDeviceCount() returned 0") : std::string();
  }();
  return reason;
}

constexpr size_t kLengths[] = {0, 1, 7, 33, 1000, 4099, (size_t{1} << 20) + 3};
// Element offsets of the operands (first, second, third buffer): all aligned, all shifted alike
// (scalar head, then 16-byte packs), shifted differently (element by element throughout).
constexpr size_t kOffsets[][3] = {{0, 0, 0}, {1, 1, 1}, {3, 1, 2}};
constexpr mics_redop_t kOps[] = {MICS_SUM, MICS_PROD, MICS_MAX, MICS_MIN, MICS_AVG};
const char* OpName(mics_redop_t op) {
  static const char* kName[] = {"sum", "prod", "max", "min", "avg"};
  return kName[op];
}

std::string ParamName(const ::testing::TestParamInfo<mics_datatype_t>& param) {
  return TypeName(param.param);
}

class ReduceKernelsTest : public ::testing::TestWithParam<mics_datatype_t> {
 protected:
  void SetUp() override {
    RecordProperty("seed", std::to_string(Seed()));
    if (!NoDeviceReason().empty()) GTEST_SKIP() << "no CUDA device: " << NoDeviceReason();
    ASSERT_EQ(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking), cudaSuccess);
    rng_.s =
        Seed() ^ (static_cast<uint64_t>(GetParam()) << 56) ^
        std::hash<std::string>{}(::testing::UnitTest::GetInstance()->current_test_info()->name());
  }
  void TearDown() override {
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  // Runs host(ptrs) on copies of the buffers and dev(ptrs) on device copies (ptrs[i] = buffer
  // i's operand), then compares every byte of every buffer; out is the written buffer, whose
  // NaNs may differ in payload when relaxed_nan.
  template <class Host, class Dev>
  void Check(std::vector<const Buffer*> bufs, size_t out, bool relaxed_nan, Host host, Dev dev,
             const std::string& what) {
    if (HasFailure()) return;  // one report per test, not one per case
    std::vector<std::vector<uint8_t>> want, got;
    std::vector<DeviceMemory> mem;
    std::vector<void*> hp, dp;
    mem.reserve(bufs.size());
    for (const Buffer* b : bufs) {
      want.push_back(b->init);
      got.emplace_back(b->init.size());
      mem.emplace_back(b->init.size());
      ASSERT_EQ(cudaMemcpyAsync(mem.back().p, b->init.data(), b->init.size(),
                                cudaMemcpyHostToDevice, stream_),
                cudaSuccess);
      hp.push_back(want.back().data() + b->begin());
      dp.push_back(static_cast<uint8_t*>(mem.back().p) + b->begin());
    }
    host(hp);
    ASSERT_EQ(dev(dp), cudaSuccess) << what;
    for (size_t i = 0; i < bufs.size(); ++i) {
      ASSERT_EQ(
          cudaMemcpyAsync(got[i].data(), mem[i].p, got[i].size(), cudaMemcpyDeviceToHost, stream_),
          cudaSuccess);
    }
    ASSERT_EQ(cudaStreamSynchronize(stream_), cudaSuccess) << what;
    for (size_t i = 0; i < bufs.size(); ++i) {
      if (want[i] == got[i]) continue;
      const Buffer& b = *bufs[i];
      const size_t es = SizeOf(b.t);
      for (size_t k = 0; k < got[i].size(); k += (k >= b.begin() && k < b.end()) ? es : 1) {
        const bool in = k >= b.begin() && k < b.end();
        const size_t len = in ? es : 1;
        if (std::memcmp(&want[i][k], &got[i][k], len) == 0) continue;
        if (in && i == out && relaxed_nan && IsNan(b.t, &want[i][k]) && IsNan(b.t, &got[i][k])) {
          continue;
        }
        uint64_t w = 0, g = 0;
        std::memcpy(&w, &want[i][k], len);
        std::memcpy(&g, &got[i][k], len);
        FAIL() << what << ": buffer " << i << (in ? " element " : " guard byte ")
               << (in ? (k - b.begin()) / es : k) << ": want 0x" << std::hex << w << ", got 0x"
               << g;
      }
    }
  }

  // body(n, offsets, tag) for every length and offset pattern.
  template <class Body>
  void ForEachShape(Body body) {
    for (size_t n : kLengths) {
      for (const auto& off : kOffsets) {
        const std::string tag = std::string(TypeName(GetParam())) + " n=" + std::to_string(n) +
                                " off=" + std::to_string(off[0]) + "," + std::to_string(off[1]) +
                                "," + std::to_string(off[2]);
        body(n, off, tag);
        if (HasFatalFailure() || HasFailure()) return;  // one report, not thousands
      }
    }
  }

  int Nranks() { return 1 + static_cast<int>(rng_.Next() % 8); }

  cudaStream_t stream_ = nullptr;
  Rng rng_{0};
};

TEST_P(ReduceKernelsTest, ToWire) {
  const mics_datatype_t t = GetParam();
  ForEachShape([&](size_t n, const size_t* off, const std::string& tag) {
    const Buffer src = MakeBuffer(t, n, off[0], &rng_);
    const Buffer wire = MakeBuffer(WireOf(t), n, off[1], nullptr);
    Check(
        {&wire, &src}, 0, false, [&](auto& p) { mics::to_wire(t, p[0], p[1], n); },
        [&](auto& p) { return mics::cuda_to_wire(t, p[0], p[1], n, stream_); }, tag);
    if (!IsHalfType(t)) {  // in place: nothing to do
      Check(
          {&src}, 0, false, [&](auto& p) { mics::to_wire(t, p[0], p[0], n); },
          [&](auto& p) { return mics::cuda_to_wire(t, p[0], p[0], n, stream_); },
          tag + " in place");
    }
  });
}

TEST_P(ReduceKernelsTest, ReduceToWire) {
  const mics_datatype_t t = GetParam();
  ForEachShape([&](size_t n, const size_t* off, const std::string& tag) {
    const Buffer in = MakeBuffer(WireOf(t), n, off[0], &rng_);
    const Buffer src = MakeBuffer(t, n, off[1], &rng_);
    const Buffer out = MakeBuffer(WireOf(t), n, off[2], nullptr);
    for (mics_redop_t op : kOps) {
      const std::string what = tag + " " + OpName(op);
      const bool relaxed = op != MICS_MAX && op != MICS_MIN;
      const auto host = [&](int o, int i, int s) {
        return [=](auto& p) { mics::reduce_to_wire(t, op, p[o], p[i], p[s], n); };
      };
      const auto dev = [&](int o, int i, int s) {
        return
            [=](auto& p) { return mics::cuda_reduce_to_wire(t, op, p[o], p[i], p[s], n, stream_); };
      };
      Check({&out, &in, &src}, 0, relaxed, host(0, 1, 2), dev(0, 1, 2), what);
      Check({&in, &src}, 0, relaxed, host(0, 0, 1), dev(0, 0, 1), what + " out=in");
      if (!IsHalfType(t)) {
        Check({&src, &in}, 0, relaxed, host(0, 1, 0), dev(0, 1, 0), what + " out=src");
      }
    }
  });
}

TEST_P(ReduceKernelsTest, ReduceToFinal) {
  const mics_datatype_t t = GetParam();
  ForEachShape([&](size_t n, const size_t* off, const std::string& tag) {
    const Buffer in = MakeBuffer(WireOf(t), n, off[0], &rng_);
    const Buffer src = MakeBuffer(t, n, off[1], &rng_);
    const Buffer dst = MakeBuffer(t, n, off[2], nullptr);
    for (mics_redop_t op : kOps) {
      const int nranks = Nranks();
      const std::string what = tag + " " + OpName(op) + " nranks=" + std::to_string(nranks);
      const bool relaxed = op != MICS_MAX && op != MICS_MIN;
      const auto host = [&](int d, int i, int s) {
        return [=](auto& p) { mics::reduce_to_final(t, op, p[d], p[i], p[s], n, nranks); };
      };
      const auto dev = [&](int d, int i, int s) {
        return [=](auto& p) {
          return mics::cuda_reduce_to_final(t, op, p[d], p[i], p[s], n, nranks, stream_);
        };
      };
      Check({&dst, &in, &src}, 0, relaxed, host(0, 1, 2), dev(0, 1, 2), what);
      Check({&src, &in}, 0, relaxed, host(0, 1, 0), dev(0, 1, 0), what + " dst=src");
    }
  });
}

TEST_P(ReduceKernelsTest, WireToFinal) {
  const mics_datatype_t t = GetParam();
  ForEachShape([&](size_t n, const size_t* off, const std::string& tag) {
    const Buffer wire = MakeBuffer(WireOf(t), n, off[0], &rng_);
    const Buffer dst = MakeBuffer(t, n, off[1], nullptr);
    for (mics_redop_t op : kOps) {
      const int nranks = Nranks();
      const std::string what = tag + " " + OpName(op) + " nranks=" + std::to_string(nranks);
      const bool relaxed = op == MICS_AVG;  // the only arithmetic here
      Check(
          {&dst, &wire}, 0, relaxed,
          [&](auto& p) { mics::wire_to_final(t, op, p[0], p[1], n, nranks); },
          [&](auto& p) { return mics::cuda_wire_to_final(t, op, p[0], p[1], n, nranks, stream_); },
          what);
      if (!IsHalfType(t)) {
        Check(
            {&wire}, 0, relaxed,
            [&](auto& p) { mics::wire_to_final(t, op, p[0], p[0], n, nranks); },
            [&](auto& p) {
              return mics::cuda_wire_to_final(t, op, p[0], p[0], n, nranks, stream_);
            },
            what + " in place");
      }
    }
  });
}

TEST_P(ReduceKernelsTest, Reduce) {
  const mics_datatype_t t = GetParam();
  ForEachShape([&](size_t n, const size_t* off, const std::string& tag) {
    const Buffer a = MakeBuffer(t, n, off[0], &rng_);
    const Buffer b = MakeBuffer(t, n, off[1], &rng_);
    const Buffer dst = MakeBuffer(t, n, off[2], nullptr);
    for (mics_redop_t op : kOps) {
      const std::string what = tag + " " + OpName(op);
      const bool relaxed = op != MICS_MAX && op != MICS_MIN;
      // The host reference: op in the wire type, narrowed once (nranks 1: AVG is SUM).
      const auto host = [&](int d, int x, int y) {
        return [=](auto& p) {
          if (!IsHalfType(t)) return mics::reduce_to_wire(t, op, p[d], p[x], p[y], n);
          std::vector<float> wa(n);
          mics::to_wire(t, wa.data(), p[x], n);
          mics::reduce_to_final(t, op, p[d], wa.data(), p[y], n, 1);
        };
      };
      const auto dev = [&](int d, int x, int y) {
        return [=](auto& p) { return mics::cuda_reduce(t, op, p[d], p[x], p[y], n, stream_); };
      };
      Check({&dst, &a, &b}, 0, relaxed, host(0, 1, 2), dev(0, 1, 2), what);
      Check({&a, &b}, 0, relaxed, host(0, 0, 1), dev(0, 0, 1), what + " dst=a");
      Check({&b, &a}, 0, relaxed, host(0, 1, 0), dev(0, 1, 0), what + " dst=b");
    }
  });
}

// The SM copy (the direct path's MICS_CUDA_COPY=sm) against memcpy: aligned, shifted alike
// (byte head, 16-byte words, byte tail) and shifted differently (bytes throughout).
TEST_P(ReduceKernelsTest, SmCopy) {
  const mics_datatype_t t = GetParam();
  ForEachShape([&](size_t n, const size_t* off, const std::string& tag) {
    const Buffer src = MakeBuffer(t, n, off[0], &rng_);
    const Buffer dst = MakeBuffer(t, n, off[1], nullptr);
    const size_t bytes = n * SizeOf(t);
    Check(
        {&dst, &src}, 0, false, [&](auto& p) { std::memcpy(p[0], p[1], bytes); },
        [&](auto& p) { return mics::cuda_copy(p[0], p[1], bytes, stream_); }, tag);
  });
}

// k inputs folded in one kernel pass (two or more past kMaxReduceInputs) against the host chain
// to_wire, reduce_to_wire..., reduce_to_final; out of place and in place (dst = input 0).
TEST_P(ReduceKernelsTest, ReduceInputs) {
  const mics_datatype_t t = GetParam();
  ForEachShape([&](size_t n, const size_t* off, const std::string& tag) {
    for (int k : {1, 2, 3, 8, 9, 17}) {
      if (n > 4099 && k != 3 && k != 9) continue;  // the long length: one and two passes only
      std::vector<Buffer> in;
      for (int j = 0; j < k; ++j) in.push_back(MakeBuffer(t, n, off[j % 3], &rng_));
      const Buffer dst = MakeBuffer(t, n, off[(k + 1) % 3], nullptr);
      DeviceMemory scratch(std::max<size_t>(n, 1) * SizeOf(WireOf(t)));
      for (mics_redop_t op : kOps) {
        const int nranks = Nranks();
        const std::string what = tag + " k=" + std::to_string(k) + " " + OpName(op);
        const bool relaxed = op != MICS_MAX && op != MICS_MIN;
        // p[d] is the output, p[first .. first + k) the inputs.
        const auto host = [&](int d, int first) {
          return [=](auto& p) {
            std::vector<uint8_t> wire(std::max<size_t>(n, 1) * SizeOf(WireOf(t)));
            mics::to_wire(t, wire.data(), p[first], n);
            for (int j = 1; j + 1 < k; ++j)
              mics::reduce_to_wire(t, op, wire.data(), wire.data(), p[first + j], n);
            if (k == 1)
              mics::wire_to_final(t, op, p[d], wire.data(), n, nranks);
            else
              mics::reduce_to_final(t, op, p[d], wire.data(), p[first + k - 1], n, nranks);
          };
        };
        const auto dev = [&](int d, int first) {
          return [=, &scratch](auto& p) {
            std::vector<const void*> srcs(p.begin() + first, p.begin() + first + k);
            return mics::cuda_reduce_inputs(t, op, p[d], srcs.data(), k, n, nranks, scratch.p,
                                            stream_);
          };
        };
        std::vector<const Buffer*> out_of_place{&dst}, in_place;
        for (const Buffer& b : in) out_of_place.push_back(&b), in_place.push_back(&b);
        Check(out_of_place, 0, relaxed, host(0, 1), dev(0, 1), what);
        Check(in_place, 0, relaxed, host(0, 0), dev(0, 0), what + " dst=in[0]");
      }
    }
  });
}

TEST_P(ReduceKernelsTest, BadArguments) {
  const mics_datatype_t t = GetParam();
  int x = 0;
  EXPECT_EQ(mics::cuda_reduce(t, MICS_SUM, nullptr, nullptr, nullptr, 0, stream_), cudaSuccess);
  EXPECT_EQ(mics::cuda_reduce(t, MICS_SUM, &x, nullptr, &x, 1, stream_), cudaErrorInvalidValue);
  EXPECT_EQ(mics::cuda_reduce(t, MICS_NUM_OPS, &x, &x, &x, 1, stream_), cudaErrorInvalidValue);
  EXPECT_EQ(mics::cuda_wire_to_final(t, MICS_AVG, &x, &x, 1, 0, stream_), cudaErrorInvalidValue);
  EXPECT_EQ(mics::cuda_to_wire(MICS_NUM_TYPES, &x, &x, 1, stream_), cudaErrorInvalidValue);
  const void* srcs[mics::kMaxReduceInputs + 1] = {};
  for (const void*& p : srcs) p = &x;
  EXPECT_EQ(mics::cuda_reduce_inputs(t, MICS_SUM, &x, srcs, 0, 1, 1, nullptr, stream_),
            cudaErrorInvalidValue);
  EXPECT_EQ(mics::cuda_reduce_inputs(t, MICS_SUM, &x, srcs, mics::kMaxReduceInputs + 1, 1, 1,
                                     nullptr, stream_),
            cudaErrorInvalidValue);  // past one pass without scratch
}

INSTANTIATE_TEST_SUITE_P(AllTypes, ReduceKernelsTest,
                         ::testing::Values(MICS_INT8, MICS_UINT8, MICS_INT32, MICS_UINT32,
                                           MICS_INT64, MICS_UINT64, MICS_FLOAT16, MICS_FLOAT32,
                                           MICS_FLOAT64, MICS_BFLOAT16),
                         ParamName);

// ---- the shared element conversions against src/reduce/half.h (no GPU needed) ----

// Every float16, and float32 patterns around every rounding boundary of both narrowings.
TEST(ReduceKernelConversions, MatchHostKernels) {
  for (uint32_t h = 0; h <= 0xffff; ++h) {
    ASSERT_EQ(FloatBits(mics::cuda_detail::HalfBitsToFloat(static_cast<uint16_t>(h))),
              FloatBits(mics::HalfToFloat(static_cast<uint16_t>(h))))
        << std::hex << h;
  }
  static const uint32_t kLow[] = {0,      1,      0xfff,  0x1000, 0x1001,
                                  0x1fff, 0x7fff, 0x8000, 0x8001, 0xffff};
  for (uint32_t hi = 0; hi <= 0xffff; ++hi) {
    for (uint32_t lo : kLow) {
      for (uint32_t x : {(hi << 16) | lo, (hi << 16) | (lo << 3 & 0xffff)}) {
        const float f = mics::BitsToFloat(x);
        ASSERT_EQ(mics::cuda_detail::FloatToHalfBits(f), mics::FloatToHalf(f)) << std::hex << x;
        ASSERT_EQ(mics::cuda_detail::FloatToBFloat16Bits(f), mics::FloatToBFloat16(f))
            << std::hex << x;
      }
    }
  }
}

}  // namespace
