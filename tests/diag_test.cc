// The versioned config (mics_comm_init_rank_config), the async error query
// and the state dump on MICS_DUMP_SIGNAL.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <mics/mics.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "harness.h"

namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}
bool Contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// In a child process (run_ranks with init = false), so that the bootstrap
// roots these tests leave behind never share a process with other tests.
void InChild(void (*body)()) {
  mics_test::Options opts;
  opts.init = false;
  opts.mics_timeout_ms = 60000;
  mics_test::run_ranks(
      1, [body](mics_comm_t, int) { body(); }, opts);
}

TEST(Config, TimeoutFromConfigWinsOverEnvironment) {
  InChild([] {
    mics_unique_id id;
    HASSERT_OK(mics_get_unique_id(&id));
    mics_config config = MICS_CONFIG_INITIALIZER;
    config.timeout_ms = 1200;
    mics_comm_t c = nullptr;
    auto t0 = Clock::now();
    // Rank 1 never comes; MICS_TIMEOUT_MS says 60 s, the config 1.2 s.
    mics_result_t r = mics_comm_init_rank_config(&c, 2, id, 0, &config);
    double took = Since(t0);
    HCHECK_EQ(r, MICS_TIMEOUT) << mics_last_error(nullptr);
    HCHECK(took >= 1.0 && took <= 4.0) << "took " << took << " s";
  });
}

TEST(Config, RejectsBadConfigs) {
  InChild([] {
    mics_unique_id id;
    HASSERT_OK(mics_get_unique_id(&id));
    mics_comm_t c = nullptr;
    mics_config zero_size = MICS_CONFIG_INITIALIZER;
    zero_size.size = 0;
    HCHECK_RESULT(mics_comm_init_rank_config(&c, 1, id, 0, &zero_size), MICS_INVALID_ARGUMENT);
    HCHECK(Contains(mics_last_error(nullptr), "MICS_CONFIG_INITIALIZER"));
    mics_config wrong_version = MICS_CONFIG_INITIALIZER;
    wrong_version.version = 990000;
    HCHECK_RESULT(mics_comm_init_rank_config(&c, 1, id, 0, &wrong_version), MICS_INVALID_ARGUMENT);
    HCHECK(Contains(mics_last_error(nullptr), "version"));
    mics_config negative = MICS_CONFIG_INITIALIZER;
    negative.timeout_ms = -5;
    HCHECK_RESULT(mics_comm_init_rank_config(&c, 1, id, 0, &negative), MICS_INVALID_ARGUMENT);
    HCHECK(Contains(mics_last_error(nullptr), "timeout_ms"));
    // NULL config: the defaults; the id was never consumed, so it still works.
    HASSERT_OK(mics_comm_init_rank_config(&c, 1, id, 0, nullptr));
    int size = 0;
    HCHECK_OK(mics_comm_size(c, &size));
    HCHECK_EQ(size, 1);
    HCHECK_OK(mics_comm_destroy(c));
  });
}

TEST(AsyncError, ReportsTheStickyFailure) {
  mics_test::Options opts;
  opts.mics_timeout_ms = 800;
  mics_test::run_ranks(
      2,
      [](mics_comm_t comm, int rank) {
        mics_result_t async = MICS_INTERNAL_ERROR;
        HCHECK_OK(mics_comm_get_async_error(comm, &async));
        HCHECK_EQ(async, MICS_SUCCESS);
        HCHECK_RESULT(mics_comm_get_async_error(comm, nullptr), MICS_INVALID_ARGUMENT);
        HCHECK_RESULT(mics_comm_get_async_error(nullptr, &async), MICS_INVALID_ARGUMENT);
        if (rank == 1) usleep(2000 * 1000);  // alive but absent: rank 0 must time out
        if (rank == 0) {                     // rank 1 skips the allreduce: rank 0 times out
          float x = 1;
          HCHECK_RESULT(mics_allreduce(&x, &x, 1, MICS_FLOAT32, MICS_SUM, comm, nullptr),
                        MICS_TIMEOUT);
          HCHECK_OK(mics_comm_get_async_error(comm, &async));
          HCHECK_EQ(async, MICS_TIMEOUT);
          HCHECK_RESULT(mics_barrier(comm), MICS_INVALID_USAGE);  // sticky, at once
        }
        HCHECK_OK(mics_comm_abort(comm));
        HCHECK_OK(mics_comm_get_async_error(comm, &async));
        HCHECK_EQ(async, MICS_INVALID_USAGE);
      },
      opts);
}

