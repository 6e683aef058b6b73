// DeviceMemory: see direct_device.h.
#include "src/cuda/direct_device.h"

#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstring>

#include "src/coll/call.h"
#include "src/comm.h"
#include "src/cuda/cuda_check.h"
#include "src/cuda/reduce_kernels.cuh"
#include "src/reduce/reduce.h"

namespace mics::gpu {
using transport::cuda_ipc::DeviceHandle;

DeviceMemory::DeviceMemory(mics_comm* comm, int device, cudaStream_t stream, bool sm_copies)
    : comm_(comm),
      device_(device),
      stream_(stream),
      readers_in_process_(coll::ranks_in_one_process(comm)),
      own_pid_(getpid()),
      sm_copies_(sm_copies) {}

DeviceMemory::~DeviceMemory() {
  if (scratch_) cudaFree(scratch_);
  for (char* p : retired_) cudaFree(p);
}

Result DeviceMemory::describe(coll::Call&, const void* addr, size_t bytes, void* out, size_t* len) {
  // An empty block (allreduce of fewer elements than ranks) may sit at the
  // very end of its allocation, where no handle can be asked for; nobody reads it.
  if (bytes == 0) {
    *len = 0;
    return MICS_SUCCESS;
  }
  DeviceHandle h;
  MICS_CHECK(exporter_.describe(addr, bytes, readers_in_process_, &h));
  memcpy(out, &h, sizeof(h));
  *len = sizeof(h);
  return MICS_SUCCESS;
}

Result DeviceMemory::enable_peer_access(int peer_device) {
  if (peer_device == device_ ||
      std::find(peer_access_.begin(), peer_access_.end(), peer_device) != peer_access_.end())
    return MICS_SUCCESS;
  int can = 0;
  MICS_CUDA_CHECK(cudaDeviceCanAccessPeer(&can, device_, peer_device));
  if (!can)
    return MICS_ERROR(MICS_CUDA_ERROR,
                      "CUDA device %d cannot access device %d's memory (no peer access between "
                      "them); set MICS_CUDA_DIRECT=0 to stage device calls through host memory",
                      device_, peer_device);
  cudaError_t e = cudaDeviceEnablePeerAccess(peer_device, 0);
  if (e == cudaErrorPeerAccessAlreadyEnabled) {
    cudaGetLastError();  // another rank of this process on our device did it first
  } else {
    MICS_CUDA_CHECK(e);
  }
  peer_access_.push_back(peer_device);
  return MICS_SUCCESS;
}

Result DeviceMemory::view(coll::Call& call, const coll::PeerExposure& p, size_t off, size_t len,
                          const void** out) {
  if (off > p.e.bytes || len > p.e.bytes - off)
    return MICS_ERROR(MICS_INTERNAL_ERROR,
                      "%s #%" PRIu64
                      ": range [%zu, +%zu) outside rank %d's "
                      "exposure of %" PRIu64 " bytes",
                      coll::kind_name(call.kind), call.seq, off, len, p.rank, p.e.bytes);
  if (len == 0) {  // nothing to map (the range may sit at the end of the allocation)
    *out = nullptr;
    return MICS_SUCCESS;
  }
  DeviceHandle h;
  uint64_t sidecar[transport::shm::ShmDomain::kSidecarBytes / 8];
  const size_t got = comm_->shm->exposure_sidecar(p.index, p.e.tag, sidecar);
  if (got != sizeof(h))
    return MICS_ERROR(MICS_INVALID_USAGE,
                      "%s #%" PRIu64
                      ": rank %d exposed memory without a device handle (did it "
                      "call with host buffers while this rank used device buffers?)",
                      coll::kind_name(call.kind), call.seq, p.rank);
  memcpy(&h, sidecar, sizeof(h));
  const uint64_t addr = p.e.addr + off;
  if (h.owner_pid == own_pid_) {  // a thread of our process: its pointer is ours too
    if (h.device >= 0) MICS_CHECK(enable_peer_access(h.device));
    *out = reinterpret_cast<const void*>(addr);
    return MICS_SUCCESS;
  }
  void* local = nullptr;
  MICS_CHECK(importer_.map(h, addr, &local));
  *out = local;
  return MICS_SUCCESS;
}

Result DeviceMemory::read(coll::Call& call, const coll::PeerExposure& p, size_t off, size_t len,
                          void* dst) {
  if (len == 0) return MICS_SUCCESS;
  const void* src = nullptr;
  MICS_CHECK(view(call, p, off, len, &src));
  return copy_bytes(dst, src, len);
}

Result DeviceMemory::copy(void* dst, const void* src, size_t len) {
  if (len == 0 || dst == src) return MICS_SUCCESS;
  return copy_bytes(dst, src, len);
}

Result DeviceMemory::copy_bytes(void* dst, const void* src, size_t len) {
  if (sm_copies_)
    MICS_CUDA_CHECK(cuda_copy(dst, src, len, stream_));
  else
    MICS_CUDA_CHECK(cudaMemcpyAsync(dst, src, len, cudaMemcpyDefault, stream_));
  return MICS_SUCCESS;
}

Result DeviceMemory::reduce_inputs(mics_datatype_t type, mics_redop_t op, void* dst,
                                   const std::vector<const void*>& srcs, size_t n, int nranks) {
  void* partial = nullptr;  // only for more inputs than one kernel pass folds
  if (srcs.size() > static_cast<size_t>(kMaxReduceInputs))
    MICS_CHECK(scratch(n * wire_type_size(type), &partial));
  MICS_CUDA_CHECK(cuda_reduce_inputs(type, op, dst, srcs.data(), static_cast<int>(srcs.size()), n,
                                     nranks, partial, stream_));
  return MICS_SUCCESS;
}

Result DeviceMemory::scratch(size_t bytes, void** out) {
  if (bytes > scratch_bytes_) {
    // The old buffer may still be read by work on our stream, and cudaFree
    // would synchronise the device (holding other ranks' streams): keep it.
    const size_t want = std::max(bytes, 2 * scratch_bytes_);
    if (scratch_) retired_.push_back(scratch_);
    scratch_ = nullptr;
    scratch_bytes_ = 0;
    void* p = nullptr;
    MICS_CUDA_CHECK(cudaMalloc(&p, want));
    scratch_ = static_cast<char*>(p);
    scratch_bytes_ = want;
  }
  *out = scratch_;
  return MICS_SUCCESS;
}

Result DeviceMemory::flush() {
  MICS_CUDA_CHECK(cudaStreamSynchronize(stream_));
  return MICS_SUCCESS;
}

}  // namespace mics::gpu
