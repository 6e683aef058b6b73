// transport/cuda_ipc: a device allocation of one process mapped and read by
// another (legacy CUDA IPC for cudaMalloc memory, a cuMem POSIX fd taken with
// pidfd_getfd for cuMemCreate memory), checked byte by byte on random data;
// and the checks that need no GPU: the same-process path, addresses outside
// the allocation, an owner that has exited, an fd it does not have, host
// memory. The exporter is this binary run again (exec: a forked child cannot
// use the CUDA its parent initialised), selected by MICS_CUDA_IPC_TEST_CHILD.
#include <cuda.h>
#include <cuda_runtime.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "harness.h"
#include "src/base/error.h"
#include "transport/cuda_ipc/driver.h"
#include "transport/cuda_ipc/ipc_handle.h"

extern char** environ;

namespace {

using mics::Result;
using mics::transport::cuda_ipc::DeviceHandle;
using mics::transport::cuda_ipc::Exporter;
using mics::transport::cuda_ipc::HandleKind;
using mics::transport::cuda_ipc::Importer;

constexpr int kReportFd = 200, kHoldFd = 201;  // the child's pipe ends
constexpr size_t kOffset = 7;                  // where the described range starts

uint8_t Pattern(uint64_t seed, uint64_t buffer, size_t i) {
  return static_cast<uint8_t>(mics_test::StreamAt(mics_test::StreamBase(seed, buffer, 0), i));
}

bool HaveGpu() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return false;
  }
  return n > 0;
}

// ---- no GPU needed ----

TEST(CudaIpc, SameProcessHandleIsThePointerItself) {
  DeviceHandle h;
  h.kind = HandleKind::kSameProcess;
  h.owner_pid = getpid();
  h.base = 0x100000;
  h.alloc_bytes = 4099;
  Importer importer;
  void* p = nullptr;
  ASSERT_EQ(importer.map(h, h.base + 4098, &p), MICS_SUCCESS) << mics::thread_error();
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p), h.base + 4098);
  EXPECT_EQ(importer.map(h, h.base + 4099, &p), MICS_INTERNAL_ERROR);
  EXPECT_EQ(importer.map(h, h.base - 1, &p), MICS_INTERNAL_ERROR);
  h.owner_pid = getpid() + 1;
  EXPECT_EQ(importer.map(h, h.base, &p), MICS_INTERNAL_ERROR);
}

TEST(CudaIpc, AddressOutsideTheAllocationIsRefusedBeforeMapping) {
  DeviceHandle h;
  h.kind = HandleKind::kLegacy;
  h.owner_pid = getpid() + 1;
  h.base = 0x200000;
  h.alloc_bytes = 1 << 20;
  Importer importer;
  void* p = nullptr;
  EXPECT_EQ(importer.map(h, h.base + h.alloc_bytes, &p), MICS_INTERNAL_ERROR);
  EXPECT_NE(mics::thread_error().find("outside the allocation"), std::string::npos)
      << mics::thread_error();
}

TEST(CudaIpc, CuMemHandleOfAnExitedOwnerIsRemoteError) {
  pid_t dead = fork();
  ASSERT_GE(dead, 0) << strerror(errno);
  if (dead == 0) _exit(0);
  ASSERT_EQ(waitpid(dead, nullptr, 0), dead);
  DeviceHandle h;
  h.kind = HandleKind::kCuMemFd;
  h.owner_pid = dead;
  h.fd = 0;
  h.base = 0x200000;
  h.alloc_bytes = 2 << 20;
  Importer importer;
  void* p = nullptr;
  EXPECT_EQ(importer.map(h, h.base, &p), MICS_REMOTE_ERROR) << mics::thread_error();
  EXPECT_NE(mics::thread_error().find("rank process " + std::to_string(dead)), std::string::npos)
      << mics::thread_error();
}

