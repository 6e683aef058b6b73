// reduce_to_final with non-temporal stores. The out-of-place last step of a
// large reduce-scatter writes a destination it has never touched: with
// ordinary stores every destination line is first read from memory (read for
// ownership) and later written back, three transfers per line where two do.
// Here each tile is finished into an L1-resident buffer by the ordinary
// kernels (so results are bit-identical, every type and op) and copied out
// with streaming stores, which skip the read.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "src/reduce/reduce.h"

#if defined(__x86_64__)
#include <emmintrin.h>
#endif

namespace mics {
namespace {

#if defined(__x86_64__)
void stream_copy(char* dst, const char* src, size_t bytes) {
  size_t head = std::min(bytes, (16 - reinterpret_cast<uintptr_t>(dst) % 16) % 16);
  memcpy(dst, src, head);
  dst += head, src += head, bytes -= head;
  for (; bytes >= 64; dst += 64, src += 64, bytes -= 64) {
    const auto* s = reinterpret_cast<const __m128i*>(src);
    __m128i a = _mm_loadu_si128(s), b = _mm_loadu_si128(s + 1);
    __m128i c = _mm_loadu_si128(s + 2), d = _mm_loadu_si128(s + 3);
    auto* o = reinterpret_cast<__m128i*>(dst);
    _mm_stream_si128(o, a);
    _mm_stream_si128(o + 1, b);
    _mm_stream_si128(o + 2, c);
    _mm_stream_si128(o + 3, d);
  }
  memcpy(dst, src, bytes);
}
#endif

}  // namespace

void reduce_to_final_streaming(mics_datatype_t type, mics_redop_t op, void* dst,
                               const void* in_wire, const void* src, size_t n, int nranks) {
#if defined(__x86_64__)
  const size_t esize = type_size(type), wsize = wire_type_size(type);
  if (dst == src || esize == 0 || wsize == 0) {
    reduce_to_final(type, op, dst, in_wire, src, n, nranks);
    return;
  }
  alignas(64) char tile[8192];
  const size_t per = sizeof(tile) / esize;
  for (size_t i = 0; i < n; i += per) {
    const size_t m = std::min(per, n - i);
    reduce_to_final(type, op, tile, static_cast<const char*>(in_wire) + i * wsize,
                    static_cast<const char*>(src) + i * esize, m, nranks);
    stream_copy(static_cast<char*>(dst) + i * esize, tile, m * esize);
  }
  _mm_sfence();  // the stores are weakly ordered: make them visible before we signal
#else
  reduce_to_final(type, op, dst, in_wire, src, n, nranks);
#endif
}

}  // namespace mics
