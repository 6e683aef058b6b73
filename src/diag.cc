#include "src/diag.h"

#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <mutex>

#include "src/base/log.h"
#include "src/coll/call.h"
#include "src/comm.h"

namespace mics {
namespace {

constexpr int kMaxComms = 4096;
std::atomic<mics_comm*> g_comms[kMaxComms];

// A tiny async-signal-safe formatter: no malloc, no locks, no stdio.
class Line {
 public:
  Line& str(const char* s) {
    while (*s && n_ < sizeof(buf_) - 1) buf_[n_++] = *s++;
    return *this;
  }
  Line& num(uint64_t v) {
    char tmp[24];
    int k = 0;
    do tmp[k++] = static_cast<char>('0' + v % 10), v /= 10;
    while (v && k < 24);
    while (k > 0 && n_ < sizeof(buf_) - 1) buf_[n_++] = tmp[--k];
    return *this;
  }
  Line& hex(uint64_t v) {
    static const char digits[] = "0123456789abcdef";
    for (int shift = 60; shift >= 0; shift -= 4)
      if (n_ < sizeof(buf_) - 1) buf_[n_++] = digits[(v >> shift) & 0xf];
    return *this;
  }
  void flush(int fd) {
    buf_[n_++] = '\n';
    ssize_t w = write(fd, buf_, n_);
    (void)w;
    n_ = 0;
  }
  bool full() const { return n_ > sizeof(buf_) - 64; }

 private:
  char buf_[1024];
  size_t n_ = 0;
};

void on_signal(int) { dump_comms(STDERR_FILENO); }

int dump_signal() {
  const char* v = getenv("MICS_DUMP_SIGNAL");
  if (!v || !*v) return SIGUSR1;
  if (!strcmp(v, "USR1") || !strcmp(v, "SIGUSR1")) return SIGUSR1;
  if (!strcmp(v, "USR2") || !strcmp(v, "SIGUSR2")) return SIGUSR2;
  char* end = nullptr;
  long n = strtol(v, &end, 10);
  if (*end == '\0' && n >= 0 && n < NSIG) return static_cast<int>(n);
  MICS_WARN("MICS_DUMP_SIGNAL='%.16s' is not a signal (USR1, USR2 or a number; 0 = off)", v);
  return 0;
}

void install_handler(int sig) {
  if (sig == 0) return;
  struct sigaction old {};
  sigaction(sig, nullptr, &old);
  if (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN) {
    MICS_LOG_INFO("signal %d already has a handler; the state dump is not installed", sig);
    return;
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(sig, &sa, nullptr);
  MICS_LOG_INFO("signal %d prints the state of every communicator", sig);
}

}  // namespace

void register_comm(mics_comm* c) {
  // Installed per signal rather than once per process: the environment read
  // at the first communicator may not be the one in force later (a forked
  // child that sets MICS_DUMP_SIGNAL after its parent made a communicator).
  static std::mutex mu;
  static int installed = -1;
  {
    std::lock_guard<std::mutex> lock(mu);
    int sig = dump_signal();
    if (sig != installed) {
      installed = sig;
      install_handler(sig);
    }
  }
  for (auto& slot : g_comms) {
    mics_comm* expected = nullptr;
    if (slot.compare_exchange_strong(expected, c)) return;
  }
}

void unregister_comm(mics_comm* c) {
  for (auto& slot : g_comms) {
    mics_comm* expected = c;
    if (slot.compare_exchange_strong(expected, nullptr)) return;
  }
}

void dump_comms(int fd) {
  Line line;
  line.str("mics state dump, pid ").num(static_cast<uint64_t>(getpid())).flush(fd);
  for (auto& slot : g_comms) {
    mics_comm* c = slot.load();
    if (!c) continue;
    uint32_t kind = c->in_flight_kind.load(std::memory_order_relaxed);
    mics_result_t fatal = c->fatal.load(std::memory_order_relaxed);
    line.str("  comm ").hex(c->comm_id).str(" rank ").num(c->rank).str("/").num(c->size);
    line.str(": completed #").num(c->completed_seq.load(std::memory_order_relaxed));
    if (kind != 0) {
      line.str(", in flight ").str(coll::kind_name(static_cast<coll::Kind>(kind)));
      line.str(" #").num(c->seq);
    } else {
      line.str(", idle");
    }
    line.str(c->aborted.load() ? ", aborted" : "");
    if (fatal != MICS_SUCCESS) line.str(", failed: ").str(mics_result_string(fatal));
    line.flush(fd);
    if (!c->peer_seq) continue;
    line.str("    last #seen from peers:");
    for (int r = 0; r < c->size; ++r) {
      if (!c->conn[r]) continue;
      line.str(" ").num(r).str(":#").num(c->peer_seq[r].load(std::memory_order_relaxed));
      if (line.full()) line.flush(fd), line.str("     ");
    }
    line.flush(fd);
  }
}

}  // namespace mics
