// How a device-buffer call crosses host memory in pieces (the staged path of
// src/cuda/proxy.cc, for communicators that span nodes): piece i is copied
// device -> pinned host, reduced or exchanged by the host collective, and
// copied back, while piece i+1 goes down and piece i-1 comes back, so the
// copies hide behind the network. Each piece is a collective of its own over
// a column of the call: elements [first, first + n) of every rank's block.
// Plain arithmetic (no CUDA): tests/stage_plan_test.cc checks it on the host.
#pragma once

#include <cstddef>
#include <vector>

namespace mics {

enum class StagedKind { kAllgather, kReduceScatter, kAllreduce, kBroadcast };

// A 2-D copy between a device buffer and a host piece: `rows` rows of `width`
// bytes, `pitch` bytes apart in the device buffer from byte `dev_offset`,
// packed one after another in the piece from byte `host_offset`. rows == 0:
// nothing to copy.
struct StageCopy {
  size_t dev_offset = 0;
  size_t pitch = 0;
  size_t width = 0;
  size_t rows = 0;
  size_t host_offset = 0;
};

// Piece i: copy `in` from the send buffer, run the collective on `count`
// elements with its send at byte send_off and its recv at byte recv_off of
// the piece (equal: in place), copy `out` into the recv buffer.
struct Stage {
  StageCopy in, out;
  size_t count = 0;
  size_t send_off = 0, recv_off = 0;
  size_t piece_bytes = 0;  // the piece's extent in host memory
};

// The pieces of one call: count as in the API (allgather and reduce-scatter:
// per rank; allreduce and broadcast: the whole buffer), elements of esize
// bytes, pieces of at most stage_bytes of host memory (at least one element
// per rank). Every rank gets the same number of pieces and counts, so each
// piece's collective matches across ranks. count == 0: no pieces.
std::vector<Stage> plan_stages(StagedKind kind, int nranks, int rank, int root, size_t count,
                               size_t esize, size_t stage_bytes);

}  // namespace mics
