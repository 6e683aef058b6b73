// The host-only build of src/device.h (MICS_CUDA off): every buffer is host
// memory and there is no device to select.
#if !defined(MICS_HAVE_CUDA)
#include "src/device.h"

namespace mics::gpu {

bool built_with_cuda() { return false; }

Result classify(const void*, MemKind* kind, int* device) {
  *kind = MemKind::kHost;
  *device = -1;
  return MICS_SUCCESS;
}

Result device_count(int* n) {
  *n = 0;
  return MICS_ERROR(MICS_CUDA_ERROR, "this libmics was built without CUDA (MICS_CUDA=OFF)");
}

Result set_device(int device) {
  return MICS_ERROR(MICS_CUDA_ERROR,
                    "cannot select CUDA device %d: this libmics was built without CUDA", device);
}

Result enqueue(const CollOp&) {
  return MICS_ERROR(MICS_INTERNAL_ERROR, "device buffers in a build without CUDA");
}

void drain(mics_comm*) {}

void poll_async_error(mics_comm*) {}

void stop_kernels(mics_comm*) {}

void ProxyDeleter::operator()(Proxy*) const {}

}  // namespace mics::gpu
#endif
