// MICS_CUDA_CHECK: a failed CUDA runtime call becomes a MICS_CUDA_ERROR chain
// naming the call and the runtime's reason (host code of libmics only).
#pragma once

#include <cuda_runtime.h>

#include "src/base/error.h"

#define MICS_CUDA_CHECK(expr)                                                              \
  do {                                                                                     \
    cudaError_t mics_cuda_e_ = (expr);                                                     \
    if (mics_cuda_e_ != cudaSuccess)                                                       \
      return MICS_ERROR(MICS_CUDA_ERROR, "%s failed: %s (%s)", #expr,                      \
                        cudaGetErrorName(mics_cuda_e_), cudaGetErrorString(mics_cuda_e_)); \
  } while (0)

namespace mics::gpu {

// Makes `device` current for the scope and restores the caller's device after.
class DeviceScope {
 public:
  explicit DeviceScope(int device) {
    if (cudaGetDevice(&saved_) != cudaSuccess) saved_ = -1;
    if (saved_ != device) ok_ = cudaSetDevice(device) == cudaSuccess;
    changed_ = saved_ >= 0 && saved_ != device;
  }
  ~DeviceScope() {
    if (changed_) cudaSetDevice(saved_);
  }
  bool ok() const { return ok_; }
  DeviceScope(const DeviceScope&) = delete;
  DeviceScope& operator=(const DeviceScope&) = delete;

 private:
  int saved_ = -1;
  bool ok_ = true;
  bool changed_ = false;
};

}  // namespace mics::gpu
