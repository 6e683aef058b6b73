// Argument checking on one rank: every bad input must return the code the
// header documents, leave a message in mics_last_error that names the
// offending thing, and never crash or hang past the timeout. The failure
// paths that need several ranks are in bad_input_multirank_test.cc.
#include <gtest/gtest.h>
#include <mics/mics.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace {

using Clock = std::chrono::steady_clock;

bool ContainsAnyCI(const std::string& text, const std::vector<std::string>& words) {
  std::string t = text;
  std::transform(t.begin(), t.end(), t.begin(), [](unsigned char ch) { return std::tolower(ch); });
  for (std::string w : words) {
    std::transform(w.begin(), w.end(), w.begin(),
                   [](unsigned char ch) { return std::tolower(ch); });
    if (t.find(w) != std::string::npos) return true;
  }
  return false;
}

std::string Join(const std::vector<std::string>& words) {
  std::string s;
  for (const auto& w : words) s += (s.empty() ? "\"" : " or \"") + w + "\"";
  return s;
}

// ---- in-process checks (a 1-rank communicator is enough) ------------------------------

// Sets environment variables for one test and restores them afterwards.
class ScopedEnv {
 public:
  explicit ScopedEnv(std::vector<std::pair<std::string, const char*>> vars) {
    for (auto& [name, value] : vars) {
      const char* old = getenv(name.c_str());
      saved_.push_back({name, old != nullptr, old != nullptr ? old : ""});
      if (value != nullptr) {
        setenv(name.c_str(), value, 1);
      } else {
        unsetenv(name.c_str());
      }
    }
  }
  ScopedEnv(const char* name, const char* value)
      : ScopedEnv(std::vector<std::pair<std::string, const char*>>{{name, value}}) {}
  ~ScopedEnv() {
    for (const auto& s : saved_) {
      if (s.had) {
        setenv(s.name.c_str(), s.value.c_str(), 1);
      } else {
        unsetenv(s.name.c_str());
      }
    }
  }

 private:
  struct Saved {
    std::string name;
    bool had;
    std::string value;
  };
  std::vector<Saved> saved_;
};

struct Row {
  std::string what;
  std::function<mics_result_t()> call;
  mics_result_t want;
  std::vector<std::string> mention;  // one of these must appear (any case)
  mics_comm_t error_comm;            // whose mics_last_error to read (NULL: thread)
};

void CheckRow(const Row& row) {
  SCOPED_TRACE(row.what);
  const mics_result_t got = row.call();
  const char* msg = mics_last_error(row.error_comm);
  const std::string text = msg != nullptr ? msg : "(NULL)";
  EXPECT_EQ(got, row.want) << row.what << ": returned " << mics_result_string(got) << ", expected "
                           << mics_result_string(row.want) << "; last error \"" << text << "\"";
  ASSERT_NE(msg, nullptr) << row.what << ": mics_last_error returned NULL";
  if (row.want == MICS_SUCCESS) return;
  EXPECT_TRUE(ContainsAnyCI(text, row.mention))
      << row.what << ": mics_last_error(" << (row.error_comm ? "comm" : "NULL") << ") is \"" << text
      << "\"; expected it to mention " << Join(row.mention);
}

class OneRank : public ::testing::Test {
 protected:
  void SetUp() override {
    mics_unique_id id;
    ASSERT_EQ(mics_get_unique_id(&id), MICS_SUCCESS) << mics_last_error(nullptr);
    ASSERT_EQ(mics_comm_init_rank(&comm_, 1, id, 0), MICS_SUCCESS) << mics_last_error(nullptr);
  }
  void TearDown() override { EXPECT_EQ(mics_comm_destroy(comm_), MICS_SUCCESS); }

  // Listeners of unused ids expire after MICS_TIMEOUT_MS; keep that short.
  ScopedEnv env_{"MICS_TIMEOUT_MS", "5000"};
  mics_comm_t comm_ = nullptr;
};

