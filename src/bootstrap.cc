// Bootstrap, rank side: hello to the root, the rank table back, and (across
// nodes) the second round of network addresses.
#include "src/bootstrap.h"

#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include "src/base/log.h"

namespace mics {

Result rendezvous(const UniqueId& id, int nranks, int rank, const RankInfo& mine, Deadline deadline,
                  const std::function<Result(NetAddress*)>& make_address,
                  std::vector<RankInfo>* all, std::vector<NetAddress>* addresses,
                  uint64_t* session) {
  if (nranks < 1 || nranks > kMaxRanks)
    return MICS_ERROR(MICS_INVALID_ARGUMENT, "nranks %d is outside [1, %d]", nranks, kMaxRanks);
  Hello h{kHelloMagic, kVersion, {}, nranks, rank, sizeof(RankInfo)};
  memcpy(h.secret, id.secret, kSecretBytes);
  Reply r{};
  int fd = -1;
  Result res = MICS_SUCCESS;
  // A flood of connections at the root can evict ours before the root has read
  // our hello (it keeps kMaxPending silent connections and closes the oldest,
  // without a reply; a rank descheduled between connect and send looks silent).
  // Closed or reset before the reply: connect again until the deadline. Any
  // reply, a refusal included, ends the loop; a root that is gone refuses the
  // connection, which tcp_connect turns into an error at the deadline.
  for (int attempt = 1;; ++attempt) {
    if (Result c = tcp_connect(id.root, deadline, &fd); c != MICS_SUCCESS) {
      if (!id.root.loopback()) return trace_error(c, __FILE__, __LINE__);
      const std::string why = thread_error();
      return MICS_ERROR(c,
                        "%s; the id's root listens on loopback, which only ranks on its own "
                        "host reach: make the id where MICS_ROOT_ADDR, MICS_ROOT_IFACE or "
                        "MASTER_ADDR name an address of that host the others reach",
                        why.c_str());
    }
    res = send_all(fd, &h, sizeof(h), deadline);
    if (res == MICS_SUCCESS) res = send_all(fd, &mine, sizeof(mine), deadline);
    if (res == MICS_SUCCESS) res = recv_all(fd, &r, sizeof(r), deadline);
    if (res != MICS_REMOTE_ERROR || deadline.expired()) break;
    close(fd);
    fd = -1;
    MICS_LOG_INFO(
        "bootstrap: rank %d: the root %s closed our connection before replying "
        "(attempt %d); connecting again",
        rank, id.root.str().c_str(), attempt);
    clear_thread_error();
    std::this_thread::sleep_for(std::chrono::milliseconds(attempt < 10 ? 1 : 10));
  }
  if (res == MICS_TIMEOUT) {
    close(fd);
    return MICS_ERROR(MICS_TIMEOUT,
                      "rank %d: not every one of the %d ranks reached the root %s "
                      "before the timeout",
                      rank, nranks, id.root.str().c_str());
  }
  if (res == MICS_SUCCESS) res = check_reply(r, nranks, rank, id.root.str().c_str());
  if (res != MICS_SUCCESS) {
    close(fd);
    return trace_error(res, __FILE__, __LINE__);
  }
  all->resize(nranks);
  res = recv_all(fd, all->data(), all->size() * sizeof(RankInfo), deadline);
  if (res == MICS_SUCCESS) res = check_rank_table(all, rank, mine);
  if (res == MICS_SUCCESS && needs_network(*all)) {
    NetAddress ours{};
    Result made = make_address(&ours);
    if (made != MICS_SUCCESS) ours.len = 0;  // tell the others rather than leave them waiting
    res = send_all(fd, &ours, sizeof(ours), deadline);
    addresses->resize(nranks);
    if (res == MICS_SUCCESS)
      res = recv_all(fd, addresses->data(), addresses->size() * sizeof(NetAddress), deadline);
    if (res == MICS_SUCCESS) res = check_addresses(*addresses);
    if (made != MICS_SUCCESS) res = made;
  }
  close(fd);
  MICS_CHECK(res);
  *session = r.session;
  return MICS_SUCCESS;
}

}  // namespace mics
