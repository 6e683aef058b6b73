// One result type and a CHECK macro around every call, so that a failure
// carries a "message (file:line) <- file:line <- ..." chain up to the API.
#pragma once

#include <cerrno>
#include <cstring>
#include <string>

#include "mics/mics.h"

namespace mics {

using Result = mics_result_t;

// Starts a new error chain for this thread: "msg (file:line)". Returns code.
Result set_error(Result code, const char* file, int line, const char* fmt, ...)
    __attribute__((format(printf, 4, 5)));
// Appends " <- file:line" to this thread's chain. Returns code.
Result trace_error(Result code, const char* file, int line);
// This thread's chain ("" when none).
const std::string& thread_error();
void clear_thread_error();
// Puts back a chain saved from thread_error() (after best-effort work that may
// have started chains of its own).
void restore_thread_error(std::string chain);

}  // namespace mics

#define MICS_ERROR(code, ...) ::mics::set_error((code), __FILE__, __LINE__, __VA_ARGS__)

#define MICS_CHECK(expr)                                             \
  do {                                                               \
    ::mics::Result mics_check_r_ = (expr);                           \
    if (mics_check_r_ != MICS_SUCCESS)                               \
      return ::mics::trace_error(mics_check_r_, __FILE__, __LINE__); \
  } while (0)

// For system calls that return -1 and set errno.
#define MICS_SYSCHECK(expr, what)                                                       \
  do {                                                                                  \
    if ((expr) == -1)                                                                   \
      return MICS_ERROR(MICS_SYSTEM_ERROR, "%s failed: %s", (what), ::strerror(errno)); \
  } while (0)
