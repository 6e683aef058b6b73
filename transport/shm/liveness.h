// Is a process on this host still running? Used only while a wait is taking
// long, to turn "peer died" into an error instead of waiting for the timeout.
#pragma once

namespace mics::transport::shm {

// True unless pid is known to have exited (a zombie counts as exited). pid 0: unknown, true.
bool process_alive(int pid);

}  // namespace mics::transport::shm
