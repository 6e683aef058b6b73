// Gloo baseline: the mics API calls of the perf binaries, implemented with
// Gloo's collectives (see shim.h): gloo::allgather (ring), the
// ReduceScatterHalvingDoubling algorithm (Gloo's only reduce-scatter; it
// works in place on the full buffer), gloo::allreduce (ring) and
// gloo::broadcast, over Gloo's TCP transport. Ranks meet through a Gloo
// FileStore in a directory private to the job; launch with mics-run (RANK,
// WORLD_SIZE, MASTER_PORT, MICS_BOOTSTRAP_SECRET) or mpirun (then set
// MICS_GLOO_STORE to a fresh directory).
//
// Environment: MICS_GLOO_STORE (rendezvous directory; default
// /tmp/mics-gloo-<hash of the job's secret and port>), MICS_GLOO_HOST
// (address the TCP device binds, default 127.0.0.1), MICS_TIMEOUT_MS.
#include <dirent.h>
#include <gloo/allgather.h>
#include <gloo/allreduce.h>
#include <gloo/barrier.h>
#include <gloo/broadcast.h>
#include <gloo/config.h>
#include <gloo/reduce_scatter.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/file_store.h>
#include <gloo/transport/tcp/device.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "shim.h"

using mics_shim::Fail;

namespace {

// One cached reduce-scatter: Gloo's algorithm objects allocate and connect
// their buffers when constructed, so build one per (buffer, size, type, op)
// and rerun it, as a framework holding a persistent bucket would.
struct CachedReduceScatter {
  std::unique_ptr<gloo::Algorithm> algo;
  std::vector<char> scratch;  // out of place: the algorithm needs a writable full buffer
};

}  // namespace

struct mics_comm {
  std::shared_ptr<gloo::Context> ctx;
  std::shared_ptr<gloo::transport::Device> dev;
  int rank = 0, size = 1;
  int node = 0, nnodes = 1, local = 0, local_size = 1;
  std::map<std::tuple<const void*, size_t, int, int>, CachedReduceScatter> rs_cache;
};

namespace {

// Runs f, turning Gloo's exceptions into a recorded error.
template <typename F>
mics_result_t Guard(const char* what, F&& f) {
  try {
    f();
    return MICS_SUCCESS;
  } catch (const std::exception& e) {
    return Fail(MICS_SYSTEM_ERROR, "%s: %s", what, e.what());
  }
}

// Calls f with a null pointer of the element type of t (types Gloo reduces).
template <typename F>
bool WithType(mics_datatype_t t, F&& f) {
  switch (t) {
    case MICS_INT8:
      f(static_cast<int8_t*>(nullptr));
      return true;
    case MICS_UINT8:
      f(static_cast<uint8_t*>(nullptr));
      return true;
    case MICS_INT32:
      f(static_cast<int32_t*>(nullptr));
      return true;
    case MICS_UINT32:
      f(static_cast<uint32_t*>(nullptr));
      return true;
    case MICS_INT64:
      f(static_cast<int64_t*>(nullptr));
      return true;
    case MICS_UINT64:
      f(static_cast<uint64_t*>(nullptr));
      return true;
    case MICS_FLOAT32:
      f(static_cast<float*>(nullptr));
      return true;
    case MICS_FLOAT64:
      f(static_cast<double*>(nullptr));
      return true;
    default:
      return false;  // float16 via gloo::float16 only; bfloat16 not at all
  }
}

template <typename T>
gloo::AllreduceOptions::Func ReduceFunc(mics_redop_t op) {
  using Fn = void (*)(void*, const void*, const void*, size_t);
  Fn fn = nullptr;
  switch (op) {
    case MICS_SUM:
      fn = &gloo::sum<T>;
      break;
    case MICS_PROD:
      fn = &gloo::product<T>;
      break;
    case MICS_MAX:
      fn = &gloo::max<T>;
      break;
    case MICS_MIN:
      fn = &gloo::min<T>;
      break;
    default:
      break;
  }
  return fn ? gloo::AllreduceOptions::Func(fn) : gloo::AllreduceOptions::Func();
}

template <typename T>
const gloo::ReductionFunction<T>* ReductionFn(mics_redop_t op) {
  switch (op) {
    case MICS_SUM:
      return gloo::ReductionFunction<T>::sum;
    case MICS_PROD:
      return gloo::ReductionFunction<T>::product;
    case MICS_MAX:
      return gloo::ReductionFunction<T>::max;
    case MICS_MIN:
      return gloo::ReductionFunction<T>::min;
    default:
      return nullptr;
  }
}

std::string StoreDir() {
  const char* dir = std::getenv("MICS_GLOO_STORE");
  if (dir != nullptr && *dir != '\0') return dir;
  // mics-run draws a fresh secret (and a free port) per job: a directory per job.
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(v != nullptr ? v : "");
  };
  std::string seed = env("MICS_BOOTSTRAP_SECRET") + "/" + env("MASTER_PORT");
  if (seed == "/") return "";
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : seed) h = (h ^ c) * 1099511628211ull;
  char buf[64];
  std::snprintf(buf, sizeof buf, "/tmp/mics-gloo-%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// The job's own rendezvous directory (named by StoreDir): remove its files.
void RemoveStore(const std::string& dir) {
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
        unlink((dir + "/" + e->d_name).c_str());
      }
    }
    closedir(d);
  }
  rmdir(dir.c_str());
}

