// Hockney (alpha-beta) cost model of the ring and hierarchical algorithms:
// a message over a link costs alpha + bytes / bandwidth. It picks the
// algorithm per call (MICS_ALGO=auto) and documents its predictions
// (docs/ALGORITHMS.md). Parameters come from MICS_MODEL_SHM / MICS_MODEL_NET
// ("alpha_us,GB/s"); the network bandwidth is per node (its NIC), shared by
// the node's ranks.
#pragma once

#include <cstddef>
#include <string>

#include "src/base/error.h"

namespace mics::coll {

struct LinkCost {
  double alpha_us;
  double gbytes_per_s;
};

struct CostModel {
  LinkCost shm{2.0, 6.0};
  LinkCost net{40.0, 1.0};
};

enum class Algo { kAuto, kRing, kHier };

Result cost_model_from_env(CostModel* out);

// The bounds of MICS_MODEL_SHM / MICS_MODEL_NET: latency up to 1000 s,
// bandwidth from 1 KB/s to 1 EB/s, so that predictions stay finite.
constexpr double kMaxAlphaUs = 1e9;
constexpr double kMinGBytesPerS = 1e-6;
constexpr double kMaxGBytesPerS = 1e9;
// Parses "alpha_us,GB/s" (the value of variable name, for messages) into
// *link; leaves *link alone when text is NULL or empty. Pure: no environment.
Result parse_link_cost(const char* name, const char* text, LinkCost* link);
Result algo_from_env(Algo* out);  // MICS_ALGO=auto|ring|hier

enum class Shape { kAllgather, kReduceScatter, kAllreduce };

// Predicted microseconds for `bytes_per_rank` (allgather: each rank's block;
// reduce-scatter: each rank's output; allreduce: the whole vector) on n nodes
// of k ranks.
double predict_ring_us(const CostModel& m, Shape shape, int nnodes, int k, size_t bytes_per_rank);
double predict_hier_us(const CostModel& m, Shape shape, int nnodes, int k, size_t bytes_per_rank);

}  // namespace mics::coll
