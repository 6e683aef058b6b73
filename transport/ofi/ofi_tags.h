// 64-bit tags of the ofi transport: kind (2 bits) | sender rank (30) | sequence (32).
// Kinds: data chunks, credits, and a failure notice (one per peer, ever).
// Endpoints are per communicator, so tags need no communicator id.
#pragma once

#include <cstdint>

namespace mics::transport::ofi {

constexpr uint64_t kSeqMask = 0xffffffffull;
constexpr uint64_t kKindData = 1ull << 62;
constexpr uint64_t kKindCredit = 2ull << 62;
constexpr uint64_t kKindNotice = 3ull << 62;

inline uint64_t data_tag(int sender, uint32_t seq) {
  return kKindData | (static_cast<uint64_t>(sender) & 0x3fffffff) << 32 | seq;
}
inline uint64_t credit_tag(int sender) {
  return kKindCredit | (static_cast<uint64_t>(sender) & 0x3fffffff) << 32;
}
inline uint64_t notice_tag(int sender) {
  return kKindNotice | (static_cast<uint64_t>(sender) & 0x3fffffff) << 32;
}

}  // namespace mics::transport::ofi