TEST(CudaIpc, CuMemHandleWithAnFdTheOwnerLacksIsSystemError) {
  pid_t owner = fork();  // another process: in our own, pidfd_open would take the free number
  ASSERT_GE(owner, 0) << strerror(errno);
  if (owner == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    for (;;) pause();
  }
  DeviceHandle h;
  h.kind = HandleKind::kCuMemFd;
  h.owner_pid = owner;
  h.fd = 999;  // not open there
  h.base = 0x200000;
  h.alloc_bytes = 2 << 20;
  Importer importer;
  void* p = nullptr;
  Result r = importer.map(h, h.base, &p);
  kill(owner, SIGKILL);
  waitpid(owner, nullptr, 0);
  EXPECT_EQ(r, MICS_SYSTEM_ERROR) << mics::thread_error();
  EXPECT_NE(mics::thread_error().find(strerror(EBADF)), std::string::npos) << mics::thread_error();
}

TEST(CudaIpc, DescribingHostMemoryIsCudaError) {
  std::vector<char> host(64);
  Exporter exporter;
  DeviceHandle h;
  EXPECT_EQ(exporter.describe(host.data(), host.size(), false, &h), MICS_CUDA_ERROR);
  EXPECT_EQ(exporter.describe(host.data(), host.size(), true, &h), MICS_CUDA_ERROR);
}

// ---- two processes on GPU 0 ----

void Fill(void* device_ptr, size_t bytes, uint64_t seed, int buffer) {
  std::vector<uint8_t> host(bytes);
  for (size_t i = 0; i < bytes; ++i) host[i] = Pattern(seed, buffer, i);
  ASSERT_EQ(cudaMemcpy(device_ptr, host.data(), bytes, cudaMemcpyHostToDevice), cudaSuccess);
}

// Maps h (at kOffset, and again at its base: the same place) and checks the
// filled bytes against the pattern of `buffer`.
void ExpectMapsPattern(Importer& importer, const DeviceHandle& h, uint64_t filled, uint64_t seed,
                       int buffer) {
  SCOPED_TRACE("buffer " + std::to_string(buffer));
  void* p = nullptr;
  ASSERT_EQ(importer.map(h, h.base + kOffset, &p), MICS_SUCCESS) << mics::thread_error();
  void* again = nullptr;
  ASSERT_EQ(importer.map(h, h.base, &again), MICS_SUCCESS) << mics::thread_error();
  EXPECT_EQ(static_cast<char*>(again) + kOffset, p);
  ASSERT_LE(filled, h.alloc_bytes);
  const size_t bytes = filled - kOffset;
  std::vector<uint8_t> host(bytes);
  ASSERT_EQ(cudaMemcpy(host.data(), p, bytes, cudaMemcpyDeviceToHost), cudaSuccess);
  size_t mismatches = 0;
  for (size_t i = 0; i < bytes; ++i)
    if (host[i] != Pattern(seed, buffer, i + kOffset) && ++mismatches <= 5)
      ADD_FAILURE() << "byte " << i + kOffset << ": got " << int{host[i]} << ", expected "
                    << int{Pattern(seed, buffer, i + kOffset)};
  EXPECT_EQ(mismatches, 0u);
}

struct Allocations {
  DeviceHandle legacy, cumem;
  uint64_t legacy_bytes = 0, cumem_bytes = 0;  // as allocated and filled
};