using CollFn = std::function<mics_result_t(const void*, void*, size_t, mics_datatype_t,
                                           mics_redop_t, int, mics_comm_t, void*)>;
struct NamedColl {
  std::string name;
  bool reduction, rooted;
  CollFn fn;
};

std::vector<NamedColl> Colls() {
  return {
      {"allgather", false, false,
       [](const void* s, void* r, size_t n, mics_datatype_t t, mics_redop_t, int, mics_comm_t c,
          void* st) { return mics_allgather(s, r, n, t, c, st); }},
      {"hier_allgather", false, false,
       [](const void* s, void* r, size_t n, mics_datatype_t t, mics_redop_t, int, mics_comm_t c,
          void* st) { return mics_hier_allgather(s, r, n, t, c, st); }},
      {"reduce_scatter", true, false,
       [](const void* s, void* r, size_t n, mics_datatype_t t, mics_redop_t op, int, mics_comm_t c,
          void* st) { return mics_reduce_scatter(s, r, n, t, op, c, st); }},
      {"allreduce", true, false,
       [](const void* s, void* r, size_t n, mics_datatype_t t, mics_redop_t op, int, mics_comm_t c,
          void* st) { return mics_allreduce(s, r, n, t, op, c, st); }},
      {"broadcast", false, true,
       [](const void* s, void* r, size_t n, mics_datatype_t t, mics_redop_t, int root,
          mics_comm_t c, void* st) { return mics_broadcast(s, r, n, t, root, c, st); }},
  };
}

float g_buf[64];  // host buffers for the table (contents irrelevant)

TEST_F(OneRank, CollectiveArgumentTable) {
  float* const a = g_buf;
  float* const b = g_buf + 16;
  const auto I = MICS_INVALID_ARGUMENT;
  const auto F32 = MICS_FLOAT32;
  const auto SUM = MICS_SUM;
  const std::vector<std::string> kOverlap = {"overlap", "alias", "in-place", "in place"};
  std::vector<Row> rows;
  for (const NamedColl& nc : Colls()) {
    const CollFn f = nc.fn;
    mics_comm_t c = comm_;
    auto row = [&](const std::string& what, std::function<mics_result_t()> call, mics_result_t want,
                   std::vector<std::string> mention, mics_comm_t ec) {
      rows.push_back({nc.name + ": " + what, std::move(call), want, std::move(mention), ec});
    };
    row(
        "comm NULL", [=] { return f(a, b, 4, F32, SUM, 0, nullptr, nullptr); }, I, {"comm"},
        nullptr);
    row(
        "sendbuf NULL", [=] { return f(nullptr, b, 4, F32, SUM, 0, c, nullptr); }, I, {"send"}, c);
    row(
        "recvbuf NULL", [=] { return f(a, nullptr, 4, F32, SUM, 0, c, nullptr); }, I, {"recv"}, c);
    for (int t : {static_cast<int>(MICS_NUM_TYPES), -1, 1000}) {
      row(
          "type " + std::to_string(t),
          [=] { return f(a, b, 4, static_cast<mics_datatype_t>(t), SUM, 0, c, nullptr); }, I,
          {"type"}, c);
    }
    if (nc.reduction) {
      for (int op : {static_cast<int>(MICS_NUM_OPS), -1}) {
        row(
            "op " + std::to_string(op),
            [=] { return f(a, b, 4, F32, static_cast<mics_redop_t>(op), 0, c, nullptr); }, I,
            {"op"}, c);
      }
    }
    if (nc.rooted) {
      for (int root : {-1, 1, INT_MAX}) {
        row(
            "root " + std::to_string(root), [=] { return f(a, b, 4, F32, SUM, root, c, nullptr); },
            I, {"root"}, c);
      }
    }
    row(
        "count * size overflows size_t",
        [=] { return f(a, b, SIZE_MAX / 2 + 1, F32, SUM, 0, c, nullptr); }, I,
        {"overflow", "count", "too large"}, c);
    row(
        "count * size overflows size_t (FLOAT64)",
        [=] { return f(a, b, SIZE_MAX / 8 + 1, MICS_FLOAT64, SUM, 0, c, nullptr); }, I,
        {"overflow", "count", "too large"}, c);
    row(
        "non-NULL stream with host buffers",
        [=] { return f(a, b, 4, F32, SUM, 0, c, reinterpret_cast<void*>(0x1)); }, I, {"stream"}, c);
    // 1 rank: the in-place forms are all sendbuf == recvbuf; one element off overlaps.
    row(
        "sendbuf = recvbuf + 1", [=] { return f(a + 1, a, 8, F32, SUM, 0, c, nullptr); }, I,
        kOverlap, c);
    row(
        "recvbuf = sendbuf + 1", [=] { return f(a, a + 1, 8, F32, SUM, 0, c, nullptr); }, I,
        kOverlap, c);
    // Valid edge cases must succeed.
    row(
        "count 0 with NULL buffers",
        [=] { return f(nullptr, nullptr, 0, F32, SUM, 0, c, nullptr); }, MICS_SUCCESS, {}, c);
    row(
        "in place", [=] { return f(a, a, 8, F32, SUM, 0, c, nullptr); }, MICS_SUCCESS, {}, c);
    row(
        "adjacent, not overlapping", [=] { return f(a, a + 8, 8, F32, SUM, 0, c, nullptr); },
        MICS_SUCCESS, {}, c);
    row(
        "adjacent the other way", [=] { return f(a + 8, a, 8, F32, SUM, 0, c, nullptr); },
        MICS_SUCCESS, {}, c);
  }
  for (const Row& r : rows) CheckRow(r);
  // Argument errors are not fatal: the comm still works.
  float x = 2.0f, y = 0.0f;
  EXPECT_EQ(mics_allreduce(&x, &y, 1, F32, MICS_MAX, comm_, nullptr), MICS_SUCCESS)
      << mics_last_error(comm_);
  EXPECT_EQ(y, 2.0f);
}

