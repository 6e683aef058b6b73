// Every wait in mics is bounded: callers carry a Deadline, never a bare "forever".
#pragma once

#include <chrono>
#include <cstdint>

namespace mics {

using Clock = std::chrono::steady_clock;

struct Deadline {
  Clock::time_point at;

  static Deadline after_ms(int64_t ms) { return {Clock::now() + std::chrono::milliseconds(ms)}; }
  static Deadline after_us(int64_t us) { return {Clock::now() + std::chrono::microseconds(us)}; }
  bool expired() const { return Clock::now() >= at; }
  // Milliseconds left, clamped to [0, cap].
  int64_t remaining_ms(int64_t cap = INT32_MAX) const {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(at - Clock::now()).count();
    if (left < 0) return 0;
    return left < cap ? left : cap;
  }
};

inline double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace mics
