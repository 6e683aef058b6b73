#include "transport/cuda_ipc/driver.h"

#include <mutex>

namespace mics::transport::cuda_ipc {
namespace {

template <class Fn>
void find_entry(const char* name, Fn* fn, std::string* missing) {
  void* p = nullptr;
  cudaDriverEntryPointQueryResult status{};
  cudaError_t e = cudaGetDriverEntryPointByVersion(name, &p, 12000, cudaEnableDefault, &status);
  if (e == cudaSuccess && status == cudaDriverEntryPointSuccess && p) {
    *fn = reinterpret_cast<Fn>(p);
    return;
  }
  cudaGetLastError();  // not sticky for the caller
  if (missing && missing->empty())
    *missing =
        std::string(name) + " (" +
        (e != cudaSuccess                                    ? cudaGetErrorName(e)
         : status == cudaDriverEntryPointVersionNotSufficent ? "the driver is older than CUDA 12.0"
                                                             : "no such symbol in the driver") +
        ")";
}

}  // namespace

const Driver& driver_table() {
  static Driver d;
  static std::once_flag once;
  std::call_once(once, [] {
#define MICS_FIND_REQUIRED(fn) find_entry(#fn, &d.fn, &d.missing)
    find_entry("cuGetErrorName", &d.cuGetErrorName, nullptr);
    MICS_FIND_REQUIRED(cuMemGetAddressRange);
    MICS_FIND_REQUIRED(cuPointerGetAttribute);
    MICS_FIND_REQUIRED(cuMemRetainAllocationHandle);
    MICS_FIND_REQUIRED(cuMemGetAllocationPropertiesFromHandle);
    MICS_FIND_REQUIRED(cuMemExportToShareableHandle);
    MICS_FIND_REQUIRED(cuMemImportFromShareableHandle);
    MICS_FIND_REQUIRED(cuMemAddressReserve);
    MICS_FIND_REQUIRED(cuMemMap);
    MICS_FIND_REQUIRED(cuMemSetAccess);
    MICS_FIND_REQUIRED(cuMemUnmap);
    MICS_FIND_REQUIRED(cuMemAddressFree);
    MICS_FIND_REQUIRED(cuMemRelease);
#undef MICS_FIND_REQUIRED
  });
  return d;
}

Result get_driver(const Driver** out) {
  const Driver& d = driver_table();
  if (!d.missing.empty())
    return MICS_ERROR(MICS_CUDA_ERROR, "CUDA peer memory needs the driver entry point %s",
                      d.missing.c_str());
  *out = &d;
  return MICS_SUCCESS;
}

Result cu_error(CUresult r, const char* call, const std::string& context, const char* file,
                int line) {
  const char* name = nullptr;
  const Driver& d = driver_table();
  if (!d.cuGetErrorName || d.cuGetErrorName(r, &name) != CUDA_SUCCESS) name = nullptr;
  if (name)
    return set_error(MICS_CUDA_ERROR, file, line, "%s: %s failed: %s", context.c_str(), call, name);
  return set_error(MICS_CUDA_ERROR, file, line, "%s: %s failed: CUresult %d", context.c_str(), call,
                   static_cast<int>(r));
}

Result cudart_error(cudaError_t e, const char* call, const std::string& context, const char* file,
                    int line) {
  cudaGetLastError();
  return set_error(MICS_CUDA_ERROR, file, line, "%s: %s failed: %s (%s)", context.c_str(), call,
                   cudaGetErrorName(e), cudaGetErrorString(e));
}

}  // namespace mics::transport::cuda_ipc
