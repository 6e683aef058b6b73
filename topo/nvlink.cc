#include "topo/nvlink.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <type_traits>

#include "src/base/log.h"

namespace mics::topo {
namespace {

// The few NVML declarations we need, written out so that building needs no
// NVIDIA headers. nvmlPciInfo_t has had domain, bus and device at the same
// offsets in every layout (after a 16-byte bus id string); we read only those,
// and give NVML a roomy buffer in case the struct grows.
using NvmlReturn = int;
using NvmlDevice = struct NvmlDeviceOpaque*;
struct NvmlPciInfo {
  char bus_id_legacy[16];
  unsigned domain, bus, device, pci_device_id, pci_subsystem_id;
  char bus_id[32];
  char spare[64];
};
constexpr NvmlReturn kNvmlSuccess = 0;
constexpr int kNvmlFeatureEnabled = 1;
// NVML_NVLINK_MAX_LINKS in CUDA 12 (Hopper: 18). Links past the GPU's own count
// return an error, which we treat as "not active".
constexpr unsigned kMaxLinks = 18;

struct Nvml {
  NvmlReturn (*init)();
  NvmlReturn (*shutdown)();
  NvmlReturn (*handle_by_bus_id)(const char*, NvmlDevice*);
  NvmlReturn (*link_state)(NvmlDevice, unsigned, int*);
  NvmlReturn (*remote_pci)(NvmlDevice, unsigned, NvmlPciInfo*);
};

// Loads the library once per process and never unloads it: NVML may leave
// threads behind, and unloading code they run would crash. Returns "" or why not.
std::string load_nvml(Nvml* nvml) {
  static void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) return "libnvidia-ml.so.1 not found";
  const char* missing = nullptr;
  auto bind = [&](const char* name, auto* fn) {
    *fn = reinterpret_cast<std::remove_pointer_t<decltype(fn)>>(dlsym(lib, name));
    if (!*fn && !missing) missing = name;
  };
  bind("nvmlInit_v2", &nvml->init);
  bind("nvmlShutdown", &nvml->shutdown);
  bind("nvmlDeviceGetHandleByPciBusId_v2", &nvml->handle_by_bus_id);
  bind("nvmlDeviceGetNvLinkState", &nvml->link_state);
  bind("nvmlDeviceGetNvLinkRemotePciInfo_v2", &nvml->remote_pci);
  if (missing) return std::string("libnvidia-ml.so.1 lacks ") + missing;
  return "";
}

// Index of the GPU at (domain, bus, device), or -1. GPUs are function 0.
int gpu_at(const std::vector<Gpu>& gpus, unsigned domain, unsigned bus, unsigned device) {
  char id[32];
  snprintf(id, sizeof(id), "%04x:%02x:%02x.0", domain, bus, device);
  for (const Gpu& g : gpus)
    if (g.pci_bus_id == id) return g.index;
  return -1;
}

}  // namespace

NvLinkInfo summarize_nvlink(const char* source, const std::vector<int>& gpu_peers,
                            const std::vector<int>& switch_links) {
  NvLinkInfo info;
  info.source = source;
  const int n = static_cast<int>(gpu_peers.size());
  const int on_switch = static_cast<int>(
      std::count_if(switch_links.begin(), switch_links.end(), [](int l) { return l > 0; }));
  info.nvswitch = n > 0 && on_switch == n;
  info.peers.resize(n);
  for (int g = 0; g < n; ++g) {
    // GPUs on the NVSwitch fabric reach every other GPU on it, besides their direct peers.
    int via_switch = switch_links[g] > 0 ? on_switch - 1 : 0;
    info.peers[g] = std::min(n - 1, gpu_peers[g] + via_switch);
  }
  return info;
}

NvLinkInfo query_nvml_nvlink(const std::vector<Gpu>& gpus) {
  NvLinkInfo none;
  if (gpus.empty()) {
    none.note = "no GPUs";
    return none;
  }
  Nvml nvml{};
  none.note = load_nvml(&nvml);
  if (!none.note.empty()) return none;
  NvmlReturn r = nvml.init();
  if (r != kNvmlSuccess) {
    none.note = "nvmlInit failed (NVML error " + std::to_string(r) + ")";
    return none;
  }
  std::vector<int> peers(gpus.size(), 0), switch_links(gpus.size(), 0);
  for (const Gpu& g : gpus) {
    NvmlDevice dev = nullptr;
    if (nvml.handle_by_bus_id(g.pci_bus_id.c_str(), &dev) != kNvmlSuccess) {
      MICS_LOG_INFO("topo: NVML does not know GPU %s; counting no NVLinks for it",
                    g.pci_bus_id.c_str());
      continue;
    }
    std::vector<bool> seen(gpus.size(), false);
    for (unsigned link = 0; link < kMaxLinks; ++link) {
      int active = 0;
      if (nvml.link_state(dev, link, &active) != kNvmlSuccess || active != kNvmlFeatureEnabled)
        continue;
      NvmlPciInfo pci{};
      if (nvml.remote_pci(dev, link, &pci) != kNvmlSuccess) continue;
      int peer = gpu_at(gpus, pci.domain, pci.bus, pci.device);
      if (peer < 0) {
        ++switch_links[g.index];  // not one of our GPUs: an NVSwitch, as NCCL assumes
      } else if (!seen[peer]) {
        seen[peer] = true;
        ++peers[g.index];
      }
    }
  }
  nvml.shutdown();
  return summarize_nvlink("nvml", peers, switch_links);
}

}  // namespace mics::topo
