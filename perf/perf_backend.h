// Where a perf binary's buffers live (-M host|cuda) and what runs the collectives on them
// (-E mics|nccl). perf_common.cc drives every combination through these two interfaces, so the
// sweep, the checks and the table are the same for all of them.
#ifndef MICS_PERF_PERF_BACKEND_H_
#define MICS_PERF_PERF_BACKEND_H_

#include <memory>

#include "perf_check.h"
#include "perf_common.h"

namespace mics_perf {

// The send and receive buffers of one rank, and the stream that orders work on them.
class Buffers {
 public:
  virtual ~Buffers() = default;
  char* send() const { return send_; }
  char* recv() const { return recv_; }
  // The stream argument of the collectives: NULL for host memory, a cudaStream_t for CUDA.
  virtual void* stream() const = 0;
  // -1 for host memory, else the CUDA device of the buffers.
  virtual int device() const = 0;
  // Writes a pattern that never equals an expected value to the n elements at p.
  virtual void Poison(char* p, mics_datatype_t t, size_t n) = 0;
  // Writes c.Input(g, i) to the n elements at p (ordered after the work queued so far).
  virtual void Fill(char* p, mics_datatype_t t, size_t n, const DataGen& g,
                    const Collective& c) = 0;
  // Waits for the queued work, then counts the n elements at p that differ from c.Expected().
  virtual size_t Wrong(const char* p, mics_datatype_t t, size_t n, const DataGen& g,
                       const Collective& c) = 0;
  // Returns when the work queued on stream() so far has completed.
  virtual void Sync() = 0;

 protected:
  char* send_ = nullptr;
  char* recv_ = nullptr;
};

// Runs one collective call on the buffers; exits the process with a message on error.
class Engine {
 public:
  virtual ~Engine() = default;
  virtual void Run(const void* send, void* recv, size_t count, mics_datatype_t type,
                   mics_redop_t op) = 0;
  // After Buffers::Sync(): exits with a message if the queued calls failed.
  virtual void CheckAsync() = 0;
};

// Prints "mics perf: <what> failed: ..." and exits 1 unless r is MICS_SUCCESS.
inline void CheckMics(mics_result_t r, const char* what, mics_comm_t comm) {
  ExitOnError(r, "mics perf", what, comm);
}

std::unique_ptr<Buffers> MakeHostBuffers(size_t send_bytes, size_t recv_bytes);
// The mics collectives of coll on comm, with the -r root and -A algorithm of opt.
std::unique_ptr<Engine> MakeMicsEngine(const Collective& coll, const Options& opt, mics_comm_t comm,
                                       void* stream);

#ifdef MICS_PERF_CUDA
// The number of CUDA devices; 0 after printing "mics perf: <what>: skipped: no CUDA device (why)".
int CudaDeviceCount(const char* what);
// Device buffers on `device` (made current for this thread) with a stream of their own.
std::unique_ptr<Buffers> MakeCudaBuffers(size_t send_bytes, size_t recv_bytes, int device);
#endif

#ifdef MICS_PERF_NCCL
// The NCCL collectives of coll over the ranks of comm (the ncclUniqueId travels by mics_broadcast
// on comm), on the device and stream of buf; world is the whole job (comm or a partition of it).
// local_size ranks of this node share device_count GPUs. Exits with a message on error.
std::unique_ptr<Engine> MakeNcclEngine(const Collective& coll, const Options& opt, mics_comm_t comm,
                                       mics_comm_t world, const Buffers& buf, int local_size,
                                       int device_count);
#endif

}  // namespace mics_perf

#endif  // MICS_PERF_PERF_BACKEND_H_