mics_result_t FillLayout(mics_comm* m) {
  if (m->size == 1) {
    m->node = m->local = 0;
    m->nnodes = m->local_size = 1;
    return MICS_SUCCESS;
  }
  char mine[128] = {0};
  std::snprintf(mine, sizeof mine, "%s", mics_shim::NodeKey().c_str());
  std::vector<char> all(sizeof mine * static_cast<size_t>(m->size));
  mics_result_t r = Guard("gloo::allgather(node keys)", [&] {
    gloo::AllgatherOptions o(m->ctx);
    o.setInput(mine, sizeof mine);
    o.setOutput(all.data(), all.size());
    gloo::allgather(o);
  });
  if (r != MICS_SUCCESS) return r;
  std::vector<std::string> keys;
  for (int i = 0; i < m->size; ++i) keys.emplace_back(&all[sizeof mine * static_cast<size_t>(i)]);
  mics_shim::Layout(keys.data(), m->size, m->rank, &m->node, &m->nnodes, &m->local, &m->local_size);
  return MICS_SUCCESS;
}

mics_result_t Init(mics_comm_t* comm, int rank, int size) {
  if (comm == nullptr) return Fail(MICS_INVALID_ARGUMENT, "comm is NULL");
  auto m = std::make_unique<mics_comm>();
  m->rank = rank;
  m->size = size;
  const char* host = std::getenv("MICS_GLOO_HOST");
  long timeout_ms = 300000;
  if (const char* t = std::getenv("MICS_TIMEOUT_MS")) timeout_ms = std::max(1L, std::atol(t));
  std::string dir = StoreDir();
  if (size > 1 && dir.empty()) {
    return Fail(MICS_INVALID_ARGUMENT,
                "set MICS_GLOO_STORE (rendezvous directory) or launch with mics-run");
  }
  mics_result_t r = Guard("gloo rendezvous", [&] {
    gloo::transport::tcp::attr attr(host && *host ? host : "127.0.0.1");
    m->dev = gloo::transport::tcp::CreateDevice(attr);
    auto ctx = std::make_shared<gloo::rendezvous::Context>(rank, size);
    ctx->setTimeout(std::chrono::milliseconds(timeout_ms));
    if (size > 1) {
      mkdir(dir.c_str(), 0700);  // every rank tries; EEXIST is fine
      gloo::rendezvous::FileStore store(dir);
      ctx->connectFullMesh(store, m->dev);
    }
    m->ctx = ctx;
  });
  if (r != MICS_SUCCESS) return r;
  if (size > 1) {
    // Everyone has connected: the store is no longer needed.
    r = Guard("gloo::barrier", [&] {
      gloo::BarrierOptions o(m->ctx);
      gloo::barrier(o);
    });
    if (r != MICS_SUCCESS) return r;
    if (rank == 0 && std::getenv("MICS_GLOO_STORE") == nullptr) RemoveStore(dir);
  }
  r = FillLayout(m.get());
  if (r != MICS_SUCCESS) return r;
  if (rank == 0) {
    std::printf(
        "# Baseline: Gloo %d.%d.%d (Debian libgloo, TCP transport on %s): gloo::allgather, "
        "ReduceScatterHalvingDoubling, gloo::allreduce (ring), gloo::broadcast "
        "(perf/baselines/gloo_perf.cc; table and timing as mics' perf binaries)\n",
        GLOO_VERSION_MAJOR, GLOO_VERSION_MINOR, GLOO_VERSION_PATCH,
        host && *host ? host : "127.0.0.1");
  }
  *comm = m.release();
  return MICS_SUCCESS;
}

}  // namespace

