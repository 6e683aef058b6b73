// A plain data model of one node: NUMA nodes, GPUs, NICs and how far apart they
// are on the PCI tree. Filled from hwloc (hwloc_discovery.h) or from text, and
// read by rail selection (rails.h) and the mics-topo tool. It holds no hwloc
// handles, so it can be copied, compared and written to a test fixture.
#pragma once

#include <string>
#include <vector>

#include "src/base/error.h"

namespace mics::topo {

// NCCL's PCI path classes, nearest first, so that the enum order is the ranking.
enum class PathType : int {
  kPix = 0,  // through at most one PCIe bridge (both ends on one PCIe switch)
  kPxb = 1,  // through several PCIe bridges, but not through the host bridge
  kPhb = 2,  // through a host bridge / the CPU, within one NUMA node (socket)
  kSys = 3,  // across NUMA nodes (the SMP interconnect), or no PCI locality at all
};

struct PciPath {
  PathType type = PathType::kSys;
  int hops = -1;  // edges in the hwloc tree between the two devices; -1 = unknown

  bool operator==(const PciPath& o) const { return type == o.type && hops == o.hops; }
  bool operator!=(const PciPath& o) const { return !(*this == o); }
};

// True when a is strictly nearer than b: class first, then hops (unknown hops last).
bool nearer(const PciPath& a, const PciPath& b);
const char* path_type_name(PathType type);     // "PIX", "PXB", "PHB", "SYS"
std::string path_string(const PciPath& path);  // "PIX/2", or "SYS" when hops are unknown

struct NumaNode {
  int os_index = 0;
  std::string cpus;  // hwloc list syntax, e.g. "0-7,16-23"

  bool operator==(const NumaNode& o) const { return os_index == o.os_index && cpus == o.cpus; }
};

struct Gpu {
  int index = 0;           // position in PCI bus id order (CUDA_DEVICE_ORDER=PCI_BUS_ID)
  std::string pci_bus_id;  // "0000:10:1c.0"
  int numa = -1;           // os index of its NUMA node; -1 when not exactly one
  std::string name;        // "NVIDIA A100-SXM4-40GB", or the PCI ids when hwloc has no model

  bool operator==(const Gpu& o) const {
    return index == o.index && pci_bus_id == o.pci_bus_id && numa == o.numa && name == o.name;
  }
};

enum class NicKind : int {
  kEfa = 0,     // AWS Elastic Fabric Adapter (an OpenFabrics device, rdmapXsY)
  kRdma = 1,    // any other OpenFabrics (verbs) device, e.g. mlx5_0
  kNetdev = 2,  // a plain network interface with a PCI device, e.g. eth0
};
const char* nic_kind_name(NicKind kind);  // "efa", "rdma", "netdev"

struct Nic {
  std::string name;  // "rdmap16s27", "mlx5_0", "eth0"
  NicKind kind = NicKind::kNetdev;
  std::string pci_bus_id;  // "" when the device has no PCI locality
  int numa = -1;

  bool rdma() const { return kind != NicKind::kNetdev; }
  bool operator==(const Nic& o) const {
    return name == o.name && kind == o.kind && pci_bus_id == o.pci_bus_id && numa == o.numa;
  }
};

// What is known about NVLink. Discovery never fails for lack of it: a machine
// without NVML or without GPUs simply has source == "".
struct NvLinkInfo {
  std::string source;      // "nvml", "hwloc" (an NVLinkBandwidth matrix), or "" = no info
  std::string note;        // why there is no info, for logs and mics-topo
  bool nvswitch = false;   // every GPU has active links into an NVSwitch fabric
  std::vector<int> peers;  // per GPU: other GPUs it reaches over NVLink (empty = no info)

  bool operator==(const NvLinkInfo& o) const {
    return source == o.source && note == o.note && nvswitch == o.nvswitch && peers == o.peers;
  }
};

struct Machine {
  std::string origin;  // "this machine" or the XML file; informational, not compared
  std::vector<NumaNode> numa_nodes;
  std::vector<Gpu> gpus;
  std::vector<Nic> nics;
  std::vector<PciPath> gpu_nic;  // row-major [gpu][nic]
  std::vector<PciPath> gpu_gpu;  // row-major [gpu][gpu]; the diagonal is {PIX, 0}
  NvLinkInfo nvlink;

  int ngpus() const { return static_cast<int>(gpus.size()); }
  int nnics() const { return static_cast<int>(nics.size()); }
  const PciPath& gpu_nic_path(int gpu, int nic) const { return gpu_nic[gpu * nics.size() + nic]; }
  const PciPath& gpu_gpu_path(int a, int b) const { return gpu_gpu[a * gpus.size() + b]; }
  bool operator==(const Machine& o) const;
  bool operator!=(const Machine& o) const { return !(*this == o); }
};

// A line-oriented text form ("mics-machine 1", then one line per item), so tests
// and bug reports can carry a model without hwloc. machine_from_text(machine_to_text(m))
// == m. INVALID_ARGUMENT, naming the line, on anything malformed or inconsistent.
std::string machine_to_text(const Machine& machine);
Result machine_from_text(const std::string& text, Machine* out);

}  // namespace mics::topo