// The exporter (runs only as the child of MapsAnotherProcesssAllocations):
// a cudaMalloc buffer and a cuMemCreate one with an fd handle type, filled
// with the pattern; reports their handles and holds them until the parent
// closes its end of the hold pipe.
TEST(CudaIpcChild, ExportsForTheParent) {
  const char* env = getenv("MICS_CUDA_IPC_TEST_CHILD");
  if (env == nullptr) GTEST_SKIP() << "the exporter half of CudaIpc.MapsAnotherProcesssAllocations";
  const uint64_t seed = strtoull(env, nullptr, 0);
  ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
  const mics::transport::cuda_ipc::Driver* d = nullptr;
  ASSERT_EQ(mics::transport::cuda_ipc::get_driver(&d), MICS_SUCCESS) << mics::thread_error();
  void* create_fn = nullptr;
  void* granularity_fn = nullptr;
  ASSERT_EQ(cudaGetDriverEntryPointByVersion("cuMemCreate", &create_fn, 12000, cudaEnableDefault,
                                             nullptr),
            cudaSuccess);
  ASSERT_EQ(cudaGetDriverEntryPointByVersion("cuMemGetAllocationGranularity", &granularity_fn,
                                             12000, cudaEnableDefault, nullptr),
            cudaSuccess);
  auto mem_create = reinterpret_cast<PFN_cuMemCreate_v10020>(create_fn);
  auto granularity = reinterpret_cast<PFN_cuMemGetAllocationGranularity_v10020>(granularity_fn);

  const size_t legacy_bytes = (3 << 20) + 5;
  void* legacy = nullptr;
  ASSERT_EQ(cudaMalloc(&legacy, legacy_bytes), cudaSuccess);

  CUmemAllocationProp prop{};
  prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
  prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
  prop.location.id = 0;
  prop.requestedHandleTypes = CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR;
  size_t gran = 0;
  ASSERT_EQ(granularity(&gran, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM), CUDA_SUCCESS);
  const size_t cumem_bytes = 2 * gran;
  CUmemGenericAllocationHandle allocation = 0;
  CUdeviceptr va = 0;
  ASSERT_EQ(mem_create(&allocation, cumem_bytes, &prop, 0), CUDA_SUCCESS);
  ASSERT_EQ(d->cuMemAddressReserve(&va, cumem_bytes, 0, 0, 0), CUDA_SUCCESS);
  ASSERT_EQ(d->cuMemMap(va, cumem_bytes, 0, allocation, 0), CUDA_SUCCESS);
  CUmemAccessDesc access{};
  access.location = prop.location;
  access.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
  ASSERT_EQ(d->cuMemSetAccess(va, cumem_bytes, &access, 1), CUDA_SUCCESS);
  void* cumem = reinterpret_cast<void*>(static_cast<uintptr_t>(va));

  ASSERT_NO_FATAL_FAILURE(Fill(legacy, legacy_bytes, seed, 0));
  ASSERT_NO_FATAL_FAILURE(Fill(cumem, cumem_bytes, seed, 1));

  Exporter exporter;
  Allocations a;
  a.legacy_bytes = legacy_bytes;
  a.cumem_bytes = cumem_bytes;
  ASSERT_EQ(exporter.describe(static_cast<char*>(legacy) + kOffset, legacy_bytes - kOffset, false,
                              &a.legacy),
            MICS_SUCCESS)
      << mics::thread_error();
  EXPECT_EQ(a.legacy.kind, HandleKind::kLegacy);
  EXPECT_EQ(a.legacy.base, reinterpret_cast<uintptr_t>(legacy));
  ASSERT_EQ(exporter.describe(static_cast<char*>(cumem) + kOffset, cumem_bytes - kOffset, false,
                              &a.cumem),
            MICS_SUCCESS)
      << mics::thread_error();
  EXPECT_EQ(a.cumem.kind, HandleKind::kCuMemFd);
  EXPECT_EQ(a.cumem.base, va);
  EXPECT_EQ(a.cumem.alloc_bytes, cumem_bytes);
  EXPECT_GE(a.cumem.fd, 0);
  DeviceHandle again;  // the cache: the same fd, not a new export
  ASSERT_EQ(exporter.describe(cumem, 1, false, &again), MICS_SUCCESS) << mics::thread_error();
  EXPECT_EQ(again.fd, a.cumem.fd);
  EXPECT_EQ(again.buffer_id, a.cumem.buffer_id);
  // Past the allocation's end: refused.
  EXPECT_EQ(exporter.describe(cumem, cumem_bytes + 1, false, &again), MICS_CUDA_ERROR);

  ASSERT_EQ(write(kReportFd, &a, sizeof(a)), static_cast<ssize_t>(sizeof(a)));

  // Once the parent has read them (a byte on the hold pipe): the cuMem
  // allocation freed and a new one mapped at the same address, which must
  // come with a new buffer id and a new export (the cache forgets the old).
  char byte = 0;
  ssize_t got;
  while ((got = read(kHoldFd, &byte, 1)) < 0 && errno == EINTR) {
  }
  if (got == 1) {
    ASSERT_EQ(d->cuMemUnmap(va, cumem_bytes), CUDA_SUCCESS);
    ASSERT_EQ(d->cuMemRelease(allocation), CUDA_SUCCESS);
    ASSERT_EQ(mem_create(&allocation, cumem_bytes, &prop, 0), CUDA_SUCCESS);
    ASSERT_EQ(d->cuMemMap(va, cumem_bytes, 0, allocation, 0), CUDA_SUCCESS);
    ASSERT_EQ(d->cuMemSetAccess(va, cumem_bytes, &access, 1), CUDA_SUCCESS);
    ASSERT_NO_FATAL_FAILURE(Fill(cumem, cumem_bytes, seed, 2));
    DeviceHandle next;
    ASSERT_EQ(exporter.describe(cumem, cumem_bytes, false, &next), MICS_SUCCESS)
        << mics::thread_error();
    EXPECT_EQ(next.kind, HandleKind::kCuMemFd);
    EXPECT_EQ(next.base, va);
    EXPECT_NE(next.buffer_id, a.cumem.buffer_id);
    ASSERT_EQ(write(kReportFd, &next, sizeof(next)), static_cast<ssize_t>(sizeof(next)));
    while (read(kHoldFd, &byte, 1) < 0 && errno == EINTR) {  // until the parent is done
    }
  }
  d->cuMemUnmap(va, cumem_bytes);
  d->cuMemAddressFree(va, cumem_bytes);
  d->cuMemRelease(allocation);
  cudaFree(legacy);
}

