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
  if (color == MICS_SPLIT_NOCOLOR) return MICS_SUCCESS;

  std::vector<int> members;
  for (int r = 0; r < parent->size; ++r)
    if (all[r].color == color) members.push_back(r);
  std::stable_sort(members.begin(), members.end(),
                   [&](int a, int b) { return all[a].key < all[b].key; });
  int new_rank = static_cast<int>(std::find(members.begin(), members.end(), parent->rank) -
                                  members.begin());
  std::vector<RankInfo> infos;
  for (int r : members) infos.push_back(parent->ranks[r]);

  uint64_t id_parts[3] = {parent->comm_id, split_index, static_cast<uint64_t>(color)};
  uint64_t comm_id = topo::hash_bytes(id_parts, sizeof(id_parts)) | 1;  // never 0 (the world's)
  CommConfig config;
  config.timeout_ms = parent->timeout_ms;
  config.job_tag = parent->job_tag;
  config.shm_params = parent->shm_params;
  MICS_CHECK(build_comm(std::move(infos), new_rank, parent->session, comm_id, config, out));
  return MICS_SUCCESS;
}

}  // namespace mics
