// Per-call choice between the flat ring and the hierarchical algorithm:
// MICS_ALGO forces one; otherwise the cost model decides. The choice is a
// pure function of (shape, size, communicator layout, environment), so every
// rank makes the same one.
#include <cinttypes>

#include "src/base/log.h"
#include "src/coll/collectives.h"
#include "src/coll/cost_model.h"

namespace mics::coll {
namespace {

bool use_hier(mics_comm* c, Shape shape, size_t bytes, const char* name) {
  if (!hierarchical_shape(c)) return false;
  if (c->algo == Algo::kRing) return false;
  int n = c->layout.nnodes(), k = static_cast<int>(c->layout.node_ranks[0].size());
  double ring = predict_ring_us(c->model, shape, n, k, bytes);
  double hier = predict_hier_us(c->model, shape, n, k, bytes);
  bool hierarchical = c->algo == Algo::kHier || hier < ring;
  MICS_TRACE("%s %zu bytes on %d nodes x %d: %s (predicted ring %.1f us, hier %.1f us%s)", name,
             bytes, n, k, hierarchical ? "hier" : "ring", ring, hier,
             c->algo == Algo::kHier ? ", forced by MICS_ALGO" : "");
  int bit = static_cast<int>(shape) * 2 + (hierarchical ? 1 : 0);
  if (!(c->algo_logged & (1u << bit))) {  // INFO once per (collective, choice)
    c->algo_logged |= 1u << bit;
    MICS_LOG_INFO(
        "%s on %d nodes x %d ranks: %s from %zu bytes (predicted ring %.1f us, "
        "hier %.1f us%s)",
        name, n, k, hierarchical ? "hierarchical" : "ring", bytes, ring, hier,
        c->algo == Algo::kHier ? ", forced by MICS_ALGO" : "");
  }
  return hierarchical;
}

}  // namespace

Result select_allgather(mics_comm* c, const void* send, void* recv, size_t count,
                        mics_datatype_t type) {
  if (use_hier(c, Shape::kAllgather, count * mics_type_size(type), "allgather"))
    return hier_allgather(c, send, recv, count, type);
  return allgather(c, send, recv, count, type, Kind::kAllgather);
}

Result select_reduce_scatter(mics_comm* c, const void* send, void* recv, size_t count,
                             mics_datatype_t type, mics_redop_t op) {
  if (use_hier(c, Shape::kReduceScatter, count * mics_type_size(type), "reduce_scatter"))
    return hier_reduce_scatter(c, send, recv, count, type, op);
  return reduce_scatter(c, send, recv, count, type, op);
}

Result select_allreduce(mics_comm* c, const void* send, void* recv, size_t count,
                        mics_datatype_t type, mics_redop_t op) {
  if (use_hier(c, Shape::kAllreduce, count * mics_type_size(type), "allreduce"))
    return hier_allreduce(c, send, recv, count, type, op);
  return allreduce(c, send, recv, count, type, op);
}

}  // namespace mics::coll
