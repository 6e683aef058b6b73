// The baseline for allgather between ranks that are processes on one GPU: the
// simplest correct thing a user could write without mics. k processes, each
// with its block in device memory, exchange legacy CUDA IPC handles once;
// every iteration, after a host barrier, each copies the k blocks (its own
// included) into its output with the copy engine (cudaMemcpyAsync), waits for
// its stream, and meets the others at a barrier again. busbw as nccl-tests:
// (k-1)/k * output bytes / time per iteration, iterations back to back.
// Uses CUDA directly, not mics: it is what mics' processes shape is measured
// against (docs/PERFORMANCE.md, issue #5's bar).
//
//   naive_ipc_gather [-k 4] [-b 16M] [-e 256M] [-f 4] [-n 10] [-w 3] [--json FILE]
#include <cuda_runtime.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

constexpr int kMaxRanks = 16;

#define CUDA_OK(expr)                                                                     \
  do {                                                                                    \
    cudaError_t e_ = (expr);                                                              \
    if (e_ != cudaSuccess) {                                                              \
      fprintf(stderr, "rank %d: %s failed: %s\n", g_rank, #expr, cudaGetErrorString(e_)); \
      _exit(1);                                                                           \
    }                                                                                     \
  } while (0)

int g_rank = -1;

// Shared by the k processes (an anonymous shared mapping made before fork).
struct Shared {
  pthread_barrier_t barrier;
  cudaIpcMemHandle_t handles[kMaxRanks];
  double seconds[64];  // per size: rank 0's time per iteration
};

size_t ParseBytes(const char* s) {
  char* end = nullptr;
  double v = strtod(s, &end);
  switch (*end) {
    case 'K':
    case 'k':
      v *= 1024;
      break;
    case 'M':
    case 'm':
      v *= 1024 * 1024;
      break;
    case 'G':
    case 'g':
      v *= 1024.0 * 1024 * 1024;
      break;
    default:
      break;
  }
  return static_cast<size_t>(v);
}

void Rank(int rank, int k, const std::vector<size_t>& sizes, int iters, int warmup, Shared* sh) {
  g_rank = rank;
  CUDA_OK(cudaSetDevice(0));
  const size_t max_block = sizes.back() / k;
  char *send, *recv;
  CUDA_OK(cudaMalloc(&send, max_block));
  CUDA_OK(cudaMalloc(&recv, max_block * k));
  CUDA_OK(cudaMemset(send, rank + 1, max_block));
  CUDA_OK(cudaIpcGetMemHandle(&sh->handles[rank], send));
  cudaStream_t stream;
  CUDA_OK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  CUDA_OK(cudaDeviceSynchronize());
  pthread_barrier_wait(&sh->barrier);
  std::vector<char*> peer(k);
  for (int j = 0; j < k; ++j) {
    if (j == rank) {
      peer[j] = send;
    } else {
      void* p = nullptr;
      CUDA_OK(cudaIpcOpenMemHandle(&p, sh->handles[j], cudaIpcMemLazyEnablePeerAccess));
      peer[j] = static_cast<char*>(p);
    }
  }
  for (size_t si = 0; si < sizes.size(); ++si) {
    const size_t block = sizes[si] / k;
    auto iteration = [&] {
      pthread_barrier_wait(&sh->barrier);  // every block is ready
      for (int j = 0; j < k; ++j)
        CUDA_OK(
            cudaMemcpyAsync(recv + j * block, peer[j], block, cudaMemcpyDeviceToDevice, stream));
      CUDA_OK(cudaStreamSynchronize(stream));
      pthread_barrier_wait(&sh->barrier);  // every read of our block is done
    };
    for (int i = 0; i < warmup; ++i) iteration();
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < iters; ++i) iteration();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (rank == 0) sh->seconds[si] = s / iters;
  }
  // The check a benchmark owes its numbers: every block landed where it belongs.
  const size_t block = sizes.back() / k;
  std::vector<char> host(block);
  for (int j = 0; j < k; ++j) {
    CUDA_OK(cudaMemcpy(host.data(), recv + j * block, block, cudaMemcpyDeviceToHost));
    for (size_t b = 0; b < block; ++b)
      if (host[b] != static_cast<char>(j + 1)) {
        fprintf(stderr, "rank %d: block %d byte %zu is %d, want %d\n", rank, j, b, host[b], j + 1);
        _exit(1);
      }
  }
  pthread_barrier_wait(&sh->barrier);  // nobody closes a handle a peer still reads
  for (int j = 0; j < k; ++j)
    if (j != rank) CUDA_OK(cudaIpcCloseMemHandle(peer[j]));
  _exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  int k = 4, iters = 10, warmup = 3;
  size_t lo = 16 << 20, hi = 256 << 20, factor = 4;
  const char* json = nullptr;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has = i + 1 < argc;
    if (a == "-k" && has)
      k = atoi(argv[++i]);
    else if (a == "-b" && has)
      lo = ParseBytes(argv[++i]);
    else if (a == "-e" && has)
      hi = ParseBytes(argv[++i]);
    else if (a == "-f" && has)
      factor = strtoull(argv[++i], nullptr, 10);
    else if (a == "-n" && has)
      iters = atoi(argv[++i]);
    else if (a == "-w" && has)
      warmup = atoi(argv[++i]);
    else if (a == "--json" && has)
      json = argv[++i];
    else {
      fprintf(stderr, "usage: %s [-k 4] [-b 16M] [-e 256M] [-f 4] [-n 10] [-w 3] [--json FILE]\n",
              argv[0]);
      return 2;
    }
  }
  if (k < 2 || k > kMaxRanks || lo < static_cast<size_t>(k) || hi < lo || factor < 2 || iters < 1 ||
      warmup < 0) {
    fprintf(stderr, "bad arguments: need 2 <= k <= %d, k <= -b <= -e, -f >= 2, -n >= 1\n",
            kMaxRanks);
    return 2;
  }
  // Asked in a child: the parent must not hold a CUDA context across fork.
  pid_t probe = fork();
  if (probe == 0) {
    int n = 0;
    _exit(cudaGetDeviceCount(&n) == cudaSuccess && n > 0 ? 0 : 77);
  }
  int status = 0;
  waitpid(probe, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    printf("naive_ipc_gather: skipped: no CUDA device\n");
    return 77;
  }
  std::vector<size_t> sizes;
  for (size_t s = lo; s <= hi && sizes.size() < 64; s *= factor) sizes.push_back(s / k * k);
  auto* sh = static_cast<Shared*>(
      mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  if (sh == MAP_FAILED) return perror("mmap"), 1;
  pthread_barrierattr_t attr;
  pthread_barrierattr_init(&attr);
  pthread_barrierattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
  pthread_barrier_init(&sh->barrier, &attr, k);
  std::vector<pid_t> pids;
  for (int r = 0; r < k; ++r) {
    pid_t pid = fork();
    if (pid == 0) Rank(r, k, sizes, iters, warmup, sh);
    pids.push_back(pid);
  }
  bool ok = true;
  for (pid_t pid : pids) {
    waitpid(pid, &status, 0);
    ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  if (!ok) {
    fprintf(stderr, "naive_ipc_gather: a rank failed\n");
    return 1;
  }
  printf("# naive CUDA IPC gather, %d processes on GPU 0, host barrier per iteration\n", k);
  printf("%12s %12s %10s\n", "bytes", "us/iter", "busbw GB/s");
  FILE* f = json ? fopen(json, "w") : nullptr;
  if (f) fprintf(f, "{\"ranks\": %d, \"rows\": [", k);
  for (size_t i = 0; i < sizes.size(); ++i) {
    const double s = sh->seconds[i];
    const double busbw = (k - 1.0) / k * static_cast<double>(sizes[i]) / s / 1e9;
    printf("%12zu %12.1f %10.2f\n", sizes[i], s * 1e6, busbw);
    if (f)
      fprintf(f, "%s{\"bytes\": %zu, \"us\": %.2f, \"busbw_gbps\": %.3f}", i ? ", " : "", sizes[i],
              s * 1e6, busbw);
  }
  if (f) fprintf(f, "]}\n"), fclose(f);
  return 0;
}
