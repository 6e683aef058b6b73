// Shared by the fault tests (fault_test.cc: dead peers and mismatched calls;
// fault_stop_test.cc: propagation, abort and timeouts): clocks, the page the
// forked ranks share, and the checks every case repeats.
#pragma once

#include <mics/mics.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "harness.h"

namespace mics_fault {

using Clock = std::chrono::steady_clock;

// What "returns by its timeout" allows for scheduling on a loaded 2-core CI
// machine: these tests check for an error instead of a hang, not for speed.
constexpr double kSchedulingSlackS = 5.0;

// CLOCK_MONOTONIC nanoseconds: comparable across the forked ranks.
int64_t NowNs();
double Since(Clock::time_point t0);

// State shared by the ranks of one job: a MAP_SHARED page mapped before fork.
struct Shared {
  std::atomic<int> arrived[8];      // rendezvous counters, one per phase
  std::atomic<int64_t> kill_ns;     // when the victim raised SIGKILL
  std::atomic<int> killed_in_call;  // 1: the victim was inside a collective then
  std::atomic<int> victim_iters;    // collectives the victim completed before dying
  std::atomic<int> detected[8];     // per rank: reported "mismatched collectives"
};
static_assert(sizeof(Shared) <= 4096, "one page");

// Owns the page in the parent; children inherit the mapping.
class SharedPage {
 public:
  SharedPage();
  ~SharedPage();
  SharedPage(const SharedPage&) = delete;
  SharedPage& operator=(const SharedPage&) = delete;
  Shared* get() const { return s_; }

 private:
  Shared* s_;
};

// Returns once `n` ranks have arrived at counter `c` (bounded: a rank that
// never arrives is reported, not waited for forever). Used so that no rank
// exits while a peer still checks its error: an exit would be a second
// failure and change the peer's message.
void Rendezvous(std::atomic<int>* c, int n);

// Does `msg` name rank `r` as a peer? The library writes "rank 3", "rank(s) 3"
// or "rank(s) 2 and 3" (call.cc); "rank 13" must not count as rank 1, nor
// "... on rank 1 timed out", which is the reporting rank itself.
bool NamesRank(const std::string& msg, int r);

bool Contains(const std::string& s, const std::string& sub);

std::string LastError(mics_comm_t comm);

// Every entry point that takes the communicator, called after it failed:
// each must return INVALID_USAGE at once (well under the 100 ms bound; no
// wait may be involved) and repeat the first failure, so a user who only
// sees the tenth error still learns the first.
void CheckRefusedAtOnce(mics_comm_t comm, const std::string& first_failure);

}  // namespace mics_fault
