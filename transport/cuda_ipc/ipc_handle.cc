#include "transport/cuda_ipc/ipc_handle.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "transport/cuda_ipc/driver.h"
#include "transport/shm/peer_fd.h"

namespace mics::transport::cuda_ipc {

// Lifetimes: both caches hold an allocation until they see a new buffer id
// over its range (the owner freed it and allocated again) or until they go.
// A cuMem import holds the physical memory itself, so the owner's free
// cannot pull it away from us; a legacy IPC mapping does not (CUDA calls a
// cudaFree before the importer's close undefined): the exposure protocol
// keeps peers from reading a buffer once its owner has it back, not from
// keeping it mapped.

// ---- export ----

Exporter::~Exporter() {
  for (auto& [id, e] : by_buffer_id_)
    if (e.handle.fd >= 0) close(e.handle.fd);
}

Result Exporter::describe(const void* ptr, size_t bytes, bool same_process, DeviceHandle* out) {
  const Driver* d = nullptr;
  MICS_CHECK(get_driver(&d));
  char context[64];
  snprintf(context, sizeof(context), "sharing device memory at %p", ptr);
  const auto p = static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(ptr));
  CUdeviceptr base = 0;
  size_t alloc_bytes = 0;
  unsigned long long buffer_id = 0;
  int device = -1;
  MICS_CU_CHECK(d->cuMemGetAddressRange(&base, &alloc_bytes, p), context);
  MICS_CU_CHECK(d->cuPointerGetAttribute(&buffer_id, CU_POINTER_ATTRIBUTE_BUFFER_ID, p), context);
  MICS_CU_CHECK(d->cuPointerGetAttribute(&device, CU_POINTER_ATTRIBUTE_DEVICE_ORDINAL, p), context);
  // One handle maps one allocation: a range over two (chunks of PyTorch's
  // expandable segments, each mapped on its own) cannot be shared this way.
  if (bytes > base + alloc_bytes - p)
    return MICS_ERROR(MICS_CUDA_ERROR,
                      "%s: its %zu bytes run past the end of the CUDA allocation that holds it "
                      "(%zu bytes from %#llx)",
                      context, bytes, alloc_bytes, static_cast<unsigned long long>(base));

  DeviceHandle h;
  h.owner_pid = static_cast<int32_t>(getpid());
  h.device = device;
  h.base = base;
  h.alloc_bytes = alloc_bytes;
  h.buffer_id = buffer_id;
  if (same_process) {  // the readers use the pointer as it is
    h.kind = HandleKind::kSameProcess;
    *out = h;
    return MICS_SUCCESS;
  }
  if (auto it = by_buffer_id_.find(buffer_id); it != by_buffer_id_.end()) {
    *out = it->second.handle;
    return MICS_SUCCESS;
  }
  // An exported allocation that overlaps this one has been freed (buffer ids
  // are never reused): forget it and its fd.
  for (auto it = by_buffer_id_.begin(); it != by_buffer_id_.end();) {
    const DeviceHandle& old = it->second.handle;
    if (old.base < base + alloc_bytes && base < old.base + old.alloc_bytes) {
      if (old.fd >= 0) close(old.fd);
      it = by_buffer_id_.erase(it);
    } else {
      ++it;
    }
  }

