// The GPU side of the C API, behind an interface that does not name CUDA:
// src/cuda/ implements it with the CUDA runtime when libmics is built with
// MICS_CUDA; src/device_none.cc is the host-only build (everything is host
// memory, and asking for a device says the build has none).
#pragma once

#include "src/base/error.h"
#include "src/op.h"

struct mics_comm;

namespace mics::gpu {

// True when libmics was built with the CUDA data path.
bool built_with_cuda();

// Host or device memory, per pointer (p not NULL). With CUDA: the runtime's
// cudaPointerGetAttributes (device and managed memory count as device; pinned
// host memory as host); host-only build, or no usable CUDA device: always host.
Result classify(const void* p, MemKind* kind, int* device);

// Number of CUDA devices; MICS_CUDA_ERROR (with the runtime's reason) when
// there is none or the build has no CUDA.
Result device_count(int* n);
// cudaSetDevice for the calling thread.
Result set_device(int device);

// Device buffers: queues op on its communicator's proxy (started on first
// use) and makes op.stream wait for its completion; returns at once.
Result enqueue(const CollOp& op);
// Returns when every op queued on c's proxy has completed; a host call on c
// runs after them. No-op when c has no proxy.
void drain(mics_comm* c);

// Folds into c's state a failure noticed outside any call (a device kernel of
// the latency path that timed out waiting for a peer); for
// mics_comm_get_async_error.
void poll_async_error(mics_comm* c);

// mics_comm_abort: device kernels of c that wait for peers (the latency
// path), and the peers' kernels waiting for c, give up now.
void stop_kernels(mics_comm* c);

// The per-communicator proxy (src/cuda/proxy.*); opaque here.
class Proxy;
struct ProxyDeleter {
  void operator()(Proxy* p) const;
};

}  // namespace mics::gpu
