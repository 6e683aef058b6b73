// mics_group_start / mics_group_end: calls made between them on one thread are
// recorded (after their argument checks) and issued together at the outermost
// group end, each communicator's calls in order on a thread of their own, so
// that one thread can drive several communicators of one job (the comms of
// mics_comm_init_all) without deadlock. The state is per thread.
#pragma once

#include <string>

#include "src/op.h"

namespace mics::group {

// True while the calling thread is inside mics_group_start ... mics_group_end.
bool active();
// Records op for issue at the outermost group end.
Result record(const CollOp& op);
// A call inside the group failed its checks (it already returned the error):
// the group is cancelled and its end reports this first failure.
void cancel(Result code, const std::string& message);

}  // namespace mics::group
