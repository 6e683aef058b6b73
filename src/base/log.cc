#include "src/base/log.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace mics {

LogLevel log_level() {
  // Read once: the level is process-wide configuration, like NCCL_DEBUG.
  static const LogLevel level = [] {
    const char* v = getenv("MICS_DEBUG");
    if (!v || !*v) return LogLevel::kWarn;
    if (!strcasecmp(v, "TRACE")) return LogLevel::kTrace;
    if (!strcasecmp(v, "INFO")) return LogLevel::kInfo;
    if (!strcasecmp(v, "NONE") || !strcasecmp(v, "OFF")) return LogLevel::kNone;
    return LogLevel::kWarn;
  }();
  return level;
}

void log_printf(LogLevel level, const char* fmt, ...) {
  static const char* names[] = {"NONE", "WARN", "INFO", "TRACE"};
  char host[64] = "?";
  gethostname(host, sizeof(host) - 1);
  char line[2048];
  int n = snprintf(line, sizeof(line), "%s:%d:%ld [mics] %s ", host, getpid(),
                   static_cast<long>(syscall(SYS_gettid)), names[static_cast<int>(level)]);
  va_list ap;
  va_start(ap, fmt);
  if (n > 0 && n < static_cast<int>(sizeof(line)))
    vsnprintf(line + n, sizeof(line) - static_cast<size_t>(n), fmt, ap);
  va_end(ap);
  // One fprintf per line so lines from threads do not interleave.
  fprintf(stderr, "%s\n", line);
}

}  // namespace mics
