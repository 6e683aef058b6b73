// Where the root of a unique id listens (mics_get_unique_id): an address of
// this host that the id's other ranks can reach, which on a cluster is not
// loopback. Kept apart from the bootstrap so the choice can be read and
// tested on its own.
#pragma once

#include <string>

#include "src/base/error.h"
#include "src/base/socket.h"

namespace mics {

// The first of:
//   MICS_ROOT_ADDR     that address;
//   MICS_ROOT_IFACE    that interface's address (IPv4 first);
//   MASTER_ADDR        the address of ours that the kernel routes towards it
//                      (torchrun and mics-run set it: on a cluster the
//                      interface that faces the master, which every rank
//                      reaches too; loopback when the master is local);
//   otherwise          127.0.0.1 (one host only).
// Port 0. *how says which rule chose it (for the log). INVALID_ARGUMENT for a
// setting that names nothing usable; the message says which and why.
Result choose_root_address(SockAddr* out, std::string* how);

}  // namespace mics