// Runs fn with stderr redirected to a file and returns what was written.
template <class Fn>
std::string CaptureStderr(Fn fn) {
  char path[] = "/tmp/mics-diag-XXXXXX";
  int fd = mkstemp(path);
  int saved = dup(STDERR_FILENO);
  dup2(fd, STDERR_FILENO);
  fn();
  dup2(saved, STDERR_FILENO);
  close(saved);
  close(fd);
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  unlink(path);
  return text.str();
}

void ExpectDump(mics_comm_t comm, int rank, int sig) {
  float x = static_cast<float>(rank);
  HCHECK_OK(mics_allreduce(&x, &x, 1, MICS_FLOAT32, MICS_SUM, comm, nullptr));
  std::string out = CaptureStderr([&] { raise(sig); });
  HCHECK(Contains(out, "mics state dump, pid " + std::to_string(getpid()))) << out;
  HCHECK(Contains(out, "rank " + std::to_string(rank) + "/3")) << out;
  HCHECK(Contains(out, "completed #")) << out;
  HCHECK(Contains(out, "idle")) << out;
  HCHECK(Contains(out, "last #seen from peers:")) << out;
}

TEST(StateDump, SigUsr1PrintsEveryCommunicator) {
  mics_test::run_ranks(3, [](mics_comm_t comm, int rank) {
    mics_comm_t half = nullptr;
    HCHECK_OK(mics_comm_split(comm, rank % 2, rank, &half));
    ExpectDump(comm, rank, SIGUSR1);
    mics_comm_destroy(half);
  });
}

TEST(StateDump, SignalChosenByEnvironment) {
  mics_test::Options opts;
  opts.env = {{"MICS_DUMP_SIGNAL", "USR2"}};
  mics_test::run_ranks(
      3, [](mics_comm_t comm, int rank) { ExpectDump(comm, rank, SIGUSR2); }, opts);
}

}  // namespace

namespace {

// Garbage in the environment is an error that names the variable, at init.
TEST(EnvironmentGarbage, EveryVariableIsCheckedAtInit) {
  InChild([] {
    static const std::string long_id(80, 'x');
    const std::pair<const char*, const char*> cases[] = {
        {"MICS_TIMEOUT_MS", "abc"},        {"MICS_TIMEOUT_MS", "-5"},
        {"MICS_HOST_ID", "has space"},     {"MICS_HOST_ID", long_id.c_str()},
        {"MICS_FI_PROVIDER", "bad name!"}, {"MICS_ALGO", "fastest"},
        {"MICS_SHM_SLOTS", "1"},           {"MICS_SHM_CHUNK_BYTES", "12abc"},
        {"MICS_NET_CHUNK_BYTES", "0"},     {"MICS_NET_DELAY_US", "-1"},
        {"MICS_MODEL_NET", "fast"},        {"MICS_MODEL_SHM", "1,0"},
        {"MICS_STREAM_BYTES", "lots"},     {"MICS_STREAM_BYTES", "-1"},
        {"MICS_SHM_DIRECT_REDUCE", "2"},   {"MICS_SHM_DIRECT_REDUCE", "yes"},
    };
    for (const auto& [name, value] : cases) {
      mics_unique_id id;
      HASSERT_OK(mics_get_unique_id(&id));  // before the garbage: it parses the environment too
      std::string saved = value;
      setenv(name, saved.c_str(), 1);
      mics_comm_t c = nullptr;
      mics_result_t r = mics_comm_init_rank(&c, 1, id, 0);
      std::string e = mics_last_error(nullptr);
      unsetenv(name);
      HCHECK_EQ(r, MICS_INVALID_ARGUMENT) << name << "=" << saved << ": " << e;
      HCHECK(Contains(e, name)) << name << "=" << saved << ": \"" << e << "\" does not name it";
      if (c) mics_comm_destroy(c);
    }
  });
}

}  // namespace
