// libfabric domain: provider choice and the capabilities it advertises.
// Provider order: MICS_FI_PROVIDER when set, else efa, verbs;ofi_rxm, tcp;ofi_rxm.
// The tcp provider is pinned to MICS_NET_IFACE (default "lo"), so tests never
// touch another interface. Only what the provider returns is relied on
// (mr_mode bits, inject size, max message size).
#pragma once

#include <memory>
#include <string>

#include "src/base/error.h"

struct fi_info;
struct fid_fabric;
struct fid_domain;

namespace mics::transport::ofi {

struct OfiParams {
  std::string provider;            // MICS_FI_PROVIDER ("" = automatic)
  std::string iface;               // MICS_NET_IFACE (tcp domain name)
  std::string rail_nic;            // NIC of this rank's rail (topology), for RDMA providers
  size_t chunk_bytes = 512 << 10;  // MICS_NET_CHUNK_BYTES
  int nslots = 4;                  // MICS_NET_SLOTS
  int delay_us = 0;                // MICS_NET_DELAY_US: test-only per-message latency
};

Result ofi_params_from_env(OfiParams* out);

// MICS_FI_PROVIDER's check: "" (automatic) or up to kMaxProviderName
// characters of [A-Za-z0-9;_-] ("efa", "tcp;ofi_rxm"). Pure.
constexpr size_t kMaxProviderName = 64;
bool valid_provider_name(const std::string& name);

class OfiDomain {
 public:
  static Result open(const OfiParams& params, std::shared_ptr<OfiDomain>* out);
  ~OfiDomain();
  OfiDomain(const OfiDomain&) = delete;
  OfiDomain& operator=(const OfiDomain&) = delete;

  fi_info* info() const { return info_; }
  fid_domain* domain() const { return domain_; }
  const OfiParams& params() const { return params_; }
  const std::string& provider() const { return provider_; }
  bool needs_local_desc() const;                  // FI_MR_LOCAL: pass MR descriptors
  bool needs_mr_bind() const;                     // FI_MR_ENDPOINT: bind MRs to the endpoint
  uint64_t next_mr_key() { return next_key_++; }  // app-chosen keys when !FI_MR_PROV_KEY
  size_t inject_size() const;

 private:
  OfiDomain() = default;
  OfiParams params_;
  std::string provider_;
  fi_info* info_ = nullptr;
  fid_fabric* fabric_ = nullptr;
  fid_domain* domain_ = nullptr;
  uint64_t next_key_ = 1;
};

}  // namespace mics::transport::ofi
