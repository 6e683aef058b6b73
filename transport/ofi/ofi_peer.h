// The state of one peer of an OfiEndpoint: registered slot buffers, posted
// receives, credits and deferred posts. Internal to transport/ofi.
#pragma once

#include <rdma/fabric.h>

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "src/base/deadline.h"
#include "src/base/error.h"
#include "transport/connection.h"

struct fid_mr;

namespace mics::transport::ofi {

class OfiEndpoint;

// Every posted operation carries one of these; libfabric owns it until completion.
struct OpContext {
  fi_context2 ctx;  // must stay first: op_context points here
  class OfiPeer* peer;
  enum Kind : uint8_t { kSendData, kRecvData, kRecvCredit, kSendNotice, kRecvNotice } kind;
  uint32_t index;
};

struct MessageHeader {
  ChunkMeta meta;
};

// What a rank whose communicator failed tells each network peer, so that a
// peer waiting for something the failed rank will never send stops at once
// instead of at its timeout (the network side of ShmDomain::publish_failure).
struct FailureNotice {
  uint64_t from_seq;  // the first operation the sender did not finish
  int32_t code;       // mics_result_t, not 0
  char reason[500];   // NUL-terminated
};

class OfiPeer {
 public:
  OfiPeer(OfiEndpoint* ep, int rank, fi_addr_t addr, std::string name);
  ~OfiPeer();
  Result setup();  // registers buffers, posts receives

  // Connection operations (see transport/connection.h).
  size_t slot_bytes() const { return chunk_; }
  void* send_slot();
  void send_post(const ChunkMeta& meta);
  const void* recv_slot(ChunkMeta* meta);
  void recv_release();

  bool sends_done() const { return deferred_sends_.empty() && send_acked_ == send_head_; }
  // Sends our failure notice (once; retried by flush() while the queue is full).
  void send_notice(int code, const char* reason, uint64_t from_seq);
  // Our notice has left (completed) or could not be sent: nothing to wait for.
  bool notice_done() const { return notice_state_ == NoticeState::kDone; }
  // The peer's notice, if it sent one: true and its code and reason.
  bool peer_failed(int* code, std::string* reason, uint64_t* from_seq) const;
  void on_completion(OpContext* op, size_t len);
  Result flush();  // retries deferred posts; error on a hard failure
  const std::string& name() const { return name_; }
  int rank() const { return rank_; }

 private:
  char* send_buf(uint32_t i) const { return mem_ + i * stride_; }
  char* recv_buf(uint32_t i) const { return mem_ + (nslots_ + i) * stride_; }
  uint64_t* credit_buf(uint32_t i) const {
    return reinterpret_cast<uint64_t*>(mem_ + 2 * nslots_ * stride_) + i;
  }
  FailureNotice* notice_buf(int which) const {  // 0: the peer's, 1: ours
    return reinterpret_cast<FailureNotice*>(mem_ + 2 * nslots_ * stride_ +
                                            nslots_ * sizeof(uint64_t)) +
           which;
  }
  Result post_recv(uint32_t seq);
  Result post_credit_recv(uint32_t index);
  void post_notice_send();

  OfiEndpoint* ep_;
  int rank_;
  fi_addr_t addr_;
  std::string name_;
  uint32_t nslots_;
  size_t chunk_;
  size_t stride_;  // header + chunk, 64-byte aligned
  char* mem_ = nullptr;
  size_t mem_bytes_ = 0;
  fid_mr* mr_ = nullptr;
  void* desc_ = nullptr;
  std::vector<OpContext> send_ops_, recv_ops_, credit_ops_;
  OpContext notice_ops_[2];
  enum class NoticeState : uint8_t {
    kNone,
    kPending,
    kPosted,
    kDone
  } notice_state_ = NoticeState::kNone;
  bool notice_received_ = false;

  uint32_t send_head_ = 0;   // messages handed to send_post
  uint32_t send_acked_ = 0;  // peer's released count (credits)
  std::vector<bool> send_busy_;
  struct Deferred {
    uint32_t index;
    size_t len;
    Clock::time_point not_before;  // MICS_NET_DELAY_US emulation
  };
  std::deque<Deferred> deferred_sends_;

  uint32_t recv_tail_ = 0;  // messages released by us
  std::vector<bool> recv_done_;
  std::deque<uint32_t> recv_to_post_;  // sequence numbers whose receive must be (re)posted
  uint64_t credit_to_send_ = 0;        // latest released count not yet sent
  bool credit_pending_ = false;
};

}  // namespace mics::transport::ofi