extern "C" {

mics_result_t mics_get_unique_id(mics_unique_id* id) {
  if (id == nullptr) return Fail(MICS_INVALID_ARGUMENT, "id is NULL");
  std::memset(id, 0, sizeof *id);
  return MICS_SUCCESS;
}

mics_result_t mics_comm_init_rank(mics_comm_t* comm, int nranks, mics_unique_id, int rank) {
  if (nranks != 1 || rank != 0) {
    return Fail(MICS_INVALID_ARGUMENT, "the Gloo baseline takes its ranks from the environment");
  }
  return Init(comm, 0, 1);
}

mics_result_t mics_comm_init_env(mics_comm_t* comm) {
  int rank = 0, size = 0;
  if (!mics_shim::RankFromEnv(&rank, &size)) return MICS_INVALID_ARGUMENT;
  return Init(comm, rank, size);
}

mics_result_t mics_comm_destroy(mics_comm_t comm) {
  delete comm;
  return MICS_SUCCESS;
}

mics_result_t mics_comm_rank(mics_comm_t comm, int* rank) {
  if (comm == nullptr || rank == nullptr) return Fail(MICS_INVALID_ARGUMENT, "NULL argument");
  *rank = comm->rank;
  return MICS_SUCCESS;
}

mics_result_t mics_comm_size(mics_comm_t comm, int* size) {
  if (comm == nullptr || size == nullptr) return Fail(MICS_INVALID_ARGUMENT, "NULL argument");
  *size = comm->size;
  return MICS_SUCCESS;
}

mics_result_t mics_comm_topology(mics_comm_t comm, int* node, int* nnodes, int* local_rank,
                                 int* local_size) {
  if (comm == nullptr) return Fail(MICS_INVALID_ARGUMENT, "comm is NULL");
  if (node) *node = comm->node;
  if (nnodes) *nnodes = comm->nnodes;
  if (local_rank) *local_rank = comm->local;
  if (local_size) *local_size = comm->local_size;
  return MICS_SUCCESS;
}

mics_result_t mics_create_partition_groups(mics_comm_t, int, mics_comm_t*, mics_comm_t*) {
  return Fail(MICS_INVALID_USAGE, "the Gloo baseline has no partition groups (-P)");
}

mics_result_t mics_allgather(const void* send, void* recv, size_t count, mics_datatype_t type,
                             mics_comm_t comm, void*) {
  if (comm == nullptr) return Fail(MICS_INVALID_ARGUMENT, "comm is NULL");
  size_t bytes = count * mics_type_size(type);
  if (bytes == 0) return count == 0 ? MICS_SUCCESS : Fail(MICS_INVALID_ARGUMENT, "bad type");
  char* out = static_cast<char*>(recv);
  bool in_place = send == out + comm->rank * bytes;
  if (comm->size == 1) {
    if (!in_place) std::memcpy(out, send, bytes);
    return MICS_SUCCESS;
  }
  return Guard("gloo::allgather", [&] {
    gloo::AllgatherOptions o(comm->ctx);
    if (!in_place) o.setInput(const_cast<char*>(static_cast<const char*>(send)), bytes);
    o.setOutput(out, bytes * static_cast<size_t>(comm->size));
    gloo::allgather(o);
  });
}

mics_result_t mics_hier_allgather(const void* send, void* recv, size_t count, mics_datatype_t type,
                                  mics_comm_t comm, void* stream) {
  return mics_allgather(send, recv, count, type, comm, stream);  // Gloo has one allgather
}

mics_result_t mics_reduce_scatter(const void* send, void* recv, size_t count, mics_datatype_t type,
                                  mics_redop_t op, mics_comm_t comm, void*) {
  if (comm == nullptr) return Fail(MICS_INVALID_ARGUMENT, "comm is NULL");
  mics_result_t r = MICS_SUCCESS;
  size_t elt = mics_type_size(type);
  size_t bytes = count * elt;
  size_t total = count * static_cast<size_t>(comm->size);
  if (total * elt > 0x7fffffffu) {
    return Fail(MICS_INVALID_ARGUMENT, "Gloo's reduce-scatter counts bytes in an int");
  }
  char* full = const_cast<char*>(static_cast<const char*>(send));
  bool in_place = static_cast<char*>(recv) == full + comm->rank * bytes;
  bool typed = WithType(type, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    const gloo::ReductionFunction<T>* fn = ReductionFn<T>(op);
    if (fn == nullptr) {
      r = Fail(MICS_INVALID_ARGUMENT, "Gloo has no reduction op %d", op);
      return;
    }
    if (count == 0) return;
    if (comm->size == 1) {
      if (!in_place) std::memcpy(recv, send, bytes);
      return;
    }
    auto key = std::make_tuple(static_cast<const void*>(full), count, static_cast<int>(type),
                               static_cast<int>(op));
    auto it = comm->rs_cache.find(key);
    if (it == comm->rs_cache.end()) {
      CachedReduceScatter c;
      if (!in_place) c.scratch.resize(total * elt);
      T* buf = reinterpret_cast<T*>(in_place ? full : c.scratch.data());
      std::vector<int> per_rank(static_cast<size_t>(comm->size), static_cast<int>(count));
      r = Guard("gloo::ReduceScatterHalvingDoubling", [&] {
        c.algo = std::make_unique<gloo::ReduceScatterHalvingDoubling<T>>(
            comm->ctx, std::vector<T*>{buf}, static_cast<int>(total), per_rank, fn);
      });
      if (r != MICS_SUCCESS) return;
      it = comm->rs_cache.emplace(key, std::move(c)).first;
    }
    CachedReduceScatter& c = it->second;
    char* work = in_place ? full : c.scratch.data();
    if (!in_place) std::memcpy(work, send, total * elt);  // the input must stay intact
    r = Guard("gloo::ReduceScatterHalvingDoubling::run", [&] { c.algo->run(); });
    // Gloo leaves this rank's block at the start of the buffer.
    if (r == MICS_SUCCESS && work != recv) std::memmove(recv, work, bytes);
  });
  if (!typed) return Fail(MICS_INVALID_ARGUMENT, "the Gloo baseline does not reduce type %d", type);
  return r;
}

