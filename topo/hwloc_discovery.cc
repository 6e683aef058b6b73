#include "topo/hwloc_discovery.h"

#include <hwloc.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <type_traits>

#include "src/base/env.h"
#include "src/base/log.h"
#include "topo/nvlink.h"

namespace mics::topo {
namespace {

constexpr unsigned kNvidiaVendor = 0x10de;
constexpr unsigned kAmazonVendor = 0x1d0f;  // EFA's PCI vendor

class Topology {
 public:
  ~Topology() {
    if (t_) hwloc_topology_destroy(t_);
  }
  hwloc_topology_t* ptr() { return &t_; }
  hwloc_topology_t get() const { return t_; }

 private:
  hwloc_topology_t t_ = nullptr;
};

std::string bus_id(hwloc_obj_t pci) {
  char id[32];
  const auto& a = pci->attr->pcidev;
  snprintf(id, sizeof(id), "%04x:%02x:%02x.%x", a.domain, a.bus, a.dev, a.func);
  return id;
}

bool is_nvidia_gpu(hwloc_obj_t o) {
  // Debian's hwloc has no cuda/nvml plugins, so GPUs are known only as PCI
  // devices: VGA (0x0300) or 3D (0x0302) controllers from NVIDIA.
  const auto& a = o->attr->pcidev;
  return a.vendor_id == kNvidiaVendor && (a.class_id == 0x0300 || a.class_id == 0x0302);
}

hwloc_obj_t pci_ancestor(hwloc_obj_t o) {
  for (o = o->parent; o; o = o->parent)
    if (o->type == HWLOC_OBJ_PCI_DEVICE) return o;
  return nullptr;
}

// An enum attribute as the integer hwloc stored. A topology XML (MICS_TOPO_FILE)
// can set any number there, and loading an out-of-range value through the
// enum type is undefined behaviour (found by fuzz_topo_xml under UBSan).
template <typename E>
long long raw_enum(const E& field) {
  std::underlying_type_t<E> raw;
  memcpy(&raw, &field, sizeof(raw));
  return static_cast<long long>(raw);
}

bool is_host_bridge(hwloc_obj_t o) {
  return o->type == HWLOC_OBJ_BRIDGE &&
         raw_enum(o->attr->bridge.upstream_type) == HWLOC_OBJ_BRIDGE_HOST;
}

int numa_of(hwloc_topology_t t, hwloc_obj_t o) {
  hwloc_obj_t cpu_side = hwloc_get_non_io_ancestor_obj(t, o);
  if (!cpu_side || !cpu_side->nodeset || hwloc_bitmap_weight(cpu_side->nodeset) != 1) return -1;
  return hwloc_bitmap_first(cpu_side->nodeset);
}

// hwloc_get_common_ancestor_obj() must not be used here: I/O objects have
// negative virtual depths, and its depth-balancing loop walks past the root of
// PCI devices at different bridge depths (verified crash in hwloc 2.9). A plain
// walk over the parent chains is O(depth^2) and depths are small.
hwloc_obj_t lowest_common_ancestor(hwloc_obj_t a, hwloc_obj_t b) {
  for (hwloc_obj_t x = a; x; x = x->parent)
    for (hwloc_obj_t y = b; y; y = y->parent)
      if (x == y) return x;
  return nullptr;
}

// NCCL's classes from the lowest common ancestor: a PCIe bridge below the host
// bridge means the pair never leaves the switch tree (PIX when the path crosses
// only that bridge, PXB when it crosses more); the host bridge or a CPU-side
// object within one NUMA node means PHB; anything spanning NUMA nodes is SYS.
PciPath classify(hwloc_obj_t a, hwloc_obj_t b) {
  PciPath path;
  if (a == b) return {PathType::kPix, 0};
  hwloc_obj_t lca = lowest_common_ancestor(a, b);
  if (!lca) return path;
  int hops = 0, bridges = 0;
  for (hwloc_obj_t end : {a, b}) {
    for (hwloc_obj_t o = end; o != lca; o = o->parent) {
      ++hops;
      if (o != end && o->type == HWLOC_OBJ_BRIDGE) ++bridges;
    }
  }
  path.hops = hops;
  if (lca->type == HWLOC_OBJ_BRIDGE && !is_host_bridge(lca)) {
    path.type = bridges == 0 ? PathType::kPix : PathType::kPxb;
  } else if (lca->type == HWLOC_OBJ_BRIDGE) {  // the host bridge
    path.type = PathType::kPhb;
  } else {
    const bool one_numa = lca->nodeset && hwloc_bitmap_weight(lca->nodeset) <= 1;
    path.type = one_numa ? PathType::kPhb : PathType::kSys;
  }
  return path;
}

std::string gpu_name(hwloc_obj_t pci) {
  // The model is known only when an XML came from an hwloc with the cuda/nvml
  // plugins; otherwise libpciaccess's name, otherwise the PCI ids.
  for (hwloc_obj_t c = pci->io_first_child; c; c = c->next_sibling)
    if (const char* model = hwloc_obj_get_info_by_name(c, "GPUModel")) return model;
  if (const char* name = hwloc_obj_get_info_by_name(pci, "PCIDevice")) return name;
  char ids[32];
  snprintf(ids, sizeof(ids), "NVIDIA [%04x:%04x]", pci->attr->pcidev.vendor_id,
           pci->attr->pcidev.device_id);
  return ids;
}

// Checks up front what hwloc reports badly: a missing file (hwloc says only
// "failed"), and hwloc 3 XML, which hwloc 2 refuses with a message on stderr.
Result check_xml_file(const std::string& path) {
  FILE* f = fopen(path.c_str(), "r");
  if (!f)
    return MICS_ERROR(MICS_SYSTEM_ERROR, "cannot read topology file '%s': %s", path.c_str(),
                      strerror(errno));
  char head[1024] = {};
  size_t n = fread(head, 1, sizeof(head) - 1, f);
  fclose(f);
  if (n == 0 || !strstr(head, "<topology"))
    return MICS_ERROR(MICS_INVALID_ARGUMENT,
                      "topology file '%s' is not an hwloc XML topology (no <topology> element)",
                      path.c_str());
  if (strstr(head, "<topology version=\"3"))
    return MICS_ERROR(MICS_INVALID_ARGUMENT,
                      "topology file '%s' is hwloc XML version 3, which hwloc 2 cannot read; "
                      "export it with hwloc 2 (lstopo --of xml)",
                      path.c_str());
  return MICS_SUCCESS;
}

std::vector<hwloc_obj_t> add_gpus(hwloc_topology_t t, Machine* m) {
  std::vector<hwloc_obj_t> pci;
  for (hwloc_obj_t o = nullptr; (o = hwloc_get_next_pcidev(t, o));)
    if (is_nvidia_gpu(o)) pci.push_back(o);
  // Bus id order is CUDA's order under CUDA_DEVICE_ORDER=PCI_BUS_ID, and the
  // default order on machines whose GPUs are all alike.
  std::sort(pci.begin(), pci.end(),
            [](hwloc_obj_t a, hwloc_obj_t b) { return bus_id(a) < bus_id(b); });
  for (size_t i = 0; i < pci.size(); ++i)
    m->gpus.push_back({static_cast<int>(i), bus_id(pci[i]), numa_of(t, pci[i]), gpu_name(pci[i])});
  for (hwloc_obj_t a : pci)
    for (hwloc_obj_t b : pci) m->gpu_gpu.push_back(classify(a, b));
  return pci;
}

void add_nics(hwloc_topology_t t, const std::vector<hwloc_obj_t>& gpu_pci, Machine* m) {
  struct Found {
    Nic nic;
    hwloc_obj_t pci;
  };
  std::vector<Found> found;
  for (hwloc_obj_t o = nullptr; (o = hwloc_get_next_osdev(t, o));) {
    const long long type = raw_enum(o->attr->osdev.type);
    if (type != HWLOC_OBJ_OSDEV_OPENFABRICS && type != HWLOC_OBJ_OSDEV_NETWORK) continue;
    hwloc_obj_t pci = pci_ancestor(o);
    // Interfaces without a PCI device are virtual (lo, docker0, veth): no rail.
    if (type == HWLOC_OBJ_OSDEV_NETWORK && !pci) continue;
    Nic nic;
    nic.name = o->name ? o->name : "?";
    if (type == HWLOC_OBJ_OSDEV_NETWORK) {
      nic.kind = NicKind::kNetdev;
    } else {
      nic.kind =
          pci && pci->attr->pcidev.vendor_id == kAmazonVendor ? NicKind::kEfa : NicKind::kRdma;
    }
    nic.pci_bus_id = pci ? bus_id(pci) : "";
    nic.numa = numa_of(t, o);
    found.push_back({nic, pci});
  }
  // One port often shows twice, as a verbs device (mlx5_0) and as its netdev
  // (ib0, ens1): keep the verbs device, which is the one a fabric provider opens.
  auto has_verbs = [&](hwloc_obj_t pci) {
    return std::any_of(found.begin(), found.end(),
                       [&](const Found& f) { return f.pci == pci && f.nic.rdma(); });
  };
  found.erase(std::remove_if(found.begin(), found.end(),
                             [&](const Found& f) { return !f.nic.rdma() && has_verbs(f.pci); }),
              found.end());
  // PCI order (fixed-width hex sorts as text), devices without PCI last.
  std::sort(found.begin(), found.end(), [](const Found& a, const Found& b) {
    if (a.nic.pci_bus_id.empty() != b.nic.pci_bus_id.empty()) return b.nic.pci_bus_id.empty();
    if (a.nic.pci_bus_id != b.nic.pci_bus_id) return a.nic.pci_bus_id < b.nic.pci_bus_id;
    return a.nic.name < b.nic.name;
  });
  std::vector<hwloc_obj_t> nic_pci;
  for (const Found& f : found) m->nics.push_back(f.nic);
  for (const Found& f : found) nic_pci.push_back(f.pci);

  for (hwloc_obj_t g : gpu_pci)
    for (hwloc_obj_t n : nic_pci) m->gpu_nic.push_back(n ? classify(g, n) : PciPath{});
}

// The NVLinkBandwidth matrix that hwloc's nvml plugin writes (present in XML
// files made where that plugin exists). Returns false when there is none.
bool nvlink_from_hwloc(hwloc_topology_t t, const std::vector<hwloc_obj_t>& gpu_pci,
                       NvLinkInfo* out) {
  unsigned nr = 1;
  hwloc_distances_s* d = nullptr;
  if (hwloc_distances_get_by_name(t, "NVLinkBandwidth", &nr, &d, 0) != 0 || nr == 0) return false;
  auto gpu_of = [&](hwloc_obj_t o) {
    if (o->type == HWLOC_OBJ_OS_DEVICE) o = o->parent;
    auto it = std::find(gpu_pci.begin(), gpu_pci.end(), o);
    return it == gpu_pci.end() ? -1 : static_cast<int>(it - gpu_pci.begin());
  };
  std::vector<int> peers(gpu_pci.size(), 0), switch_links(gpu_pci.size(), 0);
  for (unsigned i = 0; i < d->nbobjs; ++i) {
    const int g = gpu_of(d->objs[i]);
    if (g < 0) continue;
    for (unsigned j = 0; j < d->nbobjs; ++j) {
      if (i == j || d->values[i * d->nbobjs + j] == 0) continue;
      if (gpu_of(d->objs[j]) >= 0)
        ++peers[g];
      else
        ++switch_links[g];
    }
  }
  hwloc_distances_release(t, d);
  *out = summarize_nvlink("hwloc", peers, switch_links);
  return true;
}

}  // namespace

Result discover_machine(const DiscoverOptions& options, Machine* out) {
  const std::string xml = options.xml_file.empty() ? env_str("MICS_TOPO_FILE") : options.xml_file;
  const std::string dump =
      options.dump_file.empty() ? env_str("MICS_TOPO_DUMP_FILE") : options.dump_file;
  if (!xml.empty()) MICS_CHECK(check_xml_file(xml));

  Topology topo;
  if (hwloc_topology_init(topo.ptr()) != 0)
    return MICS_ERROR(MICS_SYSTEM_ERROR, "hwloc_topology_init failed: %s", strerror(errno));
  hwloc_topology_t t = topo.get();
  if (!xml.empty() && hwloc_topology_set_xml(t, xml.c_str()) != 0)
    return MICS_ERROR(MICS_INVALID_ARGUMENT,
                      "hwloc cannot parse topology file '%s' (not a valid hwloc 2 XML topology)",
                      xml.c_str());
  // The default filter drops every I/O object, for XML input too: without this
  // there would be no PCI tree, hence no GPUs and no NICs.
  hwloc_topology_set_io_types_filter(t, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
  if (hwloc_topology_load(t) != 0) {
    if (!xml.empty())
      return MICS_ERROR(MICS_INVALID_ARGUMENT,
                        "hwloc cannot load topology file '%s' (not a valid hwloc 2 XML "
                        "topology): %s",
                        xml.c_str(), strerror(errno));
    return MICS_ERROR(MICS_SYSTEM_ERROR, "hwloc cannot discover this machine: %s", strerror(errno));
  }
  if (!dump.empty() && hwloc_topology_export_xml(t, dump.c_str(), 0) != 0)
    return MICS_ERROR(MICS_SYSTEM_ERROR,
                      "cannot write topology dump '%s' (MICS_TOPO_DUMP_FILE): %s", dump.c_str(),
                      strerror(errno));

  Machine m;
  m.origin = xml.empty() ? "this machine" : xml;
  for (hwloc_obj_t o = nullptr; (o = hwloc_get_next_obj_by_type(t, HWLOC_OBJ_NUMANODE, o));) {
    char* cpus = nullptr;
    hwloc_bitmap_list_asprintf(&cpus, o->cpuset);
    m.numa_nodes.push_back({static_cast<int>(o->os_index), cpus ? cpus : ""});
    free(cpus);
  }
  const std::vector<hwloc_obj_t> gpu_pci = add_gpus(t, &m);
  add_nics(t, gpu_pci, &m);
  // An XML file describes some other machine, so NVML (which sees this one)
  // is asked only about the running machine.
  if (!nvlink_from_hwloc(t, gpu_pci, &m.nvlink)) {
    if (xml.empty()) {
      m.nvlink = query_nvml_nvlink(m.gpus);
    } else {
      m.nvlink.note = m.gpus.empty() ? "no GPUs" : "the XML has no NVLinkBandwidth matrix";
    }
  }

  std::string nics;
  for (const Nic& n : m.nics) nics += " " + n.name;
  MICS_LOG_INFO(
      "topo: %s: %zu NUMA nodes, %d GPUs, %d NICs%s%s; NVLink: %s", m.origin.c_str(),
      m.numa_nodes.size(), m.ngpus(), m.nnics(), nics.empty() ? "" : " :", nics.c_str(),
      m.nvlink.source.empty() ? ("none (" + m.nvlink.note + ")").c_str() : m.nvlink.source.c_str());
  *out = std::move(m);
  return MICS_SUCCESS;
}

Result local_machine(const Machine** out) {
  static std::mutex mu;
  static std::unique_ptr<Machine> cached;
  std::lock_guard<std::mutex> lock(mu);
  if (!cached) {
    auto m = std::make_unique<Machine>();
    MICS_CHECK(discover_machine(DiscoverOptions{}, m.get()));
    cached = std::move(m);
  }
  *out = cached.get();
  return MICS_SUCCESS;
}

}  // namespace mics::topo
