// NVLink connectivity of the GPUs of a node. hwloc on Debian has no nvml
// plugin, so, like NCCL, we ask NVML ourselves; libnvidia-ml is dlopen()ed and
// never linked, because it only exists on machines with the NVIDIA driver.
#pragma once

#include <vector>

#include "topo/machine.h"

namespace mics::topo {

// Counts, per GPU, the NVLink-connected GPU peers and the links that end
// elsewhere (an NVSwitch, as NCCL assumes for a remote that is not one of the
// GPUs), and turns them into NvLinkInfo. Shared by the NVML query and the hwloc
// NVLinkBandwidth matrix of an XML file.
NvLinkInfo summarize_nvlink(const char* source, const std::vector<int>& gpu_peers,
                            const std::vector<int>& switch_links);

// Queries NVML for gpus (matched by PCI bus id). Never fails: without the
// library, without GPUs, or when NVML refuses, it returns source == "" and a note.
NvLinkInfo query_nvml_nvlink(const std::vector<Gpu>& gpus);

}  // namespace mics::topo
