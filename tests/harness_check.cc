// The bit-exact checks of the harness (harness.h): names of cases, guarded
// buffers, and CheckedCollective, which generates every rank's input, runs one
// collective (on host or mirrored device memory) and compares element by element.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "harness.h"
#include "harness_codecs.h"

namespace mics_test {

// ---- names ---------------------------------------------------------------------

const char* CollName(Coll c) {
  switch (c) {
    case Coll::kAllgather:
      return "allgather";
    case Coll::kHierAllgather:
      return "hier_allgather";
    case Coll::kReduceScatter:
      return "reduce_scatter";
    case Coll::kAllreduce:
      return "allreduce";
    case Coll::kBroadcast:
      return "broadcast";
  }
  return "?";
}

const char* TypeName(mics_datatype_t t) {
  static const char* const kNames[] = {"INT8",   "UINT8",   "INT32",   "UINT32",  "INT64",
                                       "UINT64", "FLOAT16", "FLOAT32", "FLOAT64", "BFLOAT16"};
  return t >= 0 && t < MICS_NUM_TYPES ? kNames[t] : "?";
}

const char* OpName(mics_redop_t op) {
  static const char* const kNames[] = {"SUM", "PROD", "MAX", "MIN", "AVG"};
  return op >= 0 && op < MICS_NUM_OPS ? kNames[op] : "?";
}

bool IsReduction(Coll c) { return c == Coll::kReduceScatter || c == Coll::kAllreduce; }

std::string Describe(const Case& c) {
  std::string s = std::string(CollName(c.coll)) + "(" + TypeName(c.type);
  if (IsReduction(c.coll)) s += std::string(", ") + OpName(c.op);
  s += ", count=" + std::to_string(c.count) + (c.in_place ? ", in-place" : ", out-of-place");
  if (c.coll == Coll::kBroadcast) s += ", root=" + std::to_string(c.root);
  return s + ")";
}

// ---- checked collectives ---------------------------------------------------------

namespace {

using codecs::Data;
using codecs::DispatchType;
using codecs::Show;

constexpr size_t kGuard = 64;
constexpr unsigned char kPoison = 0xCD;

// A byte buffer with guard bytes on both sides.
class GuardedBuf {
 public:
  GuardedBuf(size_t bytes, unsigned char fill) : raw_(bytes + 2 * kGuard, fill), bytes_(bytes) {
    for (size_t i = 0; i < kGuard; ++i) raw_[i] = raw_[kGuard + bytes + i] = Guard(i);
  }
  unsigned char* data() { return raw_.data() + kGuard; }
  unsigned char* raw() { return raw_.data(); }  // guards included
  size_t raw_bytes() const { return raw_.size(); }
  // Offset (relative to data()) of the first clobbered guard byte, or 0 if none.
  long BadGuard() const {
    for (size_t i = 0; i < kGuard; ++i) {
      if (raw_[i] != Guard(i)) return static_cast<long>(i) - static_cast<long>(kGuard);
      if (raw_[kGuard + bytes_ + i] != Guard(i)) return static_cast<long>(bytes_ + i);
    }
    return 0;
  }

