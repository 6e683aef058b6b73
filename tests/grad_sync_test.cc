// mics_grad_sync (two-hop gradient synchronisation) against a locally computed
// reference over 4 micro-steps, on emulated nodes so that the replication
// all-reduce crosses the network; plus its argument checks.
#include <gtest/gtest.h>
#include <mics/mics.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "harness.h"

namespace {

using mics_test::Mix64;
using mics_test::StreamAt;
using mics_test::StreamBase;

constexpr int kMicroSteps = 4;

// Small integers: every sum is exact in every type, so order does not matter.
float Grad(uint64_t seed, int rank, int step, size_t i) {
  return static_cast<float>(static_cast<int>(StreamAt(StreamBase(seed, rank, step), i) % 9) - 4);
}

std::vector<uint8_t> Encode(const std::vector<float>& v, mics_datatype_t type) {
  std::vector<uint8_t> out(v.size() * mics_type_size(type));
  for (size_t i = 0; i < v.size(); ++i) {
    if (type == MICS_FLOAT32) {
      memcpy(&out[i * 4], &v[i], 4);
    } else if (type == MICS_INT32) {
      int32_t x = static_cast<int32_t>(v[i]);
      memcpy(&out[i * 4], &x, 4);
    } else {  // MICS_BFLOAT16
      uint16_t b = mics_test::FloatToBf16(v[i]);
      memcpy(&out[i * 2], &b, 2);
    }
  }
  return out;
}

void RunGradSync(mics_comm_t world, int rank, int world_size, int p, mics_datatype_t type,
                 mics_redop_t op, size_t count) {
  const uint64_t seed = mics_test::TestSeed() ^ Mix64(type * 16 + op);
  mics_comm_t part = nullptr, repl = nullptr;
  HASSERT_OK(mics_create_partition_groups(world, p, &part, &repl));
  const int r = world_size / p, group = rank / p, index = rank % p;
  std::vector<float> zero(count, 0.0f);
  std::vector<uint8_t> accum = Encode(zero, type);
  for (int step = 0; step < kMicroSteps; ++step) {
    std::vector<float> grads(count * p);
    for (size_t i = 0; i < grads.size(); ++i) grads[i] = Grad(seed, rank, step, i);
    std::vector<uint8_t> in = Encode(grads, type);
    HASSERT_OK(mics_grad_sync(in.data(), accum.data(), count, type, op, step == kMicroSteps - 1,
                              part, repl, nullptr));
  }
  // Reference: sum over micro-steps, partition members and replicas of the
  // slice that lands on this rank's shard; AVG divides once by p*r.
  std::vector<float> want(count, 0.0f);
  for (size_t i = 0; i < count; ++i) {
    double sum = 0;
    for (int g = 0; g < r; ++g)
      for (int q = 0; q < p; ++q)
        for (int step = 0; step < kMicroSteps; ++step)
          sum += Grad(seed, g * p + q, step, index * count + i);
    want[i] = op == MICS_AVG ? static_cast<float>(sum) / static_cast<float>(p * r)
                             : static_cast<float>(sum);
  }
  std::vector<uint8_t> expected = Encode(want, type);
  for (size_t i = 0; i < count; ++i) {
    size_t es = mics_type_size(type);
    if (memcmp(&accum[i * es], &expected[i * es], es) != 0) {
      HFAIL() << "grad_sync type " << mics_test::TypeName(type) << " op " << mics_test::OpName(op)
              << " p=" << p << " group " << group << ": element " << i << " differs (expected "
              << want[i] << ")";
      break;
    }
  }
  mics_comm_destroy(part);
  mics_comm_destroy(repl);
}

TEST(GradSync, FourMicroStepsMatchReference) {
  mics_test::Options opts;
  opts.timeout_s = 300;
  for (int r = 0; r < 8; ++r) opts.host_ids.push_back("gs-node" + std::to_string(r / 2));
  mics_test::run_ranks(
      8,
      [](mics_comm_t comm, int rank) {
        for (int p : {2, 4}) {
          for (auto type : {MICS_FLOAT32, MICS_INT32, MICS_BFLOAT16})
            RunGradSync(comm, rank, 8, p, type, MICS_SUM, 1001);
          RunGradSync(comm, rank, 8, p, MICS_FLOAT32, MICS_AVG, 4099);
        }
      },
      opts);
}

TEST(GradSync, BadArguments) {
  mics_test::run_ranks(2, [](mics_comm_t comm, int) {
    float g[4] = {0}, a[2] = {0};
    HCHECK_RESULT(mics_grad_sync(g, a, 1, MICS_FLOAT32, MICS_SUM, 0, nullptr, nullptr, nullptr),
                  MICS_INVALID_ARGUMENT);
    HCHECK(std::string(mics_last_error(nullptr)).find("partition") != std::string::npos);
    HCHECK_RESULT(mics_grad_sync(g, g, 1, MICS_FLOAT32, MICS_SUM, 0, comm, nullptr, nullptr),
                  MICS_INVALID_ARGUMENT);
    HCHECK(std::string(mics_last_error(comm)).find("overlaps") != std::string::npos);
    HCHECK_RESULT(mics_grad_sync(g, a, 1, MICS_NUM_TYPES, MICS_SUM, 0, comm, nullptr, nullptr),
                  MICS_INVALID_ARGUMENT);
    HCHECK_RESULT(mics_grad_sync(g, a, 1, MICS_FLOAT32, MICS_NUM_OPS, 0, comm, nullptr, nullptr),
                  MICS_INVALID_ARGUMENT);
    HCHECK_RESULT(mics_grad_sync(nullptr, a, 1, MICS_FLOAT32, MICS_SUM, 0, comm, nullptr, nullptr),
                  MICS_INVALID_ARGUMENT);
    HCHECK_OK(
        mics_grad_sync(nullptr, nullptr, 0, MICS_FLOAT32, MICS_SUM, 1, comm, nullptr, nullptr));
  });
}

}  // namespace
