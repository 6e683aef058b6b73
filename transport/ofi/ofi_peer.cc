#include "transport/ofi/ofi_peer.h"

#include <rdma/fi_domain.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_tagged.h>
#include <sys/mman.h>

#include <cstring>

#include "transport/ofi/ofi_endpoint.h"
#include "transport/ofi/ofi_tags.h"

namespace mics::transport::ofi {

OfiPeer::OfiPeer(OfiEndpoint* ep, int rank, fi_addr_t addr, std::string name)
    : ep_(ep),
      rank_(rank),
      addr_(addr),
      name_(std::move(name)),
      nslots_(static_cast<uint32_t>(ep->domain().params().nslots)),
      chunk_(ep->domain().params().chunk_bytes),
      stride_((sizeof(MessageHeader) + chunk_ + 63) / 64 * 64) {}

OfiPeer::~OfiPeer() {
  // The endpoint is closed before peers are destroyed, so nothing is in flight.
  if (mr_) fi_close(&mr_->fid);
  if (mem_) munmap(mem_, mem_bytes_);
}

Result OfiPeer::setup() {
  // Use only what the provider advertises: one slot must fit in a message, and
  // credits go out with fi_tinject.
  const fi_info* info = ep_->domain_->info();
  if (info->ep_attr->max_msg_size < stride_)
    return MICS_ERROR(MICS_SYSTEM_ERROR,
                      "provider %s sends at most %zu bytes per message; lower "
                      "MICS_NET_CHUNK_BYTES (a slot needs %zu)",
                      ep_->domain_->provider().c_str(), info->ep_attr->max_msg_size, stride_);
  if (info->tx_attr->inject_size < sizeof(uint64_t))
    return MICS_ERROR(MICS_SYSTEM_ERROR, "provider %s cannot inject an 8-byte credit",
                      ep_->domain_->provider().c_str());
  mem_bytes_ = 2 * nslots_ * stride_ + nslots_ * sizeof(uint64_t) + 2 * sizeof(FailureNotice);
  void* mem = mmap(nullptr, mem_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED)
    return MICS_ERROR(MICS_SYSTEM_ERROR, "cannot allocate %zu bytes of network buffers: %s",
                      mem_bytes_, strerror(errno));
  mem_ = static_cast<char*>(mem);
  memset(mem_, 0, mem_bytes_);  // FI_MR_ALLOCATED: pages must be backed before registering
  OfiDomain& dom = *ep_->domain_;
  int rc = fi_mr_reg(dom.domain(), mem_, mem_bytes_, FI_SEND | FI_RECV, 0, dom.next_mr_key(), 0,
                     &mr_, nullptr);
  if (rc != 0)
    return MICS_ERROR(MICS_SYSTEM_ERROR, "fi_mr_reg of %zu bytes for rank %d failed: %s",
                      mem_bytes_, rank_, fi_strerror(-rc));
  if (dom.needs_mr_bind()) {
    if ((rc = fi_mr_bind(mr_, &ep_->ep_->fid, 0)) != 0 || (rc = fi_mr_enable(mr_)) != 0)
      return MICS_ERROR(MICS_SYSTEM_ERROR, "binding the memory region for rank %d failed: %s",
                        rank_, fi_strerror(-rc));
  }
  desc_ = dom.needs_local_desc() ? fi_mr_desc(mr_) : nullptr;
  send_ops_.resize(nslots_);
  recv_ops_.resize(nslots_);
  credit_ops_.resize(nslots_);
  send_busy_.assign(nslots_, false);
  recv_done_.assign(nslots_, false);
  for (uint32_t i = 0; i < nslots_; ++i) {
    send_ops_[i] = {{}, this, OpContext::kSendData, i};
    recv_ops_[i] = {{}, this, OpContext::kRecvData, i};
    credit_ops_[i] = {{}, this, OpContext::kRecvCredit, i};
    recv_to_post_.push_back(i);
    MICS_CHECK(post_credit_recv(i));
  }
  notice_ops_[0] = {{}, this, OpContext::kRecvNotice, 0};
  notice_ops_[1] = {{}, this, OpContext::kSendNotice, 1};
  ssize_t rc_notice = fi_trecv(ep_->ep_, notice_buf(0), sizeof(FailureNotice), desc_,
                               FI_ADDR_UNSPEC, notice_tag(rank_), 0, &notice_ops_[0].ctx);
  if (rc_notice != 0)
    return MICS_ERROR(MICS_REMOTE_ERROR,
                      "posting the failure-notice receive from rank %d failed: %s", rank_,
                      fi_strerror(static_cast<int>(-rc_notice)));
  return flush();
}

Result OfiPeer::post_recv(uint32_t seq) {
  uint32_t i = seq % nslots_;
  ssize_t rc = fi_trecv(ep_->ep_, recv_buf(i), stride_, desc_, FI_ADDR_UNSPEC, data_tag(rank_, seq),
                        0, &recv_ops_[i].ctx);
  if (rc == -FI_EAGAIN) return MICS_IN_PROGRESS;
  if (rc != 0)
    return MICS_ERROR(MICS_REMOTE_ERROR, "posting a receive from rank %d (%s) failed: %s", rank_,
                      name_.c_str(), fi_strerror(static_cast<int>(-rc)));
  return MICS_SUCCESS;
}

Result OfiPeer::post_credit_recv(uint32_t index) {
  ssize_t rc = fi_trecv(ep_->ep_, credit_buf(index), sizeof(uint64_t), desc_, FI_ADDR_UNSPEC,
                        credit_tag(rank_), kSeqMask, &credit_ops_[index].ctx);
  if (rc != 0)  // few, posted at setup or on completion: the queue has room
    return MICS_ERROR(MICS_REMOTE_ERROR, "posting a credit receive from rank %d failed: %s", rank_,
                      fi_strerror(static_cast<int>(-rc)));
  return MICS_SUCCESS;
}

void OfiPeer::send_notice(int code, const char* reason, uint64_t from_seq) {
  if (notice_state_ != NoticeState::kNone) return;
  FailureNotice* n = notice_buf(1);
  n->from_seq = from_seq;
  n->code = code;
  snprintf(n->reason, sizeof(n->reason), "%s", reason);
  notice_state_ = NoticeState::kPending;
  flush();
}

bool OfiPeer::peer_failed(int* code, std::string* reason, uint64_t* from_seq) const {
  if (!notice_received_) return false;
  const FailureNotice* n = notice_buf(0);
  *from_seq = n->from_seq;
  *code = n->code;
  reason->assign(n->reason, strnlen(n->reason, sizeof(n->reason)));
  return true;
}

void OfiPeer::post_notice_send() {
  ssize_t rc = fi_tsend(ep_->ep_, notice_buf(1), sizeof(FailureNotice), desc_, addr_,
                        notice_tag(ep_->my_rank_), &notice_ops_[1].ctx);
  if (rc == -FI_EAGAIN) return;  // still pending: flush() tries again
  // Best effort: a peer we cannot reach any more needs no notice.
  notice_state_ = rc == 0 ? NoticeState::kPosted : NoticeState::kDone;
}

void* OfiPeer::send_slot() {
  uint32_t i = send_head_ % nslots_;
  if (send_head_ - send_acked_ >= nslots_ || send_busy_[i]) return nullptr;
  return send_buf(i) + sizeof(MessageHeader);
}

void OfiPeer::send_post(const ChunkMeta& meta) {
  uint32_t i = send_head_ % nslots_;
  auto* h = reinterpret_cast<MessageHeader*>(send_buf(i));
  h->meta = meta;
  const size_t bytes = meta.bytes;
  send_busy_[i] = true;
  ++send_head_;
  auto delay = std::chrono::microseconds(ep_->domain().params().delay_us);
  deferred_sends_.push_back({i, sizeof(MessageHeader) + bytes, Clock::now() + delay});
  flush();  // errors surface from the communicator's next progress()
}

const void* OfiPeer::recv_slot(ChunkMeta* meta) {
  uint32_t i = recv_tail_ % nslots_;
  if (!recv_done_[i]) return nullptr;
  auto* h = reinterpret_cast<const MessageHeader*>(recv_buf(i));
  *meta = h->meta;
  return recv_buf(i) + sizeof(MessageHeader);
}

void OfiPeer::recv_release() {
  recv_done_[recv_tail_ % nslots_] = false;
  recv_to_post_.push_back(recv_tail_ + nslots_);
  ++recv_tail_;
  credit_to_send_ = recv_tail_;
  credit_pending_ = true;
  flush();
}

void OfiPeer::on_completion(OpContext* op, size_t len) {
  switch (op->kind) {
    case OpContext::kSendData:
      send_busy_[op->index] = false;
      break;
    case OpContext::kRecvData:
      recv_done_[op->index] = true;
      break;
    case OpContext::kSendNotice:
      notice_state_ = NoticeState::kDone;
      break;
    case OpContext::kRecvNotice:
      notice_received_ = true;  // never re-posted: one notice is all a peer sends
      break;
    case OpContext::kRecvCredit: {
      uint64_t released = *credit_buf(op->index);
      // Credits may complete out of order: keep the largest (counts wrap at 2^32).
      if (static_cast<int32_t>(static_cast<uint32_t>(released) - send_acked_) > 0)
        send_acked_ = static_cast<uint32_t>(released);
      post_credit_recv(op->index);
      break;
    }
  }
  (void)len;
}

Result OfiPeer::flush() {
  if (notice_state_ == NoticeState::kPending) post_notice_send();
  while (!recv_to_post_.empty()) {
    Result r = post_recv(recv_to_post_.front());
    if (r == MICS_IN_PROGRESS) break;
    MICS_CHECK(r);
    recv_to_post_.pop_front();
  }
  if (credit_pending_) {
    uint64_t value = credit_to_send_;
    ssize_t rc = fi_tinject(ep_->ep_, &value, sizeof(value), addr_, credit_tag(ep_->my_rank_));
    if (rc == 0) {
      credit_pending_ = false;
    } else if (rc != -FI_EAGAIN) {
      return MICS_ERROR(MICS_REMOTE_ERROR, "sending a credit to rank %d (%s) failed: %s", rank_,
                        name_.c_str(), fi_strerror(static_cast<int>(-rc)));
    }
  }
  while (!deferred_sends_.empty()) {
    const Deferred& d = deferred_sends_.front();
    if (Clock::now() < d.not_before) break;
    uint32_t seq = send_head_ - static_cast<uint32_t>(deferred_sends_.size());
    ssize_t rc = fi_tsend(ep_->ep_, send_buf(d.index), d.len, desc_, addr_,
                          data_tag(ep_->my_rank_, seq), &send_ops_[d.index].ctx);
    if (rc == -FI_EAGAIN) break;
    if (rc != 0)
      return MICS_ERROR(MICS_REMOTE_ERROR, "sending to rank %d (%s) failed: %s", rank_,
                        name_.c_str(), fi_strerror(static_cast<int>(-rc)));
    deferred_sends_.pop_front();
  }
  return MICS_SUCCESS;
}

}  // namespace mics::transport::ofi
