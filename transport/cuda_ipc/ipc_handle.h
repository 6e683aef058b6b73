// CUDA peer memory between the local ranks of one node: how a rank describes
// one of its device allocations so that a peer can map it (export), and how
// the peer maps it, once, into its own address space (import). Knows no
// collective: src/cuda publishes a DeviceHandle beside each exposure of a
// device buffer (transport/shm: the exposure's sidecar) and maps peers'
// handles to read their buffers directly.
//
// Three ways, chosen by the exporter per allocation:
//  - same process (ranks that are threads of one process): the pointer is
//    valid as it is; nothing to export or map.
//  - cuMem POSIX fd: the allocation was made with cuMemCreate and asked for
//    CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR (PyTorch's expandable
//    segments, mics' own buffers); the owner exports an fd once and keeps it
//    open; the importer duplicates it out of the owner's process
//    (pidfd_getfd, transport/shm/peer_fd.h), imports it and maps it.
//  - legacy CUDA IPC: cudaIpcGetMemHandle on the allocation (cudaMalloc,
//    PyTorch's caching allocator); the importer opens it with
//    cudaIpcOpenMemHandle, which may be done only once per process and
//    allocation, hence the cache.
// Built only with MICS_CUDA (cmake/cuda.cmake).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <utility>

#include "src/base/error.h"

namespace mics::transport::cuda_ipc {

enum class HandleKind : uint32_t { kNone = 0, kSameProcess = 1, kCuMemFd = 2, kLegacy = 3 };

// What a peer needs to map one device allocation of ours. Plain data: it
// travels through shared memory (no pointers into our process).
struct DeviceHandle {
  HandleKind kind = HandleKind::kNone;
  int32_t owner_pid = 0;
  int32_t device = -1;            // the owner's CUDA device ordinal
  int32_t fd = -1;                // kCuMemFd: the fd number in the owner's process
  uint64_t base = 0;              // the allocation's start in the owner's address space
  uint64_t alloc_bytes = 0;       // its size
  uint64_t buffer_id = 0;         // CU_POINTER_ATTRIBUTE_BUFFER_ID: never reused by the owner
  unsigned char legacy[64] = {};  // kLegacy: the cudaIpcMemHandle_t
};
static_assert(sizeof(DeviceHandle) <= 128, "fits an exposure sidecar");

// Our side: one per rank (the device proxy); exports each allocation once.
class Exporter {
 public:
  Exporter() = default;
  ~Exporter();  // closes the exported fds
  Exporter(const Exporter&) = delete;
  Exporter& operator=(const Exporter&) = delete;

  // The handle of the allocation that holds [ptr, ptr + bytes) (device memory
  // of the current device). same_process: the readers are threads of this
  // process (kSameProcess, no export). Fails with MICS_CUDA_ERROR (the
  // runtime's reason) when the range cannot be shared, e.g. memory from
  // cudaMallocAsync pools or a cuMem allocation without an fd handle type.
  Result describe(const void* ptr, size_t bytes, bool same_process, DeviceHandle* out);

 private:
  struct Exported {
    DeviceHandle handle;
  };
  std::map<uint64_t, Exported> by_buffer_id_;  // buffer id -> its handle (and open fd)
};

// The peers' side: one per rank; maps each peer allocation once and keeps it
// mapped until the importer goes (or the owner's buffer id changes).
class Importer {
 public:
  Importer() = default;
  ~Importer();  // unmaps / closes everything it mapped
  Importer(const Importer&) = delete;
  Importer& operator=(const Importer&) = delete;

  // A pointer, valid in our process on our current device, to the owner's
  // address `addr` inside the allocation h describes (kSameProcess: addr
  // itself). Fails with MICS_CUDA_ERROR / MICS_REMOTE_ERROR naming the owner.
  Result map(const DeviceHandle& h, uint64_t addr, void** out);

 private:
  struct Mapped {
    HandleKind kind = HandleKind::kNone;
    char* local = nullptr;  // where the owner's base is mapped here
    uint64_t bytes = 0;
    uint64_t cumem_handle = 0;  // kCuMemFd: the imported CUmemGenericAllocationHandle
    uint64_t owner_base = 0;    // the owner's base (to find mappings of freed allocations)
  };
  // Maps h's allocation here (the cache's miss path).
  static Result map_allocation(const DeviceHandle& h, Mapped* out);
  // Undoes map_allocation(); best effort (the owner or the driver may be gone).
  static void unmap_allocation(const Mapped& m);
  std::map<std::pair<int32_t, uint64_t>, Mapped> mapped_;  // (owner pid, buffer id)
};

}  // namespace mics::transport::cuda_ipc
