// mics_result_string: the one part of the API that needs nothing but the
// public header. It lives alone so that perf/baselines' shims, which stand in
// for libmics over OpenMPI or Gloo without linking it, compile this same
// definition instead of keeping a copy of the table.
#include "mics/mics.h"

#define MICS_API extern "C" __attribute__((visibility("default")))

MICS_API const char* mics_result_string(mics_result_t r) {
  switch (r) {
    case MICS_SUCCESS:
      return "MICS_SUCCESS";
    case MICS_INVALID_ARGUMENT:
      return "MICS_INVALID_ARGUMENT";
    case MICS_INVALID_USAGE:
      return "MICS_INVALID_USAGE";
    case MICS_SYSTEM_ERROR:
      return "MICS_SYSTEM_ERROR";
    case MICS_REMOTE_ERROR:
      return "MICS_REMOTE_ERROR";
    case MICS_TIMEOUT:
      return "MICS_TIMEOUT";
    case MICS_CUDA_ERROR:
      return "MICS_CUDA_ERROR";
    case MICS_INTERNAL_ERROR:
      return "MICS_INTERNAL_ERROR";
    case MICS_IN_PROGRESS:
      return "MICS_IN_PROGRESS";
  }
  return "MICS_UNKNOWN_RESULT";
}
