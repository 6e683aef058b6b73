// The device-buffer path of libmics (src/cuda/proxy.*): the host test matrix
// repeated with device buffers, ranks as processes on one GPU and as threads
// of one process (mics_comm_init_all), plus stream ordering without host
// synchronisation, two communicators interleaving on two streams, grad_sync
// on device buffers, and the buffer-kind checks. Every test skips, by name,
// without a usable GPU.
//
// The gtest process never initialises CUDA itself: run_ranks forks the ranks,
// and CUDA does not survive a fork, so the GPU probe runs in a child too.
#include <cuda_runtime.h>
#include <gtest/gtest.h>
#include <mics/mics.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "harness.h"

namespace {

using mics_test::CheckCtx;
using mics_test::CheckedCollective;
using mics_test::Coll;
using mics_test::IsReduction;

// "" when a GPU is usable, else why not (asked once, in a forked child).
const std::string& NoGpuReason() {
  static const std::string reason = [] {
    int fds[2];
    if (pipe(fds) != 0) return std::string("pipe failed");
    pid_t pid = fork();
    if (pid == 0) {
      close(fds[0]);
      int n = 0;
      cudaError_t e = cudaGetDeviceCount(&n);
      std::string why = e != cudaSuccess
                            ? std::string(cudaGetErrorName(e)) + " (" + cudaGetErrorString(e) + ")"
                        : n == 0 ? "the CUDA runtime sees no device"
                                 : "";
      ssize_t w = write(fds[1], why.data(), why.size());
      (void)w;
      _exit(0);
    }
    close(fds[1]);
    std::string why;
    char buf[256];
    for (ssize_t k; (k = read(fds[0], buf, sizeof buf)) > 0;) why.append(buf, k);
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) why = "the GPU probe crashed";
    return why;
  }();
  return reason;
}

#define REQUIRE_GPU() \
  if (!NoGpuReason().empty()) GTEST_SKIP() << "no CUDA device: " << NoGpuReason()

// ---- device memory for CheckedCollective -------------------------------------
// A per-thread arena, allocated once: cudaFree synchronises the whole device,
// and with several ranks in one process it would wait for another rank's
// stream, which waits for a collective this rank has not issued yet.
struct Arena {
  char* base = nullptr;
  size_t size = 0, used = 0;
  int live = 0;
};
thread_local Arena tls_arena;
constexpr size_t kArenaBytes = size_t{48} << 20;

void ArenaInit() {
  HASSERT(cudaSetDevice(0) == cudaSuccess);
  if (tls_arena.base) return;  // once per thread
  HASSERT(cudaMalloc(&tls_arena.base, kArenaBytes) == cudaSuccess) << "cudaMalloc arena";
  tls_arena.size = kArenaBytes;
}
void* ArenaAlloc(size_t bytes) {
  Arena& a = tls_arena;
  size_t at = (a.used + 255) / 256 * 256;
  if (at + bytes > a.size) return nullptr;
  a.used = at + bytes;
  ++a.live;
  return a.base + at;
}
void ArenaRelease(void*) {
  if (--tls_arena.live == 0) tls_arena.used = 0;
}
void ToDevice(void* dst, const void* src, size_t n, void* s) {
  HCHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyHostToDevice, static_cast<cudaStream_t>(s)) ==
         cudaSuccess);
}
void ToHost(void* dst, const void* src, size_t n, void* s) {
  HCHECK(cudaMemcpyAsync(dst, src, n, cudaMemcpyDeviceToHost, static_cast<cudaStream_t>(s)) ==
         cudaSuccess);
}
void Sync(void* s) {
  cudaError_t e = cudaStreamSynchronize(static_cast<cudaStream_t>(s));
  HCHECK(e == cudaSuccess) << cudaGetErrorString(e);
}

// One rank's device context: current device, a stream, the arena, the hooks.
struct DeviceRank {
  cudaStream_t stream = nullptr;
  mics_test::MemHooks hooks{};
  DeviceRank() {
    ArenaInit();
    HASSERT(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) == cudaSuccess);
    hooks = {ArenaAlloc, ArenaRelease, ToDevice, ToHost, Sync, stream};
  }
  ~DeviceRank() {
    cudaStreamSynchronize(stream);
    cudaStreamDestroy(stream);
  }
};

