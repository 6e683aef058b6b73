// Process-wide diagnostics: a registry of live communicators and a signal
// (MICS_DUMP_SIGNAL, default SIGUSR1) that prints each one's state — what is in
// flight, what completed, the last sequence number seen from each peer — to
// stderr, so a hung job says who is missing. The registry is the only other
// process-wide state in mics besides the bootstrap roots: a signal has no
// communicator to hang off.
#pragma once

struct mics_comm;

namespace mics {

// Called when a communicator is ready / destroyed. register_comm installs the
// handler on first use (unless the signal already has one or is disabled).
void register_comm(mics_comm* c);
void unregister_comm(mics_comm* c);

// Writes the state of every registered communicator to fd (async-signal-safe).
void dump_comms(int fd);

}  // namespace mics
