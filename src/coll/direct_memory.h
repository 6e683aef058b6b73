// How the single-copy algorithms (direct.cc, direct_reduce_scatter.cc) touch
// buffers, so that one expose / read / release protocol serves host and device
// memory. Host memory (direct_memory_host.cc): memcpy, cross-memory attach and
// the CPU reductions of src/reduce. Device memory (src/cuda/direct_device.cc):
// peers' buffers mapped through CUDA IPC (transport/cuda_ipc), copies and
// reduction kernels on the device proxy's stream.
#pragma once

#include <cstddef>
#include <vector>

#include "mics/mics.h"
#include "src/base/error.h"
#include "transport/shm/mailbox.h"

struct mics_comm;

namespace mics::coll {

struct Call;

// The peer side of one read: whose exposure, and the exposure itself.
struct PeerExposure {
  int rank;   // comm rank
  int index;  // local (shared-memory) index
  const transport::shm::ShmDomain::Exposure& e;
};

class DirectMemory {
 public:
  virtual ~DirectMemory() = default;

  // Writes what readers need besides the address to reach [addr, addr + bytes)
  // of ours (ShmDomain::kSidecarBytes at most) into out; *len = 0: nothing.
  virtual Result describe(Call& call, const void* addr, size_t bytes, void* out, size_t* len) = 0;
  // Copies [off, off + len) of the peer's exposure into dst (ours).
  virtual Result read(Call& call, const PeerExposure& p, size_t off, size_t len, void* dst) = 0;
  // A pointer through which a reduction reads [off, off + len) of the peer's
  // exposure: its memory itself where that is mapped here, else a copy valid
  // until the next view. len <= view_limit(): SIZE_MAX where views are
  // mappings (device memory, threads of one process); otherwise (host memory
  // of other processes) the algorithms fold piece by piece with src/reduce.
  virtual Result view(Call& call, const PeerExposure& p, size_t off, size_t len,
                      const void** out) = 0;
  virtual size_t view_limit() const = 0;
  // dst = src, len bytes, within our memory (or from a view).
  virtual Result copy(void* dst, const void* src, size_t len) = 0;
  // dst = finish(op(...op(op(srcs[0], srcs[1]), srcs[2])..., srcs[k-1])), n elements each, in
  // the wire type: a whole block's reduction in one step (src/reduce/reduce.h's to_wire,
  // reduce_to_wire..., reduce_to_final chained, bit for bit). dst may be one of srcs.
  virtual Result reduce_inputs(mics_datatype_t type, mics_redop_t op, void* dst,
                               const std::vector<const void*>& srcs, size_t n, int nranks) = 0;
  // At least `bytes` of scratch in this memory (partial results), kept for reuse.
  virtual Result scratch(size_t bytes, void** out) = 0;
  // Returns when every copy and reduction issued so far is complete: a read
  // ends before its exposure is released, and a call's output before it returns.
  virtual Result flush() = 0;
};

// True when every rank of c is a thread of this process.
bool ranks_in_one_process(const mics_comm* c);

// The memory a direct call on c works in: the device proxy's while it runs a
// device call (mics_comm::device_memory), else c's host memory (made on first use).
DirectMemory& direct_memory(mics_comm* c);

// Deletes a comm's host DirectMemory (held by mics_comm without its definition).
struct DirectMemoryDeleter {
  void operator()(DirectMemory* m) const;
};

}  // namespace mics::coll