void CheckNoAsyncError(mics_comm_t comm) {
  mics_result_t async = MICS_SUCCESS;
  HCHECK_OK(mics_comm_get_async_error(comm, &async));
  HCHECK(async == MICS_SUCCESS) << "async error " << mics_result_string(async) << ": "
                                << mics_last_error(comm);
}

// ---- the two shapes -------------------------------------------------------------

enum class Shape { kProcesses, kThreads };

// Runs body(comm, rank) on n ranks of the given shape (threads: init_all on device 0),
// with extra environment variables in the ranks' process(es); processes may pose as several
// nodes (host_ids: MICS_HOST_ID per rank).
void RunShape(Shape shape, int n, const std::function<void(mics_comm_t, int)>& body,
              std::vector<std::pair<std::string, std::string>> env = {},
              std::vector<std::string> host_ids = {}) {
  mics_test::Options opts;
  opts.timeout_s = 550;
  opts.env = std::move(env);
  opts.host_ids = std::move(host_ids);
  if (shape == Shape::kProcesses) {
    mics_test::run_ranks(n, body, opts);
    return;
  }
  opts.init = false;
  mics_test::run_ranks(
      1,
      [&](mics_comm_t, int) {
        std::vector<mics_comm_t> comms(n);
        std::vector<int> devices(n, 0);
        HASSERT_OK(mics_comm_init_all(comms.data(), n, devices.data()));
        std::vector<std::thread> threads;
        for (int r = 0; r < n; ++r) threads.emplace_back(body, comms[r], r);
        for (std::thread& t : threads) t.join();
        for (mics_comm_t c : comms) HCHECK_OK(mics_comm_destroy(c));
      },
      opts);
}

const char* ShapeName(Shape s) { return s == Shape::kProcesses ? "processes" : "threads"; }

// ---- the matrix -------------------------------------------------------------------

constexpr size_t kLarge = 65537;
const size_t kCounts[] = {0, 1, 7, 1000, kLarge};

void DeviceMatrix(mics_comm_t comm, int rank, int n) {
  DeviceRank dev;
  CheckCtx ctx{comm, rank, n};
  ctx.mem = &dev.hooks;
  for (Coll coll : {Coll::kAllgather, Coll::kHierAllgather, Coll::kReduceScatter, Coll::kAllreduce,
                    Coll::kBroadcast}) {
    const int nops = IsReduction(coll) ? MICS_NUM_OPS : 1;
    for (int t = 0; t < MICS_NUM_TYPES; ++t)
      for (int op = 0; op < nops; ++op)
        for (size_t count : kCounts)
          for (bool in_place : {false, true}) {
            if (count == kLarge && IsReduction(coll) && in_place != ((t + op + n) % 2 == 1))
              continue;
            const int root = (t + static_cast<int>(count)) % n;
            CheckedCollective(ctx, {coll, static_cast<mics_datatype_t>(t),
                                    static_cast<mics_redop_t>(op), count, in_place, root});
          }
  }
  CheckNoAsyncError(comm);
  if (rank == 0)
    printf("[device matrix n=%d] %llu checked calls per rank\n", n,
           static_cast<unsigned long long>(ctx.call));
}

class DeviceMatrixTest : public ::testing::TestWithParam<std::tuple<Shape, int>> {};

TEST_P(DeviceMatrixTest, EveryCollectiveTypeOpMode) {
  REQUIRE_GPU();
  const auto [shape, n] = GetParam();
  RunShape(shape, n, [n = n](mics_comm_t comm, int rank) { DeviceMatrix(comm, rank, n); });
}

// The same matrix through the staged path (device -> pinned host -> host
// collective -> device) that multi-node communicators use, which is otherwise
// only taken by hier_allgather here: MICS_CUDA_DIRECT=0.
TEST_P(DeviceMatrixTest, EveryCollectiveStagedThroughHost) {
  REQUIRE_GPU();
  const auto [shape, n] = GetParam();
  if (n != 3) GTEST_SKIP() << "staged path: checked on 3 ranks only (suite time)";
  RunShape(shape, n, [n = n](mics_comm_t comm, int rank) { DeviceMatrix(comm, rank, n); },
           {{"MICS_CUDA_DIRECT", "0"}, {"MICS_CUDA_TINY_BYTES", "0"}});
}

