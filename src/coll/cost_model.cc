#include "src/coll/cost_model.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace mics::coll {

Result parse_link_cost(const char* name, const char* text, LinkCost* link) {
  if (!text || !*text) return MICS_SUCCESS;
  double a = 0, bw = 0;
  char extra = 0;
  // NaN and infinity pass comparisons that real numbers fail ("nan" would
  // make every prediction NaN and every algorithm choice arbitrary), and huge
  // or tiny values overflow the predictions: accept finite values in range.
  if (sscanf(text, "%lf,%lf%c", &a, &bw, &extra) != 2 || !std::isfinite(a) || !std::isfinite(bw) ||
      !(a >= 0 && a <= kMaxAlphaUs) || !(bw >= kMinGBytesPerS && bw <= kMaxGBytesPerS))
    return MICS_ERROR(MICS_INVALID_ARGUMENT,
                      "%s='%.64s' must be 'alpha_us,GB/s' with alpha in [0, %g] and bandwidth in "
                      "[%g, %g]",
                      name, text, kMaxAlphaUs, kMinGBytesPerS, kMaxGBytesPerS);
  *link = {a, bw};
  return MICS_SUCCESS;
}

namespace {

Result parse_link(const char* name, LinkCost* link) {
  return parse_link_cost(name, getenv(name), link);
}

// Time of a pipelined ring of `steps` steps moving `bytes` per step through
// its slowest link: every step pays the latency, the bytes flow back to back.
double ring_us(const LinkCost& link, int steps, double bytes) {
  return steps * (link.alpha_us + bytes / (link.gbytes_per_s * 1e3));
}

// Allgather / reduce-scatter with block `b` bytes.
double ring_collective(const CostModel& m, int n, int k, double b) {
  int p = n * k;
  if (n == 1) return ring_us(m.shm, p - 1, b);
  // One ring link per node leaves it: it carries (p-1) blocks at the NIC's rate.
  return ring_us(m.net, p - 1, b);
}

double hier_collective(const CostModel& m, int n, int k, double b) {
  // k rail rings share the node's NIC: each step moves k blocks through it.
  double inter = (n - 1) * (m.net.alpha_us + k * b / (m.net.gbytes_per_s * 1e3));
  double intra = ring_us(m.shm, k - 1, n * b);
  return inter + intra;
}

}  // namespace

Result cost_model_from_env(CostModel* out) {
  MICS_CHECK(parse_link("MICS_MODEL_SHM", &out->shm));
  MICS_CHECK(parse_link("MICS_MODEL_NET", &out->net));
  return MICS_SUCCESS;
}

Result algo_from_env(Algo* out) {
  const char* v = getenv("MICS_ALGO");
  if (!v || !*v || !strcmp(v, "auto")) {
    *out = Algo::kAuto;
  } else if (!strcmp(v, "ring")) {
    *out = Algo::kRing;
  } else if (!strcmp(v, "hier")) {
    *out = Algo::kHier;
  } else {
    return MICS_ERROR(MICS_INVALID_ARGUMENT, "MICS_ALGO='%.32s' must be auto, ring or hier", v);
  }
  return MICS_SUCCESS;
}

double predict_ring_us(const CostModel& m, Shape shape, int nnodes, int k, size_t bytes) {
  int p = nnodes * k;
  switch (shape) {
    case Shape::kAllgather:
    case Shape::kReduceScatter:
      return ring_collective(m, nnodes, k, static_cast<double>(bytes));
    case Shape::kAllreduce:  // reduce-scatter + allgather of blocks of bytes / p
      return 2 * ring_collective(m, nnodes, k, static_cast<double>(bytes) / p);
  }
  return 0;
}

double predict_hier_us(const CostModel& m, Shape shape, int nnodes, int k, size_t bytes) {
  switch (shape) {
    case Shape::kAllgather:
    case Shape::kReduceScatter:
      return hier_collective(m, nnodes, k, static_cast<double>(bytes));
    case Shape::kAllreduce: {
      // node reduce-scatter + node allgather (blocks bytes/k), rail allreduce of bytes/k.
      double span = static_cast<double>(bytes) / k;
      double intra = 2 * ring_us(m.shm, k - 1, span);
      double rail_block = span / nnodes;
      double inter =
          2 * (nnodes - 1) * (m.net.alpha_us + k * rail_block / (m.net.gbytes_per_s * 1e3));
      return intra + inter;
    }
  }
  return 0;
}

}  // namespace mics::coll
