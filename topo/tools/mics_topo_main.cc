// mics-topo: what mics sees of this node (or of an hwloc XML file) and the
// rails it would choose, in the spirit of `nvidia-smi topo -m`. It lives out of
// topo/ proper because the library globs topo/*.cc and must not get a main().
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "src/base/env.h"
#include "topo/hwloc_discovery.h"
#include "topo/machine.h"
#include "topo/rails.h"

namespace {

using mics::topo::Machine;

void usage(FILE* out) {
  fprintf(out,
          "usage: mics-topo [--xml FILE] [--ranks K] [--dump FILE]\n"
          "  --xml FILE    read this hwloc v2 XML instead of the running machine (MICS_TOPO_FILE)\n"
          "  --ranks K     plan rails for K local ranks (default: one per GPU, at least 1)\n"
          "  --dump FILE   write the loaded topology as hwloc XML (MICS_TOPO_DUMP_FILE)\n");
}

struct Args {
  std::string xml, dump;
  int ranks = 0;  // 0 = one per GPU
};

// Accepts "--flag value" and "--flag=value". Returns false on anything else.
bool parse_args(int argc, char** argv, Args* args, bool* help) {
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i], value;
    if (flag == "-h" || flag == "--help") {
      *help = true;
      return true;
    }
    const size_t eq = flag.find('=');
    if (eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag.resize(eq);
    }
    if (flag != "--xml" && flag != "--dump" && flag != "--ranks") {
      fprintf(stderr, "mics-topo: unknown flag '%s'\n", argv[i]);
      return false;
    }
    if (eq == std::string::npos) {
      if (i + 1 == argc) {
        fprintf(stderr, "mics-topo: %s needs a value\n", flag.c_str());
        return false;
      }
      value = argv[++i];
    }
    int64_t k = 0;
    if (flag == "--xml" && !value.empty()) {
      args->xml = value;
    } else if (flag == "--dump" && !value.empty()) {
      args->dump = value;
    } else if (flag == "--ranks" && mics::parse_int(value.c_str(), 1, 65536, &k)) {
      args->ranks = static_cast<int>(k);
    } else {
      fprintf(stderr, "mics-topo: bad value '%s' for %s\n", value.c_str(), flag.c_str());
      return false;
    }
  }
  return true;
}

void print_devices(const Machine& m) {
  printf("mics-topo: %s\n\n", m.origin.c_str());
  printf("NUMA nodes: %zu\n", m.numa_nodes.size());
  for (const auto& n : m.numa_nodes) printf("  numa %d  cpus %s\n", n.os_index, n.cpus.c_str());
  printf("GPUs: %d\n", m.ngpus());
  for (const auto& g : m.gpus)
    printf("  gpu %d  %s  numa %d  %s\n", g.index, g.pci_bus_id.c_str(), g.numa, g.name.c_str());
  printf("NICs: %d\n", m.nnics());
  for (const auto& n : m.nics)
    printf("  nic %-2d %-12s %-6s %-12s numa %d\n", static_cast<int>(&n - m.nics.data()),
           n.name.c_str(), mics::topo::nic_kind_name(n.kind),
           n.pci_bus_id.empty() ? "(no PCI)" : n.pci_bus_id.c_str(), n.numa);
  if (m.nvlink.source.empty()) {
    printf("NVLink: no NVLink info (%s)\n", m.nvlink.note.c_str());
  } else {
    std::string peers;
    for (int p : m.nvlink.peers) peers += " " + std::to_string(p);
    printf("NVLink (from %s): %s; NVLink peers per GPU:%s\n", m.nvlink.source.c_str(),
           m.nvlink.nvswitch ? "all GPUs on NVSwitch" : "no NVSwitch", peers.c_str());
  }
}

