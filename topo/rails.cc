#include "topo/rails.h"

#include <algorithm>

#include "src/base/log.h"

namespace mics::topo {
namespace {

constexpr int kMaxLocalRanks = 1 << 16;

// GPU visiting order for the ring over GPUs 0..used-1: start at GPU 0 and
// always step to the nearest GPU not yet visited (lowest index on ties). On a
// p4d-like PCIe tree that visits both GPUs of a switch, then the other switch
// of the socket, then the other socket, so the only slow edges are the two
// socket crossings that any ring needs.
std::vector<int> greedy_gpu_ring(const Machine& m, int used) {
  std::vector<int> order{0};
  std::vector<bool> visited(used, false);
  visited[0] = true;
  for (int step = 1; step < used; ++step) {
    const int from = order.back();
    int best = -1;
    for (int g = 0; g < used; ++g) {
      if (visited[g]) continue;
      if (best < 0 || nearer(m.gpu_gpu_path(from, g), m.gpu_gpu_path(from, best))) best = g;
    }
    visited[best] = true;
    order.push_back(best);
  }
  return order;
}

void plan_ring(const Machine& m, int k, RailPlan* plan) {
  plan->ring.clear();
  if (m.gpus.empty()) {
    for (int l = 0; l < k; ++l) plan->ring.push_back(l);
    plan->ring_reason = "no GPUs: rank order";
    return;
  }
  const int used = std::min(k, m.ngpus());
  std::vector<int> gpu_order;
  if (m.nvlink.nvswitch) {
    for (int g = 0; g < used; ++g) gpu_order.push_back(g);
    plan->ring_reason = "NVSwitch: identity";
  } else {
    gpu_order = greedy_gpu_ring(m, used);
    plan->ring_reason = "PCIe: nearest GPU next (same switch, then same NUMA node)";
  }
  // Ranks that share a GPU sit next to each other in the ring.
  for (int g : gpu_order)
    for (const RankRail& r : plan->ranks)
      if (r.gpu == g) plan->ring.push_back(r.local_rank);
}

}  // namespace

std::vector<int> rail_nics(const Machine& machine) {
  std::vector<int> rdma, plain;
  for (int n = 0; n < machine.nnics(); ++n) (machine.nics[n].rdma() ? rdma : plain).push_back(n);
  // A fabric provider uses the RDMA devices when it has any; a netdev next to
  // them (the ENA of a p4d, say) is the management network, not a rail.
  return rdma.empty() ? plain : rdma;
}

Result plan_rails(const Machine& machine, int local_ranks, RailPlan* out) {
  if (local_ranks < 1 || local_ranks > kMaxLocalRanks)
    return MICS_ERROR(MICS_INVALID_ARGUMENT, "plan_rails: local_ranks=%d is not in [1, %d]",
                      local_ranks, kMaxLocalRanks);
  const std::vector<int> nics = rail_nics(machine);
  std::vector<int> load(machine.nics.size(), 0);
  RailPlan plan;
  for (int l = 0; l < local_ranks; ++l) {
    RankRail r;
    r.local_rank = l;
    if (!machine.gpus.empty()) r.gpu = l % machine.ngpus();
    for (int n : nics) {
      if (r.gpu < 0) {
        // No GPU to be near to: spread ranks evenly, in rank order.
        r.nic = nics[l % nics.size()];
        break;
      }
      const PciPath& p = machine.gpu_nic_path(r.gpu, n);
      // Nearest first; among equally near NICs the least loaded, so GPUs that
      // tie (several NICs on their switch, or none near) spread over those NICs.
      if (r.nic < 0 || nearer(p, r.path) || (p == r.path && load[n] < load[r.nic])) {
        r.nic = n;
        r.path = p;
      }
    }
    if (r.nic >= 0) {
      ++load[r.nic];
      r.nic_name = machine.nics[r.nic].name;
    }
    plan.ranks.push_back(r);
  }
  plan_ring(machine, local_ranks, &plan);
  for (const RankRail& r : plan.ranks)
    MICS_LOG_INFO("topo: local rank %d -> gpu %d -> nic %s (%s)", r.local_rank, r.gpu,
                  r.nic < 0 ? "default" : r.nic_name.c_str(), path_string(r.path).c_str());
  *out = std::move(plan);
  return MICS_SUCCESS;
}

}  // namespace mics::topo
