// How every perf binary stops on a failed mics call. A header of its own, and
// inline, because the binaries link different things (the perf driver, bare
// libmics, or perf/baselines' shims instead of libmics) and all of them can
// include it: it uses only the public API.
#ifndef MICS_PERF_PERF_CHECK_H_
#define MICS_PERF_PERF_CHECK_H_

#include <mics/mics.h>

#include <cstdio>
#include <cstdlib>

namespace mics_perf {

// Unless r is MICS_SUCCESS, prints "<program>: <what> failed: <result>:
// <mics_last_error(comm)>" and exits 1: a measurement cannot go on past a
// failed call, and the other ranks then fail on their own timeouts.
inline void ExitOnError(mics_result_t r, const char* program, const char* what, mics_comm_t comm) {
  if (r == MICS_SUCCESS) return;
  std::fprintf(stderr, "%s: %s failed: %s: %s\n", program, what, mics_result_string(r),
               mics_last_error(comm));
  std::fflush(stderr);
  std::exit(1);
}

}  // namespace mics_perf

#endif  // MICS_PERF_PERF_CHECK_H_
