// mics_comm_init_all: nranks ranks of one job in this process, one thread per
// rank through the ordinary init (a unique id, then init_rank on each thread),
// like ncclCommInitAll. Ranks of one process reach each other through the same
// shared-memory mailboxes as separate processes do (segment names carry the
// rank; the doorbell futexes are process-shared, so a rank sleeping on a
// mapping that another rank of the process mapped elsewhere is still woken).
#include <string>
#include <thread>
#include <vector>

#include "src/comm.h"
#include "src/device.h"
#include "src/group.h"

#define MICS_API extern "C" __attribute__((visibility("default")))

namespace mics {
namespace {

struct RankInit {
  mics_comm_t comm = nullptr;
  Result result = MICS_SUCCESS;
  std::string error;
};

void init_one(const mics_unique_id& id, int nranks, int rank, const int* devices, RankInit* out) {
  Result r = MICS_SUCCESS;
  // The rank's device is current in the thread that creates its communicator
  // (and in its proxy thread, which selects it again).
  if (devices) r = gpu::set_device(devices[rank]);
  if (r == MICS_SUCCESS) r = mics_comm_init_rank(&out->comm, nranks, id, rank);
  if (r == MICS_SUCCESS && devices) out->comm->cuda_device = devices[rank];
  out->result = r;
  if (r != MICS_SUCCESS) out->error = thread_error();
}

Result check_devices(int nranks, const int* devices) {
  if (!devices) return MICS_SUCCESS;
  int n = 0;
  Result r = gpu::device_count(&n);
  if (r != MICS_SUCCESS) {
    const std::string why = thread_error();  // a copy: MICS_ERROR rewrites the chain
    return MICS_ERROR(r, "comm_init_all: devices were given but no CUDA device is usable: %s",
                      why.c_str());
  }
  for (int i = 0; i < nranks; ++i)
    if (devices[i] < 0 || devices[i] >= n)
      return MICS_ERROR(MICS_INVALID_ARGUMENT,
                        "comm_init_all: devices[%d] = %d is not a CUDA device (this process "
                        "sees %d)",
                        i, devices[i], n);
  return MICS_SUCCESS;
}

Result init_all(mics_comm_t* comms, int nranks, const int* devices) {
  if (!comms) return MICS_ERROR(MICS_INVALID_ARGUMENT, "comm_init_all: comms is NULL");
  if (nranks < 1)
    return MICS_ERROR(MICS_INVALID_ARGUMENT, "comm_init_all: nranks %d must be >= 1", nranks);
  for (int i = 0; i < nranks; ++i) comms[i] = nullptr;
  if (group::active())
    return MICS_ERROR(MICS_INVALID_USAGE, "mics_comm_init_all cannot be called inside a group");
  MICS_CHECK(check_devices(nranks, devices));
  mics_unique_id id;
  MICS_CHECK(mics_get_unique_id(&id));
  std::vector<RankInit> ranks(nranks);
  std::vector<std::thread> threads;
  threads.reserve(nranks);
  for (int r = 0; r < nranks; ++r)
    threads.emplace_back(init_one, std::cref(id), nranks, r, devices, &ranks[r]);
  for (std::thread& t : threads) t.join();
  const RankInit* failed = nullptr;
  int failed_rank = -1;
  for (int r = 0; r < nranks && !failed; ++r)
    if (ranks[r].result != MICS_SUCCESS) failed = &ranks[r], failed_rank = r;
  if (failed) {
    for (RankInit& ri : ranks) mics_comm_destroy(ri.comm);
    return MICS_ERROR(failed->result, "comm_init_all: rank %d of %d failed: %s", failed_rank,
                      nranks, failed->error.c_str());
  }
  for (int r = 0; r < nranks; ++r) comms[r] = ranks[r].comm;
  return MICS_SUCCESS;
}

}  // namespace
}  // namespace mics

MICS_API mics_result_t mics_comm_init_all(mics_comm_t* comms, int nranks, const int* devices) {
  mics::clear_thread_error();
  return mics::init_all(comms, nranks, devices);
}