mics_result_t mics_allreduce(const void* send, void* recv, size_t count, mics_datatype_t type,
                             mics_redop_t op, mics_comm_t comm, void*) {
  if (comm == nullptr) return Fail(MICS_INVALID_ARGUMENT, "comm is NULL");
  mics_result_t r = MICS_SUCCESS;
  bool typed = WithType(type, [&](auto* tag) {
    using T = std::remove_pointer_t<decltype(tag)>;
    auto fn = ReduceFunc<T>(op);
    if (!fn) {
      r = Fail(MICS_INVALID_ARGUMENT, "Gloo has no reduction op %d", op);
      return;
    }
    if (count == 0) return;
    if (comm->size == 1) {
      if (send != recv) std::memcpy(recv, send, count * sizeof(T));
      return;
    }
    r = Guard("gloo::allreduce", [&] {
      gloo::AllreduceOptions o(comm->ctx);
      o.setAlgorithm(gloo::AllreduceOptions::Algorithm::RING);
      if (send != recv) o.setInput(const_cast<T*>(static_cast<const T*>(send)), count);
      o.setOutput(static_cast<T*>(recv), count);
      o.setReduceFunction(fn);
      gloo::allreduce(o);
    });
  });
  if (!typed) return Fail(MICS_INVALID_ARGUMENT, "the Gloo baseline does not reduce type %d", type);
  return r;
}

mics_result_t mics_broadcast(const void* send, void* recv, size_t count, mics_datatype_t type,
                             int root, mics_comm_t comm, void*) {
  if (comm == nullptr) return Fail(MICS_INVALID_ARGUMENT, "comm is NULL");
  if (root < 0 || root >= comm->size) return Fail(MICS_INVALID_ARGUMENT, "bad root %d", root);
  size_t bytes = count * mics_type_size(type);
  if (bytes == 0) return count == 0 ? MICS_SUCCESS : Fail(MICS_INVALID_ARGUMENT, "bad type");
  if (comm->size == 1) {
    if (send != recv) std::memcpy(recv, send, bytes);
    return MICS_SUCCESS;
  }
  return Guard("gloo::broadcast", [&] {
    gloo::BroadcastOptions o(comm->ctx);
    o.setRoot(root);
    if (comm->rank == root && send != recv) {
      o.setInput(const_cast<char*>(static_cast<const char*>(send)), bytes);
    }
    o.setOutput(static_cast<char*>(recv), bytes);
    gloo::broadcast(o);
  });
}

mics_result_t mics_barrier(mics_comm_t comm) {
  if (comm == nullptr) return Fail(MICS_INVALID_ARGUMENT, "comm is NULL");
  if (comm->size == 1) return MICS_SUCCESS;
  return Guard("gloo::barrier", [&] {
    gloo::BarrierOptions o(comm->ctx);
    gloo::barrier(o);
  });
}

}  // extern "C"
