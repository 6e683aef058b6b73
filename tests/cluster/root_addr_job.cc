// Run by cluster_test.sh on the emulated cluster (2 nodes x 2 ranks): a
// communicator whose unique id comes from a rank on the second node, with
// only the launcher's environment (MASTER_ADDR = node 0, no MICS_ROOT_ADDR).
// The id's root must listen on an address that node 0's ranks reach (its
// route towards MASTER_ADDR: 198.18.0.2), not loopback. The id travels over
// the world communicator; the new one then allreduces random data, checked
// element by element. Prints "root-addr ok" on every rank that passed.
#include <mics/mics.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <vector>

namespace {

int Fail(const char* what, mics_result_t r, mics_comm_t comm) {
  std::fprintf(stderr, "root-addr FAILED: %s: %s: %s\n", what, mics_result_string(r),
               mics_last_error(comm));
  return 1;
}

uint32_t Value(uint32_t seed, int rank, size_t i) {
  uint64_t x = (seed + 0x9E3779B97F4A7C15ull * (i + 1)) ^ (static_cast<uint64_t>(rank) << 40);
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  return static_cast<uint32_t>(x >> 40);  // small: sums of 4 stay exact
}

}  // namespace

int main() {
  mics_comm_t world = nullptr;
  mics_result_t r = mics_comm_init_env(&world);
  if (r != MICS_SUCCESS) return Fail("mics_comm_init_env", r, nullptr);
  int rank = 0, size = 0;
  mics_comm_rank(world, &rank);
  mics_comm_size(world, &size);
  const int id_rank = size - 1;  // on the last node
  mics_unique_id id{};
  if (rank == id_rank && (r = mics_get_unique_id(&id)) != MICS_SUCCESS)
    return Fail("mics_get_unique_id", r, nullptr);
  r = mics_broadcast(&id, &id, sizeof(id), MICS_UINT8, id_rank, world, nullptr);
  if (r != MICS_SUCCESS) return Fail("broadcasting the id", r, world);
  // Ranks renumbered so that the id's creator is rank 0 of the new communicator.
  const int new_rank = (rank - id_rank + size) % size;
  mics_comm_t comm = nullptr;
  r = mics_comm_init_rank(&comm, size, id, new_rank);
  if (r != MICS_SUCCESS) return Fail("mics_comm_init_rank from the second node's id", r, nullptr);

  uint32_t seed = 0;  // rank 0's, from MICS_TEST_SEED or the clock; printed
  if (rank == 0) {
    const char* env = std::getenv("MICS_TEST_SEED");
    seed = env ? static_cast<uint32_t>(std::strtoul(env, nullptr, 0))
               : static_cast<uint32_t>(std::time(nullptr) ^ getpid());
  }
  r = mics_broadcast(&seed, &seed, 1, MICS_UINT32, 0, world, nullptr);
  if (r != MICS_SUCCESS) return Fail("broadcasting the seed", r, world);
  if (rank == 0) std::printf("root-addr: seed %u\n", seed);
  const size_t count = 1001;
  std::vector<uint32_t> data(count);
  for (size_t i = 0; i < count; ++i) data[i] = Value(seed, new_rank, i);
  r = mics_allreduce(data.data(), data.data(), count, MICS_UINT32, MICS_SUM, comm, nullptr);
  if (r != MICS_SUCCESS) return Fail("allreduce", r, comm);
  for (size_t i = 0; i < count; ++i) {
    uint32_t want = 0;
    for (int q = 0; q < size; ++q) want += Value(seed, q, i);
    if (data[i] != want) {
      std::fprintf(stderr, "root-addr FAILED: element %zu is %u, expected %u\n", i, data[i], want);
      return 1;
    }
  }
  mics_comm_destroy(comm);
  mics_comm_destroy(world);
  std::printf("root-addr ok\n");
  return 0;
}
