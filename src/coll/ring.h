// Bookkeeping shared by the ring algorithms: a cursor over the (step, chunk)
// items that one direction of a ring carries, skipping empty blocks.
#pragma once

#include <cstddef>
#include <vector>

namespace mics::coll {

inline size_t div_up(size_t a, size_t b) { return (a + b - 1) / b; }

class RingCursor {
 public:
  // chunks_per_step[s]: how many chunks the block of step s has (0 = empty block).
  explicit RingCursor(std::vector<size_t> chunks_per_step) : per_step_(std::move(chunks_per_step)) {
    skip_empty();
  }
  bool done() const { return step_ >= per_step_.size(); }
  size_t step() const { return step_; }
  size_t chunk() const { return chunk_; }
  void advance() {
    if (++chunk_ == per_step_[step_]) {
      ++step_;
      chunk_ = 0;
      skip_empty();
    }
  }
  // True when the item (step, chunk) has already been passed.
  bool passed(size_t step, size_t chunk) const {
    return step_ > step || (step_ == step && chunk_ > chunk);
  }

 private:
  void skip_empty() {
    while (step_ < per_step_.size() && per_step_[step_] == 0) ++step_;
  }
  std::vector<size_t> per_step_;
  size_t step_ = 0;
  size_t chunk_ = 0;
};

// Walks the same items chunk-major: (chunk 0 of every step), (chunk 1 of every
// step), ... A reduce-scatter must go this way: the partial of chunk c moves one
// hop per step, and a rank can only pass it on once it has sent the step before
// for that chunk, so step-major order would wait on slots that never free.
class ChunkMajorCursor {
 public:
  explicit ChunkMajorCursor(std::vector<size_t> chunks_per_step)
      : per_step_(std::move(chunks_per_step)) {
    for (size_t c : per_step_) max_chunks_ = c > max_chunks_ ? c : max_chunks_;
    skip_missing();
  }
  bool done() const { return chunk_ >= max_chunks_; }
  size_t step() const { return step_; }
  size_t chunk() const { return chunk_; }
  void advance() {
    next();
    skip_missing();
  }

 private:
  void next() {
    if (++step_ == per_step_.size()) {
      step_ = 0;
      ++chunk_;
    }
  }
  // Blocks may differ in size by a chunk: skip the steps whose block has no chunk this far.
  void skip_missing() {
    while (!done() && chunk_ >= per_step_[step_]) next();
  }
  std::vector<size_t> per_step_;
  size_t max_chunks_ = 0;
  size_t step_ = 0;
  size_t chunk_ = 0;
};

// Ring neighbours of rank r in a ring of n.
inline int ring_left(int r, int n) { return (r + n - 1) % n; }
inline int ring_right(int r, int n) { return (r + 1) % n; }
// Block index (r - k) mod n for 0 <= k <= 2n.
inline int ring_block(int r, int k, int n) { return ((r - k) % n + n) % n; }

}  // namespace mics::coll
