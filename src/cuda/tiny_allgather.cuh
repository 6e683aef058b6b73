// The latency path of device allgathers between ranks that are threads of one
// process on one GPU (src/cuda/tiny_path.cc decides when): one small kernel per
// rank on the caller's stream does the whole call, with the handshakes in
// device memory, so no host thread takes part and nothing returns to the host
// between the steps. Only where the ranks' kernels run concurrently (one
// process: one context); ranks in separate processes are time-sliced without
// MPS, and a kernel waiting for another process's kernel could wait forever.
//
// Each rank owns one TinySlot in device memory: `ptr` (its block for the call)
// and `ready` (that call's number), then `done` once it has read every peer.
// A rank's kernel publishes its slot, reads each peer's block once that
// peer's slot is ready, marks itself done, and ends when every rank is done,
// so no block changes while someone still reads it. Call numbers only grow,
// so the slots need no reset. A rank that gives up (timeout, abort) marks its
// slot failed, and the ranks waiting for it give up at once in turn.
#ifndef MICS_CUDA_TINY_ALLGATHER_CUH_
#define MICS_CUDA_TINY_ALLGATHER_CUH_

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace mics {

constexpr int kMaxTinyRanks = 16;

struct alignas(64) TinySlot {
  uint64_t ready;  // number of the call whose ptr is valid
  uint64_t done;   // number of the call whose reads this rank has finished
  const void* ptr;
  uint64_t pad[5];
};

// Every rank's slot and stop word, in rank order (passed to the kernel by
// value). stop[r]: host-mapped memory that rank r's mics_comm_abort sets, so
// that kernels waiting for rank r give up at once instead of at the timeout.
struct TinyPeers {
  TinySlot* slots[kMaxTinyRanks];
  const uint64_t* stop[kMaxTinyRanks];
};

// The words a rank's kernels report through (host-mapped memory).
struct TinyReport {
  uint64_t timed_out;  // the call whose kernel waited past the timeout
  uint64_t stopped;    // the call whose kernel gave up because a rank aborted
};

// A slot in device memory of the current device, zeroed on `stream` (cudaFree it).
cudaError_t tiny_slot_alloc(TinySlot** out, cudaStream_t stream);

// Rank `rank` of k: its `bytes` at send go to recv + rank * bytes, every peer's
// to recv + peer * bytes; call `seq` (> every earlier one, the same on every
// rank). k == 1 with bytes == 0 only loads the kernel (do it once before any
// rank can spin: loading a module while another kernel spins can deadlock).
// A kernel that has waited timeout_ns for a peer, or that sees the stop word
// of the rank it waits for (or its own) set, stops, leaving recv incomplete,
// and records seq in *report: the caller's communicator has then failed.
cudaError_t launch_tiny_allgather(const void* send, void* recv, size_t bytes, int k, int rank,
                                  uint64_t seq, const TinyPeers& peers, uint64_t timeout_ns,
                                  TinyReport* report, cudaStream_t stream);

}  // namespace mics

#endif  // MICS_CUDA_TINY_ALLGATHER_CUH_
