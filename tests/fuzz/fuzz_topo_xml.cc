// Fuzzes topology loading from an hwloc XML file (MICS_TOPO_FILE,
// topo/hwloc_discovery.cc) and what init does with the result: the rail plan
// for 1..8 local ranks and the text form of the machine. Inputs are capped at
// 64 KiB (hwloc's own parsing dominates the time); each is written to one
// temporary file, rewritten per input.
//
// hwloc's XML import is not instrumented: coverage guides the fuzzer through
// our code over whatever hwloc builds. Seeds are real topologies
// (tests/data/p4d-like.hwloc.xml and smaller ones).
//
// hwloc 2.9.0 itself crashes on some malformed files (docs/RELIABILITY.md,
// "Fuzzing and sanitizers"), and leaks objects when a load fails. So each
// input is first loaded by hwloc alone in a forked child; inputs that crash it
// there are counted and skipped (they are hwloc's bugs, reported upstream, not
// ours), and leaks of memory that hwloc allocated are suppressed. Everything
// else, including mics's handling of every load hwloc survives or refuses,
// runs in the fuzzer's process under ASan/UBSan/LSan.
#include <hwloc.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "topo/hwloc_discovery.h"
#include "topo/machine.h"
#include "topo/rails.h"

using namespace mics;
using namespace mics::topo;

#define FUZZ_CHECK(cond)  \
  do {                    \
    if (!(cond)) abort(); \
  } while (0)

namespace {

std::string g_path;
hwloc_topology_t g_keep = nullptr;
long g_hwloc_crashes = 0, g_hwloc_hogs = 0;

long rss_kb() {
  FILE* f = fopen("/proc/self/statm", "r");
  long pages = 0, rss = 0;
  if (f) {
    if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
    fclose(f);
  }
  return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

// Loads g_path with hwloc alone in a child process: false when hwloc crashes
// there, or needs more than 256 MB for it (an os_index of 2^32 - 1 makes it
// allocate a 512 MB bitmap), which would sink the fuzzer's memory limit.
bool hwloc_survives() {
  pid_t pid = fork();
  if (pid < 0) abort();
  if (pid == 0) {
    for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL}) signal(sig, SIG_DFL);
    if (!freopen("/dev/null", "w", stderr)) _exit(3);
    hwloc_topology_t t;
    if (hwloc_topology_init(&t) != 0) _exit(3);
    if (hwloc_topology_set_xml(t, g_path.c_str()) != 0) _exit(1);
    hwloc_topology_set_io_types_filter(t, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    const long before = rss_kb();
    const int rc = hwloc_topology_load(t);
    if (rss_kb() - before > (256 << 10)) _exit(4);
    _exit(rc == 0 ? 0 : 1);
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) abort();
  if (WIFSIGNALED(status)) ++g_hwloc_crashes;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 4) ++g_hwloc_hogs;
  return !WIFSIGNALED(status) && !(WIFEXITED(status) && WEXITSTATUS(status) == 4);
}

}  // namespace

// Memory that hwloc allocates and loses on failed loads is hwloc's leak.
extern "C" const char* __lsan_default_suppressions() { return "leak:libhwloc.so\n"; }

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  unsetenv("MICS_TOPO_FILE");
  unsetenv("MICS_TOPO_DUMP_FILE");
  const char* dir = getenv("TMPDIR");
  std::string tmpl = std::string(dir && *dir ? dir : "/tmp") + "/mics-fuzz-topo-XXXXXX";
  int fd = mkstemp(tmpl.data());
  if (fd < 0) abort();
  close(fd);
  g_path = tmpl;
  atexit([] {
    unlink(g_path.c_str());
    fprintf(stderr,
            "fuzz_topo_xml: skipped %ld inputs that crashed hwloc itself and %ld that made it "
            "allocate > 256 MB\n",
            g_hwloc_crashes, g_hwloc_hogs);
  });
  // hwloc loads its plugins with the first topology and unloads them with
  // the last: keep one alive so that every input does not dlopen them again.
  hwloc_topology_init(&g_keep);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > (64 << 10)) return 0;
  FILE* f = fopen(g_path.c_str(), "wb");
  if (!f) abort();
  if (size && fwrite(data, 1, size, f) != size) abort();
  fclose(f);
  if (!hwloc_survives()) return -1;  // keep it out of the corpus

  DiscoverOptions options;
  options.xml_file = g_path;
  Machine m;
  Result r = discover_machine(options, &m);
  if (r != MICS_SUCCESS) {
    FUZZ_CHECK(r == MICS_INVALID_ARGUMENT || r == MICS_SYSTEM_ERROR);
    return 0;
  }
  FUZZ_CHECK(m.gpu_gpu.size() == m.gpus.size() * m.gpus.size());
  FUZZ_CHECK(m.gpu_nic.size() == m.gpus.size() * m.nics.size());
  for (int k = 1; k <= 8; ++k) {
    RailPlan plan;
    (void)plan_rails(m, k, &plan);
  }
  (void)rail_nics(m);
  (void)machine_to_text(m);
  return 0;
}