// The exporter child of the test below: finish() (or the destructor, when an
// assertion returns early) lets it go, waits for it, kills it after 120 s.
class ExporterChild {
 public:
  ExporterChild(pid_t pid, int hold) : pid_(pid), hold_(hold) {}
  ~ExporterChild() { finish(); }
  int hold() const { return hold_; }
  int finish() {
    if (hold_ >= 0) close(hold_);  // the child frees its buffers and exits
    hold_ = -1;
    for (int waited = 0; pid_ > 0 && waitpid(pid_, &status_, WNOHANG) == 0; ++waited) {
      if (waited == 1200) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status_, 0);
      }
      usleep(100000);
    }
    pid_ = -1;
    return status_;
  }

 private:
  pid_t pid_;
  int hold_;
  int status_ = -1;
};

TEST(CudaIpc, MapsAnotherProcesssAllocations) {
  if (!HaveGpu()) GTEST_SKIP() << "no GPU";
  const uint64_t seed = mics_test::TestSeed();
  int report[2], hold[2];
  ASSERT_EQ(pipe2(report, O_CLOEXEC), 0);
  ASSERT_EQ(pipe2(hold, O_CLOEXEC), 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, report[1], kReportFd);
  posix_spawn_file_actions_adddup2(&actions, hold[0], kHoldFd);
  std::vector<std::string> env_strings;
  for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
  env_strings.push_back("MICS_CUDA_IPC_TEST_CHILD=" + std::to_string(seed));
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string self = "/proc/self/exe", filter = "--gtest_filter=CudaIpcChild.*";
  char* argv[] = {self.data(), filter.data(), nullptr};
  pid_t pid = -1;
  int spawned = posix_spawn(&pid, self.c_str(), &actions, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(report[1]);
  close(hold[0]);
  if (spawned != 0) close(hold[1]);
  ASSERT_EQ(spawned, 0) << strerror(spawned);
  ExporterChild child(pid, hold[1]);

  Allocations a;
  bool got = mics_test::ReadFully(report[0], &a, sizeof(a), 120000);
  if (!got) close(report[0]);
  ASSERT_TRUE(got) << "the exporter child reported no handles within 120 s";
  ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
  {
    Importer importer;  // unmaps before the child frees
    ASSERT_NO_FATAL_FAILURE(ExpectMapsPattern(importer, a.legacy, a.legacy_bytes, seed, 0));
    ASSERT_NO_FATAL_FAILURE(ExpectMapsPattern(importer, a.cumem, a.cumem_bytes, seed, 1));
    // The child replaces its cuMem allocation at the same address: our old
    // mapping of it must give way to the new one.
    ASSERT_EQ(write(child.hold(), "n", 1), 1);
    DeviceHandle next;
    got = mics_test::ReadFully(report[0], &next, sizeof(next), 120000);
    close(report[0]);
    ASSERT_TRUE(got) << "the exporter child reported no new handle within 120 s";
    ASSERT_NO_FATAL_FAILURE(ExpectMapsPattern(importer, next, a.cumem_bytes, seed, 2));
    ASSERT_NO_FATAL_FAILURE(ExpectMapsPattern(importer, a.legacy, a.legacy_bytes, seed, 0));
  }
  int status = child.finish();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "exporter child status " << status;
}

}  // namespace
