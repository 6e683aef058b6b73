// DirectMemory for host buffers: what the single-copy path did before it served
// device memory too. Reads use cross-memory attach (process_vm_readv), or memcpy
// between threads of one process; views of another process's memory go
// through a bounce buffer of L2 size, so that a reduction reads it warm.
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstring>
#include <vector>

#include "src/coll/call.h"
#include "src/coll/direct_memory.h"
#include "src/reduce/reduce.h"
#include "transport/shm/liveness.h"

namespace mics::coll {
namespace {

constexpr size_t kBounceBytes = 256 << 10;  // about a core's share of L2

Result read_failed(Call& call, int peer, int err) {
  mics_comm* c = call.comm;
  const int pid = c->ranks[peer].pid;
  if (err == ESRCH || !transport::shm::process_alive(pid))
    return MICS_ERROR(MICS_REMOTE_ERROR, "%s #%" PRIu64 ": rank %d (pid %d) has exited",
                      kind_name(call.kind), call.seq, peer, pid);
  // A peer that failed its call returns to its caller, who may free the
  // buffer it had exposed: the read then faults, and the failure is the news.
  MICS_CHECK(check_alive(call, c, peer, -1));
  // The probe at communicator creation succeeded, so a policy changed since
  // (seccomp, Yama): the peers have chosen this path already, no way back now.
  return MICS_ERROR(MICS_INTERNAL_ERROR,
                    "%s #%" PRIu64 ": reading rank %d's buffer (pid %d) failed: %s%s",
                    kind_name(call.kind), call.seq, peer, pid, strerror(err),
                    err == EPERM || err == ENOSYS
                        ? " (cross-memory attach was refused after the communicator was "
                          "created; set MICS_SHM_CMA=0 on every rank to avoid it)"
                        : "");
}

class HostMemory final : public DirectMemory {
 public:
  // in_process: every rank is a thread of this process, so every view is the
  // peer's memory itself (no bounce, no size limit).
  explicit HostMemory(bool in_process) : in_process_(in_process), own_pid_(getpid()) {}
  Result describe(Call&, const void*, size_t, void*, size_t* len) override {
    *len = 0;
    return MICS_SUCCESS;
  }
  Result read(Call& call, const PeerExposure& p, size_t off, size_t len, void* dst) override {
    int err = call.comm->shm->read_exposed(p.index, p.e, off, len, dst);
    return err == 0 ? MICS_SUCCESS : read_failed(call, p.rank, err);
  }
  Result view(Call& call, const PeerExposure& p, size_t off, size_t len,
              const void** out) override {
    if (p.e.addr != 0 && call.comm->ranks[p.rank].pid == own_pid_ && off <= p.e.bytes &&
        len <= p.e.bytes - off) {
      *out = reinterpret_cast<const char*>(p.e.addr) + off;  // a thread of our process
      return MICS_SUCCESS;
    }
    if (len > kBounceBytes)
      return MICS_ERROR(MICS_INTERNAL_ERROR, "view of %zu bytes (limit %zu)", len, kBounceBytes);
    bounce_.resize(kBounceBytes);
    MICS_CHECK(read(call, p, off, len, bounce_.data()));
    *out = bounce_.data();
    return MICS_SUCCESS;
  }
  size_t view_limit() const override { return in_process_ ? SIZE_MAX : kBounceBytes; }
  Result copy(void* dst, const void* src, size_t len) override {
    if (dst != src) memcpy(dst, src, len);
    return MICS_SUCCESS;
  }
  // The chain to_wire, reduce_to_wire..., reduce_to_final over the whole
  // block, the partial in the scratch buffer.
  Result reduce_inputs(mics_datatype_t type, mics_redop_t op, void* dst,
                       const std::vector<const void*>& srcs, size_t n, int nranks) override {
    const size_t k = srcs.size();
    void* partial = nullptr;
    MICS_CHECK(scratch(std::max<size_t>(n * wire_type_size(type), 1), &partial));
    mics::to_wire(type, partial, srcs[0], n);
    for (size_t j = 1; j + 1 < k; ++j) mics::reduce_to_wire(type, op, partial, partial, srcs[j], n);
    if (k == 1)
      mics::wire_to_final(type, op, dst, partial, n, nranks);
    else
      mics::reduce_to_final(type, op, dst, partial, srcs[k - 1], n, nranks);
    return MICS_SUCCESS;
  }
  Result scratch(size_t bytes, void** out) override {
    if (scratch_.size() < bytes) scratch_.resize(bytes);
    *out = scratch_.data();
    return MICS_SUCCESS;
  }
  Result flush() override { return MICS_SUCCESS; }  // every step above is synchronous

 private:
  bool in_process_;
  int own_pid_;
  std::vector<char> bounce_;
  std::vector<char> scratch_;
};

}  // namespace

bool ranks_in_one_process(const mics_comm* c) {
  const int pid = getpid();
  for (const RankInfo& r : c->ranks)
    if (r.pid != pid) return false;
  return true;
}

DirectMemory& direct_memory(mics_comm* c) {
  if (c->device_memory) return *c->device_memory;
  if (!c->host_memory) c->host_memory.reset(new HostMemory(ranks_in_one_process(c)));
  return *c->host_memory;
}

void DirectMemoryDeleter::operator()(DirectMemory* m) const { delete m; }

}  // namespace mics::coll