TEST_F(OneRank, CommAndGroupArgumentTable) {
  mics_comm_t c = comm_, out = nullptr, out2 = nullptr;
  int v = 0;
  mics_unique_id id;  // valid; the bad calls must reject their arguments before using it
  ASSERT_EQ(mics_get_unique_id(&id), MICS_SUCCESS);
  const auto I = MICS_INVALID_ARGUMENT;
  const std::vector<Row> rows = {
      {"get_version(NULL)", [] { return mics_get_version(nullptr); }, I, {"version"}, nullptr},
      {"get_unique_id(NULL)", [] { return mics_get_unique_id(nullptr); }, I, {"id"}, nullptr},
      {"init_rank comm NULL",
       [=] { return mics_comm_init_rank(nullptr, 1, id, 0); },
       I,
       {"comm"},
       nullptr},
      {"init_rank nranks 0",
       [&] { return mics_comm_init_rank(&out, 0, id, 0); },
       I,
       {"nranks", "size"},
       nullptr},
      {"init_rank nranks -1",
       [&] { return mics_comm_init_rank(&out, -1, id, 0); },
       I,
       {"nranks", "size"},
       nullptr},
      {"init_rank rank -1",
       [&] { return mics_comm_init_rank(&out, 2, id, -1); },
       I,
       {"rank"},
       nullptr},
      {"init_rank rank == nranks",
       [&] { return mics_comm_init_rank(&out, 2, id, 2); },
       I,
       {"rank"},
       nullptr},
      {"init_env(NULL)", [] { return mics_comm_init_env(nullptr); }, I, {"comm"}, nullptr},
      {"comm_rank comm NULL", [&] { return mics_comm_rank(nullptr, &v); }, I, {"comm"}, nullptr},
      {"comm_rank out NULL", [=] { return mics_comm_rank(c, nullptr); }, I, {"rank"}, c},
      {"comm_size comm NULL", [&] { return mics_comm_size(nullptr, &v); }, I, {"comm"}, nullptr},
      {"comm_size out NULL", [=] { return mics_comm_size(c, nullptr); }, I, {"size"}, c},
      {"topology comm NULL",
       [&] { return mics_comm_topology(nullptr, &v, &v, &v, &v); },
       I,
       {"comm"},
       nullptr},
      {"split comm NULL",
       [&] { return mics_comm_split(nullptr, 0, 0, &out); },
       I,
       {"comm"},
       nullptr},
      {"split newcomm NULL", [=] { return mics_comm_split(c, 0, 0, nullptr); }, I, {"newcomm"}, c},
      {"split color -2", [&] { return mics_comm_split(c, -2, 0, &out); }, I, {"color"}, c},
      {"split color INT_MIN",
       [&] { return mics_comm_split(c, INT_MIN, 0, &out); },
       I,
       {"color"},
       c},
      {"partition comm NULL",
       [&] { return mics_create_partition_groups(nullptr, 1, &out, &out2); },
       I,
       {"comm"},
       nullptr},
      {"partition out NULL",
       [&] { return mics_create_partition_groups(c, 1, nullptr, &out2); },
       I,
       {"partition"},
       c},
      {"replication out NULL",
       [&] { return mics_create_partition_groups(c, 1, &out, nullptr); },
       I,
       {"replication"},
       c},
      {"partition size 0",
       [&] { return mics_create_partition_groups(c, 0, &out, &out2); },
       I,
       {"partition"},
       c},
      {"partition size -1",
       [&] { return mics_create_partition_groups(c, -1, &out, &out2); },
       I,
       {"partition"},
       c},
      {"partition size 2 on 1 rank",
       [&] { return mics_create_partition_groups(c, 2, &out, &out2); },
       I,
       {"partition", "divis", "divid", "multiple"},
       c},
      {"barrier(NULL)", [] { return mics_barrier(nullptr); }, I, {"comm"}, nullptr},
      {"abort(NULL)", [] { return mics_comm_abort(nullptr); }, I, {"comm"}, nullptr},
      {"destroy(NULL) is a no-op",
       [] { return mics_comm_destroy(nullptr); },
       MICS_SUCCESS,
       {},
       nullptr},
  };
  for (const Row& r : rows) CheckRow(r);

  // Valid calls on a 1-rank comm.
  EXPECT_EQ(mics_comm_topology(c, nullptr, nullptr, nullptr, nullptr), MICS_SUCCESS);
  out = reinterpret_cast<mics_comm_t>(0x1);
  EXPECT_EQ(mics_comm_split(c, MICS_SPLIT_NOCOLOR, 0, &out), MICS_SUCCESS);
  EXPECT_EQ(out, nullptr) << "MICS_SPLIT_NOCOLOR must give *newcomm = NULL";
  ASSERT_EQ(mics_create_partition_groups(c, 1, &out, &out2), MICS_SUCCESS);
  EXPECT_EQ(mics_comm_destroy(out), MICS_SUCCESS);
  EXPECT_EQ(mics_comm_destroy(out2), MICS_SUCCESS);
  // The rejected init_rank calls left the id usable.
  ASSERT_EQ(mics_comm_init_rank(&out, 1, id, 0), MICS_SUCCESS) << mics_last_error(nullptr);
  EXPECT_EQ(mics_comm_destroy(out), MICS_SUCCESS);
}

