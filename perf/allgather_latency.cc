// allgather_latency: small-message allgather latency over the public mics API.
//
//   allgather_latency [-s bytes_per_rank(8)] [-n iters(10000)] [-w warmup(1000)] [-J out.json]
//
// Times every call of a back-to-back loop of mics_allgather (sendbuf of -s
// bytes per rank, uint8) and prints the median, mean and 90th percentile per
// call (each the maximum over ranks). The perf binaries cannot go this small:
// nccl-tests rounds a rank's share down to 16 bytes, so "-b 8" is a no-op.
// Linked against libmics it measures mics; perf/baselines links the same file
// against the MPI and Gloo shims (mpi_allgather_latency, gloo_allgather_latency).
#include <mics/mics.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "perf_check.h"

namespace {

mics_comm_t g_comm = nullptr;

void Check(mics_result_t r, const char* what) {
  mics_perf::ExitOnError(r, "allgather_latency", what, g_comm);
}

double MaxOverRanks(double v) {
  double out = 0;
  Check(mics_allreduce(&v, &out, 1, MICS_FLOAT64, MICS_MAX, g_comm, nullptr), "mics_allreduce");
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  size_t bytes = 8;
  int iters = 10000, warmup = 1000;
  std::string json;
  for (int i = 1; i < argc; i += 2) {  // flag value pairs
    std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (a == "-s" && v && std::atol(v) > 0) {
      bytes = static_cast<size_t>(std::atol(v));
    } else if (a == "-n" && v && std::atoi(v) > 0) {
      iters = std::atoi(v);
    } else if (a == "-w" && v && std::atoi(v) >= 0) {
      warmup = std::atoi(v);
    } else if (a == "-J" && v) {
      json = v;
    } else {
      std::fprintf(stderr, "usage: %s [-s bytes_per_rank] [-n iters] [-w warmup] [-J out.json]\n",
                   argv[0]);
      return a == "-h" || a == "--help" ? 0 : 2;
    }
  }
  if (std::getenv("RANK") == nullptr && std::getenv("OMPI_COMM_WORLD_RANK") == nullptr) {
    mics_unique_id id;
    Check(mics_get_unique_id(&id), "mics_get_unique_id");
    Check(mics_comm_init_rank(&g_comm, 1, id, 0), "mics_comm_init_rank");
  } else {
    Check(mics_comm_init_env(&g_comm), "mics_comm_init_env");
  }
  int rank = 0, size = 0, version = 0;
  Check(mics_comm_rank(g_comm, &rank), "mics_comm_rank");
  Check(mics_comm_size(g_comm, &size), "mics_comm_size");
  mics_get_version(&version);
  std::vector<unsigned char> send(bytes, static_cast<unsigned char>(rank + 1));
  std::vector<unsigned char> recv(bytes * static_cast<size_t>(size), 0);
  auto call = [&] {
    Check(mics_allgather(send.data(), recv.data(), bytes, MICS_UINT8, g_comm, nullptr),
          "mics_allgather");
  };
  for (int i = 0; i < warmup; ++i) call();
  Check(mics_barrier(g_comm), "mics_barrier");
  std::vector<double> us(static_cast<size_t>(iters));
  for (int i = 0; i < iters; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    call();
    auto t1 = std::chrono::steady_clock::now();
    us[static_cast<size_t>(i)] = std::chrono::duration<double, std::micro>(t1 - t0).count();
  }
  size_t wrong = 0;
  for (int r = 0; r < size; ++r)
    for (size_t j = 0; j < bytes; ++j)
      wrong += recv[static_cast<size_t>(r) * bytes + j] != static_cast<unsigned char>(r + 1);
  double mean = 0;
  for (double x : us) mean += x;
  mean /= iters;
  std::sort(us.begin(), us.end());
  double median = MaxOverRanks(us[us.size() / 2]);
  double p90 = MaxOverRanks(us[us.size() * 9 / 10]);
  mean = MaxOverRanks(mean);
  double bad = MaxOverRanks(static_cast<double>(wrong));
  if (rank == 0) {
    std::printf(
        "# allgather_latency: %d ranks, %zu bytes per rank, %d iters (+%d warm-up), "
        "library version %d; per call, max over ranks\n",
        size, bytes, iters, warmup, version);
    std::printf("median %.2f us  mean %.2f us  p90 %.2f us  wrong %s\n", median, mean, p90,
                bad == 0 ? "0" : "YES");
    if (!json.empty()) {
      FILE* f = std::fopen(json.c_str(), "w");
      if (f != nullptr) {
        std::fprintf(f,
                     "{\"probe\": \"allgather_latency\", \"nranks\": %d, \"bytes_per_rank\": %zu, "
                     "\"iters\": %d, \"library_version\": %d, \"median_us\": %.4f, "
                     "\"mean_us\": %.4f, \"p90_us\": %.4f, \"wrong\": %s}\n",
                     size, bytes, iters, version, median, mean, p90, bad == 0 ? "false" : "true");
        std::fclose(f);
      }
    }
  }
  mics_comm_destroy(g_comm);
  return bad == 0 ? 0 : 1;
}
