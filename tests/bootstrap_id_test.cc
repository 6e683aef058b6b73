// Security tests of the bootstrap (see bootstrap_security_test.cc): the unique
// id as the job's credential. A tampered secret is refused; corrupted ids are
// rejected before anything is sent.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <mics/mics.h>
#include <netinet/in.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "bootstrap_raw_peer.h"
#include "harness.h"

namespace mics_test::bootstrap_peer {
namespace {

// A rank with a tampered id (one bit of the secret off) is refused with
// REMOTE_ERROR and a message that says so, quickly; the real ranks carry on.
TEST(BootstrapSecurity, WrongSecretRankIsRefused) {
  Shared* s = NewShared();
  ASSERT_NE(s, nullptr);
  Options opts;
  opts.init = false;
  opts.mics_timeout_ms = 10000;
  run_ranks(
      3,
      [s](mics_comm_t, int rank) {
        if (rank == 0) {
          HASSERT_OK(mics_get_unique_id(&s->id));
          s->id_ready.store(1);
        }
        HASSERT(WaitFor(s->id_ready, 1, 30));
        if (rank == 2) {  // the impostor claims rank 1 first
          mics_unique_id bad = s->id;
          bad.internal[offsetof(IdWire, secret) + 5] ^= 0x10;
          mics_comm_t comm = nullptr;
          const auto t0 = Clock::now();
          mics_result_t r = mics_comm_init_rank(&comm, 2, bad, 1);
          const double took = Since(t0);
          const std::string e = mics_last_error(nullptr);
          HCHECK_EQ(r, MICS_REMOTE_ERROR) << mics_result_string(r) << ": " << e;
          HCHECK(e.find("refused") != std::string::npos) << "message: " << e;
          HCHECK(e.find("secret") != std::string::npos) << "message: " << e;
          HCHECK(took < 2.0) << "the refusal took " << took << " s";
          fprintf(stderr, "impostor refused in %.1f ms: %s\n", took * 1e3, e.c_str());
          if (r == MICS_SUCCESS) mics_comm_destroy(comm);
          s->junk_ready.store(1);
          return;
        }
        HASSERT(WaitFor(s->junk_ready, 1, 30));
        mics_comm_t comm = nullptr;
        HASSERT_OK(mics_comm_init_rank(&comm, 2, s->id, rank)) << mics_last_error(nullptr);
        HCHECK_OK(mics_barrier(comm));
        HCHECK_OK(mics_comm_destroy(comm));
      },
      opts);
  munmap(s, 4096);
}

// Corruptions of a hand-made id (HandMadeId) are rejected with
// INVALID_ARGUMENT at once; the uncorrupted one is not.
TEST(BootstrapSecurity, CorruptedUniqueIdsAreInvalidArgument) {
  Options opts;
  opts.init = false;
  opts.mics_timeout_ms = 300;
  run_ranks(
      1,
      [](mics_comm_t, int) {
        // The uncorrupted id decodes (the layout above is right): init then
        // times out against the unserved port, it is not rejected.
        mics_comm_t comm = nullptr;
        mics_unique_id good = HandMadeId();
        mics_result_t r = mics_comm_init_rank(&comm, 2, good, 1);
        HCHECK(r == MICS_TIMEOUT || r == MICS_REMOTE_ERROR)
            << "hand-made id: " << mics_result_string(r) << " " << mics_last_error(nullptr);
        if (r == MICS_SUCCESS) mics_comm_destroy(comm);

        std::vector<std::pair<std::string, mics_unique_id>> bad;
        auto with = [&](const std::string& what, auto edit) {
          mics_unique_id id = good;
          IdWire w = IdOf(id);
          edit(&w);
          memcpy(id.internal, &w, sizeof(w));
          bad.push_back({what, id});
        };
        for (uint32_t bit = 0; bit < 32; ++bit)
          with("magic bit " + std::to_string(bit), [bit](IdWire* w) { w->magic ^= 1u << bit; });
        for (uint32_t len : {0u, 1u, 2u, 8u, 15u, 17u, 27u, 29u, 128u, 0xffffffffu})
          with("addr_len " + std::to_string(len), [len](IdWire* w) { w->addr_len = len; });
        for (int family : {AF_UNSPEC, AF_UNIX, AF_INET6, AF_PACKET, 0xffff})
          with("family " + std::to_string(family), [family](IdWire* w) {
            sa_family_t f = static_cast<sa_family_t>(family);
            memcpy(w->addr, &f, sizeof(f));
          });
        with("IPv6 family with an IPv4 length", [](IdWire* w) {
          sa_family_t f = AF_INET6;
          memcpy(w->addr, &f, sizeof(f));
        });
        // Random ids: 1000 of them.
        uint64_t x = mics_test::TestSeed();
        for (int i = 0; i < 1000; ++i) {
          mics_unique_id id;
          for (char& ch : id.internal) ch = static_cast<char>(x = mics_test::Mix64(x));
          bad.push_back({"random #" + std::to_string(i), id});
        }
        const auto t0 = Clock::now();
        for (const auto& [what, id] : bad) {
          mics_comm_t c = nullptr;
          mics_result_t got = mics_comm_init_rank(&c, 2, id, 1);
          HCHECK_EQ(got, MICS_INVALID_ARGUMENT)
              << what << ": " << mics_result_string(got) << " " << mics_last_error(nullptr);
          if (got == MICS_SUCCESS) mics_comm_destroy(c);
        }
        HCHECK(Since(t0) < 5.0) << bad.size() << " bad ids took " << Since(t0) << " s";
      },
      opts);
}

}  // namespace
}  // namespace mics_test::bootstrap_peer