// The header: after abort "every later call fails at once" with INVALID_USAGE.
TEST_F(OneRank, EveryCallAfterAbortIsInvalidUsage) {
  ASSERT_EQ(mics_comm_abort(comm_), MICS_SUCCESS);
  float a[8] = {}, b[8] = {};
  mics_comm_t c = comm_, out = nullptr, out2 = nullptr;
  const auto U = MICS_INVALID_USAGE;
  const std::vector<Row> rows = {
      {"allgather",
       [&] { return mics_allgather(a, b, 8, MICS_FLOAT32, c, nullptr); },
       U,
       {"abort"},
       c},
      {"hier_allgather",
       [&] { return mics_hier_allgather(a, b, 8, MICS_FLOAT32, c, nullptr); },
       U,
       {"abort"},
       c},
      {"reduce_scatter",
       [&] { return mics_reduce_scatter(a, b, 8, MICS_FLOAT32, MICS_SUM, c, nullptr); },
       U,
       {"abort"},
       c},
      {"allreduce",
       [&] { return mics_allreduce(a, b, 8, MICS_FLOAT32, MICS_SUM, c, nullptr); },
       U,
       {"abort"},
       c},
      {"broadcast",
       [&] { return mics_broadcast(a, b, 8, MICS_FLOAT32, 0, c, nullptr); },
       U,
       {"abort"},
       c},
      {"barrier", [&] { return mics_barrier(c); }, U, {"abort"}, c},
      {"split", [&] { return mics_comm_split(c, 0, 0, &out); }, U, {"abort"}, c},
      {"partition groups",
       [&] { return mics_create_partition_groups(c, 1, &out, &out2); },
       U,
       {"abort"},
       c},
  };
  for (const Row& r : rows) CheckRow(r);
}

