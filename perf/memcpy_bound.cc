// memcpy_bound: single-thread copy bandwidth of this machine, the yardstick
// for shared-memory collectives (perf/compare.py turns it into a busbw bound
// per algorithm; docs/PERFORMANCE.md explains the bound).
//
//   memcpy_bound [-s bytes] [-n reps] [-c chunk] [-t threads] [-J out.json]
//
// Each number is the median over reps (after one untimed pass that touches
// every page), in GB/s of payload (bytes copied per second):
//   memcpy  one memcpy of the whole buffer, src -> dst (large buffers, out of cache)
//   staged  src -> slot -> dst in chunks of -c bytes through one small slot,
//           as a shared-memory ring moves data (sender into the slot, receiver
//           out of it), but both copies on this one thread
//   cma     the same copy by the kernel: process_vm_readv of our own buffer,
//           the mechanism of the single-copy paths (mics' and OpenMPI's), which
//           pins the source 16 pages at a time and cannot use non-temporal
//           stores; 0 where cross-memory attach is refused
//   concurrent  (-t T > 1) the memcpy rate of each of T threads copying their
//           own buffers at the same time: what each of T ranks on T cores can
//           copy while the others copy too (they share the memory system)
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

bool ParseSize(const char* s, size_t* out) {
  char* end = nullptr;
  unsigned long long v = std::strtoull(s, &end, 10);
  if (end == s) return false;
  switch (*end) {
    case 'G':
    case 'g':
      v <<= 10;
      [[fallthrough]];
    case 'M':
    case 'm':
      v <<= 10;
      [[fallthrough]];
    case 'K':
    case 'k':
      v <<= 10;
      ++end;
      break;
    default:
      break;
  }
  if (*end != '\0' || v == 0) return false;
  *out = static_cast<size_t>(v);
  return true;
}

char* Alloc(size_t n) {
  char* p = static_cast<char*>(std::aligned_alloc(4096, (n + 4095) / 4096 * 4096));
  if (p == nullptr) {
    std::fprintf(stderr, "memcpy_bound: cannot allocate %zu bytes\n", n);
    std::exit(1);
  }
  std::memset(p, 1, n);  // fault the pages in before timing
  return p;
}

template <typename F>
double MedianGBps(size_t bytes, int reps, F&& f) {
  f();  // untimed pass
  std::vector<double> gbps;
  for (int i = 0; i < reps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    auto t1 = std::chrono::steady_clock::now();
    gbps.push_back(static_cast<double>(bytes) / std::chrono::duration<double>(t1 - t0).count() /
                   1e9);
  }
  std::sort(gbps.begin(), gbps.end());
  return gbps[gbps.size() / 2];
}

// src -> dst through the kernel, as a peer's single-copy read would (true when
// every byte came across).
bool CmaCopy(char* dst, const char* src, size_t bytes) {
  size_t done = 0;
  while (done < bytes) {
    iovec local{dst + done, bytes - done};
    iovec remote{const_cast<char*>(src) + done, bytes - done};
    ssize_t n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// Median over reps of the per-thread rate of `threads` threads that each
// memcpy their own `bytes` at the same moment (a spinning start line, so
// that the copies overlap from their first byte).
double ConcurrentGBps(size_t bytes, int reps, int threads) {
  std::vector<char*> src(threads), dst(threads);
  for (int t = 0; t < threads; ++t) src[t] = Alloc(bytes), dst[t] = Alloc(bytes);
  std::vector<double> gbps;
  for (int rep = 0; rep <= reps; ++rep) {  // rep 0: untimed
    std::atomic<int> arrived{0};
    std::vector<double> secs(threads);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        arrived.fetch_add(1);
        while (arrived.load() < threads) {
        }
        auto t0 = std::chrono::steady_clock::now();
        std::memcpy(dst[t], src[t], bytes);
        secs[t] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      });
    }
    for (std::thread& th : pool) th.join();
    if (rep > 0)
      for (double s : secs) gbps.push_back(static_cast<double>(bytes) / s / 1e9);
  }
  for (int t = 0; t < threads; ++t) std::free(src[t]), std::free(dst[t]);
  std::sort(gbps.begin(), gbps.end());
  return gbps[gbps.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  size_t size = 256u << 20, chunk = 256u << 10;
  int reps = 7, threads = 1;
  std::string json;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (a == "-s" && v && ParseSize(v, &size)) {
      ++i;
    } else if (a == "-c" && v && ParseSize(v, &chunk)) {
      ++i;
    } else if (a == "-n" && v && std::atoi(v) > 0) {
      reps = std::atoi(v);
      ++i;
    } else if (a == "-t" && v && std::atoi(v) > 0 && std::atoi(v) <= 256) {
      threads = std::atoi(v);
      ++i;
    } else if (a == "-J" && v) {
      json = v;
      ++i;
    } else {
      std::fprintf(stderr,
                   "usage: %s [-s bytes(256M)] [-n reps(7)] [-c chunk(256K)] [-t threads(1)] "
                   "[-J out.json]\n",
                   argv[0]);
      return a == "-h" || a == "--help" ? 0 : 2;
    }
  }
  chunk = std::min(chunk, size);
  char* src = Alloc(size);
  char* dst = Alloc(size);
  char* slot = Alloc(chunk);
  double memcpy_gbps = MedianGBps(size, reps, [&] { std::memcpy(dst, src, size); });
  double staged_gbps = MedianGBps(size, reps, [&] {
    for (size_t off = 0; off < size; off += chunk) {
      size_t n = std::min(chunk, size - off);
      std::memcpy(slot, src + off, n);
      std::memcpy(dst + off, slot, n);
    }
  });
  double cma_gbps = 0;
  if (CmaCopy(dst, src, size)) cma_gbps = MedianGBps(size, reps, [&] { CmaCopy(dst, src, size); });
  if (dst[size / 2] != 1) return 3;  // keep the copies observable
  double concurrent_gbps = threads > 1 ? ConcurrentGBps(size, reps, threads) : memcpy_gbps;
  std::printf("# memcpy_bound: single thread, %zu-byte buffers, median of %d\n", size, reps);
  std::printf("memcpy  %8.2f GB/s\n", memcpy_gbps);
  std::printf("staged  %8.2f GB/s  (src -> %zu-byte slot -> dst)\n", staged_gbps, chunk);
  std::printf("cma     %8.2f GB/s  (process_vm_readv of our own buffer)\n", cma_gbps);
  if (threads > 1)
    std::printf("concurrent  %8.2f GB/s  (memcpy per thread, %d threads at once)\n",
                concurrent_gbps, threads);
  if (!json.empty()) {
    FILE* f = std::fopen(json.c_str(), "w");
    if (f == nullptr) {
      std::fprintf(stderr, "memcpy_bound: cannot write %s\n", json.c_str());
      return 1;
    }
    std::fprintf(f,
                 "{\"probe\": \"memcpy_bound\", \"bytes\": %zu, \"reps\": %d, \"chunk\": %zu, "
                 "\"memcpy_gbps\": %.4f, \"staged_gbps\": %.4f, \"threads\": %d, "
                 "\"concurrent_gbps\": %.4f, \"cma_gbps\": %.4f}\n",
                 size, reps, chunk, memcpy_gbps, staged_gbps, threads, concurrent_gbps, cma_gbps);
    std::fclose(f);
  }
  std::free(src);
  std::free(dst);
  std::free(slot);
  return 0;
}
