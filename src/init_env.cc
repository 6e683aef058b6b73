// mics_comm_init_env: rank and size from the launcher's environment (torchrun
// or mpirun), root address from MICS_ROOT_ADDR/PORT or MASTER_ADDR/PORT + 1
// (torchrun's own store owns MASTER_PORT itself).
#include <cstdlib>

#include "src/base/env.h"
#include "src/base/log.h"
#include "src/comm.h"
#include "topo/node_id.h"

#define MICS_API extern "C" __attribute__((visibility("default")))

namespace mics {
namespace {

Result env_rank_size(int* rank, int* size) {
  const char* rank_var = getenv("RANK") ? "RANK" : "OMPI_COMM_WORLD_RANK";
  const char* size_var = getenv("WORLD_SIZE") ? "WORLD_SIZE" : "OMPI_COMM_WORLD_SIZE";
  if (!getenv(rank_var) || !getenv(size_var))
    return MICS_ERROR(MICS_INVALID_ARGUMENT,
                      "set RANK and WORLD_SIZE (torchrun, mics-run) or run under mpirun "
                      "(OMPI_COMM_WORLD_RANK/SIZE)");
  int64_t r = 0, n = 0;
  if (!parse_int(getenv(size_var), 1, 1 << 20, &n))
    return MICS_ERROR(MICS_INVALID_ARGUMENT, "%s='%.32s' is not a world size in [1, %d]", size_var,
                      getenv(size_var), 1 << 20);
  if (!parse_int(getenv(rank_var), 0, n - 1, &r))
    return MICS_ERROR(MICS_INVALID_ARGUMENT, "%s='%.32s' is not a rank in [0, %lld)", rank_var,
                      getenv(rank_var), static_cast<long long>(n));
  *rank = static_cast<int>(r);
  *size = static_cast<int>(n);
  return MICS_SUCCESS;
}

Result env_root(SockAddr* addr) {
  std::string host = env_str("MICS_ROOT_ADDR");
  int64_t port = 0;
  if (!host.empty() || getenv("MICS_ROOT_PORT")) {
    if (host.empty()) host = "127.0.0.1";
    MICS_CHECK(env_int("MICS_ROOT_PORT", 0, 1, 65535, &port));
    if (port == 0)
      return MICS_ERROR(MICS_INVALID_ARGUMENT, "MICS_ROOT_ADDR is set but MICS_ROOT_PORT is not");
  } else {
    host = env_str("MASTER_ADDR");
    if (host.empty())
      return MICS_ERROR(MICS_INVALID_ARGUMENT,
                        "no root address: set MICS_ROOT_ADDR/MICS_ROOT_PORT or MASTER_ADDR/"
                        "MASTER_PORT");
    MICS_CHECK(env_int("MASTER_PORT", 0, 1, 65534, &port));
    if (port == 0)
      return MICS_ERROR(MICS_INVALID_ARGUMENT, "MASTER_ADDR is set but MASTER_PORT is not");
    port += 1;
  }
  return resolve_addr(host, static_cast<int>(port), addr);
}

// All ranks must agree on the secret without talking first: it comes from
// MICS_BOOTSTRAP_SECRET (mics-run sets a random one) or, failing that, from
// what every rank of the job shares (weaker: anyone who knows the job's
// address can compute it; set the variable on shared machines).
void env_secret(const SockAddr& root, int size, uint8_t secret[kSecretBytes]) {
  std::string material = env_str("MICS_BOOTSTRAP_SECRET");
  if (material.empty()) {
    material = root.str() + "/" + std::to_string(size) + "/" + env_str("TORCHELASTIC_RUN_ID");
    MICS_LOG_INFO("MICS_BOOTSTRAP_SECRET is not set; deriving the bootstrap secret from the job");
  }
  for (int i = 0; i < kSecretBytes / 8; ++i) {
    uint64_t h = topo::hash_bytes(material.data(), material.size(), 0x1234567ull * (i + 1));
    memcpy(secret + 8 * i, &h, 8);
  }
}

}  // namespace
}  // namespace mics

MICS_API mics_result_t mics_comm_init_env(mics_comm_t* comm) {
  mics::clear_thread_error();
  if (!comm) return MICS_ERROR(MICS_INVALID_ARGUMENT, "comm is NULL");
  *comm = nullptr;
  int rank = 0, size = 0;
  MICS_CHECK(mics::env_rank_size(&rank, &size));
  mics::CommConfig config;
  MICS_CHECK(mics::config_from_env(&config));
  mics::UniqueId id;
  MICS_CHECK(mics::env_root(&id.root));
  mics::env_secret(id.root, size, id.secret);
  if (rank == 0) MICS_CHECK(mics::start_root(id.root, id.secret, config.timeout_ms, &id));
  MICS_CHECK(mics::init_world(id, size, rank, config, comm));
  return MICS_SUCCESS;
}
