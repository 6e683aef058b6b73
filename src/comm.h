// The communicator: everything a collective needs hangs off it (no globals).
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "mics/mics.h"
#include "src/base/error.h"
#include "src/bootstrap.h"
#include "src/coll/cost_model.h"
#include "src/coll/direct_block.h"
#include "src/coll/direct_memory.h"
#include "src/device.h"
#include "topo/layout.h"
#include "transport/connection.h"
#include "transport/ofi/ofi_domain.h"
#include "transport/ofi/ofi_endpoint.h"
#include "transport/shm/mailbox.h"

struct mics_comm {
  int rank = 0;
  int size = 1;
  std::vector<mics::RankInfo> ranks;  // per comm rank
  mics::topo::NodeLayout layout;
  uint64_t session = 0;  // from the root; names this job's shared-memory segments
  uint64_t comm_id = 0;  // 0 for a world communicator; derived for splits
  uint32_t splits = 0;   // splits made from this communicator (same on every rank)
  int64_t timeout_ms = 0;
  std::string job_tag;  // MICS_JOB_TAG (segment name prefix, for mics-run's sweep)
  mics::transport::shm::ShmParams shm_params;

  mics::transport::ofi::OfiParams net_params;
  mics::coll::Algo algo = mics::coll::Algo::kAuto;  // MICS_ALGO
  mics::coll::CostModel model;                      // MICS_MODEL_*
  int64_t stream_bytes = 0;                         // MICS_STREAM_BYTES (CommConfig)
  uint32_t algo_logged = 0;                         // which choices were logged at INFO

  // Transports. Declared before `conn` so the connections go first on destruction.
  std::unique_ptr<mics::transport::shm::ShmDomain> shm;         // ranks on our node; null if none
  std::shared_ptr<mics::transport::ofi::OfiDomain> net_domain;  // shared with splits
  std::unique_ptr<mics::transport::ofi::OfiEndpoint> net;       // ranks on other nodes; or null
  std::vector<std::unique_ptr<mics::transport::Connection>> conn;  // per rank; null for self

  std::vector<int> shm_ranks;  // comm rank of each shared-memory local index

  // Chunk size of the ring algorithms: the smallest slot of any link of the ring
  // (rank r -> r+1), so that both ends of every link cut blocks the same way.
  size_t ring_chunk = 0;

  // Changes whenever a shared-memory peer posts or releases towards us.
  uint32_t wake_count() const { return shm ? shm->doorbell() : 0; }

  std::atomic<bool> aborted{false};
  // Sticky: a collective failed half-way. The message is written before the
  // code is published (release), so a reader who sees the code sees it too.
  std::atomic<mics_result_t> fatal{MICS_SUCCESS};
  std::string fatal_message;

  // Diagnostics (MICS_DUMP_SIGNAL): what is in flight, what completed, and
  // the last sequence number seen from each peer.
  std::atomic<uint64_t> completed_seq{0};
  std::atomic<uint32_t> in_flight_kind{0};  // coll::Kind of the call in progress, 0 = none
  std::unique_ptr<std::atomic<uint64_t>[]> peer_seq;  // per rank

  ~mics_comm();
  std::string last_error;
  uint64_t seq = 0;  // collectives issued on this communicator
  // The single-copy path (src/coll/direct.cc): the last call in which this rank
  // read every peer's exposure, and scratch lists reused from call to call.
  uint64_t direct_read_all_seq = 0;
  std::vector<int> direct_indices, direct_pending, direct_read;
  std::vector<mics::coll::DirectBlock> direct_blocks;
  // How direct calls touch buffers (src/coll/direct_memory.h): the device
  // proxy's memory while the proxy runs a device call on this communicator
  // (only it runs calls then: host calls drain the proxy first), else ours.
  mics::coll::DirectMemory* device_memory = nullptr;
  std::unique_ptr<mics::coll::DirectMemory, mics::coll::DirectMemoryDeleter> host_memory;

  // Subgroups of the hierarchical algorithms, made on first use.
  std::unique_ptr<mics_comm> rail_comm;  // ranks sharing our local rank, one per node
  std::unique_ptr<mics_comm> node_comm;  // ranks on our node
  bool hier_fallback_logged = false;
  std::vector<char> scratch;  // workspace of the hierarchical reductions, grown on demand

  // mics_comm_init_all with devices: this rank's CUDA device (-1: not bound to one).
  int cuda_device = -1;
  // The device-buffer path (src/cuda/proxy.h): started by the first device call.
  // Declared last so that it is destroyed first: its thread drives this
  // communicator and must stop before anything else goes.
  std::mutex proxy_mu;
  std::unique_ptr<mics::gpu::Proxy, mics::gpu::ProxyDeleter> proxy;
};

namespace mics {

struct CommConfig {
  int64_t timeout_ms = 300000;
  std::string job_tag;
  transport::shm::ShmParams shm_params;
  transport::ofi::OfiParams net_params;
  coll::Algo algo = coll::Algo::kAuto;
  coll::CostModel model;
  // MICS_STREAM_BYTES: out-of-place reduce-scatter blocks from this size are
  // written with non-temporal stores (0 = never). Measured, docs/PERFORMANCE.md.
  int64_t stream_bytes = int64_t{32} << 20;
};

// The network side of a new communicator: its endpoint (already open, its
// address published) and every member's address. Empty for one-node groups.
struct NetSetup {
  std::shared_ptr<transport::ofi::OfiDomain> domain;
  std::unique_ptr<transport::ofi::OfiEndpoint> endpoint;
  std::vector<NetAddress> addresses;  // per member rank
};

// Opens an endpoint for a communicator where this rank is `rank`.
Result open_endpoint(std::shared_ptr<transport::ofi::OfiDomain>* domain,
                     const transport::ofi::OfiParams& params, int rank, NetSetup* net,
                     NetAddress* address);

// Reads MICS_TIMEOUT_MS, MICS_JOB_TAG, MICS_SHM_* (validated).
Result config_from_env(CommConfig* out);

// Builds a communicator from the table of its ranks (same on every member):
// node layout, shared-memory mailboxes, connections, a closing barrier.
Result build_comm(std::vector<RankInfo> ranks, int rank, uint64_t session, uint64_t comm_id,
                  const CommConfig& config, NetSetup net, mics_comm** out);

// Creates a world communicator through the root of id.
Result init_world(const UniqueId& id, int nranks, int rank, const CommConfig& config,
                  mics_comm** out);

Result split_comm(mics_comm* parent, int color, int key, mics_comm** out);

}  // namespace mics
