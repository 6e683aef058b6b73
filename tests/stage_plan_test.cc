// The pieces of a staged device call (src/stage_plan.h) replayed on host
// memory: k simulated ranks, each with its "device" buffers, copy every piece
// in, run a reference collective on the pieces (XOR as the reduction: the plan
// moves bytes and must not care which op), copy it out; the result must equal
// the same collective on the whole buffers, byte for byte, with the guard
// bytes around every buffer untouched. Both orders the proxy may produce are
// replayed: piece by piece, and every copy in before any collective (its
// pipeline copies piece i+2 in before piece i is out). Random data, seed
// printed; every kind, 1/2/3/5 ranks, in and out of place, counts 0..4099,
// element sizes 1..8, piece sizes down to one element.
#include "src/stage_plan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace {

using mics::Stage;
using mics::StageCopy;
using mics::StagedKind;

constexpr size_t kGuard = 16;
constexpr uint8_t kPoison = 0xa5;

uint64_t Seed() {
  static const uint64_t seed = [] {
    const char* env = getenv("MICS_TEST_SEED");
    uint64_t s = env ? strtoull(env, nullptr, 10) : std::random_device{}();
    printf("stage_plan_test seed: %llu (MICS_TEST_SEED to replay)\n",
           static_cast<unsigned long long>(s));
    return s;
  }();
  return seed;
}

// One simulated rank: its buffers with guards, as the API lays them out.
struct Rank {
  std::vector<uint8_t> send, recv;  // whole allocations, guards included
  size_t send_at = 0;               // where send begins (inside recv when in place)
  bool in_place = false;
  uint8_t* send_ptr() { return (in_place ? recv.data() : send.data()) + send_at; }
  uint8_t* recv_ptr() { return recv.data() + kGuard; }
};

void Copy2D(uint8_t* dev, uint8_t* host, const StageCopy& c, bool to_host) {
  for (size_t r = 0; r < c.rows; ++r) {
    uint8_t* d = dev + c.dev_offset + r * c.pitch;
    uint8_t* h = host + c.host_offset + r * c.width;
    if (to_host)
      memcpy(h, d, c.width);
    else
      memcpy(d, h, c.width);
  }
}

// The collective on pieces[r] (each with send at send_off, recv at recv_off).
void Collective(StagedKind kind, int k, int root, size_t n, size_t esize,
                std::vector<std::vector<uint8_t>>& pieces, const Stage& s) {
  const size_t w = n * esize;
  switch (kind) {
    case StagedKind::kAllgather:
      for (int r = 0; r < k; ++r)
        for (int q = 0; q < k; ++q)
          memcpy(pieces[r].data() + s.recv_off + q * w, pieces[q].data() + s.send_off, w);
      break;
    case StagedKind::kReduceScatter: {
      std::vector<std::vector<uint8_t>> out(k, std::vector<uint8_t>(w, 0));
      for (int r = 0; r < k; ++r)
        for (int q = 0; q < k; ++q)
          for (size_t b = 0; b < w; ++b) out[r][b] ^= pieces[q][s.send_off + r * w + b];
      for (int r = 0; r < k; ++r) memcpy(pieces[r].data() + s.recv_off, out[r].data(), w);
      break;
    }
    case StagedKind::kAllreduce: {
      std::vector<uint8_t> x(w, 0);
      for (int q = 0; q < k; ++q)
        for (size_t b = 0; b < w; ++b) x[b] ^= pieces[q][s.send_off + b];
      for (int r = 0; r < k; ++r) memcpy(pieces[r].data() + s.recv_off, x.data(), w);
      break;
    }
    case StagedKind::kBroadcast:
      for (int r = 0; r < k; ++r)
        if (r != root) memcpy(pieces[r].data() + s.recv_off, pieces[root].data() + s.send_off, w);
      break;
  }
}

struct Case {
  StagedKind kind;
  int k;
  size_t count, esize, stage_bytes;
  bool in_place;
};

std::string Name(const Case& c) {
  static const char* kinds[] = {"allgather", "reduce_scatter", "allreduce", "broadcast"};
  return std::string(kinds[static_cast<int>(c.kind)]) + " k=" + std::to_string(c.k) +
         " count=" + std::to_string(c.count) + " esize=" + std::to_string(c.esize) +
         " stage=" + std::to_string(c.stage_bytes) + (c.in_place ? " in place" : "");
}

