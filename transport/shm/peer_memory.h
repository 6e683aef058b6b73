// Reading another local process's memory directly (the single-copy path):
// Linux cross-memory attach (process_vm_readv), or a plain memcpy when the
// "other process" is our own (ranks that are threads of one process).
#pragma once

#include <cstddef>
#include <cstdint>

namespace mics::transport::shm {

// Lets any process of ours read this one's memory where Yama restricts
// ptrace to descendants (PR_SET_PTRACER_ANY, as OpenMPI's vader does).
void allow_peer_reads();

// Copies len bytes at remote_addr in process pid into dst. Returns 0, or the
// errno of the failure (EPERM: not allowed; ENOSYS: no CMA; ESRCH: the process
// is gone; EFAULT: the range is not mapped there).
int read_process_memory(int pid, uint64_t remote_addr, void* dst, size_t len);

}  // namespace mics::transport::shm
