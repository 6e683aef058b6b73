// Split and MiCS partition/replication groups. A split reuses the parent: the
// (color, key) exchange runs over the parent's own data path, the children's
// rank tables are slices of the parent's, and only the shared-memory mailboxes
// are new (named deterministically, so no name exchange is needed).
#include <algorithm>

#include "src/coll/collectives.h"
#include "src/comm.h"
#include "topo/node_id.h"

namespace mics {

Result split_comm(mics_comm* parent, int color, int key, mics_comm** out) {
  *out = nullptr;
  struct Entry {
    int32_t color;
    int32_t key;
  };
  std::vector<Entry> all(parent->size);
  Entry mine{color, key};
  MICS_CHECK(coll::allgather(parent, &mine, all.data(), sizeof(Entry), MICS_UINT8,
                             coll::Kind::kAllgather));
  uint32_t split_index = parent->splits++;

  // Members of every color, ordered by (key, parent rank).
  auto members_of = [&](int col) {
    std::vector<int> members;
    for (int r = 0; r < parent->size; ++r)
      if (all[r].color == col) members.push_back(r);
    std::stable_sort(members.begin(), members.end(),
                     [&](int a, int b) { return all[a].key < all[b].key; });
    return members;
  };
  auto infos_of = [&](const std::vector<int>& members) {
    std::vector<RankInfo> infos;
    for (int r : members) infos.push_back(parent->ranks[r]);
    return infos;
  };
  // Children that span nodes need endpoints, and their addresses travel over
  // the parent. Every parent rank reaches the same verdict from the same table.
  bool any_needs_net = false;
  for (int r = 0; r < parent->size; ++r)
    if (all[r].color != MICS_SPLIT_NOCOLOR && needs_network(infos_of(members_of(all[r].color))))
      any_needs_net = true;
  std::vector<int> members = members_of(color);
  std::vector<RankInfo> infos = infos_of(members);
  int new_rank =
      static_cast<int>(std::find(members.begin(), members.end(), parent->rank) - members.begin());
  NetSetup net;
  if (any_needs_net) {
    NetAddress mine_addr{};
    Result opened = MICS_SUCCESS;
    if (color != MICS_SPLIT_NOCOLOR && needs_network(infos))
      opened = open_endpoint(&parent->net_domain, parent->net_params, new_rank, &net, &mine_addr);
    if (opened != MICS_SUCCESS) mine_addr.len = 0;  // still take part, so nobody waits for us
    std::vector<NetAddress> addrs(parent->size);
    MICS_CHECK(coll::allgather(parent, &mine_addr, addrs.data(), sizeof(NetAddress), MICS_UINT8,
                               coll::Kind::kAllgather));
    MICS_CHECK(opened);
    if (net.endpoint)
      for (int r : members) net.addresses.push_back(addrs[r]);
  }
  if (color == MICS_SPLIT_NOCOLOR) return MICS_SUCCESS;

  uint64_t id_parts[3] = {parent->comm_id, split_index, static_cast<uint64_t>(color)};
  uint64_t comm_id = topo::hash_bytes(id_parts, sizeof(id_parts)) | 1;  // never 0 (the world's)
  CommConfig config;
  config.timeout_ms = parent->timeout_ms;
  config.job_tag = parent->job_tag;
  config.shm_params = parent->shm_params;
  config.net_params = parent->net_params;
  config.algo = parent->algo;
  config.model = parent->model;
  config.stream_bytes = parent->stream_bytes;
  MICS_CHECK(build_comm(std::move(infos), new_rank, parent->session, comm_id, config,
                        std::move(net), out));
  return MICS_SUCCESS;
}

}  // namespace mics
