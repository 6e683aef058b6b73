#include "transport/shm/mailbox.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "src/base/env.h"
#include "transport/shm/liveness.h"
#include "transport/shm/mailbox_layout.h"
#include "transport/shm/peer_memory.h"
#include "transport/shm/tsan_sync.h"

namespace mics::transport::shm {

namespace {
long futex(std::atomic<uint32_t>* word, int op, uint32_t val, const timespec* ts) {
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t), "futex needs a plain word");
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), op, val, ts, nullptr, 0);
}

size_t round_up(size_t v, size_t a) { return (v + a - 1) / a * a; }

constexpr int64_t kDefaultSpinUs = 50;

// CPUs this process may run on (its affinity mask), at least 1.
int usable_cpus() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
}
}  // namespace

Result shm_params_from_env(ShmParams* out) {
  int64_t chunk = 0, slots = 0, cma = 0, inl = 0, direct = 0, reduce = 0, spin = 0;
  MICS_CHECK(env_int("MICS_SHM_CHUNK_BYTES", 256 << 10, 4096, 64 << 20, &chunk));
  MICS_CHECK(env_int("MICS_SHM_SLOTS", 4, 2, kMaxSlots, &slots));
  MICS_CHECK(env_int("MICS_SHM_CMA", 1, 0, 1, &cma));
  MICS_CHECK(env_int("MICS_SHM_INLINE", 1, 0, 1, &inl));
  MICS_CHECK(env_int("MICS_SHM_DIRECT_BYTES", ShmParams().direct_bytes, 0, INT64_MAX, &direct));
  MICS_CHECK(env_int("MICS_SHM_DIRECT_REDUCE", 0, 0, 1, &reduce));
  MICS_CHECK(env_int("MICS_SHM_SPIN_US", -1, -1, 1000000, &spin));
  out->slot_bytes = round_up(static_cast<size_t>(chunk), 64);
  out->nslots = static_cast<int>(slots);
  out->peer_reads = cma != 0;
  out->inline_exposures = inl != 0;
  out->direct_bytes = static_cast<size_t>(direct);
  out->direct_reduce = reduce != 0;
  out->spin_us = spin;
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
  d->own_pid_ = getpid();
  d->spin_us_ = params.spin_us >= 0 ? params.spin_us : nlocal <= usable_cpus() ? kDefaultSpinUs : 0;
  if (params.peer_reads) allow_peer_reads();  // before `ready`: peers probe us after it
  d->data_offset_ = round_up(sizeof(MailboxHeader) + nlocal * sizeof(ChannelCtl), 4096);
  size_t size = d->data_offset_ + static_cast<size_t>(nlocal) * params.nslots * params.slot_bytes;
  Mapping& own = d->maps_[my_index];
  MICS_CHECK(create_segment(name, size, &own));
  auto* h = new (own.base) MailboxHeader();
  h->magic = kMagic;
  h->nlocal = static_cast<uint32_t>(nlocal);
  h->nslots = static_cast<uint32_t>(params.nslots);
  h->slot_bytes = params.slot_bytes;
  h->direct_bytes = params.direct_bytes;
  h->self_addr = reinterpret_cast<uintptr_t>(h);
  for (int i = 0; i < nlocal; ++i) new (d->channel(my_index, i)) ChannelCtl();
  MICS_TSAN_RELEASE(&h->ready);
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
  probe_peer_reads();
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
  MICS_TSAN_ACQUIRE(sync_key(i, &h->ready));
  if (h->magic != kMagic || h->nlocal != static_cast<uint32_t>(nlocal_) ||
      h->nslots != static_cast<uint32_t>(params_.nslots) || h->slot_bytes != params_.slot_bytes ||
      h->direct_bytes != params_.direct_bytes)
    return MICS_ERROR(MICS_INVALID_USAGE,
                      "mailbox %s has another shape (local ranks %u/%d, slots %u/%d, slot bytes "
                      "%llu/%zu, direct bytes %llu/%zu): do all ranks use the same MICS_SHM_* "
                      "settings?",
                      name.c_str(), h->nlocal, nlocal_, h->nslots, params_.nslots,
                      static_cast<unsigned long long>(h->slot_bytes), params_.slot_bytes,
                      static_cast<unsigned long long>(h->direct_bytes), params_.direct_bytes);
  // The last of the nlocal-1 peers to map a mailbox removes its name.
  if (h->attached.fetch_add(1) + 1 == static_cast<uint32_t>(nlocal_ - 1)) unlink_segment(name);
  return MICS_SUCCESS;
}

const void* ShmDomain::sync_key(int index, const void* p) const {
  if (index != my_index_ && pids_[index] != own_pid_) return nullptr;
  const auto* base = static_cast<const char*>(maps_[index].base);
  return reinterpret_cast<const char*>(header(index)->self_addr) +
         (static_cast<const char*>(p) - base);
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

void ring_doorbell(MailboxHeader* h) {
  h->doorbell.fetch_add(1, std::memory_order_seq_cst);
  if (h->waiting.load(std::memory_order_seq_cst)) futex(&h->doorbell, FUTEX_WAKE, INT_MAX, nullptr);
}

void ShmDomain::ring_self() { ring_doorbell(header(my_index_)); }

void ShmDomain::publish_failure(int code, const char* reason, uint64_t from_seq) {
  MailboxHeader* h = header(my_index_);
  if (h->failed.load() != 0) return;
  snprintf(h->reason, sizeof(h->reason), "%s", reason);
  h->failed_from.store(from_seq, std::memory_order_relaxed);  // ordered by `failed`
  h->failed.store(code, std::memory_order_release);
  for (int i = 0; i < nlocal_; ++i)  // wake them so they look
    if (i != my_index_ && maps_[i].base) ring_doorbell(header(i));
}

int ShmDomain::failed_peer(uint64_t seq, int* code, std::string* reason) const {
  for (int i = 0; i < nlocal_; ++i) {
    if (i == my_index_ || !maps_[i].base) continue;
    const MailboxHeader* h = header(i);
    int32_t c = h->failed.load(std::memory_order_acquire);
    if (c != 0 && h->failed_from.load(std::memory_order_relaxed) <= seq) {
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
    ring_doorbell(d_->header(peer_));
  }
  const void* recv_slot(ChunkMeta* meta) override {
    uint32_t tail = rx_->tail.load(std::memory_order_relaxed);
    if (rx_->head.load(std::memory_order_acquire) == tail) return nullptr;
    *meta = rx_->meta[tail % nslots_];
    return d_->slot(d_->my_index_, peer_, tail);
  }
  void recv_release() override {
    rx_->tail.store(rx_->tail.load(std::memory_order_relaxed) + 1, std::memory_order_release);
    ring_doorbell(d_->header(peer_));
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
