// The CUDA driver calls of transport/cuda_ipc, found once through the runtime
// (cudaGetDriverEntryPointByVersion at the 12.0 ABI): libmics links no
// libcuda, so it loads where no driver is installed. And the checks that turn
// a failed driver or runtime call into a MICS_CUDA_ERROR naming the call.
// Built only with MICS_CUDA.
#pragma once

#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_runtime.h>

#include <string>

#include "src/base/error.h"

namespace mics::transport::cuda_ipc {

// Members are named after the driver functions, so that a failure names the call.
struct Driver {
  PFN_cuGetErrorName_v6000 cuGetErrorName = nullptr;  // optional: messages only
  PFN_cuMemGetAddressRange_v3020 cuMemGetAddressRange = nullptr;
  PFN_cuPointerGetAttribute_v4000 cuPointerGetAttribute = nullptr;
  PFN_cuMemRetainAllocationHandle_v11000 cuMemRetainAllocationHandle = nullptr;
  PFN_cuMemGetAllocationPropertiesFromHandle_v10020 cuMemGetAllocationPropertiesFromHandle =
      nullptr;
  PFN_cuMemExportToShareableHandle_v10020 cuMemExportToShareableHandle = nullptr;
  PFN_cuMemImportFromShareableHandle_v10020 cuMemImportFromShareableHandle = nullptr;
  PFN_cuMemAddressReserve_v10020 cuMemAddressReserve = nullptr;
  PFN_cuMemMap_v10020 cuMemMap = nullptr;
  PFN_cuMemSetAccess_v10020 cuMemSetAccess = nullptr;
  PFN_cuMemUnmap_v10020 cuMemUnmap = nullptr;
  PFN_cuMemAddressFree_v10020 cuMemAddressFree = nullptr;
  PFN_cuMemRelease_v10020 cuMemRelease = nullptr;
  std::string missing;  // the first required entry point not found, and why ("" if none)
};

// The table, resolved on first use (thread-safe). Entries may be null: use
// get_driver() before calling any; the table itself is for cleanup paths.
const Driver& driver_table();
// *out = the table, or MICS_CUDA_ERROR naming the entry point the driver lacks.
Result get_driver(const Driver** out);

// MICS_CUDA_ERROR "context: call failed: reason" at file:line. cudart_error
// also clears the runtime's last error, so that the caller's later checks do
// not see this one.
Result cu_error(CUresult r, const char* call, const std::string& context, const char* file,
                int line);
Result cudart_error(cudaError_t e, const char* call, const std::string& context, const char* file,
                    int line);

}  // namespace mics::transport::cuda_ipc

// A failed driver (CUresult) or runtime (cudaError_t) call returns
// MICS_CUDA_ERROR naming what was being done (context), the call and the reason.
#define MICS_CU_CHECK(expr, context)                                                       \
  do {                                                                                     \
    CUresult mics_cu_r_ = (expr);                                                          \
    if (mics_cu_r_ != CUDA_SUCCESS)                                                        \
      return ::mics::transport::cuda_ipc::cu_error(mics_cu_r_, #expr, (context), __FILE__, \
                                                   __LINE__);                              \
  } while (0)
#define MICS_CUDART_CHECK(expr, context)                                                           \
  do {                                                                                             \
    cudaError_t mics_cudart_e_ = (expr);                                                           \
    if (mics_cudart_e_ != cudaSuccess)                                                             \
      return ::mics::transport::cuda_ipc::cudart_error(mics_cudart_e_, #expr, (context), __FILE__, \
                                                       __LINE__);                                  \
  } while (0)