 private:
  static unsigned char Guard(size_t i) { return static_cast<unsigned char>(0xA5 ^ (i * 29)); }
  std::vector<unsigned char> raw_;
  size_t bytes_;
};

template <class Codec>
bool RunTyped(CheckCtx& ctx, const Case& c) {
  using S = typename Codec::S;
  constexpr size_t es = sizeof(S);
  const int n = ctx.nranks, me = ctx.rank;
  const uint64_t call = ctx.call++;
  const uint64_t seed = TestSeed() ^ Mix64(ctx.salt);
  const Data data = !IsReduction(c.coll) ? Data::kRaw
                    : c.op == MICS_PROD  ? Data::kProd
                    : c.op == MICS_AVG   ? Data::kAvg
                    : c.op == MICS_SUM   ? Data::kSum
                                         : Data::kMinMax;
  std::vector<uint64_t> base(n);
  for (int r = 0; r < n; ++r) base[r] = StreamBase(seed, r, call);
  const uint64_t junk = StreamBase(seed, 1000000 + me, call);  // non-root broadcast input
  auto input = [&](int r, size_t i) { return Codec::Gen(StreamAt(base[r], i), data); };
  auto my_input = [&](size_t i) {
    if (c.coll == Coll::kBroadcast && me != c.root) return Codec::Gen(StreamAt(junk, i), data);
    return input(me, i);
  };
  auto reduce = [&](size_t i) {
    auto acc = Codec::Dec(input(0, i));
    for (int r = 1; r < n; ++r) acc = Codec::Combine(acc, Codec::Dec(input(r, i)), c.op);
    return Codec::Finish(acc, n, c.op);
  };
  const size_t cnt = c.count;
  auto expected = [&](size_t j) {
    switch (c.coll) {
      case Coll::kAllgather:
      case Coll::kHierAllgather:
        return input(static_cast<int>(j / cnt), j % cnt);
      case Coll::kReduceScatter:
        return reduce(me * cnt + j);
      case Coll::kAllreduce:
        return reduce(j);
      case Coll::kBroadcast:
        break;
    }
    return input(c.root, j);
  };
  const bool gather = c.coll == Coll::kAllgather || c.coll == Coll::kHierAllgather;
  const size_t send_elems = c.coll == Coll::kReduceScatter ? n * cnt : cnt;
  const size_t recv_elems = gather ? n * cnt : cnt;

  // In place: one buffer laid out as the header's in-place form.
  GuardedBuf sendb(c.in_place ? 0 : send_elems * es, 0);
  GuardedBuf recvb((c.in_place ? std::max(send_elems, recv_elems) : recv_elems) * es, kPoison);
  unsigned char* send = c.in_place ? recvb.data() : sendb.data();
  unsigned char* recv = recvb.data();
  if (c.in_place && gather) send = recv + me * cnt * es;
  if (c.in_place && c.coll == Coll::kReduceScatter) recv = send + me * cnt * es;
  for (size_t i = 0; i < send_elems; ++i) {
    const S v = my_input(i);
    memcpy(send + i * es, &v, es);
  }

  // Device memory (ctx.mem): the call gets the mirrors of send and recv.
  const MemHooks* mem = ctx.mem;
  void* stream = mem ? mem->stream : nullptr;
  unsigned char* dev_send_raw = nullptr;
  unsigned char* dev_recv_raw = nullptr;
  unsigned char* call_send = send;
  unsigned char* call_recv = recv;
  if (mem) {
    dev_send_raw = static_cast<unsigned char*>(mem->alloc(sendb.raw_bytes()));
    dev_recv_raw = static_cast<unsigned char*>(mem->alloc(recvb.raw_bytes()));
    HASSERT(dev_send_raw && dev_recv_raw) << "device allocation failed";
    mem->to_device(dev_send_raw, sendb.raw(), sendb.raw_bytes(), stream);
    mem->to_device(dev_recv_raw, recvb.raw(), recvb.raw_bytes(), stream);
    auto mirror = [&](unsigned char* p) {
      const bool in_send = p >= sendb.raw() && p < sendb.raw() + sendb.raw_bytes();
      return in_send ? dev_send_raw + (p - sendb.raw()) : dev_recv_raw + (p - recvb.raw());
    };
    call_send = mirror(send);
    call_recv = mirror(recv);
  }
  mics_result_t res = MICS_INTERNAL_ERROR;
  switch (c.coll) {
    case Coll::kAllgather:
      res = mics_allgather(call_send, call_recv, cnt, c.type, ctx.comm, stream);
      break;
    case Coll::kHierAllgather:
      res = mics_hier_allgather(call_send, call_recv, cnt, c.type, ctx.comm, stream);
      break;
    case Coll::kReduceScatter:
      res = mics_reduce_scatter(call_send, call_recv, cnt, c.type, c.op, ctx.comm, stream);
      break;
    case Coll::kAllreduce:
      res = mics_allreduce(call_send, call_recv, cnt, c.type, c.op, ctx.comm, stream);
      break;
    case Coll::kBroadcast:
      res = mics_broadcast(call_send, call_recv, cnt, c.type, c.root, ctx.comm, stream);
      break;
  }
  if (mem) {
    // Ordered after the collective on the same stream: no host wait in between.
    mem->to_host(sendb.raw(), dev_send_raw, sendb.raw_bytes(), stream);
    mem->to_host(recvb.raw(), dev_recv_raw, recvb.raw_bytes(), stream);
    mem->sync(stream);
    mem->release(dev_send_raw);
    mem->release(dev_recv_raw);
  }
  HASSERT_OK(res) << " in " << Describe(c) << " on comm rank " << me << "/" << n << ", call "
                  << call << "; mics_last_error(comm): " << mics_last_error(ctx.comm);

  bool ok = true;
  auto check = [&](const unsigned char* p, size_t elems, size_t first, auto&& want,
                   const char* what) {
    size_t bad = 0;
    for (size_t j = 0; j < elems; ++j) {
      S got;
      memcpy(&got, p + j * es, es);
      const S w = want(first + j);
      if (memcmp(&got, &w, es) == 0) continue;
      if (++bad <= 5) {
        HFAIL() << Describe(c) << " comm rank " << me << "/" << n << " call " << call << ": "
                << what << "[" << j << "] expected " << Show<Codec>(w) << ", got "
                << Show<Codec>(got);
      }
    }
    if (bad > 0) {
      ok = false;
      HFAIL() << Describe(c) << " comm rank " << me << "/" << n << " call " << call << ": " << bad
              << " of " << elems << " elements of " << what << " are wrong";
    }
  };
  if (c.in_place && c.coll == Coll::kReduceScatter) {
    // The rest of sendbuf is still the (const) input.
    check(send, me * cnt, 0, my_input, "sendbuf before recvbuf");
    check(recv, cnt, 0, expected, "recvbuf");
    check(recv + cnt * es, send_elems - (me + 1) * cnt, (me + 1) * cnt, my_input,
          "sendbuf after recvbuf");
  } else {
    check(recv, recv_elems, 0, expected, "recvbuf");
    if (!c.in_place) check(send, send_elems, 0, my_input, "sendbuf (must be unchanged)");
  }
  for (GuardedBuf* b : {&sendb, &recvb}) {
    if (long at = b->BadGuard()) {
      ok = false;
      HFAIL() << Describe(c) << " comm rank " << me << "/" << n << " call " << call
              << ": wrote outside its buffer: guard byte at offset " << at << " of "
              << (b == &sendb  ? "sendbuf"
                  : c.in_place ? "the in-place buffer"
                               : "recvbuf")
              << " changed";
    }
  }
  return ok;
}

}  // namespace

bool CheckedCollective(CheckCtx& ctx, const Case& c) {
  bool ok = false;
  DispatchType(c.type, [&](auto codec) { ok = RunTyped<decltype(codec)>(ctx, c); });
  return ok;
}

}  // namespace mics_test
