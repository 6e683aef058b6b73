#include "src/root_addr.h"

#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "src/base/env.h"

namespace mics {
namespace {

void clear_port(SockAddr* a) {
  if (a->storage.ss_family == AF_INET) reinterpret_cast<sockaddr_in*>(&a->storage)->sin_port = 0;
  if (a->storage.ss_family == AF_INET6) reinterpret_cast<sockaddr_in6*>(&a->storage)->sin6_port = 0;
}

// The IPv4 address of interface `name`, else its first IPv6 one.
Result interface_address(const std::string& name, SockAddr* out) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0)
    return MICS_ERROR(MICS_SYSTEM_ERROR, "getifaddrs failed: %s", strerror(errno));
  const ifaddrs* v4 = nullptr;
  const ifaddrs* v6 = nullptr;
  std::string names;  // for the message when `name` has no address
  for (const ifaddrs* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr) continue;
    const int family = i->ifa_addr->sa_family;
    if (family != AF_INET && family != AF_INET6) continue;
    if (names.find(std::string(" ") + i->ifa_name + ",") == std::string::npos)
      names += std::string(" ") + i->ifa_name + ",";
    if (name != i->ifa_name) continue;
    if (family == AF_INET && !v4) v4 = i;
    if (family == AF_INET6 && !v6) v6 = i;
  }
  const ifaddrs* pick = v4 ? v4 : v6;
  if (pick) {
    out->len = pick == v4 ? sizeof(sockaddr_in) : sizeof(sockaddr_in6);
    memcpy(&out->storage, pick->ifa_addr, out->len);
  }
  freeifaddrs(list);
  if (!names.empty()) names.pop_back();  // the last comma
  if (!pick)
    return MICS_ERROR(MICS_INVALID_ARGUMENT,
                      "MICS_ROOT_IFACE=%.64s: no such interface with an IP address (these have "
                      "one:%.400s)",
                      name.c_str(), names.c_str());
  return MICS_SUCCESS;
}

// Our address on the route towards peer: connecting a UDP socket sends
// nothing, but makes the kernel pick the source address.
Result address_towards(const SockAddr& peer, SockAddr* out) {
  int fd = socket(peer.storage.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return MICS_ERROR(MICS_SYSTEM_ERROR, "socket failed: %s", strerror(errno));
  out->len = sizeof(out->storage);
  int rc = connect(fd, reinterpret_cast<const sockaddr*>(&peer.storage), peer.len);
  if (rc == 0) rc = getsockname(fd, reinterpret_cast<sockaddr*>(&out->storage), &out->len);
  const int err = errno;
  close(fd);
  if (rc != 0)
    return MICS_ERROR(MICS_INVALID_ARGUMENT,
                      "no route from this host to MASTER_ADDR (%s): %s; set MICS_ROOT_ADDR or "
                      "MICS_ROOT_IFACE to an address of this host the other ranks reach",
                      peer.str().c_str(), strerror(err));
  return MICS_SUCCESS;
}

}  // namespace

Result choose_root_address(SockAddr* out, std::string* how) {
  if (std::string host = env_str("MICS_ROOT_ADDR"); !host.empty()) {
    MICS_CHECK(resolve_addr(host, 0, out));
    *how = "MICS_ROOT_ADDR";
  } else if (std::string iface = env_str("MICS_ROOT_IFACE"); !iface.empty()) {
    MICS_CHECK(interface_address(iface, out));
    *how = "MICS_ROOT_IFACE=" + iface;
  } else if (std::string master = env_str("MASTER_ADDR"); !master.empty()) {
    SockAddr m;
    MICS_CHECK(resolve_addr(master, 9, &m));  // any port: nothing is sent to it
    MICS_CHECK(address_towards(m, out));
    *how = "the route towards MASTER_ADDR=" + master;
  } else {
    MICS_CHECK(resolve_addr("127.0.0.1", 0, out));
    *how = "loopback (no MICS_ROOT_ADDR, MICS_ROOT_IFACE or MASTER_ADDR)";
  }
  clear_port(out);
  return MICS_SUCCESS;
}

}  // namespace mics
