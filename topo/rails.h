// Rails: which NIC each local rank's inter-node ring goes through, and in which
// order the local ranks form the intra-node ring. MiCS runs one inter-node ring
// per local rank ("rail"), so each should leave through the NIC nearest its GPU,
// and GPUs sharing a PCIe switch share that switch's NIC (p4d: 8 GPUs, 4 EFA,
// 2 GPUs per NIC), as aws-ofi-nccl groups them.
#pragma once

#include <string>
#include <vector>

#include "topo/machine.h"

namespace mics::topo {

struct RankRail {
  int local_rank = 0;
  int gpu = -1;          // index into Machine::gpus; -1 when the machine has none
  int nic = -1;          // index into Machine::nics; -1 = no NIC: the default route (loopback)
  std::string nic_name;  // Machine::nics[nic].name, "" when nic == -1
  PciPath path;          // GPU -> NIC; {SYS, -1} without a GPU or a NIC
};

struct RailPlan {
  std::vector<RankRail> ranks;  // indexed by local rank
  std::vector<int> ring;        // the intra-node ring: local ranks in ring order
  std::string ring_reason;      // why this order, for logs and mics-topo
};

// NICs that can carry a rail: the RDMA ones (EFA, verbs) when there are any,
// else the plain network interfaces. Indices into machine.nics, in PCI order.
std::vector<int> rail_nics(const Machine& machine);

// Plans k = local_ranks ranks. Local rank l uses GPU l (l mod #GPUs when ranks
// share GPUs). Its NIC is the rail NIC with the nearest path to that GPU (class,
// then hops), ties going to the NIC with fewest ranks so far, then the lowest
// index. Without GPUs, ranks take the rail NICs round-robin. The ring is the
// identity on NVSwitch (every pair one hop apart) and without GPUs; otherwise it
// walks greedily to the nearest unvisited GPU, which keeps neighbours on one
// PCIe switch, then one NUMA node. INVALID_ARGUMENT when local_ranks < 1.
Result plan_rails(const Machine& machine, int local_ranks, RailPlan* out);

}  // namespace mics::topo