  // cuMem allocations (cuMemCreate + cuMemMap) export an fd when they asked
  // for that handle type; anything else must be legacy IPC capable.
  CUmemGenericAllocationHandle allocation = 0;
  if (d->cuMemRetainAllocationHandle(&allocation, reinterpret_cast<void*>(base)) == CUDA_SUCCESS) {
    CUmemAllocationProp prop{};
    const char* failed = "cuMemGetAllocationPropertiesFromHandle";
    CUresult r = d->cuMemGetAllocationPropertiesFromHandle(&prop, allocation);
    const bool has_fd_type =
        r == CUDA_SUCCESS && (prop.requestedHandleTypes & CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR);
    int fd = -1;
    if (has_fd_type) {
      failed = "cuMemExportToShareableHandle";
      r = d->cuMemExportToShareableHandle(&fd, allocation, CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR,
                                          0);
    }
    d->cuMemRelease(allocation);  // the retain's reference only: the mapping keeps its own
    if (r != CUDA_SUCCESS)
      return cu_error(r, failed, std::string(context) + " (a cuMem allocation)", __FILE__,
                      __LINE__);
    if (!has_fd_type)
      return MICS_ERROR(MICS_CUDA_ERROR,
                        "%s: its cuMem allocation was created without "
                        "CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR in requestedHandleTypes, so "
                        "other processes cannot map it",
                        context);
    h.kind = HandleKind::kCuMemFd;
    h.fd = fd;
  } else {  // not a cuMem mapping (cudaMalloc memory): nothing to release
    cudaIpcMemHandle_t legacy{};
    static_assert(sizeof(legacy) == sizeof(h.legacy), "a cudaIpcMemHandle_t is 64 bytes");
    MICS_CUDART_CHECK(
        cudaIpcGetMemHandle(&legacy, reinterpret_cast<void*>(base)),
        std::string(context) + " (not cuMem memory: stream-ordered pools cannot be shared)");
    memcpy(h.legacy, &legacy, sizeof(legacy));
    h.kind = HandleKind::kLegacy;
  }
  by_buffer_id_[buffer_id].handle = h;
  *out = h;
  return MICS_SUCCESS;
}

// ---- import ----

Importer::~Importer() {
  for (auto& [key, m] : mapped_) unmap_allocation(m);
}

Result Importer::map(const DeviceHandle& h, uint64_t addr, void** out) {
  if (addr < h.base || addr - h.base >= h.alloc_bytes)
    return MICS_ERROR(MICS_INTERNAL_ERROR,
                      "address %#llx is outside the allocation [%#llx, +%llu) of rank process %d",
                      static_cast<unsigned long long>(addr),
                      static_cast<unsigned long long>(h.base),
                      static_cast<unsigned long long>(h.alloc_bytes), h.owner_pid);
  if (h.kind == HandleKind::kSameProcess) {
    if (h.owner_pid != static_cast<int32_t>(getpid()))
      return MICS_ERROR(MICS_INTERNAL_ERROR, "a same-process handle of another process (pid %d)",
                        h.owner_pid);
    *out = reinterpret_cast<void*>(static_cast<uintptr_t>(addr));
    return MICS_SUCCESS;
  }
  const std::pair<int32_t, uint64_t> key{h.owner_pid, h.buffer_id};
  auto it = mapped_.find(key);
  if (it == mapped_.end()) {
    // Our mappings of the owner's allocations that overlap this one: the
    // owner has freed them (a live allocation keeps its buffer id).
    for (auto old = mapped_.begin(); old != mapped_.end();) {
      const Mapped& m = old->second;
      if (old->first.first == h.owner_pid && m.owner_base < h.base + h.alloc_bytes &&
          h.base < m.owner_base + m.bytes) {
        unmap_allocation(m);
        old = mapped_.erase(old);
      } else {
        ++old;
      }
    }
    Mapped m;
    MICS_CHECK(map_allocation(h, &m));
    it = mapped_.emplace(key, m).first;
  }
  *out = it->second.local + (addr - h.base);
  return MICS_SUCCESS;
}