// Kept apart from the test above: "every later call" read literally includes
// the queries too.
TEST_F(OneRank, QueriesAfterAbortAreInvalidUsage) {
  ASSERT_EQ(mics_comm_abort(comm_), MICS_SUCCESS);
  int v = 0;
  CheckRow({"comm_rank",
            [&] { return mics_comm_rank(comm_, &v); },
            MICS_INVALID_USAGE,
            {"abort"},
            comm_});
  CheckRow({"comm_size",
            [&] { return mics_comm_size(comm_, &v); },
            MICS_INVALID_USAGE,
            {"abort"},
            comm_});
  CheckRow({"comm_topology",
            [&] { return mics_comm_topology(comm_, &v, &v, &v, &v); },
            MICS_INVALID_USAGE,
            {"abort"},
            comm_});
}

// mics_last_error(NULL) is "the calling thread's last failure", which
// includes failures of calls made on a communicator.
TEST_F(OneRank, ThreadLastErrorSeesCommFailures) {
  float a[4] = {};
  ASSERT_EQ(mics_broadcast(a, a, 4, MICS_FLOAT32, 7, comm_, nullptr), MICS_INVALID_ARGUMENT);
  const std::string e = mics_last_error(nullptr);
  EXPECT_TRUE(ContainsAnyCI(e, {"root"})) << "mics_last_error(NULL) = \"" << e << "\"";
}

// The header promises messages that say where ("a file:line chain").
TEST_F(OneRank, ErrorMessagesCarryFileLine) {
  float a[4] = {};
  ASSERT_EQ(mics_allreduce(a, a, 4, MICS_NUM_TYPES, MICS_SUM, comm_, nullptr),
            MICS_INVALID_ARGUMENT);
  const std::string e = mics_last_error(comm_);
  EXPECT_TRUE(std::regex_search(e, std::regex(R"([A-Za-z0-9_./-]+\.(cc|h|cpp|c):[0-9]+)")))
      << "mics_last_error(comm) = \"" << e << "\"";
}

TEST(Init, MalformedUniqueIdIsRejectedQuickly) {
  ScopedEnv env("MICS_TIMEOUT_MS", "1500");
  uint64_t x = mics_test::TestSeed();
  mics_unique_id random_id, zero_id, ones_id;
  for (char& ch : random_id.internal) ch = static_cast<char>(x = mics_test::Mix64(x));
  memset(zero_id.internal, 0, sizeof zero_id.internal);
  memset(ones_id.internal, 0xff, sizeof ones_id.internal);
  const std::pair<const char*, mics_unique_id> ids[] = {
      {"random bytes", random_id}, {"all zero", zero_id}, {"all 0xff", ones_id}};
  for (const auto& [name, id] : ids) {
    for (int nranks : {2, 1}) {
      const int rank = nranks - 1;
      mics_comm_t c = nullptr;
      const auto t0 = Clock::now();
      const mics_result_t r = mics_comm_init_rank(&c, nranks, id, rank);
      const double took = mics_test::SecondsSince(t0);
      const std::string e = mics_last_error(nullptr);
      EXPECT_EQ(r, MICS_INVALID_ARGUMENT) << name << " id, rank " << rank << " of " << nranks
                                          << ": " << mics_result_string(r) << " \"" << e << "\"";
      EXPECT_FALSE(e.empty()) << name;
      EXPECT_LT(took, 10.0) << name << " id: init took " << took << " s (MICS_TIMEOUT_MS=1500)";
      if (r == MICS_SUCCESS) mics_comm_destroy(c);
    }
  }
}

