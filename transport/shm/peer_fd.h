// Duplicating a file descriptor out of another local process (pidfd_getfd,
// Linux 5.6+): how a rank gets the fd of a peer's exported CUDA allocation
// (transport/cuda_ipc) without a unix socket between the two ranks to pass it
// over with SCM_RIGHTS. The owner only keeps the fd open and publishes its
// number; the importer takes a copy whenever it wants one. The kernel allows
// it where ptrace would be allowed (PTRACE_MODE_ATTACH_REALCREDS): the same
// user, and under Yama the owner's allow_peer_reads() (peer_memory.h).
#pragma once

namespace mics::transport::shm {

// Puts into *out a new fd (close-on-exec) of this process that refers to the
// same open file as fd `fd` of process `pid`. Returns 0, or the errno of the
// failure: ESRCH the process is gone (or pid is not a process id), EBADF it
// has no such fd, EPERM not allowed, ENOSYS a kernel older than 5.6. The
// caller closes *out.
int duplicate_peer_fd(int pid, int fd, int* out);

}  // namespace mics::transport::shm
