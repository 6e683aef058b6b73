// src/device.h with the CUDA runtime: buffer kinds and device selection.
// (The proxy half is src/cuda/proxy.cc.)
#include "src/device.h"

#include <cuda.h>

#include <atomic>
#include <mutex>
#include <string>

#include "src/cuda/cuda_check.h"

namespace mics::gpu {
namespace {

// Asked once: how many devices, or why none. A process without a driver or a
// device takes every buffer as host memory without asking per call.
struct Devices {
  int count = 0;
  std::string why_none;
  // Driver calls that tell whether any CUDA context exists without making one.
  CUresult (*primary_state)(CUdevice, unsigned int*, int*) = nullptr;
  CUresult (*device_get)(CUdevice*, int) = nullptr;
  CUresult (*current_context)(CUcontext*) = nullptr;
};

template <class Fn>
void driver_entry(const char* name, Fn* fn) {
  void* p = nullptr;
  cudaDriverEntryPointQueryResult status{};
  if (cudaGetDriverEntryPointByVersion(name, &p, 12000, cudaEnableDefault, &status) ==
          cudaSuccess &&
      status == cudaDriverEntryPointSuccess)
    *fn = reinterpret_cast<Fn>(p);
  else
    cudaGetLastError();
}

const Devices& devices() {
  static Devices d;
  static std::once_flag once;
  std::call_once(once, [] {
    cudaError_t e = cudaGetDeviceCount(&d.count);
    if (e != cudaSuccess) {
      d.count = 0;
      d.why_none = std::string(cudaGetErrorName(e)) + ": " + cudaGetErrorString(e);
      cudaGetLastError();  // not sticky for the caller
    } else if (d.count == 0) {
      d.why_none = "the CUDA runtime sees no device";
    }
    if (d.count > 0) {
      driver_entry("cuDevicePrimaryCtxGetState", &d.primary_state);
      driver_entry("cuDeviceGet", &d.device_get);
      driver_entry("cuCtxGetCurrent", &d.current_context);
    }
  });
  return d;
}

// Device memory needs a context. Until the process has one, every buffer is
// host memory, and asking cudaPointerGetAttributes would create a context (a
// few hundred ms and device memory) in programs that only use host buffers.
bool any_context() {
  static std::atomic<bool> seen{false};
  if (seen.load(std::memory_order_relaxed)) return true;
  const Devices& d = devices();
  if (!d.primary_state || !d.device_get || !d.current_context) return true;  // cannot tell: ask
  CUcontext current = nullptr;
  bool found = d.current_context(&current) == CUDA_SUCCESS && current;
  for (int i = 0; i < d.count && !found; ++i) {
    CUdevice dev;
    unsigned int flags = 0;
    int active = 0;
    found = d.device_get(&dev, i) == CUDA_SUCCESS &&
            d.primary_state(dev, &flags, &active) == CUDA_SUCCESS && active;
  }
  if (found) seen.store(true, std::memory_order_relaxed);
  return found;
}

}  // namespace

bool built_with_cuda() { return true; }

Result classify(const void* p, MemKind* kind, int* device) {
  *kind = MemKind::kHost;
  *device = -1;
  if (devices().count == 0 || !any_context()) return MICS_SUCCESS;
  cudaPointerAttributes a{};
  if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
    cudaGetLastError();  // a pointer CUDA does not know: host memory
    return MICS_SUCCESS;
  }
  if (a.type == cudaMemoryTypeDevice || a.type == cudaMemoryTypeManaged) {
    *kind = MemKind::kDevice;
    *device = a.device;
  }
  return MICS_SUCCESS;
}

Result device_count(int* n) {
  *n = devices().count;
  if (*n == 0) return MICS_ERROR(MICS_CUDA_ERROR, "no CUDA device: %s", devices().why_none.c_str());
  return MICS_SUCCESS;
}

Result set_device(int device) {
  MICS_CUDA_CHECK(cudaSetDevice(device));
  return MICS_SUCCESS;
}

}  // namespace mics::gpu