void Check(const Case& c, bool all_in_first, std::mt19937_64& rng) {
  const int k = c.k, root = k - 1;
  const size_t block = c.count * c.esize;
  const bool gathers = c.kind == StagedKind::kAllgather;
  const bool scatters = c.kind == StagedKind::kReduceScatter;
  const size_t send_bytes = scatters ? block * k : block;
  const size_t recv_bytes = gathers ? block * k : block;
  std::vector<Rank> ranks(k);
  for (int r = 0; r < k; ++r) {
    Rank& x = ranks[r];
    x.in_place = c.in_place;
    x.recv.assign(recv_bytes + 2 * kGuard, kPoison);
    x.send.assign(send_bytes + 2 * kGuard, kPoison);
    x.send_at = kGuard + (c.in_place && gathers ? r * block : 0);
    if (c.in_place && scatters) {  // recv is our block of send: send is the big buffer
      x.recv.assign(send_bytes + 2 * kGuard, kPoison);
      x.send_at = kGuard;
    }
    for (size_t b = 0; b < send_bytes; ++b) x.send_ptr()[b] = static_cast<uint8_t>(rng());
  }
  auto recv_of = [&](int r) {
    return ranks[r].recv_ptr() + (c.in_place && scatters ? r * block : 0);
  };
  // The reference, on whole buffers (nothing to compute for an empty call, and
  // an empty vector's data() may be null, which memcpy must not get).
  std::vector<std::vector<uint8_t>> want(k, std::vector<uint8_t>(recv_bytes, 0));
  for (int r = 0; r < k && block > 0; ++r)
    for (int q = 0; q < k; ++q) {
      const uint8_t* in = ranks[q].send_ptr();
      if (gathers) memcpy(want[r].data() + q * block, in, block);
      if (scatters)
        for (size_t b = 0; b < block; ++b) want[r][b] ^= in[r * block + b];
      if (c.kind == StagedKind::kAllreduce)
        for (size_t b = 0; b < block; ++b) want[r][b] ^= in[b];
      if (c.kind == StagedKind::kBroadcast && q == root) memcpy(want[r].data(), in, block);
    }
  // The plan, on every rank: the same pieces and counts everywhere.
  std::vector<std::vector<Stage>> plans(k);
  for (int r = 0; r < k; ++r)
    plans[r] = mics::plan_stages(c.kind, k, r, root, c.count, c.esize, c.stage_bytes);
  for (int r = 1; r < k; ++r) {
    ASSERT_EQ(plans[r].size(), plans[0].size()) << Name(c);
    for (size_t i = 0; i < plans[0].size(); ++i) ASSERT_EQ(plans[r][i].count, plans[0][i].count);
  }
  if (c.count == 0) {
    ASSERT_TRUE(plans[0].empty());
  }
  size_t covered = 0;
  for (const Stage& s : plans[0]) {
    ASSERT_GE(s.count, 1u) << Name(c);
    covered += s.count;
    if (plans[0].size() > 1) {
      EXPECT_LE(s.piece_bytes, std::max<size_t>(c.stage_bytes, (k + 1) * c.esize));
    }
  }
  ASSERT_EQ(covered, c.count) << Name(c);
  const size_t nstages = plans[0].size();
  std::vector<std::vector<std::vector<uint8_t>>> pieces(nstages,
                                                        std::vector<std::vector<uint8_t>>(k));
  auto copy_in = [&](size_t i) {
    for (int r = 0; r < k; ++r) {
      pieces[i][r].assign(plans[r][i].piece_bytes, kPoison);
      Copy2D(ranks[r].send_ptr(), pieces[i][r].data(), plans[r][i].in, true);
    }
  };
  auto run_and_copy_out = [&](size_t i) {
    Collective(c.kind, k, root, plans[0][i].count, c.esize, pieces[i], plans[0][i]);
    for (int r = 0; r < k; ++r) Copy2D(recv_of(r), pieces[i][r].data(), plans[r][i].out, false);
  };
  if (all_in_first) {
    for (size_t i = 0; i < nstages; ++i) copy_in(i);
    for (size_t i = 0; i < nstages; ++i) run_and_copy_out(i);
  } else {
    for (size_t i = 0; i < nstages; ++i) copy_in(i), run_and_copy_out(i);
  }
  for (int r = 0; r < k; ++r) {
    const uint8_t* got = recv_of(r);
    for (size_t b = 0; b < recv_bytes; ++b)
      ASSERT_EQ(got[b], want[r][b])
          << Name(c) << (all_in_first ? " all-in-first" : "") << ": rank " << r << " byte " << b;
    const std::vector<uint8_t>& all = ranks[r].recv;
    for (size_t b = 0; b < kGuard; ++b) {
      ASSERT_EQ(all[b], kPoison) << Name(c) << ": rank " << r << " guard before";
      ASSERT_EQ(all[all.size() - 1 - b], kPoison) << Name(c) << ": rank " << r << " guard after";
    }
  }
}

TEST(StagePlan, PiecesReproduceTheWholeCall) {
  std::mt19937_64 rng(Seed());
  for (StagedKind kind : {StagedKind::kAllgather, StagedKind::kReduceScatter,
                          StagedKind::kAllreduce, StagedKind::kBroadcast})
    for (int k : {1, 2, 3, 5})
      for (size_t count : {0, 1, 7, 1000, 4099})
        for (size_t esize : {1, 2, 4, 8})
          for (size_t stage : {size_t{1}, size_t{64}, size_t{1000}, size_t{1} << 20})
            for (bool in_place : {false, true})
              for (bool all_in_first : {false, true}) {
                Check({kind, k, count, esize, stage, in_place}, all_in_first, rng);
                if (HasFatalFailure()) return;
              }
}

TEST(StagePlan, PieceSizeFollowsTheBudget) {
  // 64 MiB allgather on 2 ranks in 16 MiB of host memory: pieces of 16 MiB / 3.
  const auto plan =
      mics::plan_stages(StagedKind::kAllgather, 2, 0, 0, (32u << 20) / 4, 4, 16u << 20);
  ASSERT_EQ(plan.size(), 7u);  // ceil(32 MiB / (16 MiB / 3 rounded down to elements))
  for (const Stage& s : plan) EXPECT_LE(s.piece_bytes, 16u << 20);
  // A budget below one element per rank still makes progress, one element at a time.
  EXPECT_EQ(mics::plan_stages(StagedKind::kReduceScatter, 4, 1, 0, 3, 8, 1).size(), 3u);
}

}  // namespace
