#include "transport/ofi/ofi_domain.h"

#include <rdma/fabric.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_errno.h>

#include <cstring>
#include <vector>

#include "src/base/env.h"
#include "src/base/log.h"

namespace mics::transport::ofi {
namespace {

bool is_tcp(const std::string& provider) { return provider.rfind("tcp", 0) == 0; }

fi_info* make_hints(const std::string& provider, const std::string& iface) {
  fi_info* h = fi_allocinfo();
  h->caps = FI_TAGGED;
  h->mode = FI_CONTEXT | FI_CONTEXT2;  // every op carries a struct that lives until completion
  h->ep_attr->type = FI_EP_RDM;
  h->domain_attr->mr_mode =
      FI_MR_LOCAL | FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY | FI_MR_ENDPOINT;
  h->domain_attr->threading = FI_THREAD_DOMAIN;
  h->domain_attr->control_progress = FI_PROGRESS_MANUAL;
  h->domain_attr->data_progress = FI_PROGRESS_MANUAL;
  h->tx_attr->msg_order = FI_ORDER_SAS;
  h->rx_attr->msg_order = FI_ORDER_SAS;
  h->fabric_attr->prov_name = strdup(provider.c_str());
  if (is_tcp(provider)) {
    h->addr_format = FI_SOCKADDR_IN;
    h->domain_attr->name = strdup(iface.c_str());  // tcp: the domain is the interface
  }
  return h;
}

// fi_getinfo returns one entry per provider x domain (x address family); the
// tcp provider under rxm ignores the domain hint, so pick the entry here: for
// tcp the interface named by MICS_NET_IFACE (IPv4 first) and nothing else; for
// RDMA providers the domain of our rail's NIC when known, else the first.
fi_info* pick(fi_info* list, const std::string& provider, const OfiParams& params) {
  fi_info* fallback = nullptr;
  for (fi_info* i = list; i; i = i->next) {
    const char* dom = i->domain_attr && i->domain_attr->name ? i->domain_attr->name : "";
    if (is_tcp(provider)) {
      if (params.iface != dom) continue;
      if (i->addr_format == FI_SOCKADDR_IN) return i;
      if (!fallback) fallback = i;
    } else {
      if (!params.rail_nic.empty() && std::string(dom).rfind(params.rail_nic, 0) == 0) return i;
      if (!fallback) fallback = i;
    }
  }
  return fallback;
}

}  // namespace

bool valid_provider_name(const std::string& name) {
  if (name.size() > kMaxProviderName) return false;
  for (char c : name)  // ASCII only: isalnum() would follow the locale
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == ';' ||
          c == '_' || c == '-'))
      return false;
  return true;
}

Result ofi_params_from_env(OfiParams* out) {
  out->provider = env_str("MICS_FI_PROVIDER");
  if (!valid_provider_name(out->provider))
    return MICS_ERROR(MICS_INVALID_ARGUMENT,
                      "MICS_FI_PROVIDER='%.64s' is not a provider name (e.g. efa, tcp;ofi_rxm)",
                      out->provider.c_str());
  out->iface = env_str("MICS_NET_IFACE");
  if (out->iface.empty()) out->iface = "lo";
  int64_t chunk = 0, slots = 0, delay = 0;
  MICS_CHECK(env_int("MICS_NET_CHUNK_BYTES", 512 << 10, 4096, 64 << 20, &chunk));
  MICS_CHECK(env_int("MICS_NET_SLOTS", 4, 2, 64, &slots));
  MICS_CHECK(env_int("MICS_NET_DELAY_US", 0, 0, 1000000, &delay));
  out->chunk_bytes = static_cast<size_t>(chunk);
  out->nslots = static_cast<int>(slots);
  out->delay_us = static_cast<int>(delay);
  return MICS_SUCCESS;
}

Result OfiDomain::open(const OfiParams& params, std::shared_ptr<OfiDomain>* out) {
  std::vector<std::string> candidates;
  if (!params.provider.empty()) {
    candidates.push_back(params.provider);
  } else {
    candidates = {"efa", "verbs;ofi_rxm", "tcp;ofi_rxm"};
  }
  std::string tried;
  for (const auto& prov : candidates) {
    fi_info* hints = make_hints(prov, params.iface);
    fi_info* list = nullptr;
    int rc = fi_getinfo(FI_VERSION(1, 17), nullptr, nullptr, 0, hints, &list);
    fi_freeinfo(hints);
    fi_info* info = rc == 0 ? pick(list, prov, params) : nullptr;
    if (!info) {
      tried +=
          " " + prov + " (" + (rc != 0 ? fi_strerror(-rc) : "no domain on " + params.iface) + ")";
      if (list) fi_freeinfo(list);
      continue;
    }
    std::shared_ptr<OfiDomain> d(new OfiDomain());
    d->params_ = params;
    d->provider_ = info->fabric_attr->prov_name ? info->fabric_attr->prov_name : prov;
    fi_info* next = info->next;
    info->next = nullptr;  // duplicate just the chosen entry
    d->info_ = fi_dupinfo(info);
    info->next = next;
    fi_freeinfo(list);
    if ((rc = fi_fabric(d->info_->fabric_attr, &d->fabric_, nullptr)) != 0)
      return MICS_ERROR(MICS_SYSTEM_ERROR, "fi_fabric(%s) failed: %s", prov.c_str(),
                        fi_strerror(-rc));
    if ((rc = fi_domain(d->fabric_, d->info_, &d->domain_, nullptr)) != 0)
      return MICS_ERROR(MICS_SYSTEM_ERROR, "fi_domain(%s) failed: %s", prov.c_str(),
                        fi_strerror(-rc));
    MICS_LOG_INFO("libfabric: provider %s domain %s mr_mode %s inject %zu", d->provider_.c_str(),
                  d->info_->domain_attr->name,
                  fi_tostr(&d->info_->domain_attr->mr_mode, FI_TYPE_MR_MODE),
                  d->info_->tx_attr->inject_size);
    *out = std::move(d);
    return MICS_SUCCESS;
  }
  return MICS_ERROR(MICS_SYSTEM_ERROR,
                    "no usable libfabric provider for inter-node traffic (interface %s); tried:%s",
                    params.iface.c_str(), tried.c_str());
}

OfiDomain::~OfiDomain() {
  if (domain_) fi_close(&domain_->fid);
  if (fabric_) fi_close(&fabric_->fid);
  if (info_) fi_freeinfo(info_);
}

bool OfiDomain::needs_local_desc() const { return info_->domain_attr->mr_mode & FI_MR_LOCAL; }
bool OfiDomain::needs_mr_bind() const { return info_->domain_attr->mr_mode & FI_MR_ENDPOINT; }
size_t OfiDomain::inject_size() const { return info_->tx_attr->inject_size; }

}  // namespace mics::transport::ofi