// The direct path with its copies done by a kernel instead of the copy engine
// (MICS_CUDA_COPY=sm), 3 ranks.
TEST_P(DeviceMatrixTest, EveryCollectiveWithKernelCopies) {
  REQUIRE_GPU();
  const auto [shape, n] = GetParam();
  if (n != 3) GTEST_SKIP() << "kernel copies: checked on 3 ranks only (suite time)";
  RunShape(shape, n, [n = n](mics_comm_t comm, int rank) { DeviceMatrix(comm, rank, n); },
           {{"MICS_CUDA_COPY", "sm"}, {"MICS_CUDA_TINY_BYTES", "0"}});
}

// 4 processes posing as 2 nodes: every device call crosses the network, staged through host
// memory in pieces (src/stage_plan.h). Pieces of 64 KiB make the large calls dozens of
// pieces, so that every slot is reused many times while copies are in flight.
TEST(DevicePieces, EveryCollectiveAcrossTwoEmulatedNodes) {
  REQUIRE_GPU();
  const int n = 4;
  RunShape(Shape::kProcesses, n, [](mics_comm_t comm, int rank) { DeviceMatrix(comm, rank, n); },
           {{"MICS_CUDA_STAGE_BYTES", "65536"}}, {"node-a", "node-a", "node-b", "node-b"});
}

INSTANTIATE_TEST_SUITE_P(OneGpu, DeviceMatrixTest,
                         ::testing::Combine(::testing::Values(Shape::kProcesses, Shape::kThreads),
                                            ::testing::Values(2, 3, 4)),
                         [](const ::testing::TestParamInfo<std::tuple<Shape, int>>& p) {
                           return std::string(ShapeName(std::get<0>(p.param))) + "_n" +
                                  std::to_string(std::get<1>(p.param));
                         });

// ---- stream ordering ------------------------------------------------------------------

