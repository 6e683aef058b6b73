#include "src/base/error.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "src/base/log.h"

namespace mics {
namespace {
thread_local std::string tls_error;

const char* base_name(const char* path) {
  const char* slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}
}  // namespace

Result set_error(Result code, const char* file, int line, const char* fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  char where[256];
  snprintf(where, sizeof(where), " (%s:%d)", base_name(file), line);
  tls_error = msg;
  tls_error += where;
  MICS_LOG_INFO("error %s: %s", mics_result_string(code), tls_error.c_str());
  return code;
}

Result trace_error(Result code, const char* file, int line) {
  char where[256];
  snprintf(where, sizeof(where), " <- %s:%d", base_name(file), line);
  if (tls_error.empty()) tls_error = mics_result_string(code);
  tls_error += where;
  return code;
}

const std::string& thread_error() { return tls_error; }
void clear_thread_error() { tls_error.clear(); }
void restore_thread_error(std::string chain) { tls_error = std::move(chain); }

}  // namespace mics