// GPU rows, GPU and NIC columns, like `nvidia-smi topo -m`.
void print_matrix(const Machine& m) {
  if (m.gpus.empty()) {
    printf("\nNo GPUs: no GPU x NIC matrix.\n");
    return;
  }
  std::vector<std::string> head;
  for (const auto& g : m.gpus) head.push_back("GPU" + std::to_string(g.index));
  for (const auto& n : m.nics) head.push_back(n.name);
  std::vector<std::vector<std::string>> cells(m.gpus.size());
  for (int g = 0; g < m.ngpus(); ++g) {
    for (int o = 0; o < m.ngpus(); ++o) {
      if (g == o)
        cells[g].push_back("X");
      else if (m.nvlink.nvswitch)
        cells[g].push_back("NV");
      else
        cells[g].push_back(mics::topo::path_string(m.gpu_gpu_path(g, o)));
    }
    for (int n = 0; n < m.nnics(); ++n)
      cells[g].push_back(mics::topo::path_string(m.gpu_nic_path(g, n)));
  }
  std::vector<int> width;
  for (size_t c = 0; c < head.size(); ++c) {
    size_t w = head[c].size();
    for (const auto& row : cells) w = std::max(w, row[c].size());
    width.push_back(static_cast<int>(w) + 2);
  }
  printf("\n%-7s", "");
  for (size_t c = 0; c < head.size(); ++c) printf("%-*s", width[c], head[c].c_str());
  printf("NUMA\n");
  for (int g = 0; g < m.ngpus(); ++g) {
    printf("%-7s", head[g].c_str());
    for (size_t c = 0; c < head.size(); ++c) printf("%-*s", width[c], cells[g][c].c_str());
    printf("%d\n", m.gpus[g].numa);
  }
  printf(
      "\nLegend (class/hops in the PCI tree):\n"
      "  X   = self\n"
      "  NV  = NVLink (through NVSwitch)\n"
      "  PIX = at most one PCIe bridge (same PCIe switch)\n"
      "  PXB = several PCIe bridges, not the host bridge\n"
      "  PHB = a PCIe host bridge / the CPU, same NUMA node\n"
      "  SYS = across NUMA nodes (SMP interconnect)\n");
}

void print_plan(const Machine& m, const mics::topo::RailPlan& plan) {
  printf("\nIntra-node ring (local ranks: %zu; %s):", plan.ranks.size(), plan.ring_reason.c_str());
  for (int r : plan.ring) printf(" %d", r);
  printf("\nRails (local rank -> GPU -> NIC):\n");
  for (const auto& r : plan.ranks) {
    std::string gpu = r.gpu < 0
                          ? "no GPU"
                          : "GPU" + std::to_string(r.gpu) + " (" + m.gpus[r.gpu].pci_bus_id + ")";
    if (r.nic < 0) {
      printf("  rank %d -> %s -> default route (no NIC)\n", r.local_rank, gpu.c_str());
    } else {
      printf("  rank %d -> %s -> %s (%s, %s)\n", r.local_rank, gpu.c_str(), r.nic_name.c_str(),
             mics::topo::nic_kind_name(m.nics[r.nic].kind),
             r.gpu < 0 ? "round-robin" : mics::topo::path_string(r.path).c_str());
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  bool help = false;
  if (!parse_args(argc, argv, &args, &help)) {
    usage(stderr);
    return 2;
  }
  if (help) {
    usage(stdout);
    return 0;
  }
  Machine machine;
  if (mics::topo::discover_machine({args.xml, args.dump}, &machine) != MICS_SUCCESS) {
    fprintf(stderr, "mics-topo: error: %s\n", mics::thread_error().c_str());
    return 1;
  }
  const int ranks = args.ranks > 0 ? args.ranks : std::max(1, machine.ngpus());
  mics::topo::RailPlan plan;
  if (mics::topo::plan_rails(machine, ranks, &plan) != MICS_SUCCESS) {
    fprintf(stderr, "mics-topo: error: %s\n", mics::thread_error().c_str());
    return 1;
  }
  print_devices(machine);
  print_matrix(machine);
  print_plan(machine, plan);
  if (!args.dump.empty()) printf("\nTopology written to %s\n", args.dump.c_str());
  return 0;
}
