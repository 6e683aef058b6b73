// Blocking-with-deadline TCP helpers for the bootstrap. Every call takes a
// Deadline; a slow or silent peer yields MICS_TIMEOUT, a closed one
// MICS_REMOTE_ERROR.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>
#include <string>

#include "src/base/deadline.h"
#include "src/base/error.h"

namespace mics {

struct SockAddr {
  sockaddr_storage storage{};
  socklen_t len = 0;
  std::string str() const;  // "1.2.3.4:5678" / "[::1]:5678"
  bool loopback() const;    // 127.0.0.0/8 or ::1
};

// Resolves host (numeric or name) and port. INVALID_ARGUMENT when it cannot.
Result resolve_addr(const std::string& host, int port, SockAddr* out);
// Listens on addr (port 0: ephemeral); *bound gets the actual address.
Result tcp_listen(const SockAddr& addr, int backlog, int* fd, SockAddr* bound);
// Connects, retrying refused connections until the deadline (the root may not be up yet).
Result tcp_connect(const SockAddr& addr, Deadline deadline, int* fd);
// Accepts one connection or times out.
Result tcp_accept(int listen_fd, Deadline deadline, int* fd);
// Never blocks: accepts one queued connection (non-blocking, close-on-exec) if
// there is one; *fd = -1 when none is queued. *peer (optional) gets its address.
// SYSTEM_ERROR with errno kept (EMFILE, ...) when accept fails otherwise.
Result tcp_try_accept(int listen_fd, int* fd, SockAddr* peer);
// Never blocks: receives up to len bytes into buf; *got = bytes received, 0
// when nothing is there yet. REMOTE_ERROR when the peer closed or reset.
Result recv_some(int fd, void* buf, size_t len, size_t* got);
// Never blocks: sends what fits now of buf; *sent = bytes sent.
Result send_some(int fd, const void* buf, size_t len, size_t* sent);
Result send_all(int fd, const void* buf, size_t len, Deadline deadline);
Result recv_all(int fd, void* buf, size_t len, Deadline deadline);

}  // namespace mics