// Rank 0 of 2 (root in this process) while rank 1 never calls init; and rank 1
// of 2 while the root rank never calls init. Both time out within ~1.5-4 s.
TEST(Init, MissingRankTimesOut) {
  ScopedEnv env("MICS_TIMEOUT_MS", "1500");
  for (int rank : {0, 1}) {
    mics_unique_id id;
    ASSERT_EQ(mics_get_unique_id(&id), MICS_SUCCESS);
    mics_comm_t c = nullptr;
    const auto t0 = Clock::now();
    const mics_result_t r = mics_comm_init_rank(&c, 2, id, rank);
    const double took = mics_test::SecondsSince(t0);
    EXPECT_EQ(r, MICS_TIMEOUT) << "rank " << rank << " of 2 alone: " << mics_result_string(r)
                               << " \"" << mics_last_error(nullptr) << "\"";
    EXPECT_FALSE(std::string(mics_last_error(nullptr)).empty());
    EXPECT_GE(took, 1.0) << "rank " << rank << ": gave up before MICS_TIMEOUT_MS=1500";
    EXPECT_LE(took, 4.0) << "rank " << rank << ": took " << took << " s, MICS_TIMEOUT_MS=1500";
    if (r == MICS_SUCCESS) mics_comm_destroy(c);
  }
}

struct EnvCase {
  const char* what;
  std::vector<std::pair<std::string, const char*>> vars;
  std::vector<std::string> mention;
};

