// Fuzzes the MICS_MODEL_SHM / MICS_MODEL_NET parser (src/coll/cost_model.cc)
// and feeds what it accepts to the cost model: every accepted value must be
// finite and in range, and every prediction finite and non-negative (the
// algorithm choice compares them).
//
// Input: 4 bytes of shape (nodes, ranks per node, collective, log2 bytes),
// then the text.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "src/coll/cost_model.h"

using namespace mics;
using namespace mics::coll;

#define FUZZ_CHECK(cond)  \
  do {                    \
    if (!(cond)) abort(); \
  } while (0)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4 || size > 4096) return 0;
  const int nnodes = data[0] % 64 + 1;
  const int k = data[1] % 16 + 1;
  const Shape shape = static_cast<Shape>(data[2] % 3);
  const size_t bytes = data[3] >= 64 ? SIZE_MAX : (size_t{1} << data[3]) - 1;
  const std::string text(reinterpret_cast<const char*>(data + 4), size - 4);

  LinkCost link{-1, -1};
  Result r = parse_link_cost("MICS_MODEL_NET", text.c_str(), &link);
  if (text.c_str()[0] == '\0') {
    FUZZ_CHECK(r == MICS_SUCCESS && link.alpha_us == -1);  // unset: untouched
    return 0;
  }
  if (r != MICS_SUCCESS) {
    FUZZ_CHECK(r == MICS_INVALID_ARGUMENT && link.alpha_us == -1);
    return 0;
  }
  FUZZ_CHECK(std::isfinite(link.alpha_us) && std::isfinite(link.gbytes_per_s));
  FUZZ_CHECK(link.alpha_us >= 0 && link.alpha_us <= kMaxAlphaUs);
  FUZZ_CHECK(link.gbytes_per_s >= kMinGBytesPerS && link.gbytes_per_s <= kMaxGBytesPerS);

  for (int which = 0; which < 2; ++which) {
    CostModel m;
    (which ? m.net : m.shm) = link;
    const double ring = predict_ring_us(m, shape, nnodes, k, bytes);
    const double hier = predict_hier_us(m, shape, nnodes, k, bytes);
    FUZZ_CHECK(std::isfinite(ring) && ring >= 0);
    FUZZ_CHECK(std::isfinite(hier) && hier >= 0);
  }

  // The same through the environment.
  setenv("MICS_MODEL_NET", text.c_str(), 1);
  CostModel env_model;
  FUZZ_CHECK(cost_model_from_env(&env_model) == MICS_SUCCESS);
  FUZZ_CHECK(env_model.net.alpha_us == link.alpha_us &&
             env_model.net.gbytes_per_s == link.gbytes_per_s);
  unsetenv("MICS_MODEL_NET");
  return 0;
}
