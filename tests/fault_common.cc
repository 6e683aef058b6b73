// The helpers of fault_common.h.
#include "fault_common.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <new>
#include <regex>
#include <utility>
#include <vector>

namespace mics_fault {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

SharedPage::SharedPage() {
  void* p = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  s_ = p == MAP_FAILED ? nullptr : new (p) Shared();
}

SharedPage::~SharedPage() {
  if (s_ != nullptr) munmap(s_, 4096);
}

void Rendezvous(std::atomic<int>* c, int n) {
  c->fetch_add(1);
  const auto t0 = Clock::now();
  while (c->load() < n && Since(t0) < 60) usleep(1000);
  HCHECK(c->load() >= n) << "only " << c->load() << " of " << n << " ranks reached a rendezvous";
}

bool NamesRank(const std::string& msg, int r) {
  const std::string peers = std::regex_replace(msg, std::regex("on rank [0-9]+"), "");
  const std::regex re("rank(\\(s\\))? ([0-9]+ and )?" + std::to_string(r) + "\\b");
  return std::regex_search(peers, re);
}

bool Contains(const std::string& s, const std::string& sub) {
  return s.find(sub) != std::string::npos;
}

std::string LastError(mics_comm_t comm) {
  const char* e = mics_last_error(comm);
  return e != nullptr ? e : "(NULL)";
}

void CheckRefusedAtOnce(mics_comm_t comm, const std::string& first_failure) {
  std::vector<float> a(64, 1.0f), b(64 * 8, 0.0f);
  const std::vector<std::pair<const char*, std::function<mics_result_t()>>> calls = {
      {"allgather",
       [&] { return mics_allgather(a.data(), b.data(), 8, MICS_FLOAT32, comm, nullptr); }},
      {"reduce_scatter",
       [&] {
         return mics_reduce_scatter(b.data(), a.data(), 8, MICS_FLOAT32, MICS_SUM, comm, nullptr);
       }},
      {"allreduce",
       [&] {
         return mics_allreduce(a.data(), a.data(), 8, MICS_FLOAT32, MICS_SUM, comm, nullptr);
       }},
      {"broadcast",
       [&] { return mics_broadcast(a.data(), a.data(), 8, MICS_FLOAT32, 0, comm, nullptr); }},
      {"barrier", [&] { return mics_barrier(comm); }},
      {"split",
       [&] {
         mics_comm_t sub = nullptr;
         mics_result_t r = mics_comm_split(comm, 0, 0, &sub);
         if (sub != nullptr) mics_comm_destroy(sub);
         return r;
       }},
  };
  // The first line of the first failure, without the file:line chain.
  const std::string first_what = first_failure.substr(0, first_failure.find(" ("));
  double slowest = 0;
  for (const auto& [name, call] : calls) {
    const auto t0 = Clock::now();
    const mics_result_t r = call();
    const double took = Since(t0);
    slowest = std::max(slowest, took);
    const std::string e = LastError(comm);
    HCHECK(r == MICS_INVALID_USAGE)
        << name << " after the failure returned " << mics_result_string(r) << ": " << e;
    HCHECK(took < 0.1) << name << " after the failure took " << took * 1e3 << " ms";
    HCHECK(Contains(e, first_what))
        << name << " after the failure: \"" << e << "\" does not repeat the first failure \""
        << first_what << "\"";
  }
  printf("[rank %d] %zu calls on the failed communicator refused, the slowest in %.1f us\n",
         mics_test::ChildRank(), calls.size(), slowest * 1e6);
}

}  // namespace mics_fault
