#include "transport/shm/mailbox.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "src/base/env.h"
#include "transport/shm/liveness.h"

namespace mics::transport::shm {

namespace {
constexpr uint32_t kMagic = 0x4d494353;  // "MICS"
constexpr int kMaxSlots = 16;

long futex(std::atomic<uint32_t>* word, int op, uint32_t val, const timespec* ts) {
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t), "futex needs a plain word");
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), op, val, ts, nullptr, 0);
}

size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }
}  // namespace

// Lives at offset 0 of every mailbox. Cache-line separated: the doorbell is
// hammered by peers, the rest is read-mostly.
struct alignas(64) MailboxHeader {
  uint32_t magic;
  uint32_t nlocal;
  uint32_t nslots;
  uint32_t pad;
  uint64_t slot_bytes;
  std::atomic<uint32_t> ready;     // set last by the creator
  std::atomic<uint32_t> attached;  // peers that have mapped the mailbox
  std::atomic<int32_t> failed;     // the owner's first failure (mics_result_t), 0 = none
  char reason[384];                // its message, written before `failed` is published
  alignas(64) std::atomic<uint32_t> doorbell;
  std::atomic<uint32_t> waiting;  // the owner is (about to be) asleep in futex_wait
};

// One channel: sender -> mailbox owner. head is written only by the sender,
// tail only by the owner; each on its own cache line.
struct alignas(64) ChannelCtl {
  alignas(64) std::atomic<uint32_t> head;
  alignas(64) std::atomic<uint32_t> tail;
  alignas(64) ChunkMeta meta[kMaxSlots];
};

Result shm_params_from_env(ShmParams* out) {
  int64_t chunk = 0, slots = 0;
  MICS_CHECK(env_int("MICS_SHM_CHUNK_BYTES", 256 << 10, 4096, 64 << 20, &chunk));
  MICS_CHECK(env_int("MICS_SHM_SLOTS", 4, 2, kMaxSlots, &slots));
  out->slot_bytes = round_up(static_cast<size_t>(chunk), 64);
  out->nslots = static_cast<int>(slots);
  return MICS_SUCCESS;
}

Result ShmDomain::create(const std::string& name, int my_index, int nlocal, const ShmParams& params,
                         std::unique_ptr<ShmDomain>* out) {
  std::unique_ptr<ShmDomain> d(new ShmDomain());
  d->name_ = name;
  d->my_index_ = my_index;
  d->nlocal_ = nlocal;
  d->params_ = params;
  d->maps_.resize(nlocal);
  d->pids_.assign(nlocal, 0);
  d->data_offset_ = round_up(sizeof(MailboxHeader) + nlocal * sizeof(ChannelCtl), 4096);
  size_t size = d->data_offset_ + static_cast<size_t>(nlocal) * params.nslots * params.slot_bytes;
  Mapping& own = d->maps_[my_index];
  MICS_CHECK(create_segment(name, size, &own));
  auto* h = new (own.base) MailboxHeader();
  h->magic = kMagic;
  h->nlocal = static_cast<uint32_t>(nlocal);
  h->nslots = static_cast<uint32_t>(params.nslots);
  h->slot_bytes = params.slot_bytes;
  for (int i = 0; i < nlocal; ++i) new (d->channel(my_index, i)) ChannelCtl();
  h->ready.store(1, std::memory_order_release);
  if (nlocal == 1) {
    unlink_segment(name);
    d->unlinked_ = true;
  }
  *out = std::move(d);
  return MICS_SUCCESS;
}

ShmDomain::~ShmDomain() {
  if (!unlinked_) unlink_segment(name_);  // init failed before every peer mapped it
  for (auto& m : maps_) unmap_segment(&m);
}

Result ShmDomain::attach(const std::vector<std::string>& names, const std::vector<int>& pids,
                         Deadline deadline) {
  pids_ = pids;
  for (int i = 0; i < nlocal_; ++i) {
    if (i == my_index_) continue;
    Result r = attach_one(i, names[i], deadline);
    if (r != MICS_SUCCESS) {
      // A peer that died between creating its mailbox and our mapping it can
      // never unlink it; the name is computable, so remove it for it.
      unlink_segment(names[i]);
      return trace_error(r, __FILE__, __LINE__);
    }
  }
  return MICS_SUCCESS;
}

Result ShmDomain::attach_one(int i, const std::string& name, Deadline deadline) {
  size_t min_size =
      data_offset_ + static_cast<size_t>(nlocal_) * params_.nslots * params_.slot_bytes;
  MICS_CHECK(open_segment(name, min_size, deadline, &maps_[i]));
  MailboxHeader* h = header(i);
  while (h->ready.load(std::memory_order_acquire) != 1) {
    if (deadline.expired())
      return MICS_ERROR(MICS_TIMEOUT, "mailbox %s was never initialised", name.c_str());
    usleep(100);
  }
  if (h->magic != kMagic || h->nlocal != static_cast<uint32_t>(nlocal_) ||
      h->nslots != static_cast<uint32_t>(params_.nslots) || h->slot_bytes != params_.slot_bytes)
    return MICS_ERROR(MICS_INVALID_USAGE,
                      "mailbox %s has another shape (local ranks %u/%d, slots %u/%d, slot bytes "
                      "%llu/%zu): do all ranks use the same MICS_SHM_* settings?",
                      name.c_str(), h->nlocal, nlocal_, h->nslots, params_.nslots,
                      static_cast<unsigned long long>(h->slot_bytes), params_.slot_bytes);
  // The last of the nlocal-1 peers to map a mailbox removes its name.
  if (h->attached.fetch_add(1) + 1 == static_cast<uint32_t>(nlocal_ - 1)) unlink_segment(name);
  return MICS_SUCCESS;
}

