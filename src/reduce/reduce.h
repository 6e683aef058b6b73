// Host reduction kernels used by the ring algorithms (reduce-scatter, allreduce).
//
// Partial results travel between ranks in a "wire" type: float32 for MICS_FLOAT16 and
// MICS_BFLOAT16 (so they are reduced in float32 and rounded only once at the end), the type itself
// for every other type. A ring step combines the partial it received (in_wire) with the local
// contribution (src); the last step also finishes (AVG divides) and narrows to the user's type.
//
// Semantics (all ops; n = element count, n == 0 is a no-op):
//  - Integers wrap around (two's complement). AVG on integers is the wrapped sum divided by nranks
//    with C integer division (truncates toward zero).
//  - Floats: SUM/PROD in the wire type; AVG = sum / nranks in the wire type (float32 for the
//    16-bit types, float64 for FLOAT64). MAX/MIN propagate NaN: op(a, b) is a if a is NaN, else b
//    if b is NaN, else the larger/smaller; if a == b (e.g. -0 and +0) the result is b.
//    a is the in_wire operand, b the local one.
//  - Narrowing to float16/bfloat16 rounds to nearest even, overflows to inf, keeps NaN a NaN.
//  - type and op must be valid (< MICS_NUM_TYPES / MICS_NUM_OPS; the public API checks them);
//    invalid values do nothing. nranks >= 1.
//  - Buffers are aligned for their element type and do not overlap except in the forms listed
//    per function.
// The inner loops are cloned for AVX2 and picked at load time on CPUs that have it; float16
// conversions use F16C where available (bit-identical results either way).
#ifndef MICS_REDUCE_REDUCE_H_
#define MICS_REDUCE_REDUCE_H_

#include <cstddef>

#include "mics/mics.h"

namespace mics {

// Bytes per element of `type` (what mics_type_size returns); 0 for an invalid type.
size_t type_size(mics_datatype_t type);

// Bytes per element of the wire type of `type`; 0 for an invalid type.
size_t wire_type_size(mics_datatype_t type);

// wire[i] = widen(src[i]) (a plain copy for non-16-bit types). wire may equal src only if the
// wire type is the type itself.
void to_wire(mics_datatype_t type, void* wire, const void* src, size_t n);

// out_wire[i] = op(in_wire[i], widen(src[i])). AVG combines as SUM. out_wire may equal in_wire,
// or src if the wire type is the type itself.
void reduce_to_wire(mics_datatype_t type, mics_redop_t op, void* out_wire, const void* in_wire,
                    const void* src, size_t n);

// dst[i] = narrow(finish(op(in_wire[i], widen(src[i])))), finish = divide by nranks for AVG,
// identity otherwise. dst may equal src (in-place reduce-scatter).
void reduce_to_final(mics_datatype_t type, mics_redop_t op, void* dst, const void* in_wire,
                     const void* src, size_t n, int nranks);

// reduce_to_final (same results) writing dst with non-temporal stores when dst != src: for
// large outputs that nobody reads soon (streaming.cc).
void reduce_to_final_streaming(mics_datatype_t type, mics_redop_t op, void* dst,
                               const void* in_wire, const void* src, size_t n, int nranks);

// dst[i] = narrow(finish(wire[i])), for when nothing is left to combine. dst may equal wire only
// if the wire type is the type itself.
void wire_to_final(mics_datatype_t type, mics_redop_t op, void* dst, const void* wire, size_t n,
                   int nranks);

}  // namespace mics

#endif  // MICS_REDUCE_REDUCE_H_
