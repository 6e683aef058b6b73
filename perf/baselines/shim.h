// The subset of the public mics API (include/mics/mics.h) that the perf
// binaries call, implemented over a baseline library instead of libmics.
//
// perf/{all_gather,reduce_scatter,all_reduce,broadcast}.cc and the perf
// driver (perf_common.cc, perf_args.cc, perf_data.cc, perf_report.cc) use
// only the public header, so linking them against mpi_perf.cc or gloo_perf.cc
// instead of libmics gives baseline binaries with exactly the same sweep,
// timing (barrier, warm-up, iterations, max over ranks), data checks, table
// and -J JSON as the mics ones. The collective calls map one to one:
//   mics_allgather / mics_hier_allgather -> MPI_Allgather       | gloo::allgather
//   mics_reduce_scatter                  -> MPI_Reduce_scatter_block
//                                           | gloo::ReduceScatterHalvingDoubling
//   mics_allreduce                       -> MPI_Allreduce       | gloo::allreduce (ring)
//   mics_broadcast                       -> MPI_Bcast           | gloo::broadcast
//   mics_barrier                         -> MPI_Barrier         | gloo::barrier
// The same calls carry the driver's own bookkeeping (rank info, #wrong sums,
// the max-over-ranks time), as they do in libmics.
#ifndef MICS_PERF_BASELINES_SHIM_H_
#define MICS_PERF_BASELINES_SHIM_H_

#include <mics/mics.h>

#include <string>

namespace mics_shim {

// Records an error message for mics_last_error() and returns code.
mics_result_t Fail(mics_result_t code, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

// Node identity of this process: MICS_HOST_ID if set, else the host name
// (so that mics-run --nodes and real hosts give the same layout as libmics).
std::string NodeKey();

// Given every rank's NodeKey (in rank order), computes this rank's node index
// (nodes numbered by their lowest rank), the number of nodes, the local rank
// and the local size, as mics_comm_topology defines them.
void Layout(const std::string* keys, int nranks, int rank, int* node, int* nnodes, int* local,
            int* local_size);

// Rank and size from RANK/WORLD_SIZE (mics-run, torchrun) or
// OMPI_COMM_WORLD_RANK/SIZE (mpirun). false with the error recorded if missing.
bool RankFromEnv(int* rank, int* size);

}  // namespace mics_shim

#endif  // MICS_PERF_BASELINES_SHIM_H_
