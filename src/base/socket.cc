#include "src/base/socket.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <cstring>
#include <thread>

namespace mics {
namespace {

// Waits until fd is ready for events or the deadline passes.
Result wait_fd(int fd, short events, Deadline deadline, const char* what) {
  for (;;) {
    pollfd p{fd, events, 0};
    int64_t ms = deadline.remaining_ms(1000);
    int n = poll(&p, 1, static_cast<int>(ms));
    if (n > 0) return MICS_SUCCESS;
    if (n < 0 && errno != EINTR) return MICS_ERROR(MICS_SYSTEM_ERROR, "poll: %s", strerror(errno));
    if (deadline.expired()) return MICS_ERROR(MICS_TIMEOUT, "timed out while %s", what);
  }
}

Result make_socket(int family, int* fd) {
  *fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  MICS_SYSCHECK(*fd, "socket");
  int one = 1;
  setsockopt(*fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return MICS_SUCCESS;
}

}  // namespace

std::string SockAddr::str() const {
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (storage.ss_family == AF_INET) {
    auto* a = reinterpret_cast<const sockaddr_in*>(&storage);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
    port = ntohs(a->sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  auto* a = reinterpret_cast<const sockaddr_in6*>(&storage);
  inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
  port = ntohs(a->sin6_port);
  return "[" + std::string(host) + "]:" + std::to_string(port);
}

bool SockAddr::loopback() const {
  if (storage.ss_family == AF_INET)
    return (ntohl(reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr.s_addr) >> 24) == 127;
  if (storage.ss_family == AF_INET6)
    return IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr);
  return false;
}

Result resolve_addr(const std::string& host, int port, SockAddr* out) {
  if (port < 0 || port > 65535)
    return MICS_ERROR(MICS_INVALID_ARGUMENT, "port %d is outside [0, 65535]", port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res);
  if (rc != 0 || !res)
    return MICS_ERROR(MICS_INVALID_ARGUMENT, "cannot resolve address '%.128s': %s", host.c_str(),
                      gai_strerror(rc));
  memcpy(&out->storage, res->ai_addr, res->ai_addrlen);
  out->len = res->ai_addrlen;
  freeaddrinfo(res);
  return MICS_SUCCESS;
}

Result tcp_listen(const SockAddr& addr, int backlog, int* fd, SockAddr* bound) {
  MICS_CHECK(make_socket(addr.storage.ss_family, fd));
  int one = 1;
  setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(*fd, reinterpret_cast<const sockaddr*>(&addr.storage), addr.len) != 0 ||
      listen(*fd, backlog) != 0) {
    int err = errno;
    close(*fd);
    *fd = -1;
    return MICS_ERROR(MICS_SYSTEM_ERROR, "cannot listen on %s: %s", addr.str().c_str(),
                      strerror(err));
  }
  bound->len = sizeof(bound->storage);
  getsockname(*fd, reinterpret_cast<sockaddr*>(&bound->storage), &bound->len);
  return MICS_SUCCESS;
}

Result tcp_connect(const SockAddr& addr, Deadline deadline, int* fd) {
  for (int attempt = 0;; ++attempt) {
    MICS_CHECK(make_socket(addr.storage.ss_family, fd));
    int rc = connect(*fd, reinterpret_cast<const sockaddr*>(&addr.storage), addr.len);
    if (rc != 0 && errno == EINPROGRESS) {
      Result r = wait_fd(*fd, POLLOUT, deadline, "connecting");
      int err = 0;
      socklen_t len = sizeof(err);
      getsockopt(*fd, SOL_SOCKET, SO_ERROR, &err, &len);
      rc = (r == MICS_SUCCESS && err == 0) ? 0 : -1;
      errno = err ? err : ETIMEDOUT;
    }
    if (rc == 0) return MICS_SUCCESS;
    int err = errno;
    close(*fd);
    *fd = -1;
    if (deadline.expired())
      return MICS_ERROR(MICS_TIMEOUT, "cannot reach the root at %s: %s (gave up at the timeout)",
                        addr.str().c_str(), strerror(err));
    // The root may not be listening yet: back off a little and retry.
    std::this_thread::sleep_for(std::chrono::milliseconds(attempt < 10 ? 10 : 100));
  }
}

Result tcp_accept(int listen_fd, Deadline deadline, int* fd) {
  MICS_CHECK(wait_fd(listen_fd, POLLIN, deadline, "waiting for ranks to connect"));
  *fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
  MICS_SYSCHECK(*fd, "accept");
  int one = 1;
  setsockopt(*fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return MICS_SUCCESS;
}

Result tcp_try_accept(int listen_fd, int* fd, SockAddr* peer) {
  SockAddr ignored;
  SockAddr* a = peer ? peer : &ignored;
  for (;;) {
    a->len = sizeof(a->storage);
    *fd = accept4(listen_fd, reinterpret_cast<sockaddr*>(&a->storage), &a->len,
                  SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (*fd >= 0) break;
    // Nothing queued, or a connection that went away before we took it.
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ECONNABORTED) {
      *fd = -1;
      return MICS_SUCCESS;
    }
    if (errno == EINTR) continue;
    int err = errno;
    *fd = -1;
    Result r = MICS_ERROR(MICS_SYSTEM_ERROR, "accept failed: %s", strerror(err));
    errno = err;
    return r;
  }
  int one = 1;
  setsockopt(*fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return MICS_SUCCESS;
}

Result recv_some(int fd, void* buf, size_t len, size_t* got) {
  *got = 0;
  for (;;) {
    ssize_t n = recv(fd, buf, len, MSG_DONTWAIT);
    if (n > 0) {
      *got = static_cast<size_t>(n);
      return MICS_SUCCESS;
    }
    if (n == 0 && len > 0) return MICS_ERROR(MICS_REMOTE_ERROR, "connection closed by peer");
    if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK) return MICS_SUCCESS;
    if (errno == EINTR) continue;
    return MICS_ERROR(MICS_REMOTE_ERROR, "recv failed: %s", strerror(errno));
  }
}

Result send_some(int fd, const void* buf, size_t len, size_t* sent) {
  *sent = 0;
  for (;;) {
    ssize_t n = send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n >= 0) {
      *sent = static_cast<size_t>(n);
      return MICS_SUCCESS;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK) return MICS_SUCCESS;
    if (errno == EINTR) continue;
    return MICS_ERROR(MICS_REMOTE_ERROR, "send failed: %s", strerror(errno));
  }
}

Result send_all(int fd, const void* buf, size_t len, Deadline deadline) {
  auto* p = static_cast<const char*>(buf);
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n > 0) {
      p += n;
      len -= static_cast<size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      MICS_CHECK(wait_fd(fd, POLLOUT, deadline, "sending"));
    } else {
      return MICS_ERROR(MICS_REMOTE_ERROR, "send failed: %s", strerror(errno));
    }
  }
  return MICS_SUCCESS;
}

Result recv_all(int fd, void* buf, size_t len, Deadline deadline) {
  auto* p = static_cast<char*>(buf);
  while (len > 0) {
    ssize_t n = recv(fd, p, len, 0);
    if (n > 0) {
      p += n;
      len -= static_cast<size_t>(n);
    } else if (n == 0) {
      return MICS_ERROR(MICS_REMOTE_ERROR, "connection closed by peer");
    } else if (errno == EAGAIN || errno == EINTR) {
      MICS_CHECK(wait_fd(fd, POLLIN, deadline, "receiving"));
    } else {
      return MICS_ERROR(MICS_REMOTE_ERROR, "recv failed: %s", strerror(errno));
    }
  }
  return MICS_SUCCESS;
}

}  // namespace mics