MailboxHeader* ShmDomain::header(int index) const {
  return static_cast<MailboxHeader*>(maps_[index].base);
}

ChannelCtl* ShmDomain::channel(int owner, int sender) const {
  return reinterpret_cast<ChannelCtl*>(static_cast<char*>(maps_[owner].base) +
                                       sizeof(MailboxHeader)) +
         sender;
}

char* ShmDomain::slot(int owner, int sender, uint32_t seq) const {
  size_t index = static_cast<size_t>(sender) * params_.nslots + seq % params_.nslots;
  return static_cast<char*>(maps_[owner].base) + data_offset_ + index * params_.slot_bytes;
}

uint32_t ShmDomain::doorbell() const {
  return header(my_index_)->doorbell.load(std::memory_order_seq_cst);
}

void ShmDomain::wait(uint32_t seen, int64_t max_us) {
  MailboxHeader* h = header(my_index_);
  // Dekker with ring(): we publish "waiting" then re-read the doorbell; a
  // ringer bumps the doorbell then reads "waiting". One of us sees the other.
  h->waiting.store(1, std::memory_order_seq_cst);
  if (h->doorbell.load(std::memory_order_seq_cst) == seen) {
    timespec ts{static_cast<time_t>(max_us / 1000000), static_cast<long>(max_us % 1000000) * 1000};
    futex(&h->doorbell, FUTEX_WAIT, seen, &ts);
  }
  h->waiting.store(0, std::memory_order_relaxed);
}

namespace {
void ring(MailboxHeader* h) {
  h->doorbell.fetch_add(1, std::memory_order_seq_cst);
  if (h->waiting.load(std::memory_order_seq_cst)) futex(&h->doorbell, FUTEX_WAKE, INT_MAX, nullptr);
}
}  // namespace

void ShmDomain::ring_self() { ring(header(my_index_)); }

void ShmDomain::publish_failure(int code, const char* reason) {
  MailboxHeader* h = header(my_index_);
  if (h->failed.load() != 0) return;
  snprintf(h->reason, sizeof(h->reason), "%s", reason);
  h->failed.store(code, std::memory_order_release);
  for (int i = 0; i < nlocal_; ++i)  // wake them so they look
    if (i != my_index_ && maps_[i].base) ring(header(i));
}

int ShmDomain::failed_peer(int* code, std::string* reason) const {
  for (int i = 0; i < nlocal_; ++i) {
    if (i == my_index_ || !maps_[i].base) continue;
    const MailboxHeader* h = header(i);
    int32_t c = h->failed.load(std::memory_order_acquire);
    if (c != 0) {
      *code = c;
      reason->assign(h->reason, strnlen(h->reason, sizeof(h->reason)));
      return i;
    }
  }
  return -1;
}

// The connection between us (index me) and peer (index peer): we send into the
// peer's mailbox channel[me] and receive from our mailbox channel[peer].
class ShmConnection final : public Connection {
 public:
  ShmConnection(ShmDomain* d, int peer)
      : d_(d),
        peer_(peer),
        tx_(d->channel(peer, d->my_index_)),
        rx_(d->channel(d->my_index_, peer)),
        nslots_(static_cast<uint32_t>(d->params_.nslots)) {}

  size_t slot_bytes() const override { return d_->params_.slot_bytes; }

  void* send_slot() override {
    uint32_t head = tx_->head.load(std::memory_order_relaxed);
    if (head - tx_->tail.load(std::memory_order_acquire) >= nslots_) return nullptr;
    return d_->slot(peer_, d_->my_index_, head);
  }
  void send_post(const ChunkMeta& meta) override {
    uint32_t head = tx_->head.load(std::memory_order_relaxed);
    tx_->meta[head % nslots_] = meta;
    tx_->head.store(head + 1, std::memory_order_release);
    ring(d_->header(peer_));
  }
  const void* recv_slot(ChunkMeta* meta) override {
    uint32_t tail = rx_->tail.load(std::memory_order_relaxed);
    if (rx_->head.load(std::memory_order_acquire) == tail) return nullptr;
    *meta = rx_->meta[tail % nslots_];
    return d_->slot(d_->my_index_, peer_, tail);
  }
  void recv_release() override {
    rx_->tail.store(rx_->tail.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    ring(d_->header(peer_));
  }
  bool sends_done() override { return true; }
  bool peer_alive() const override { return process_alive(d_->pids_[peer_]); }

 private:
  ShmDomain* d_;
  int peer_;
  ChannelCtl* tx_;
  ChannelCtl* rx_;
  uint32_t nslots_;
};

std::unique_ptr<Connection> ShmDomain::connect(int index) {
  return std::make_unique<ShmConnection>(this, index);
}

}  // namespace mics::transport::shm
