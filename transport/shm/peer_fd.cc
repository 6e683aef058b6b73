#include "transport/shm/peer_fd.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

namespace mics::transport::shm {

int duplicate_peer_fd(int pid, int fd, int* out) {
  *out = -1;
#if defined(SYS_pidfd_open) && defined(SYS_pidfd_getfd)
  // pidfd_open takes 0 or a negative pid as EINVAL; for the caller it is the
  // same as a process that does not exist.
  if (pid <= 0) return ESRCH;
  if (fd < 0) return EBADF;
  // Through a pidfd rather than the pid itself: the pidfd stays bound to the
  // process it was opened for even if the pid is reused afterwards.
  int pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) return errno;
  int copy = static_cast<int>(syscall(SYS_pidfd_getfd, pidfd, fd, 0));
  int err = copy < 0 ? errno : 0;
  close(pidfd);
  if (copy < 0) return err;
  *out = copy;
  return 0;
#else
  (void)pid;
  (void)fd;
  return ENOSYS;
#endif
}

}  // namespace mics::transport::shm
