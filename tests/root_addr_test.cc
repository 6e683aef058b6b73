// Where a unique id's root listens (src/root_addr.cc): MICS_ROOT_ADDR, then
// MICS_ROOT_IFACE, then the route towards MASTER_ADDR, then loopback. The
// ids made each way must serve a communicator (3 ranks, random data checked);
// settings that name nothing usable must fail with a message that says which.
// That an id made on another node picks an address the first node reaches is
// checked on the emulated cluster (tests/cluster/root_addr_job.cc).
#include <gtest/gtest.h>
#include <mics/mics.h>

#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "harness.h"

namespace {

using mics_test::CheckCtx;
using mics_test::CheckedCollective;
using mics_test::Coll;
using Env = std::vector<std::pair<std::string, std::string>>;

// 3 ranks whose id rank 0 made with `env` (and nothing else of the four
// variables set): an allgather and an allreduce of odd sizes, checked.
void CommunicatorFromIdMadeWith(const Env& env) {
  mics_test::Options opts;
  opts.env = env;
  for (const char* name : {"MICS_ROOT_ADDR", "MICS_ROOT_IFACE", "MASTER_ADDR"}) {
    bool given = false;
    for (const auto& kv : env) given = given || kv.first == name;
    if (!given) opts.env.push_back({name, ""});  // empty = unset for mics
  }
  mics_test::run_ranks(
      3,
      [](mics_comm_t comm, int rank) {
        CheckCtx ctx{comm, rank, 3};
        CheckedCollective(ctx, {Coll::kAllgather, MICS_INT32, MICS_SUM, 1001, false, 0});
        CheckedCollective(ctx, {Coll::kAllreduce, MICS_FLOAT32, MICS_SUM, 777, true, 0});
      },
      opts);
}

// mics_get_unique_id with `env` (in a child, so the environment stays there)
// must fail with INVALID_ARGUMENT and a message containing every `mention`.
void IdFails(const Env& env, const std::vector<std::string>& mentions) {
  mics_test::Options opts;
  opts.init = false;
  mics_test::run_ranks(
      1,
      [&](mics_comm_t, int) {
        for (const char* name : {"MICS_ROOT_ADDR", "MICS_ROOT_IFACE", "MASTER_ADDR"})
          unsetenv(name);
        for (const auto& kv : env) setenv(kv.first.c_str(), kv.second.c_str(), 1);
        mics_unique_id id;
        const mics_result_t r = mics_get_unique_id(&id);
        const std::string e = mics_last_error(nullptr);
        HCHECK(r == MICS_INVALID_ARGUMENT) << mics_result_string(r) << ": " << e;
        for (const std::string& m : mentions)
          HCHECK(e.find(m) != std::string::npos)
              << "\"" << e << "\" does not mention \"" << m << "\"";
      },
      opts);
}

TEST(RootAddress, LoopbackWhenNothingIsSet) { CommunicatorFromIdMadeWith({}); }

TEST(RootAddress, RouteTowardsMasterAddr) {
  CommunicatorFromIdMadeWith({{"MASTER_ADDR", "127.0.0.1"}});
}

TEST(RootAddress, InterfaceByName) { CommunicatorFromIdMadeWith({{"MICS_ROOT_IFACE", "lo"}}); }

TEST(RootAddress, ExplicitAddressComesFirst) {
  CommunicatorFromIdMadeWith({{"MICS_ROOT_ADDR", "127.0.0.1"},
                              {"MICS_ROOT_IFACE", "mics-no-such0"},
                              {"MASTER_ADDR", "mics-no-such-host.invalid"}});
}

TEST(RootAddress, InterfaceComesBeforeMasterAddr) {
  CommunicatorFromIdMadeWith(
      {{"MICS_ROOT_IFACE", "lo"}, {"MASTER_ADDR", "mics-no-such-host.invalid"}});
}

TEST(RootAddress, UnknownInterfaceNamesItAndTheInterfacesThatExist) {
  IdFails({{"MICS_ROOT_IFACE", "mics-no-such0"}}, {"MICS_ROOT_IFACE=mics-no-such0", "lo"});
}

TEST(RootAddress, UnresolvableMasterAddrNamesIt) {
  IdFails({{"MASTER_ADDR", "mics-no-such-host.invalid"}}, {"mics-no-such-host.invalid"});
}

TEST(RootAddress, UnresolvableRootAddrNamesIt) {
  IdFails({{"MICS_ROOT_ADDR", "mics-no-such-host.invalid"}}, {"mics-no-such-host.invalid"});
}

}  // namespace
