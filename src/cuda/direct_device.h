// The device half of the single-copy path: DirectMemory (src/coll/direct_memory.h)
// for CUDA buffers, so that device collectives between the ranks of one node
// run the same expose / read / release protocol as host ones, with each byte
// copied once, GPU to GPU, instead of device -> pinned host -> collective ->
// device. Driven by the communicator's proxy thread (src/cuda/proxy.h): the
// host orchestrates, the GPU copies, and no kernel ever waits for another
// rank's kernel (ranks that are processes on one GPU are time-sliced, so such
// a wait could never end).
//
// An exposure of a device buffer carries its IPC handle (transport/cuda_ipc)
// in the sidecar; readers map it once (cached) and copy or reduce straight out
// of it on the proxy's stream. Ranks that are threads of one process use the
// owner's pointer as it is.
#pragma once

#include <cuda_runtime.h>

#include <vector>

#include "src/coll/direct_memory.h"
#include "transport/cuda_ipc/ipc_handle.h"

namespace mics::gpu {

class DeviceMemory final : public coll::DirectMemory {
 public:
  // Copies and kernels go to `stream` (on `device`, the proxy's copy stream);
  // sm_copies: copies by a kernel (cuda_copy) instead of the copy engine.
  DeviceMemory(mics_comm* comm, int device, cudaStream_t stream, bool sm_copies);
  ~DeviceMemory() override;
  DeviceMemory(const DeviceMemory&) = delete;
  DeviceMemory& operator=(const DeviceMemory&) = delete;

  Result describe(coll::Call& call, const void* addr, size_t bytes, void* out,
                  size_t* len) override;
  Result read(coll::Call& call, const coll::PeerExposure& p, size_t off, size_t len,
              void* dst) override;
  Result view(coll::Call& call, const coll::PeerExposure& p, size_t off, size_t len,
              const void** out) override;
  size_t view_limit() const override { return SIZE_MAX; }  // views are mappings, not copies
  Result copy(void* dst, const void* src, size_t len) override;
  Result reduce_inputs(mics_datatype_t type, mics_redop_t op, void* dst,
                       const std::vector<const void*>& srcs, size_t n, int nranks) override;
  Result scratch(size_t bytes, void** out) override;
  Result flush() override;

 private:
  // Peer memory of another device of this process: kernels need peer access.
  Result enable_peer_access(int peer_device);
  Result copy_bytes(void* dst, const void* src, size_t len);

  mics_comm* comm_;
  int device_;
  cudaStream_t stream_;
  bool readers_in_process_;  // every rank of comm is a thread of this process
  int own_pid_;
  bool sm_copies_;
  transport::cuda_ipc::Exporter exporter_;
  transport::cuda_ipc::Importer importer_;
  char* scratch_ = nullptr;
  size_t scratch_bytes_ = 0;
  std::vector<char*> retired_;    // outgrown scratch, freed with us (cudaFree synchronises)
  std::vector<int> peer_access_;  // devices whose memory our kernels may read
};

}  // namespace mics::gpu
