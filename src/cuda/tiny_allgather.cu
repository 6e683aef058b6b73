// The kernel of tiny_allgather.cuh.
#include "src/cuda/tiny_allgather.cuh"

namespace mics {
namespace {

constexpr int kTinyThreads = 128;

__device__ __forceinline__ uint64_t load_volatile(const uint64_t* p) {
  return *reinterpret_cast<const volatile uint64_t*>(p);
}

__device__ __forceinline__ uint64_t now_ns() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

// What a rank that gave up leaves in its slot's numbers, so that the ranks
// waiting for it give up too instead of waiting for their own timeouts.
constexpr uint64_t kFailed = ~uint64_t{0};

// Thread 0 waits until *word >= seq (a rank's ready or done). false, with the
// reason in *report and our slot marked failed: past the deadline, once the
// awaited rank has failed or its stop word (or ours) is set.
__device__ bool wait_for(const uint64_t* word, uint64_t seq, uint64_t deadline,
                         const uint64_t* stop, const uint64_t* own_stop, TinySlot* me,
                         TinyReport* report) {
  uint64_t* reason = nullptr;
  for (unsigned polls = 0;; ++polls) {
    const uint64_t v = load_volatile(word);
    if (v == kFailed) {
      reason = &report->stopped;
      break;
    }
    if (v >= seq) return true;
    if (polls % 256 != 255) continue;  // the stop words are host memory: look now and then
    if (load_volatile(stop) != 0 || load_volatile(own_stop) != 0) {
      reason = &report->stopped;
      break;
    }
    if (now_ns() > deadline) {
      reason = &report->timed_out;
      break;
    }
  }
  *reinterpret_cast<volatile uint64_t*>(&me->ready) = kFailed;
  *reinterpret_cast<volatile uint64_t*>(&me->done) = kFailed;
  *reinterpret_cast<volatile uint64_t*>(reason) = seq;
  __threadfence_system();
  return false;
}

// One block. Thread 0 does the handshakes; every thread copies.
__global__ void __launch_bounds__(kTinyThreads)
    TinyAllgatherKernel(const unsigned char* send, unsigned char* recv, size_t bytes, int k,
                        int rank, uint64_t seq, TinyPeers peers, uint64_t timeout_ns,
                        TinyReport* report) {
  __shared__ bool stop;
  const uint64_t deadline = now_ns() + timeout_ns;
  TinySlot* me = peers.slots[rank];
  if (threadIdx.x == 0) {
    *reinterpret_cast<const void* volatile*>(&me->ptr) = send;
    __threadfence();  // the pointer before the number that publishes it
    *reinterpret_cast<volatile uint64_t*>(&me->ready) = seq;
  }
  for (size_t i = threadIdx.x; i < bytes; i += kTinyThreads)
    recv[static_cast<size_t>(rank) * bytes + i] = send[i];
  for (int j = 1; j < k; ++j) {
    const int peer = (rank + j) % k;
    TinySlot* slot = peers.slots[peer];
    if (threadIdx.x == 0)
      stop = !wait_for(&slot->ready, seq, deadline, peers.stop[peer], peers.stop[rank], me, report);
    __syncthreads();
    if (stop) return;
    __threadfence();  // its block after its number
    const auto* src = static_cast<const unsigned char*>(
        *reinterpret_cast<const void* const volatile*>(&slot->ptr));
    // Through L2 (__ldcg): this SM may hold stale L1 lines of the peer's buffer.
    for (size_t i = threadIdx.x; i < bytes; i += kTinyThreads)
      recv[static_cast<size_t>(peer) * bytes + i] = __ldcg(src + i);
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    __threadfence();  // our reads before our "done"
    *reinterpret_cast<volatile uint64_t*>(&me->done) = seq;
    for (int p = 0; p < k; ++p)
      if (!wait_for(&peers.slots[p]->done, seq, deadline, peers.stop[p], peers.stop[rank], me,
                    report))
        return;
  }
}

}  // namespace

cudaError_t tiny_slot_alloc(TinySlot** out, cudaStream_t stream) {
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, sizeof(TinySlot));
  if (e == cudaSuccess) e = cudaMemsetAsync(p, 0, sizeof(TinySlot), stream);
  if (e != cudaSuccess) {
    if (p) cudaFree(p);
    return e;
  }
  *out = static_cast<TinySlot*>(p);
  return cudaSuccess;
}

cudaError_t launch_tiny_allgather(const void* send, void* recv, size_t bytes, int k, int rank,
                                  uint64_t seq, const TinyPeers& peers, uint64_t timeout_ns,
                                  TinyReport* report, cudaStream_t stream) {
  if (k < 1 || k > kMaxTinyRanks || rank < 0 || rank >= k || report == nullptr)
    return cudaErrorInvalidValue;
  TinyAllgatherKernel<<<1, kTinyThreads, 0, stream>>>(static_cast<const unsigned char*>(send),
                                                      static_cast<unsigned char*>(recv), bytes, k,
                                                      rank, seq, peers, timeout_ns, report);
  return cudaGetLastError();
}

}  // namespace mics
