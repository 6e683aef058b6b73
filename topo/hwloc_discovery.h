// Fills the Machine model from hwloc: from the running machine, or from an
// hwloc v2 XML file so that tests and bug reports can replay a p4d without one.
//
//   MICS_TOPO_FILE       read this hwloc XML instead of the running machine
//   MICS_TOPO_DUMP_FILE  write the loaded topology there as hwloc XML (v2)
//
// Like NCCL_TOPO_FILE / NCCL_TOPO_DUMP_FILE; a dump from one machine is the
// fixture for the next bug report.
#pragma once

#include <string>

#include "topo/machine.h"

namespace mics::topo {

struct DiscoverOptions {
  std::string xml_file;   // "" = MICS_TOPO_FILE, and when that is unset too, this machine
  std::string dump_file;  // "" = MICS_TOPO_DUMP_FILE; unset = no dump
};

// Loads the topology and fills *out. A machine without GPUs or NICs is fine.
// SYSTEM_ERROR: the XML file cannot be read, or the dump cannot be written;
// INVALID_ARGUMENT: the file is not an hwloc XML that hwloc 2 can load.
// Messages name the file.
Result discover_machine(const DiscoverOptions& options, Machine* out);

// This process's machine, discovered once (from the environment, as above) and
// then shared: hwloc's I/O discovery costs tens of milliseconds, too much to
// repeat per communicator. A failure is not cached; the next call retries.
Result local_machine(const Machine** out);

}  // namespace mics::topo
