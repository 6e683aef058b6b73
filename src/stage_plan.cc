#include "src/stage_plan.h"

#include <algorithm>

namespace mics {

std::vector<Stage> plan_stages(StagedKind kind, int nranks, int rank, int root, size_t count,
                               size_t esize, size_t stage_bytes) {
  const size_t k = static_cast<size_t>(nranks);
  const bool gathers = kind == StagedKind::kAllgather || kind == StagedKind::kReduceScatter;
  // Host bytes per element of a column: allgather / reduce-scatter hold one
  // element of our block and one of every rank's; the others work in place.
  const size_t per_element = gathers ? (k + 1) * esize : esize;
  const size_t column = std::max<size_t>(1, stage_bytes / per_element);
  const size_t block = count * esize;  // the distance between two ranks' blocks
  std::vector<Stage> stages;
  for (size_t first = 0; first < count; first += column) {
    const size_t n = std::min(column, count - first);
    const size_t off = first * esize, w = n * esize;
    Stage s;
    s.count = n;
    switch (kind) {
      case StagedKind::kAllgather:  // ours -> [0, w); every rank's column -> [w, w + k w)
        s.in = {off, w, w, 1, 0};
        s.out = {off, block, w, k, w};
        s.send_off = 0, s.recv_off = w;
        s.piece_bytes = (k + 1) * w;
        break;
      case StagedKind::kReduceScatter:  // every rank's column -> [0, k w); ours -> [k w, +w)
        s.in = {off, block, w, k, 0};
        s.out = {off, w, w, 1, k * w};
        s.send_off = 0, s.recv_off = k * w;
        s.piece_bytes = (k + 1) * w;
        break;
      case StagedKind::kAllreduce:
        s.in = {off, w, w, 1, 0};
        s.out = {off, w, w, 1, 0};
        s.piece_bytes = w;
        break;
      case StagedKind::kBroadcast:  // only the root's input is read
        if (rank == root) s.in = {off, w, w, 1, 0};
        s.out = {off, w, w, 1, 0};
        s.piece_bytes = w;
        break;
    }
    stages.push_back(s);
  }
  return stages;
}

}  // namespace mics
