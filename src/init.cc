// Communicator construction: world (through the bootstrap root) and the
// shared tail both world and split communicators go through.
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstring>

#include "src/base/env.h"
#include "src/base/log.h"
#include "src/coll/collectives.h"
#include "src/comm.h"
#include "src/diag.h"
#include "topo/hwloc_discovery.h"
#include "topo/node_id.h"
#include "topo/rails.h"

namespace mics {
namespace {

std::string sanitize_tag(const std::string& tag) {
  std::string out;
  for (char c : tag)
    if (isalnum(static_cast<unsigned char>(c)) && out.size() < 16) out += c;
  return out.empty() ? "x" : out;
}

// Segment names every rank can compute for every peer: no name exchange needed.
std::string mailbox_name(const mics_comm* c, int rank) {
  char name[128];
  snprintf(name, sizeof(name), "/mics-%s-%016" PRIx64 "-%016" PRIx64 "-%d", c->job_tag.c_str(),
           c->session, c->comm_id, rank);
  return name;
}

// The NIC of this rank's rail: local rank l of k leaves through the NIC
// nearest its GPU (topo/rails). Only consulted when the job spans nodes; a
// machine whose topology cannot be read falls back to the provider's default.
std::string rail_nic_for(const std::vector<RankInfo>& ranks, int rank) {
  std::vector<uint64_t> node_hash;
  for (const RankInfo& r : ranks) node_hash.push_back(r.node_hash);
  topo::NodeLayout layout = topo::make_layout(node_hash);
  int local = layout.local_rank_of[rank];
  int nlocal = static_cast<int>(layout.node_ranks[layout.node_of[rank]].size());
  const topo::Machine* machine = nullptr;
  topo::RailPlan plan;
  if (topo::local_machine(&machine) != MICS_SUCCESS ||
      topo::plan_rails(*machine, nlocal, &plan) != MICS_SUCCESS) {
    MICS_WARN("topology discovery failed (%s); using the provider's default NIC",
              thread_error().c_str());
    return "";
  }
  const std::string& nic = plan.ranks[local].nic_name;
  MICS_LOG_INFO("rail: local rank %d/%d -> NIC %s", local, nlocal,
                nic.empty() ? "(none)" : nic.c_str());
  return nic;
}

}  // namespace

Result config_from_env(CommConfig* out) {
  MICS_CHECK(env_int("MICS_TIMEOUT_MS", 300000, 1, INT32_MAX, &out->timeout_ms));
  out->job_tag = sanitize_tag(env_str("MICS_JOB_TAG"));
  MICS_CHECK(transport::shm::shm_params_from_env(&out->shm_params));
  MICS_CHECK(transport::ofi::ofi_params_from_env(&out->net_params));
  MICS_CHECK(coll::algo_from_env(&out->algo));
  MICS_CHECK(coll::cost_model_from_env(&out->model));
  MICS_CHECK(env_int("MICS_STREAM_BYTES", out->stream_bytes, 0, INT64_MAX, &out->stream_bytes));
  return MICS_SUCCESS;
}

Result open_endpoint(std::shared_ptr<transport::ofi::OfiDomain>* domain,
                     const transport::ofi::OfiParams& params, int rank, NetSetup* net,
                     NetAddress* address) {
  if (!*domain) MICS_CHECK(transport::ofi::OfiDomain::open(params, domain));
  net->domain = *domain;
  MICS_CHECK(transport::ofi::OfiEndpoint::open(*domain, rank, &net->endpoint));
  const std::string& a = net->endpoint->address();
  if (a.size() > sizeof(address->bytes))
    return MICS_ERROR(MICS_INTERNAL_ERROR, "network address of %zu bytes is too long", a.size());
  address->len = static_cast<uint32_t>(a.size());
  memcpy(address->bytes, a.data(), a.size());
  return MICS_SUCCESS;
}

Result build_comm(std::vector<RankInfo> ranks, int rank, uint64_t session, uint64_t comm_id,
                  const CommConfig& config, NetSetup net, mics_comm** out) {
  auto t0 = Clock::now();
  Deadline deadline = Deadline::after_ms(config.timeout_ms);
  std::unique_ptr<mics_comm> c(new mics_comm());
  c->rank = rank;
  c->size = static_cast<int>(ranks.size());
  c->ranks = std::move(ranks);
  c->session = session;
  c->comm_id = comm_id;
  c->timeout_ms = config.timeout_ms;
  c->job_tag = config.job_tag;
  c->shm_params = config.shm_params;
  c->net_params = config.net_params;
  c->algo = config.algo;
  c->model = config.model;
  c->stream_bytes = config.stream_bytes;
  c->net_domain = net.domain;
  c->net = std::move(net.endpoint);

  std::vector<uint64_t> node_hash(c->size);
  for (int r = 0; r < c->size; ++r) node_hash[r] = c->ranks[r].node_hash;
  c->layout = topo::make_layout(node_hash);

  // Shared memory serves the ranks of our node (same node id and same machine);
  // every other rank is reached over the network endpoint.
  const RankInfo& me = c->ranks[rank];
  std::vector<int> local;  // comm ranks served by shared memory, ascending
  c->conn.resize(c->size);
  for (int r = 0; r < c->size; ++r) {
    const RankInfo& p = c->ranks[r];
    if (p.node_hash == me.node_hash && p.physical_hash == me.physical_hash) {
      local.push_back(r);
      continue;
    }
    const NetAddress* a = r < static_cast<int>(net.addresses.size()) ? &net.addresses[r] : nullptr;
    if (!c->net || !a)
      return MICS_ERROR(MICS_INTERNAL_ERROR,
                        "rank %d is on another node but no network "
                        "endpoint was set up",
                        r);
    if (a->len == 0)
      return MICS_ERROR(MICS_REMOTE_ERROR,
                        "rank %d (node %.64s) could not open a network "
                        "endpoint (see its log)",
                        r, p.node_name);
    // The name in the transport's messages: its node, and its world rank in a
    // subgroup (the rank the user knows).
    std::string name = p.node_name;
    if (p.rank != r) name = "world rank " + std::to_string(p.rank) + ", " + name;
    MICS_CHECK(
        c->net->add_peer(r, std::string(reinterpret_cast<const char*>(a->bytes), a->len), name));
    c->conn[r] = c->net->connect(r);
  }
  double topo_ms = ms_since(t0);
  if (local.size() > 1) {
    int my_index = 0;
    std::vector<std::string> names;
    std::vector<int> pids;
    for (size_t i = 0; i < local.size(); ++i) {
      if (local[i] == rank) my_index = static_cast<int>(i);
      names.push_back(mailbox_name(c.get(), local[i]));
      const RankInfo& p = c->ranks[local[i]];
      pids.push_back(p.pid_namespace == me.pid_namespace ? p.pid : 0);
    }
    MICS_CHECK(transport::shm::ShmDomain::create(
        names[my_index], my_index, static_cast<int>(local.size()), c->shm_params, &c->shm));
    MICS_CHECK(c->shm->attach(names, pids, deadline));
    c->shm_ranks = local;
    for (size_t i = 0; i < local.size(); ++i)
      if (local[i] != rank) c->conn[local[i]] = c->shm->connect(static_cast<int>(i));
  }
  c->ring_chunk = c->shm_params.slot_bytes;
  for (int r = 0; r < c->size; ++r) {
    const RankInfo& a = c->ranks[r];
    const RankInfo& b = c->ranks[(r + 1) % c->size];
    if (a.node_hash != b.node_hash || a.physical_hash != b.physical_hash)
      c->ring_chunk = std::min(c->ring_chunk, c->net_params.chunk_bytes);
  }
  c->peer_seq.reset(new std::atomic<uint64_t>[c->size]());
  // Nobody returns before everyone is connected (and has unlinked what it should).
  MICS_CHECK(coll::barrier(c.get()));
  MICS_LOG_INFO("comm %016" PRIx64
                " rank %d/%d: node %d/%d local rank %d/%zu; topology %.2f ms, "
                "connect %.2f ms",
                c->comm_id, rank, c->size, c->layout.node_of[rank], c->layout.nnodes(),
                c->layout.local_rank_of[rank], c->layout.node_ranks[c->layout.node_of[rank]].size(),
                topo_ms, ms_since(t0) - topo_ms);
  register_comm(c.get());
  *out = c.release();
  return MICS_SUCCESS;
}

Result init_world(const UniqueId& id, int nranks, int rank, const CommConfig& config,
                  mics_comm** out) {
  auto t0 = Clock::now();
  topo::HostIdentity host;
  MICS_CHECK(topo::local_identity(&host));
  RankInfo mine{};
  mine.node_hash = host.node_hash;
  mine.physical_hash = host.physical_hash;
  mine.pid_namespace = host.pid_namespace;
  mine.pid = getpid();
  mine.rank = rank;
  snprintf(mine.node_name, sizeof(mine.node_name), "%s", host.node_name.c_str());

  std::vector<RankInfo> all;
  uint64_t session = 0;
  NetSetup net;
  std::shared_ptr<transport::ofi::OfiDomain> domain;
  auto make_address = [&](NetAddress* address) {
    transport::ofi::OfiParams params = config.net_params;
    params.rail_nic = rail_nic_for(all, rank);
    return open_endpoint(&domain, params, rank, &net, address);
  };
  Result r = rendezvous(id, nranks, rank, mine, Deadline::after_ms(config.timeout_ms), make_address,
                        &all, &net.addresses, &session);
  // If this process hosted the root it has finished by now; after a failure it
  // may still be waiting out its own deadline, so leave it to end by itself.
  if (r == MICS_SUCCESS) join_root(id);
  MICS_CHECK(r);
  double bootstrap_ms = ms_since(t0);
  MICS_CHECK(build_comm(std::move(all), rank, session, 0, config, std::move(net), out));
  MICS_LOG_INFO("init rank %d/%d on %s: bootstrap %.2f ms, total %.2f ms", rank, nranks,
                host.node_name.c_str(), bootstrap_ms, ms_since(t0));
  return MICS_SUCCESS;
}

}  // namespace mics

mics_comm::~mics_comm() { mics::unregister_comm(this); }