__global__ void Produce(int32_t* in, size_t n, int iter, int rank) {
  for (size_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
    in[i] = iter * 7919 + rank * 31 + static_cast<int32_t>(i);
}
__global__ void Consume(const int32_t* reduced, int32_t* out, size_t n) {
  for (size_t i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
    out[i] = reduced[i];
}

// Produce on a side stream -> allreduce on the comm stream after an event ->
// consume on the comm stream, 1000 times with different data, no host sync
// until the end; every iteration's result kept and checked.
void StreamOrdering(mics_comm_t comm, int rank, int n) {
  constexpr int kIters = 1000;
  constexpr size_t kCount = 1031;
  HASSERT(cudaSetDevice(0) == cudaSuccess);
  cudaStream_t side, main_stream;
  cudaEvent_t produced, consumed;
  HASSERT(cudaStreamCreateWithFlags(&side, cudaStreamNonBlocking) == cudaSuccess);
  HASSERT(cudaStreamCreateWithFlags(&main_stream, cudaStreamNonBlocking) == cudaSuccess);
  HASSERT(cudaEventCreateWithFlags(&produced, cudaEventDisableTiming) == cudaSuccess);
  HASSERT(cudaEventCreateWithFlags(&consumed, cudaEventDisableTiming) == cudaSuccess);
  int32_t *in, *reduced, *results;
  HASSERT(cudaMalloc(&in, kCount * 4) == cudaSuccess);
  HASSERT(cudaMalloc(&reduced, kCount * 4) == cudaSuccess);
  HASSERT(cudaMalloc(&results, kIters * kCount * 4) == cudaSuccess);
  HASSERT(cudaEventRecord(consumed, main_stream) == cudaSuccess);
  for (int it = 0; it < kIters; ++it) {
    cudaStreamWaitEvent(side, consumed, 0);  // `in` is free once the last allreduce read it
    Produce<<<8, 128, 0, side>>>(in, kCount, it, rank);
    cudaEventRecord(produced, side);
    cudaStreamWaitEvent(main_stream, produced, 0);
    HASSERT_OK(mics_allreduce(in, reduced, kCount, MICS_INT32, MICS_SUM, comm, main_stream))
        << " iteration " << it << ": " << mics_last_error(comm);
    Consume<<<8, 128, 0, main_stream>>>(reduced, results + it * kCount, kCount);
    cudaEventRecord(consumed, main_stream);
  }
  HASSERT(cudaStreamSynchronize(main_stream) == cudaSuccess);
  std::vector<int32_t> host(kIters * kCount);
  HASSERT(cudaMemcpy(host.data(), results, host.size() * 4, cudaMemcpyDeviceToHost) == cudaSuccess);
  int bad = 0;
  for (int it = 0; it < kIters; ++it)
    for (size_t i = 0; i < kCount; ++i) {
      int32_t want = 0;
      for (int q = 0; q < n; ++q) want += it * 7919 + q * 31 + static_cast<int32_t>(i);
      if (host[it * kCount + i] != want && ++bad <= 5)
        HFAIL() << "rank " << rank << " iteration " << it << " [" << i
                << "] = " << host[it * kCount + i] << ", expected " << want;
    }
  HCHECK_EQ(bad, 0);
  CheckNoAsyncError(comm);
  cudaFree(in), cudaFree(reduced), cudaFree(results);
  cudaStreamDestroy(side), cudaStreamDestroy(main_stream);
  cudaEventDestroy(produced), cudaEventDestroy(consumed);
}

class DeviceShapeTest : public ::testing::TestWithParam<Shape> {};

TEST_P(DeviceShapeTest, StreamOrderingWithoutHostSync) {
  REQUIRE_GPU();
  RunShape(GetParam(), 2, [](mics_comm_t comm, int rank) { StreamOrdering(comm, rank, 2); });
}

// Two communicators of the same ranks (the second a split of the first) on two
// streams, their calls interleaved; results checked per call.
TEST_P(DeviceShapeTest, TwoCommunicatorsOnTwoStreams) {
  REQUIRE_GPU();
  const int n = 3;
  RunShape(GetParam(), n, [](mics_comm_t a, int rank) {
    mics_comm_t b = nullptr;
    HASSERT_OK(mics_comm_split(a, 0, rank, &b));
    DeviceRank da, db;
    CheckCtx ca{a, rank, n, 11}, cb{b, rank, n, 22};
    ca.mem = &da.hooks;
    cb.mem = &db.hooks;
    for (int i = 0; i < 40; ++i) {
      CheckedCollective(ca, {Coll::kAllgather, MICS_BFLOAT16, MICS_SUM, 4099, i % 2 == 0, 0});
      CheckedCollective(cb, {Coll::kAllreduce, MICS_FLOAT32, MICS_SUM, 5003, i % 3 == 0, 0});
      CheckedCollective(cb, {Coll::kReduceScatter, MICS_INT64, MICS_MAX, 777, i % 2 == 1, 0});
    }
    CheckNoAsyncError(a);
    CheckNoAsyncError(b);
    HCHECK_OK(mics_comm_destroy(b));
  });
}

// mics_grad_sync on device buffers: 4 ranks, partition groups of 2, integer
// SUM (exact), three micro-steps with the boundary on the last.
TEST_P(DeviceShapeTest, GradSyncOnDeviceBuffers) {
  REQUIRE_GPU();
  const int n = 4, p = 2;
  RunShape(GetParam(), n, [](mics_comm_t world, int rank) {
    HASSERT(cudaSetDevice(0) == cudaSuccess);
    mics_comm_t part = nullptr, repl = nullptr;
    HASSERT_OK(mics_create_partition_groups(world, p, &part, &repl));
    cudaStream_t s;
    HASSERT(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess);
    const size_t shard = 4097;
    std::vector<int32_t> grads(shard * p);
    int32_t *dgrads, *daccum;
    HASSERT(cudaMalloc(&dgrads, grads.size() * 4) == cudaSuccess);
    HASSERT(cudaMalloc(&daccum, shard * 4) == cudaSuccess);
    HASSERT(cudaMemsetAsync(daccum, 0, shard * 4, s) == cudaSuccess);
    for (int step = 0; step < 3; ++step) {
      for (size_t i = 0; i < grads.size(); ++i)
        grads[i] = static_cast<int32_t>(i * 7 + rank * 1000 + step);
      HASSERT(cudaMemcpyAsync(dgrads, grads.data(), grads.size() * 4, cudaMemcpyHostToDevice, s) ==
              cudaSuccess);
      HASSERT(cudaStreamSynchronize(s) == cudaSuccess);  // `grads` is reused by the host
      HASSERT_OK(
          mics_grad_sync(dgrads, daccum, shard, MICS_INT32, MICS_SUM, step == 2, part, repl, s))
          << " " << mics_last_error(part);
    }
    std::vector<int32_t> accum(shard);
    HASSERT(cudaMemcpyAsync(accum.data(), daccum, shard * 4, cudaMemcpyDeviceToHost, s) ==
            cudaSuccess);
    HASSERT(cudaStreamSynchronize(s) == cudaSuccess);
    int bad = 0;
    for (size_t i = 0; i < shard; ++i) {
      const size_t g = (rank % p) * shard + i;
      int32_t want = 0;  // partition sum per step, all steps, then across replicas
      for (int q = 0; q < n; ++q)
        for (int step = 0; step < 3; ++step) want += static_cast<int32_t>(g * 7 + q * 1000 + step);
      if (accum[i] != want && ++bad <= 5)
        HFAIL() << "rank " << rank << " shard[" << i << "] = " << accum[i] << ", expected " << want;
    }
    CheckNoAsyncError(part);
    cudaFree(dgrads), cudaFree(daccum), cudaStreamDestroy(s);
    HCHECK_OK(mics_comm_destroy(repl));
    HCHECK_OK(mics_comm_destroy(part));
  });
}

INSTANTIATE_TEST_SUITE_P(OneGpu, DeviceShapeTest,
                         ::testing::Values(Shape::kProcesses, Shape::kThreads),
                         [](const ::testing::TestParamInfo<Shape>& p) {
                           return std::string(ShapeName(p.param));
                         });

// The latency path (one kernel per rank, threads of one process), when rank 1
// misses its second call: rank 0's kernel must give up rather than spin
// forever. `abort_peer`: rank 1 calls mics_comm_abort instead, and rank 0's
// kernel stops at once with MICS_REMOTE_ERROR (with a 60 s timeout, a missed
// stop would show as MICS_TIMEOUT); else rank 0 times out (2 s).
void TinyPeerMissesACall(bool abort_peer) {
  mics_test::Options opts;
  opts.init = false;
  opts.mics_timeout_ms = abort_peer ? 60000 : 2000;
  opts.timeout_s = 150;
  mics_test::run_ranks(
      1,
      [abort_peer](mics_comm_t, int) {
        std::vector<mics_comm_t> comms(2);
        std::vector<int> devices(2, 0);
        HASSERT_OK(mics_comm_init_all(comms.data(), 2, devices.data()));
        DeviceRank dev[2];
        uint64_t *send[2] = {}, *recv[2] = {};
        for (int r = 0; r < 2; ++r)
          HASSERT(cudaMalloc(&send[r], 8) == cudaSuccess &&
                  cudaMalloc(&recv[r], 16) == cudaSuccess);
        // One call together (it also sets the path up: a host exchange between the ranks).
        std::vector<std::thread> both;
        for (int r = 0; r < 2; ++r)
          both.emplace_back([&, r] {
            HCHECK_OK(mics_allgather(send[r], recv[r], 1, MICS_UINT64, comms[r], dev[r].stream));
            HCHECK(cudaStreamSynchronize(dev[r].stream) == cudaSuccess);
          });
        for (std::thread& t : both) t.join();
        CheckNoAsyncError(comms[0]);
        std::thread aborter;
        if (abort_peer)
          aborter = std::thread([&] {
            usleep(200 * 1000);  // rank 0's kernel is waiting by then (or soon will be)
            HCHECK_OK(mics_comm_abort(comms[1]));
          });
        HCHECK_OK(mics_allgather(send[0], recv[0], 1, MICS_UINT64, comms[0], dev[0].stream));
        HCHECK(cudaStreamSynchronize(dev[0].stream) == cudaSuccess);
        if (aborter.joinable()) aborter.join();
        mics_result_t async = MICS_SUCCESS;
        HCHECK_OK(mics_comm_get_async_error(comms[0], &async));
        HCHECK_RESULT(async, abort_peer ? MICS_REMOTE_ERROR : MICS_TIMEOUT);
        HCHECK_RESULT(mics_allgather(send[0], recv[0], 1, MICS_UINT64, comms[0], dev[0].stream),
                      MICS_INVALID_USAGE);  // the communicator has failed
        HCHECK(strstr(mics_last_error(comms[0]),
                      abort_peer ? "a rank aborted" : "waited longer than the timeout"))
            << mics_last_error(comms[0]);
        for (int r = 0; r < 2; ++r) cudaFree(send[r]), cudaFree(recv[r]);
        for (mics_comm_t c : comms) HCHECK_OK(mics_comm_destroy(c));
      },
      opts);
}

TEST(DeviceTiny, KernelGivesUpAtTheTimeoutWhenAPeerNeverCalls) {
  REQUIRE_GPU();
  TinyPeerMissesACall(false);
}

TEST(DeviceTiny, KernelStopsWhenThePeerItWaitsForAborts) {
  REQUIRE_GPU();
  TinyPeerMissesACall(true);
}

// Host and device buffers in one call, device buffers without a stream, host
// buffers with one, a stream in graph capture: refused at the call, with a
// message naming the problem.
TEST(DeviceArguments, KindsAndStreams) {
  REQUIRE_GPU();
  RunShape(Shape::kProcesses, 2, [](mics_comm_t comm, int rank) {
    DeviceRank dev;
    float *d1, *d2;
    HASSERT(cudaMalloc(&d1, 4096) == cudaSuccess && cudaMalloc(&d2, 4096) == cudaSuccess);
    std::vector<float> h(1024);
    auto expect = [&](mics_result_t r, const char* needle) {
      HCHECK_RESULT(r, MICS_INVALID_ARGUMENT);
      HCHECK(strstr(mics_last_error(comm), needle)) << mics_last_error(comm);
    };
    expect(mics_allreduce(h.data(), d1, 16, MICS_FLOAT32, MICS_SUM, comm, dev.stream),
           "sendbuf is host memory but recvbuf is device memory");
    expect(mics_allreduce(d1, h.data(), 16, MICS_FLOAT32, MICS_SUM, comm, dev.stream),
           "sendbuf is device memory but recvbuf is host memory");
    expect(mics_allreduce(d1, d2, 16, MICS_FLOAT32, MICS_SUM, comm, nullptr),
           "device buffers need a stream");
    expect(mics_allreduce(h.data(), h.data(), 16, MICS_FLOAT32, MICS_SUM, comm, dev.stream),
           "stream must be NULL for host buffers");
    // A stream being captured into a CUDA graph: refused, and the capture can still end.
    HASSERT(cudaStreamBeginCapture(dev.stream, cudaStreamCaptureModeThreadLocal) == cudaSuccess);
    HCHECK_RESULT(mics_allreduce(d1, d2, 16, MICS_FLOAT32, MICS_SUM, comm, dev.stream),
                  MICS_INVALID_USAGE);
    HCHECK(strstr(mics_last_error(comm), "captured into a CUDA graph")) << mics_last_error(comm);
    cudaGraph_t graph = nullptr;
    HCHECK(cudaStreamEndCapture(dev.stream, &graph) == cudaSuccess);
    if (graph) cudaGraphDestroy(graph);
    // Pinned host memory is host memory.
    float* pinned;
    HASSERT(cudaMallocHost(&pinned, 4096) == cudaSuccess);
    for (int i = 0; i < 16; ++i) pinned[i] = static_cast<float>(rank + i);
    HCHECK_OK(mics_allreduce(pinned, pinned, 16, MICS_FLOAT32, MICS_SUM, comm, nullptr));
    for (int i = 0; i < 16; ++i) HCHECK_EQ(pinned[i], static_cast<float>(1 + 2 * i));
    // The communicator is still fine.
    HCHECK_OK(mics_allreduce(d1, d2, 16, MICS_FLOAT32, MICS_SUM, comm, dev.stream));
    HCHECK(cudaStreamSynchronize(dev.stream) == cudaSuccess);
    CheckNoAsyncError(comm);
    cudaFreeHost(pinned), cudaFree(d1), cudaFree(d2);
  });
}

}  // namespace
