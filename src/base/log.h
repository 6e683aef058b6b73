// MICS_DEBUG=WARN|INFO|TRACE, like NCCL_DEBUG. Lines go to stderr with
// "host:pid:tid [mics] LEVEL" in front so interleaved ranks stay readable.
#pragma once

namespace mics {

enum class LogLevel { kNone = 0, kWarn = 1, kInfo = 2, kTrace = 3 };

LogLevel log_level();
void log_printf(LogLevel level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace mics

#define MICS_LOG(level, ...)                                                      \
  do {                                                                            \
    if (::mics::log_level() >= (level)) ::mics::log_printf((level), __VA_ARGS__); \
  } while (0)
#define MICS_WARN(...) MICS_LOG(::mics::LogLevel::kWarn, __VA_ARGS__)
#define MICS_LOG_INFO(...) MICS_LOG(::mics::LogLevel::kInfo, __VA_ARGS__)
#define MICS_TRACE(...) MICS_LOG(::mics::LogLevel::kTrace, __VA_ARGS__)