TEST(Init, InitEnvRejectsMissingOrMalformedVariables) {
  const char* port = "29517";
  const std::vector<EnvCase> cases = {
      {"nothing set", {}, {"RANK"}},
      {"WORLD_SIZE missing", {{"RANK", "0"}}, {"WORLD_SIZE"}},
      {"RANK missing", {{"WORLD_SIZE", "2"}}, {"RANK"}},
      {"RANK garbage", {{"RANK", "abc"}, {"WORLD_SIZE", "2"}}, {"RANK"}},
      {"RANK trailing garbage", {{"RANK", "1x"}, {"WORLD_SIZE", "2"}}, {"RANK"}},
      {"RANK empty", {{"RANK", ""}, {"WORLD_SIZE", "2"}}, {"RANK"}},
      {"RANK negative", {{"RANK", "-1"}, {"WORLD_SIZE", "2"}}, {"RANK"}},
      {"RANK == WORLD_SIZE", {{"RANK", "2"}, {"WORLD_SIZE", "2"}}, {"RANK"}},
      {"WORLD_SIZE garbage", {{"RANK", "0"}, {"WORLD_SIZE", "two"}}, {"WORLD_SIZE"}},
      {"WORLD_SIZE 0", {{"RANK", "0"}, {"WORLD_SIZE", "0"}}, {"WORLD_SIZE"}},
      {"WORLD_SIZE overflows int",
       {{"RANK", "0"}, {"WORLD_SIZE", "99999999999999999999"}},
       {"WORLD_SIZE"}},
      {"OMPI size garbage",
       {{"OMPI_COMM_WORLD_RANK", "0"}, {"OMPI_COMM_WORLD_SIZE", "x"}},
       {"SIZE"}},
      {"no root address at all",
       {{"RANK", "1"},
        {"WORLD_SIZE", "2"},
        {"MICS_ROOT_ADDR", nullptr},
        {"MICS_ROOT_PORT", nullptr}},
       {"ADDR"}},
      {"MICS_ROOT_PORT garbage",
       {{"RANK", "0"}, {"WORLD_SIZE", "1"}, {"MICS_ROOT_PORT", "http"}},
       {"PORT"}},
      {"MICS_ROOT_PORT out of range",
       {{"RANK", "0"}, {"WORLD_SIZE", "1"}, {"MICS_ROOT_PORT", "70000"}},
       {"PORT"}},
      {"MASTER_PORT garbage",
       {{"RANK", "0"},
        {"WORLD_SIZE", "1"},
        {"MICS_ROOT_ADDR", nullptr},
        {"MICS_ROOT_PORT", nullptr},
        {"MASTER_ADDR", "127.0.0.1"},
        {"MASTER_PORT", "x1"}},
       {"PORT"}},
      {"MASTER_PORT + 1 out of range",
       {{"RANK", "0"},
        {"WORLD_SIZE", "1"},
        {"MICS_ROOT_ADDR", nullptr},
        {"MICS_ROOT_PORT", nullptr},
        {"MASTER_ADDR", "127.0.0.1"},
        {"MASTER_PORT", "65535"}},
       {"PORT"}},
  };
  for (const EnvCase& ec : cases) {
    // A clean slate with a valid root, then the case's own variables.
    ScopedEnv base({{"RANK", nullptr},
                    {"WORLD_SIZE", nullptr},
                    {"OMPI_COMM_WORLD_RANK", nullptr},
                    {"OMPI_COMM_WORLD_SIZE", nullptr},
                    {"MASTER_ADDR", nullptr},
                    {"MASTER_PORT", nullptr},
                    {"MICS_ROOT_ADDR", "127.0.0.1"},
                    {"MICS_ROOT_PORT", port},
                    {"MICS_TIMEOUT_MS", "1500"}});
    ScopedEnv vars(ec.vars);
    mics_comm_t c = nullptr;
    CheckRow({std::string("init_env, ") + ec.what, [&] { return mics_comm_init_env(&c); },
              MICS_INVALID_ARGUMENT, ec.mention, nullptr});
    if (c != nullptr) mics_comm_destroy(c);
  }
}

TEST(Basics, ResultStringsVersionTypeSizes) {
  const char* const kNames[] = {"MICS_SUCCESS",      "MICS_INVALID_ARGUMENT", "MICS_INVALID_USAGE",
                                "MICS_SYSTEM_ERROR", "MICS_REMOTE_ERROR",     "MICS_TIMEOUT",
                                "MICS_CUDA_ERROR",   "MICS_INTERNAL_ERROR",   "MICS_IN_PROGRESS"};
  for (int r = 0; r <= MICS_IN_PROGRESS; ++r) {
    const char* s = mics_result_string(static_cast<mics_result_t>(r));
    ASSERT_NE(s, nullptr) << r;
    EXPECT_STREQ(s, kNames[r]);
  }
  for (int r : {-1, MICS_IN_PROGRESS + 1, 1000}) {
    EXPECT_NE(mics_result_string(static_cast<mics_result_t>(r)), nullptr) << r;
  }
  ASSERT_NE(mics_last_error(nullptr), nullptr);
  int version = -1;
  EXPECT_EQ(mics_get_version(&version), MICS_SUCCESS);
  EXPECT_EQ(version, MICS_VERSION_CODE);
  const size_t kSizes[] = {1, 1, 4, 4, 8, 8, 2, 4, 8, 2};
  for (int t = 0; t < MICS_NUM_TYPES; ++t) {
    EXPECT_EQ(mics_type_size(static_cast<mics_datatype_t>(t)), kSizes[t]) << "type " << t;
  }
  EXPECT_EQ(mics_type_size(MICS_NUM_TYPES), 0u);
  EXPECT_EQ(mics_type_size(static_cast<mics_datatype_t>(-1)), 0u);
}

}  // namespace
