// How long communicator set-up takes: world init, mics_comm_split and
// mics_create_partition_groups (+ destroy), as medians over repetitions.
// Run under mics-run / torchrun / mpirun like the other perf binaries:
//   mics-run -n 8 [--nodes 2] -- comm_setup_perf [-n reps] [-p partition_size]
#include <mics/mics.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "perf_check.h"

namespace {

double now_us() {
  return std::chrono::duration<double, std::micro>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void check(mics_result_t r, mics_comm_t comm, const char* what) {
  mics_perf::ExitOnError(r, "comm_setup_perf", what, comm);
}

// Median over ranks' medians is overkill here: report the slowest rank's median.
double slowest(mics_comm_t comm, std::vector<double> samples) {
  std::sort(samples.begin(), samples.end());
  double median = samples[samples.size() / 2], out = 0;
  check(mics_allreduce(&median, &out, 1, MICS_FLOAT64, MICS_MAX, comm, nullptr), comm, "allreduce");
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 20, p = 2, opt;
  while ((opt = getopt(argc, argv, "n:p:")) != -1) {
    if (opt == 'n')
      reps = atoi(optarg);
    else if (opt == 'p')
      p = atoi(optarg);
    else {
      fprintf(stderr, "usage: %s [-n reps] [-p partition_size]\n", argv[0]);
      return 2;
    }
  }
  double t0 = now_us();
  mics_comm_t world = nullptr;
  check(mics_comm_init_env(&world), nullptr, "mics_comm_init_env");
  double init_us = now_us() - t0;
  int rank = 0, size = 0, nnodes = 0;
  mics_comm_rank(world, &rank);
  mics_comm_size(world, &size);
  mics_comm_topology(world, nullptr, &nnodes, nullptr, nullptr);
  if (reps < 1 || p < 1 || size % p != 0) {
    fprintf(stderr, "reps must be >= 1 and -p must divide %d\n", size);
    return 2;
  }
  std::vector<double> split_us, part_us;
  for (int i = 0; i < reps; ++i) {
    check(mics_barrier(world), world, "barrier");
    double t = now_us();
    mics_comm_t half = nullptr;
    check(mics_comm_split(world, rank % 2, rank, &half), world, "split");
    split_us.push_back(now_us() - t);
    mics_comm_destroy(half);
    check(mics_barrier(world), world, "barrier");
    t = now_us();
    mics_comm_t part = nullptr, repl = nullptr;
    check(mics_create_partition_groups(world, p, &part, &repl), world, "partition groups");
    part_us.push_back(now_us() - t);
    mics_comm_destroy(part);
    mics_comm_destroy(repl);
  }
  double init = slowest(world, {init_us});
  double split = slowest(world, split_us), part = slowest(world, part_us);
  if (rank == 0) {
    printf("# comm_setup_perf: %d ranks on %d nodes, %d repetitions (slowest rank's median)\n",
           size, nnodes, reps);
    printf("%-34s %10.0f us\n", "mics_comm_init_env", init);
    printf("%-34s %10.0f us\n", "mics_comm_split (2 colours)", split);
    printf("mics_create_partition_groups(p=%-3d) %10.0f us\n", p, part);
  }
  mics_comm_destroy(world);
  return 0;
}
