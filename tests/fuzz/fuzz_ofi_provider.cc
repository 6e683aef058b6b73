// Fuzzes the MICS_FI_PROVIDER check (transport/ofi/ofi_domain.cc), the one
// environment value handed to libfabric as is, and ofi_params_from_env with it.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "transport/ofi/ofi_domain.h"

using namespace mics;
using namespace mics::transport::ofi;

#define FUZZ_CHECK(cond)  \
  do {                    \
    if (!(cond)) abort(); \
  } while (0)

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  const std::string name(reinterpret_cast<const char*>(data), size);
  const bool ok = valid_provider_name(name);
  bool ref = name.size() <= kMaxProviderName;
  for (char c : name) {
    const bool allowed = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                         (c >= '0' && c <= '9') || c == ';' || c == '_' || c == '-';
    ref = ref && allowed;
  }
  FUZZ_CHECK(ok == ref);

  const std::string value = name.c_str();  // what an environment variable can hold
  setenv("MICS_FI_PROVIDER", value.c_str(), 1);
  OfiParams params;
  Result r = ofi_params_from_env(&params);
  FUZZ_CHECK((r == MICS_SUCCESS) == valid_provider_name(value));
  if (r == MICS_SUCCESS) FUZZ_CHECK(params.provider == value && params.iface == "lo");
  if (r != MICS_SUCCESS) FUZZ_CHECK(r == MICS_INVALID_ARGUMENT);
  return 0;
}

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  for (const char* v :
       {"MICS_NET_IFACE", "MICS_NET_CHUNK_BYTES", "MICS_NET_SLOTS", "MICS_NET_DELAY_US"})
    unsetenv(v);
  return 0;
}
