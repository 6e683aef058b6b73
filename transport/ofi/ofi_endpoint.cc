#include "transport/ofi/ofi_endpoint.h"

#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <unistd.h>

#include <string>

#include "src/base/log.h"
#include "transport/ofi/ofi_peer.h"

namespace mics::transport::ofi {
namespace {

class OfiConnection final : public Connection {
 public:
  OfiConnection(OfiEndpoint* ep, OfiPeer* peer) : ep_(ep), peer_(peer) {}
  size_t slot_bytes() const override { return peer_->slot_bytes(); }
  void* send_slot() override {
    if (void* s = peer_->send_slot()) return s;
    poll();
    return peer_->send_slot();
  }
  void send_post(const ChunkMeta& meta) override { peer_->send_post(meta); }
  const void* recv_slot(ChunkMeta* meta) override {
    if (const void* s = peer_->recv_slot(meta)) return s;
    poll();
    return peer_->recv_slot(meta);
  }
  void recv_release() override { peer_->recv_release(); }
  bool sends_done() override {
    if (peer_->sends_done()) return true;
    poll();
    return peer_->sends_done();
  }
  bool peer_alive() const override { return true; }  // failures surface as transfer errors

 private:
  void poll() {
    bool progressed = false;
    ep_->progress(&progressed);  // an error is reported by the communicator's next wait
  }
  OfiEndpoint* ep_;
  OfiPeer* peer_;
};

}  // namespace

Result OfiEndpoint::open(std::shared_ptr<OfiDomain> domain, int my_rank,
                         std::unique_ptr<OfiEndpoint>* out) {
  std::unique_ptr<OfiEndpoint> e(new OfiEndpoint());
  e->domain_ = std::move(domain);
  e->my_rank_ = my_rank;
  fid_domain* dom = e->domain_->domain();
  fi_cq_attr cq_attr{};
  cq_attr.format = FI_CQ_FORMAT_TAGGED;
  cq_attr.size = 4096;
  cq_attr.wait_obj = FI_WAIT_NONE;
  fi_av_attr av_attr{};
  av_attr.type = FI_AV_TABLE;
  int rc = fi_endpoint(dom, e->domain_->info(), &e->ep_, nullptr);
  if (rc == 0) rc = fi_cq_open(dom, &cq_attr, &e->cq_, nullptr);
  if (rc == 0) rc = fi_av_open(dom, &av_attr, &e->av_, nullptr);
  if (rc == 0) rc = fi_ep_bind(e->ep_, &e->cq_->fid, FI_TRANSMIT | FI_RECV);
  if (rc == 0) rc = fi_ep_bind(e->ep_, &e->av_->fid, 0);
  if (rc == 0) rc = fi_enable(e->ep_);
  if (rc != 0)
    return MICS_ERROR(MICS_SYSTEM_ERROR, "opening a %s endpoint failed: %s",
                      e->domain_->provider().c_str(), fi_strerror(-rc));
  char addr[256];
  size_t len = sizeof(addr);
  if ((rc = fi_getname(&e->ep_->fid, addr, &len)) != 0)
    return MICS_ERROR(MICS_SYSTEM_ERROR, "fi_getname failed: %s", fi_strerror(-rc));
  e->address_.assign(addr, len);
  *out = std::move(e);
  return MICS_SUCCESS;
}

OfiEndpoint::~OfiEndpoint() {
  // Close the endpoint first: it cancels what is posted, so no completion can
  // land in a peer's buffers after they are freed.
  if (ep_) fi_close(&ep_->fid);
  peers_.clear();
  if (av_) fi_close(&av_->fid);
  if (cq_) fi_close(&cq_->fid);
}

Result OfiEndpoint::add_peer(int rank, const std::string& address, const std::string& peer_name) {
  fi_addr_t addr = FI_ADDR_UNSPEC;
  int n = fi_av_insert(av_, address.data(), 1, &addr, 0, nullptr);
  if (n != 1)
    return MICS_ERROR(MICS_REMOTE_ERROR, "cannot insert the address of rank %d (%s) (%d)", rank,
                      peer_name.c_str(), n);
  if (peers_.size() <= static_cast<size_t>(rank)) peers_.resize(rank + 1);
  peers_[rank] = std::make_unique<OfiPeer>(this, rank, addr, peer_name);
  MICS_CHECK(peers_[rank]->setup());
  return MICS_SUCCESS;
}

std::unique_ptr<Connection> OfiEndpoint::connect(int rank) {
  return std::make_unique<OfiConnection>(this, peers_[rank].get());
}

Result OfiEndpoint::progress(bool* progressed) {
  *progressed = false;
  if (!failure_.empty()) return MICS_ERROR(MICS_REMOTE_ERROR, "%s", failure_.c_str());
  MICS_CHECK(drain_completions(progressed));
  for (auto& p : peers_) {
    if (!p) continue;
    int code = 0;
    std::string reason;
    uint64_t from = 0;
    if (p->peer_failed(&code, &reason, &from) && from <= current_seq_) {
      failure_ = "rank " + std::to_string(p->rank()) + " (" + p->name() +
                 ") gave up on this communicator (" +
                 mics_result_string(static_cast<mics_result_t>(code)) + ": " + reason + ")";
      return MICS_ERROR(MICS_REMOTE_ERROR, "%s", failure_.c_str());
    }
    Result r = p->flush();
    if (r != MICS_SUCCESS) {
      failure_ = thread_error();
      return r;
    }
  }
  return MICS_SUCCESS;
}

void OfiEndpoint::publish_failure(int code, const char* reason, uint64_t from_seq) {
  std::string chain = thread_error();  // what the caller reports is its own failure
  for (auto& p : peers_)
    if (p) p->send_notice(code, reason, from_seq);
  const Deadline until = Deadline::after_ms(kNoticeWaitMs);
  for (;;) {
    bool all_done = true;
    for (auto& p : peers_) all_done = all_done && (!p || p->notice_done());
    if (all_done || until.expired()) break;
    bool progressed = false;
    drain_completions(&progressed);  // errors are the failure we are publishing, or later
    for (auto& p : peers_)
      if (p) p->flush();
    if (!progressed) usleep(50);
  }
  restore_thread_error(std::move(chain));
}

Result OfiEndpoint::drain_completions(bool* progressed) {
  fi_cq_tagged_entry entries[16];
  for (;;) {
    ssize_t n = fi_cq_read(cq_, entries, 16);
    if (n == -FI_EAGAIN) break;
    if (n == -FI_EAVAIL) {
      fi_cq_err_entry err{};
      fi_cq_readerr(cq_, &err, 0);
      auto* op = static_cast<OpContext*>(err.op_context);
      if (op && op->kind == OpContext::kSendNotice) {
        op->peer->on_completion(op, 0);  // best effort: that peer is gone
        continue;
      }
      char buf[256];
      snprintf(buf, sizeof(buf), "a transfer with rank %d (%s) failed: %s",
               op ? op->peer->rank() : -1, op ? op->peer->name().c_str() : "?",
               fi_cq_strerror(cq_, err.prov_errno, err.err_data, nullptr, 0));
      failure_ = buf;
      return MICS_ERROR(MICS_REMOTE_ERROR, "%s", failure_.c_str());
    }
    if (n < 0)
      return MICS_ERROR(MICS_SYSTEM_ERROR, "fi_cq_read failed: %s",
                        fi_strerror(static_cast<int>(-n)));
    for (ssize_t i = 0; i < n; ++i) {
      auto* op = static_cast<OpContext*>(entries[i].op_context);
      op->peer->on_completion(op, entries[i].len);
    }
    *progressed = true;
  }
  return MICS_SUCCESS;
}

}  // namespace mics::transport::ofi
