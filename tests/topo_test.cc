// The topology layer against the p4d-like hwloc fixture (2 sockets x 2 PCIe
// switches, each switch 2 A100s + 1 EFA, NVSwitch), the live machine (which may
// have no GPU and no NIC at all), text models, and the mics-topo tool.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "src/base/error.h"
#include "topo/hwloc_discovery.h"
#include "topo/machine.h"
#include "topo/nvlink.h"
#include "topo/rails.h"

namespace mics::topo {
namespace {

const char* const kNics[] = {"rdmap16s27", "rdmap32s27", "rdmap144s27", "rdmap160s27"};

std::string temp_path(const std::string& name) {
  return testing::TempDir() + "mics_topo_" + std::to_string(getpid()) + "_" + name;
}

void write_file(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

Machine load_fixture() {
  Machine m;
  EXPECT_EQ(discover_machine({MICS_TOPO_FIXTURE, ""}, &m), MICS_SUCCESS) << thread_error();
  return m;
}

// Keeps MICS_TOPO_FILE / MICS_TOPO_DUMP_FILE from leaking between tests.
class TopoTest : public testing::Test {
 protected:
  void SetUp() override {
    unsetenv("MICS_TOPO_FILE");
    unsetenv("MICS_TOPO_DUMP_FILE");
    clear_thread_error();
  }
  void TearDown() override { SetUp(); }
};

TEST_F(TopoTest, FixtureHasEightGpusFourEfaTwoNuma) {
  Machine m = load_fixture();
  ASSERT_EQ(m.ngpus(), 8);
  ASSERT_EQ(m.nnics(), 4);
  ASSERT_EQ(m.numa_nodes.size(), 2u);
  EXPECT_EQ(m.numa_nodes[0].cpus, "0-7");
  EXPECT_EQ(m.numa_nodes[1].cpus, "8-15");
  for (int n = 0; n < 4; ++n) {
    EXPECT_EQ(m.nics[n].name, kNics[n]);
    EXPECT_EQ(m.nics[n].kind, NicKind::kEfa);
    EXPECT_EQ(m.nics[n].numa, n / 2);
  }
  EXPECT_EQ(m.nics[0].pci_bus_id, "0000:10:1b.0");
  EXPECT_EQ(m.gpus[0].pci_bus_id, "0000:10:1c.0");
  EXPECT_EQ(m.gpus[7].pci_bus_id, "0000:a0:1d.0");
  for (const Gpu& g : m.gpus) {
    EXPECT_EQ(g.numa, g.index / 4);
    EXPECT_EQ(g.name, "NVIDIA A100-SXM4-40GB");
  }
  // The fixture carries hwloc's NVLinkBandwidth matrix: every GPU on NVSwitch.
  EXPECT_EQ(m.nvlink.source, "hwloc");
  EXPECT_TRUE(m.nvlink.nvswitch);
  EXPECT_EQ(m.nvlink.peers, std::vector<int>(8, 7));
}

TEST_F(TopoTest, NearestNicIsOnTheGpusOwnSwitch) {
  Machine m = load_fixture();
  ASSERT_EQ(m.ngpus(), 8);
  int per_nic[4] = {};
  for (int g = 0; g < 8; ++g) {
    int best = 0;
    for (int n = 1; n < 4; ++n)
      if (nearer(m.gpu_nic_path(g, n), m.gpu_nic_path(g, best))) best = n;
    EXPECT_EQ(best, g / 2) << "GPU " << g;
    EXPECT_EQ(m.gpu_nic_path(g, best), (PciPath{PathType::kPix, 2})) << "GPU " << g;
    ++per_nic[best];
    // The other switch of the socket is behind the CPU; the other socket is SYS.
    const int same_socket_other = (g / 4) * 2 + (1 - (g / 2) % 2);
    EXPECT_EQ(m.gpu_nic_path(g, same_socket_other), (PciPath{PathType::kPhb, 6}));
    EXPECT_EQ(m.gpu_nic_path(g, (2 + g / 2) % 4).type, PathType::kSys);
  }
  for (int n = 0; n < 4; ++n) EXPECT_EQ(per_nic[n], 2) << kNics[n];
  EXPECT_EQ(m.gpu_gpu_path(0, 1), (PciPath{PathType::kPix, 2}));
  EXPECT_EQ(m.gpu_gpu_path(0, 0), (PciPath{PathType::kPix, 0}));
  EXPECT_EQ(m.gpu_gpu_path(0, 7), (PciPath{PathType::kSys, 8}));
}

TEST_F(TopoTest, RailsForEightLocalRanks) {
  Machine m = load_fixture();
  RailPlan plan;
  ASSERT_EQ(plan_rails(m, 8, &plan), MICS_SUCCESS) << thread_error();
  ASSERT_EQ(plan.ranks.size(), 8u);
  for (int l = 0; l < 8; ++l) {
    EXPECT_EQ(plan.ranks[l].gpu, l);
    EXPECT_EQ(plan.ranks[l].nic, l / 2);
    EXPECT_EQ(plan.ranks[l].nic_name, kNics[l / 2]);
    EXPECT_EQ(plan.ranks[l].path, (PciPath{PathType::kPix, 2}));
  }
  EXPECT_EQ(plan.ring, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_NE(plan.ring_reason.find("NVSwitch"), std::string::npos);
}

TEST_F(TopoTest, RailsForFourAndTwoLocalRanks) {
  Machine m = load_fixture();
  RailPlan four, two;
  ASSERT_EQ(plan_rails(m, 4, &four), MICS_SUCCESS) << thread_error();
  ASSERT_EQ(plan_rails(m, 2, &two), MICS_SUCCESS) << thread_error();
  const char* want4[] = {"rdmap16s27", "rdmap16s27", "rdmap32s27", "rdmap32s27"};
  for (int l = 0; l < 4; ++l) {
    EXPECT_EQ(four.ranks[l].gpu, l);
    EXPECT_EQ(four.ranks[l].nic_name, want4[l]);
  }
  EXPECT_EQ(four.ring, (std::vector<int>{0, 1, 2, 3}));
  for (int l = 0; l < 2; ++l) EXPECT_EQ(two.ranks[l].nic_name, "rdmap16s27");
  EXPECT_EQ(two.ring, (std::vector<int>{0, 1}));
}

TEST_F(TopoTest, MoreRanksThanGpusShareGpusAndSpreadOverTiedNics) {
  Machine m = load_fixture();
  RailPlan plan;
  ASSERT_EQ(plan_rails(m, 16, &plan), MICS_SUCCESS) << thread_error();
  EXPECT_EQ(plan.ranks[9].gpu, 1);
  EXPECT_EQ(plan.ranks[9].nic_name, "rdmap16s27");
  // Ranks sharing a GPU are ring neighbours.
  EXPECT_EQ(plan.ring[0], 0);
  EXPECT_EQ(plan.ring[1], 8);
}

// 4 GPUs whose bus order interleaves two switches: 0 and 2 on one, 1 and 3 on
// the other. Without NVSwitch the ring must keep switch neighbours together.
const char kInterleaved[] =
    "mics-machine 1\n"
    "numa 0 0-3\n"
    "gpu 0 0000:10:00.0 0 GPU A\n"
    "gpu 1 0000:20:00.0 0 GPU B\n"
    "gpu 2 0000:11:00.0 0 GPU C\n"
    "gpu 3 0000:21:00.0 0 GPU D\n"
    "nic mlx5_0 rdma 0000:12:00.0 0\n"
    "nic mlx5_1 rdma 0000:22:00.0 0\n"
    "nic eth0 netdev 0000:30:00.0 0\n"
    "gpu_nic 0 PXB/4 PHB/6 PHB/5\n"
    "gpu_nic 1 PHB/6 PXB/4 PHB/5\n"
    "gpu_nic 2 PXB/4 PHB/6 PHB/5\n"
    "gpu_nic 3 PHB/6 PXB/4 PHB/5\n"
    "gpu_gpu 0 PIX/0 PHB/6 PXB/4 PHB/6\n"
    "gpu_gpu 1 PHB/6 PIX/0 PHB/6 PXB/4\n"
    "gpu_gpu 2 PXB/4 PHB/6 PIX/0 PHB/6\n"
    "gpu_gpu 3 PHB/6 PXB/4 PHB/6 PIX/0\n"
    "nvlink - 0 - no NVLink info (libnvidia-ml.so.1 not found)\n";

TEST_F(TopoTest, PcieRingKeepsSwitchNeighboursTogether) {
  Machine m;
  ASSERT_EQ(machine_from_text(kInterleaved, &m), MICS_SUCCESS) << thread_error();
  RailPlan plan;
  ASSERT_EQ(plan_rails(m, 4, &plan), MICS_SUCCESS) << thread_error();
  EXPECT_EQ(plan.ring, (std::vector<int>{0, 2, 1, 3}));
  const char* want[] = {"mlx5_0", "mlx5_1", "mlx5_0", "mlx5_1"};
  for (int l = 0; l < 4; ++l) EXPECT_EQ(plan.ranks[l].nic_name, want[l]);
  // The netdev beside RDMA devices is not a rail.
  EXPECT_EQ(rail_nics(m), (std::vector<int>{0, 1}));
}

TEST_F(TopoTest, WithoutGpusRanksGoRoundRobinOrToTheDefaultRoute) {
  Machine m;
  ASSERT_EQ(machine_from_text("mics-machine 1\nnuma 0 0-1\n"
                              "nic eth0 netdev 0000:00:03.0 0\nnic eth1 netdev 0000:00:04.0 0\n"
                              "nvlink - 0 - no GPUs\n",
                              &m),
            MICS_SUCCESS)
      << thread_error();
  RailPlan plan;
  ASSERT_EQ(plan_rails(m, 3, &plan), MICS_SUCCESS) << thread_error();
  EXPECT_EQ(plan.ranks[0].nic_name, "eth0");
  EXPECT_EQ(plan.ranks[1].nic_name, "eth1");
  EXPECT_EQ(plan.ranks[2].nic_name, "eth0");
  EXPECT_EQ(plan.ranks[2].gpu, -1);
  EXPECT_EQ(plan.ring, (std::vector<int>{0, 1, 2}));

  Machine bare;
  ASSERT_EQ(plan_rails(bare, 2, &plan), MICS_SUCCESS) << thread_error();
  EXPECT_EQ(plan.ranks[1].nic, -1);
  EXPECT_EQ(plan.ranks[1].nic_name, "");
  EXPECT_EQ(plan_rails(bare, 0, &plan), MICS_INVALID_ARGUMENT);
}

TEST_F(TopoTest, TextRoundTrip) {
  Machine m = load_fixture();
  Machine back;
  ASSERT_EQ(machine_from_text(machine_to_text(m), &back), MICS_SUCCESS) << thread_error();
  EXPECT_EQ(back, m) << machine_to_text(back);
  ASSERT_EQ(machine_from_text(kInterleaved, &back), MICS_SUCCESS);
  EXPECT_EQ(machine_to_text(back), kInterleaved);

  EXPECT_EQ(machine_from_text("mics-machine 2\n", &back), MICS_INVALID_ARGUMENT);
  EXPECT_EQ(machine_from_text("mics-machine 1\ngpu 0 0000:10:00.0 0 A\n", &back),
            MICS_INVALID_ARGUMENT);  // no matrix rows
  EXPECT_EQ(machine_from_text("mics-machine 1\nnic x wifi - 0\n", &back), MICS_INVALID_ARGUMENT);
  EXPECT_NE(thread_error().find("line 2"), std::string::npos) << thread_error();
}

TEST_F(TopoTest, DumpAndReloadGiveTheSameModel) {
  const std::string dump = temp_path("dump.xml");
  Machine first, again;
  ASSERT_EQ(discover_machine({MICS_TOPO_FIXTURE, dump}, &first), MICS_SUCCESS) << thread_error();
  ASSERT_EQ(discover_machine({dump, ""}, &again), MICS_SUCCESS) << thread_error();
  EXPECT_EQ(again, first) << machine_to_text(again);
  EXPECT_EQ(again.ngpus(), 8);

  // The same through the environment.
  const std::string dump2 = temp_path("dump2.xml");
  setenv("MICS_TOPO_FILE", dump.c_str(), 1);
  setenv("MICS_TOPO_DUMP_FILE", dump2.c_str(), 1);
  ASSERT_EQ(discover_machine({}, &again), MICS_SUCCESS) << thread_error();
  EXPECT_EQ(again, first);
  EXPECT_EQ(again.origin, dump);
  EXPECT_TRUE(std::ifstream(dump2).good());
  unlink(dump.c_str());
  unlink(dump2.c_str());
}

TEST_F(TopoTest, LiveMachineLoads) {
  Machine m;
  ASSERT_EQ(discover_machine({}, &m), MICS_SUCCESS) << thread_error();
  EXPECT_EQ(m.origin, "this machine");
  EXPECT_GE(m.numa_nodes.size(), 1u);
  EXPECT_EQ(m.gpu_nic.size(), m.gpus.size() * m.nics.size());
  EXPECT_TRUE(!m.nvlink.source.empty() || !m.nvlink.note.empty());
  RailPlan plan;
  ASSERT_EQ(plan_rails(m, 2, &plan), MICS_SUCCESS) << thread_error();
  const Machine* cached = nullptr;
  const Machine* cached_again = nullptr;
  ASSERT_EQ(local_machine(&cached), MICS_SUCCESS) << thread_error();
  ASSERT_EQ(local_machine(&cached_again), MICS_SUCCESS);
  EXPECT_EQ(cached, cached_again);
  EXPECT_EQ(*cached, m);

  // A dump of this machine reloads to the same devices and paths. NVLink may
  // differ: NVML is asked only about the live machine, never about a file.
  const std::string dump = temp_path("live.xml");
  Machine reloaded;
  ASSERT_EQ(discover_machine({"", dump}, &m), MICS_SUCCESS) << thread_error();
  ASSERT_EQ(discover_machine({dump, ""}, &reloaded), MICS_SUCCESS) << thread_error();
  reloaded.nvlink = m.nvlink;
  EXPECT_EQ(reloaded, m) << machine_to_text(reloaded) << "\nvs live\n" << machine_to_text(m);
  unlink(dump.c_str());
}

TEST_F(TopoTest, NvlinkSummaryAndMissingNvml) {
  NvLinkInfo all = summarize_nvlink("nvml", {0, 0, 0, 0}, {12, 12, 12, 12});
  EXPECT_TRUE(all.nvswitch);
  EXPECT_EQ(all.peers, (std::vector<int>{3, 3, 3, 3}));
  NvLinkInfo pairs = summarize_nvlink("nvml", {1, 1, 1, 1}, {0, 0, 0, 0});
  EXPECT_FALSE(pairs.nvswitch);
  EXPECT_EQ(pairs.peers, (std::vector<int>{1, 1, 1, 1}));
  EXPECT_EQ(query_nvml_nvlink({}).note, "no GPUs");
  // The fixture's bus ids are not this machine's: whatever NVML says, no error.
  NvLinkInfo live = query_nvml_nvlink(load_fixture().gpus);
  EXPECT_TRUE(!live.source.empty() || !live.note.empty());
}

TEST_F(TopoTest, MissingOrGarbageXmlNamesTheFile) {
  Machine m;
  const std::string missing = temp_path("does-not-exist.xml");
  EXPECT_EQ(discover_machine({missing, ""}, &m), MICS_SYSTEM_ERROR);
  EXPECT_NE(thread_error().find(missing), std::string::npos) << thread_error();

  const std::string garbage = temp_path("garbage.xml");
  write_file(garbage, "this is not XML at all\n");
  EXPECT_EQ(discover_machine({garbage, ""}, &m), MICS_INVALID_ARGUMENT);
  EXPECT_NE(thread_error().find(garbage), std::string::npos) << thread_error();

  // Looks like hwloc XML at first glance, but hwloc cannot parse it.
  write_file(garbage, "<?xml version=\"1.0\"?>\n<topology version=\"2.0\">\n<object type=\"Mach");
  EXPECT_EQ(discover_machine({garbage, ""}, &m), MICS_INVALID_ARGUMENT);
  EXPECT_NE(thread_error().find(garbage), std::string::npos) << thread_error();

  write_file(garbage, "<?xml version=\"1.0\"?>\n<topology version=\"3.0\">\n</topology>\n");
  EXPECT_EQ(discover_machine({garbage, ""}, &m), MICS_INVALID_ARGUMENT);
  EXPECT_NE(thread_error().find("version 3"), std::string::npos) << thread_error();
  unlink(garbage.c_str());

  setenv("MICS_TOPO_FILE", missing.c_str(), 1);
  EXPECT_EQ(discover_machine({}, &m), MICS_SYSTEM_ERROR);
  EXPECT_NE(thread_error().find(missing), std::string::npos) << thread_error();
}

#ifdef MICS_TOPO_BIN
// Runs mics-topo with args; returns its exit status and stdout + stderr.
int run_tool(const std::string& args, std::string* output) {
  FILE* p = popen((std::string(MICS_TOPO_BIN) + " " + args + " 2>&1").c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof(buf), p)) > 0;) output->append(buf, n);
  const int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST_F(TopoTest, ToolPrintsMatrixAndRails) {
  std::string out;
  ASSERT_EQ(run_tool(std::string("--xml ") + MICS_TOPO_FIXTURE + " --ranks 8", &out), 0) << out;
  for (const char* want :
       {"GPUs: 8", "NICs: 4", "NUMA nodes: 2", "rdmap160s27", "all GPUs on NVSwitch",
        "Intra-node ring (local ranks: 8; NVSwitch: identity): 0 1 2 3 4 5 6 7",
        "rank 0 -> GPU0 (0000:10:1c.0) -> rdmap16s27 (efa, PIX/2)",
        "rank 7 -> GPU7 (0000:a0:1d.0) -> rdmap160s27 (efa, PIX/2)"})
    EXPECT_NE(out.find(want), std::string::npos) << "missing '" << want << "' in:\n" << out;
  // The matrix row of GPU0: self, NVLink to the 7 others, then the 4 NICs, then its NUMA node.
  const size_t row = out.find("\nGPU0 ");
  ASSERT_NE(row, std::string::npos) << out;
  std::istringstream cells(out.substr(row + 1, out.find('\n', row + 1) - row - 1));
  std::vector<std::string> got;
  for (std::string c; cells >> c;) got.push_back(c);
  EXPECT_EQ(got, (std::vector<std::string>{"GPU0", "X", "NV", "NV", "NV", "NV", "NV", "NV", "NV",
                                           "PIX/2", "PHB/6", "SYS/8", "SYS/8", "0"}));
}

TEST_F(TopoTest, ToolRejectsBadFlagsAndUnreadableXml) {
  std::string out;
  EXPECT_EQ(run_tool("--frobnicate", &out), 2) << out;
  EXPECT_NE(out.find("usage: mics-topo"), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(run_tool("--ranks 0", &out), 2) << out;
  out.clear();
  const std::string missing = temp_path("nope.xml");
  EXPECT_EQ(run_tool("--xml " + missing, &out), 1) << out;
  EXPECT_NE(out.find("error"), std::string::npos) << out;
  EXPECT_NE(out.find(missing), std::string::npos) << out;
  out.clear();
  EXPECT_EQ(run_tool("", &out), 0) << out;  // the live machine
  EXPECT_NE(out.find("Rails"), std::string::npos) << out;
}
#endif

}  // namespace
}  // namespace mics::topo
