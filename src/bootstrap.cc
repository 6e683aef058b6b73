// Bootstrap, rank side: hello to the root, the rank table back, and (across
// nodes) the second round of network addresses.
#include "src/bootstrap.h"

#include <unistd.h>

#include <cstring>

namespace mics {

Result rendezvous(const UniqueId& id, int nranks, int rank, const RankInfo& mine, Deadline deadline,
                  const std::function<Result(NetAddress*)>& make_address,
                  std::vector<RankInfo>* all, std::vector<NetAddress>* addresses,
                  uint64_t* session) {
  if (nranks < 1 || nranks > kMaxRanks)
    return MICS_ERROR(MICS_INVALID_ARGUMENT, "nranks %d is outside [1, %d]", nranks, kMaxRanks);
  int fd = -1;
  MICS_CHECK(tcp_connect(id.root, deadline, &fd));
  Hello h{kHelloMagic, kVersion, {}, nranks, rank, sizeof(RankInfo)};
  memcpy(h.secret, id.secret, kSecretBytes);
  Reply r{};
  Result res = send_all(fd, &h, sizeof(h), deadline);
  if (res == MICS_SUCCESS) res = send_all(fd, &mine, sizeof(mine), deadline);
  if (res == MICS_SUCCESS) res = recv_all(fd, &r, sizeof(r), deadline);
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
