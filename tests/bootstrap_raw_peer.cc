// A raw peer of the bootstrap (bootstrap_raw_peer.h): sockets and wire
// structs handled by hand, outside the library.
#include "bootstrap_raw_peer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <new>

namespace mics_test::bootstrap_peer {

IdWire IdOf(const mics_unique_id& id) {
  IdWire w;
  memcpy(&w, id.internal, sizeof(w));
  return w;
}

mics_unique_id HandMadeId() {
  IdWire w{};
  w.magic = kIdMagic;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(1);  // nobody listens on port 1
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  w.addr_len = sizeof(a);
  memcpy(w.addr, &a, sizeof(a));
  for (int i = 0; i < kSecretBytes; ++i) w.secret[i] = static_cast<uint8_t>(i * 37 + 1);
  mics_unique_id id;
  memset(id.internal, 0, sizeof(id.internal));
  memcpy(id.internal, &w, sizeof(w));
  return id;
}

Shared* NewShared() {
  void* p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : new (p) Shared();
}

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

bool WaitFor(const std::atomic<int>& v, int want, double seconds) {
  const auto t0 = Clock::now();
  while (v.load() < want && Since(t0) < seconds) usleep(500);
  return v.load() >= want;
}

namespace {

sockaddr_storage RootAddr(const mics_unique_id& id, socklen_t* len) {
  IdWire w = IdOf(id);
  sockaddr_storage a{};
  memcpy(&a, w.addr, std::min<size_t>(w.addr_len, sizeof(w.addr)));
  *len = w.addr_len;
  return a;
}

}  // namespace

int Connect(const mics_unique_id& id) {
  socklen_t len = 0;
  sockaddr_storage a = RootAddr(id, &len);
  int fd = socket(a.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), len) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

bool SendAll(int fd, const void* buf, size_t len) {
  auto* p = static_cast<const char*>(buf);
  while (len > 0) {
    ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

bool RecvAll(int fd, void* buf, size_t len, double seconds) {
  auto* p = static_cast<char*>(buf);
  const auto t0 = Clock::now();
  while (len > 0) {
    pollfd pfd{fd, POLLIN, 0};
    int left_ms = static_cast<int>((seconds - Since(t0)) * 1000);
    if (left_ms <= 0 || poll(&pfd, 1, left_ms) <= 0) return false;
    ssize_t n = recv(fd, p, len, 0);
    if (n <= 0) return false;
    p += n;
    len -= static_cast<size_t>(n);
  }
  return true;
}

bool ClosedWithin(int fd, double seconds) {
  const auto t0 = Clock::now();
  char junk[256];
  while (Since(t0) < seconds) {
    pollfd pfd{fd, POLLIN, 0};
    if (poll(&pfd, 1, 50) <= 0) continue;
    ssize_t n = recv(fd, junk, sizeof(junk), 0);
    if (n <= 0) return true;
  }
  return false;
}

Hello MakeHello(const uint8_t* secret, int nranks, int rank, uint32_t info_bytes) {
  Hello h{};
  h.magic = kHelloMagic;
  h.version = 1;
  memcpy(h.secret, secret, kSecretBytes);
  h.nranks = nranks;
  h.rank = rank;
  h.info_bytes = info_bytes;
  return h;
}

}  // namespace mics_test::bootstrap_peer