Result Importer::map_allocation(const DeviceHandle& h, Mapped* out) {
  const std::string context = "mapping device memory of rank process " +
                              std::to_string(h.owner_pid) + " (its device " +
                              std::to_string(h.device) + ")";
  Mapped m;
  m.kind = h.kind;
  m.bytes = h.alloc_bytes;
  m.owner_base = h.base;
  if (h.kind == HandleKind::kLegacy) {
    cudaIpcMemHandle_t legacy{};
    memcpy(&legacy, h.legacy, sizeof(legacy));
    void* local = nullptr;
    MICS_CUDART_CHECK(cudaIpcOpenMemHandle(&local, legacy, cudaIpcMemLazyEnablePeerAccess),
                      context);
    m.local = static_cast<char*>(local);
    *out = m;
    return MICS_SUCCESS;
  }
  if (h.kind != HandleKind::kCuMemFd)
    return MICS_ERROR(MICS_INTERNAL_ERROR, "%s: unknown handle kind %u", context.c_str(),
                      static_cast<unsigned>(h.kind));

  // The owner's fd first: whether its process still exists says more than
  // any CUDA error would.
  int fd = -1;
  if (int err = shm::duplicate_peer_fd(h.owner_pid, h.fd, &fd); err != 0) {
    if (err == ESRCH)
      return MICS_ERROR(MICS_REMOTE_ERROR, "%s: the rank's process has exited", context.c_str());
    return MICS_ERROR(MICS_SYSTEM_ERROR, "%s: taking its fd %d (pidfd_getfd) failed: %s%s",
                      context.c_str(), h.fd, strerror(err),
                      err == EPERM    ? " (ptrace access to the rank's process is not allowed)"
                      : err == ENOSYS ? " (needs Linux 5.6 or later)"
                                      : "");
  }
  const Driver* d = nullptr;
  int device = -1;
  Result got = get_driver(&d);
  cudaError_t e = got == MICS_SUCCESS ? cudaGetDevice(&device) : cudaSuccess;
  if (got != MICS_SUCCESS || e != cudaSuccess) {
    close(fd);
    MICS_CHECK(got);
    return cudart_error(e, "cudaGetDevice", context, __FILE__, __LINE__);
  }
  CUmemGenericAllocationHandle allocation = 0;
  CUresult r = d->cuMemImportFromShareableHandle(
      &allocation, reinterpret_cast<void*>(static_cast<uintptr_t>(fd)),
      CU_MEM_HANDLE_TYPE_POSIX_FILE_DESCRIPTOR);
  close(fd);  // the imported handle holds the memory now
  if (r != CUDA_SUCCESS)
    return cu_error(r, "cuMemImportFromShareableHandle", context, __FILE__, __LINE__);
  m.cumem_handle = allocation;

  // Reserve a range of our own, map the owner's allocation there whole (it
  // was mapped whole at its base: offset 0), let our device read and write it.
  CUdeviceptr local = 0;
  const char* failed = "cuMemAddressReserve";
  r = d->cuMemAddressReserve(&local, h.alloc_bytes, 0, 0, 0);
  if (r == CUDA_SUCCESS) {
    failed = "cuMemMap";
    r = d->cuMemMap(local, h.alloc_bytes, 0, allocation, 0);
    if (r == CUDA_SUCCESS) {
      failed = "cuMemSetAccess";
      CUmemAccessDesc access{};
      access.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
      access.location.id = device;
      access.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
      r = d->cuMemSetAccess(local, h.alloc_bytes, &access, 1);
      if (r == CUDA_SUCCESS) {
        m.local = reinterpret_cast<char*>(static_cast<uintptr_t>(local));
        *out = m;
        return MICS_SUCCESS;
      }
      d->cuMemUnmap(local, h.alloc_bytes);
    }
    d->cuMemAddressFree(local, h.alloc_bytes);
  }
  d->cuMemRelease(allocation);
  return cu_error(r, failed,
                  context + " (" + std::to_string(h.alloc_bytes) + " bytes for device " +
                      std::to_string(device) + ")",
                  __FILE__, __LINE__);
}

void Importer::unmap_allocation(const Mapped& m) {
  if (m.kind == HandleKind::kLegacy) {
    if (cudaIpcCloseMemHandle(m.local) != cudaSuccess) cudaGetLastError();
    return;
  }
  if (m.kind != HandleKind::kCuMemFd) return;
  const Driver& d = driver_table();
  const auto local = static_cast<CUdeviceptr>(reinterpret_cast<uintptr_t>(m.local));
  if (m.local) {
    d.cuMemUnmap(local, m.bytes);
    d.cuMemAddressFree(local, m.bytes);
  }
  d.cuMemRelease(m.cumem_handle);
}

}  // namespace mics::transport::cuda_ipc
