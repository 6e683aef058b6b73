/*
 * mics — topology-aware collective communication for MiCS-style sharded training.
 *
 * Plain C99 interface. Every function returns a mics_result_t; on failure,
 * mics_last_error() returns a message that says what was wrong and where
 * (a file:line chain). No function aborts the process or hangs past the
 * communicator's timeout (MICS_TIMEOUT_MS, default 300000 ms).
 *
 * Semantics follow NCCL: all ranks of a communicator call each collective in
 * the same order with matching arguments. Host buffers: pass stream = NULL;
 * the call returns when the collective is complete on this rank. Device
 * buffers (CUDA builds): the call is ordered on `stream` (a cudaStream_t, not
 * NULL) after the work already queued there, returns without waiting for it,
 * and later work on the stream sees the result.
 *
 * Environment:
 *   MICS_DEBUG        WARN (default) | INFO | TRACE        log level (stderr)
 *   MICS_TIMEOUT_MS   positive integer                    bound on every wait
 *   MICS_HOST_ID      string (1..63 chars)                node identity override
 *   MICS_ROOT_ADDR, MICS_ROOT_PORT                         mics_comm_init_env root
 *   MASTER_ADDR, MASTER_PORT                              fallback root (port + 1)
 *   MICS_ROOT_IFACE   interface name                      mics_get_unique_id's address
 *   MICS_BOOTSTRAP_SECRET  string                         shared secret for init_env
 *   MICS_SHM_CHUNK_BYTES, MICS_SHM_SLOTS                  shared-memory channel shape
 *   MICS_SHM_CMA (1|0), MICS_SHM_DIRECT_BYTES, MICS_SHM_SPIN_US  single-copy reads of peers'
 *                     buffers (on/off, from this many bytes per rank); poll before sleeping
 *   MICS_STREAM_BYTES  bytes (default 32 MiB; 0 = off)    out-of-place reduce-scatter blocks from
 *                     this size are written with non-temporal stores
 *   MICS_FI_PROVIDER, MICS_NET_IFACE                      libfabric provider / tcp interface
 *   MICS_NET_CHUNK_BYTES, MICS_NET_SLOTS, MICS_NET_DELAY_US  network channel shape
 *   MICS_ALGO         auto | ring | hier                  algorithm choice
 *   MICS_MODEL_SHM, MICS_MODEL_NET  "alpha_us,GB/s"       cost-model parameters
 *   MICS_TOPO_FILE, MICS_TOPO_DUMP_FILE                   topology from / to hwloc XML
 *   MICS_DUMP_SIGNAL  signal number or name (default USR1; 0 = off): on that signal,
 *                     print the state of every communicator of the process to stderr
 */
#ifndef MICS_MICS_H_
#define MICS_MICS_H_

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MICS_VERSION_MAJOR 0
#define MICS_VERSION_MINOR 1
#define MICS_VERSION_PATCH 0
#define MICS_VERSION_CODE \
  (MICS_VERSION_MAJOR * 10000 + MICS_VERSION_MINOR * 100 + MICS_VERSION_PATCH)

#define MICS_UNIQUE_ID_BYTES 128
/* Opaque rendezvous token: root address + random secret. Copy it to every rank. */
typedef struct {
  char internal[MICS_UNIQUE_ID_BYTES];
} mics_unique_id;

/* Opaque communicator handle. */
typedef struct mics_comm* mics_comm_t;

typedef enum {
  MICS_SUCCESS = 0,
  MICS_INVALID_ARGUMENT, /* a bad value was passed (null pointer, bad type/op/root, ...) */
  MICS_INVALID_USAGE,    /* the call is not allowed now (aborted communicator, ...) */
  MICS_SYSTEM_ERROR,     /* the OS refused (socket, shared memory, ...) */
  MICS_REMOTE_ERROR,     /* a peer failed or went away */
  MICS_TIMEOUT,          /* a wait exceeded the communicator's timeout */
  MICS_CUDA_ERROR,       /* a CUDA call failed */
  MICS_INTERNAL_ERROR,   /* a bug in mics */
  MICS_IN_PROGRESS
} mics_result_t;

typedef enum {
  MICS_INT8,
  MICS_UINT8,
  MICS_INT32,
  MICS_UINT32,
  MICS_INT64,
  MICS_UINT64,
  MICS_FLOAT16,
  MICS_FLOAT32,
  MICS_FLOAT64,
  MICS_BFLOAT16,
  MICS_NUM_TYPES
} mics_datatype_t;

/* Integer reductions wrap around (two's complement); AVG on integers truncates
 * toward zero. FLOAT16/BFLOAT16 are reduced in float32 and rounded once. */
typedef enum { MICS_SUM, MICS_PROD, MICS_MAX, MICS_MIN, MICS_AVG, MICS_NUM_OPS } mics_redop_t;

#define MICS_SPLIT_NOCOLOR (-1)

/* ---- Errors and version ------------------------------------------------ */

/* Name of a result code ("MICS_TIMEOUT", ...); never NULL. */
const char* mics_result_string(mics_result_t r);
/* Detail of the last failure on comm (comm may be NULL: the calling thread's
 * last failure). Never NULL; "" when there was none. Valid until the next call
 * on the same comm/thread. */
const char* mics_last_error(mics_comm_t comm);
/* MICS_VERSION_CODE of the library. INVALID_ARGUMENT: version NULL. */
mics_result_t mics_get_version(int* version);
/* Size in bytes of one element of type; 0 for a bad type. */
size_t mics_type_size(mics_datatype_t type);

/* ---- Communicators ----------------------------------------------------- */

/* Creates a rendezvous point in this process (a listener on an ephemeral port)
 * and writes its id. The listener's address is the first of: MICS_ROOT_ADDR;
 * the address of interface MICS_ROOT_IFACE; this host's address on the route
 * towards MASTER_ADDR (as torchrun sets it: on a cluster, an address the other
 * hosts reach); 127.0.0.1. The listener
 * serves one communicator init and closes after it or after the timeout.
 * INVALID_ARGUMENT: id NULL, or one of those names nothing usable (the message
 * says which). SYSTEM_ERROR: the socket could not be created. */
mics_result_t mics_get_unique_id(mics_unique_id* id);

/* Collective over nranks processes. INVALID_ARGUMENT: comm NULL, nranks < 1,
 * rank outside [0, nranks), malformed id. REMOTE_ERROR: the root refused us
 * (wrong secret, size mismatch). TIMEOUT: the root or a rank did not arrive. */
mics_result_t mics_comm_init_rank(mics_comm_t* comm, int nranks, mics_unique_id id, int rank);

/* Versioned per-communicator settings. Initialise with MICS_CONFIG_INITIALIZER
 * (which records sizeof and the header's version) and change what you need:
 * fields a newer library adds get their defaults for callers built against an
 * older header. A zero field means "from the environment, else the default". */
typedef struct {
  size_t size;          /* sizeof(mics_config) as the caller compiled it */
  unsigned int version; /* MICS_VERSION_CODE as the caller compiled it */
  int timeout_ms;       /* bound on every wait; 0: MICS_TIMEOUT_MS, else 300000 */
} mics_config;
#define MICS_CONFIG_INITIALIZER \
  { sizeof(mics_config), MICS_VERSION_CODE, 0 }

/* mics_comm_init_rank with settings. config may be NULL (all defaults).
 * INVALID_ARGUMENT: as init_rank, or a config whose size/version is not one
 * this library knows, or timeout_ms < 0. Splits inherit the settings. */
mics_result_t mics_comm_init_rank_config(mics_comm_t* comm, int nranks, mics_unique_id id, int rank,
                                         const mics_config* config);

/* Like init_rank with rank/size from RANK/WORLD_SIZE (torchrun) or
 * OMPI_COMM_WORLD_RANK/OMPI_COMM_WORLD_SIZE (mpirun). Rank 0 hosts the root at
 * MICS_ROOT_ADDR:MICS_ROOT_PORT, else MASTER_ADDR:(MASTER_PORT + 1).
 * INVALID_ARGUMENT: comm NULL or a variable missing/malformed. */
mics_result_t mics_comm_init_env(mics_comm_t* comm);

/* Creates the nranks communicators of one job in this process (rank i in
 * comms[i]), one thread per rank, like ncclCommInitAll. Afterwards each comm
 * may be driven by its own thread, concurrently with the others, or all of
 * them by one thread inside mics_group_start/end. devices: NULL for host
 * buffers only; else devices[i] is rank i's CUDA device (several ranks may
 * share one), made current in the thread that creates the rank.
 * INVALID_ARGUMENT: comms NULL, nranks < 1, a device outside the visible ones.
 * CUDA_ERROR: devices given but no usable CUDA device (or a host-only build).
 * INVALID_USAGE: inside a group. On failure every comms[i] is NULL. */
mics_result_t mics_comm_init_all(mics_comm_t* comms, int nranks, const int* devices);

/* Frees everything the communicator holds. Not collective; NULL is a no-op. */
mics_result_t mics_comm_destroy(mics_comm_t comm);

/* Marks the communicator failed and wakes any call in progress on it (from
 * another thread), which returns MICS_INVALID_USAGE; every later call fails
 * at once. Free it with mics_comm_destroy. INVALID_ARGUMENT: comm NULL. */
mics_result_t mics_comm_abort(mics_comm_t comm);

/* *result = the error that made the communicator unusable (a collective that
 * failed half-way, a dead peer, an abort: MICS_INVALID_USAGE), or MICS_SUCCESS.
 * Never blocks. INVALID_ARGUMENT: comm or result NULL. */
mics_result_t mics_comm_get_async_error(mics_comm_t comm, mics_result_t* result);

/* INVALID_ARGUMENT: comm or an out pointer NULL. INVALID_USAGE: after abort or
 * a failure (as every call but destroy, abort and get_async_error). */
mics_result_t mics_comm_rank(mics_comm_t comm, int* rank);
mics_result_t mics_comm_size(mics_comm_t comm, int* size);
/* Nodes are numbered in the order of their lowest rank; local ranks in rank
 * order. Any out pointer may be NULL. INVALID_ARGUMENT: comm NULL. */
mics_result_t mics_comm_topology(mics_comm_t comm, int* node, int* nnodes, int* local_rank,
                                 int* local_size);

/* Collective over comm: ranks with the same color form a new communicator,
 * ordered by (key, parent rank). color MICS_SPLIT_NOCOLOR gives *newcomm = NULL.
 * INVALID_ARGUMENT: comm/newcomm NULL, color < -1. */
mics_result_t mics_comm_split(mics_comm_t comm, int color, int key, mics_comm_t* newcomm);

/* MiCS groups, DeviceMesh order: partition g = ranks [g*p, (g+1)*p),
 * replication group i = {i, i+p, i+2p, ...}. Collective over comm.
 * INVALID_ARGUMENT: p < 1, size % p != 0, null pointers. */
mics_result_t mics_create_partition_groups(mics_comm_t comm, int partition_size,
                                           mics_comm_t* partition, mics_comm_t* replication);

/* ---- Collectives --------------------------------------------------------
 * Common errors: INVALID_ARGUMENT for a NULL comm, NULL buffer with count > 0,
 * bad type/op/root, count * size overflowing size_t, buffers that overlap other
 * than in the documented in-place form, one buffer in host and the other in
 * device memory (or on two devices), host buffers with stream != NULL, device
 * buffers with stream == NULL (the legacy default stream is shared by every
 * rank of a process and would serialise them);
 * INVALID_USAGE after abort or an earlier fatal error; TIMEOUT / REMOTE_ERROR
 * when peers do not arrive or fail. count 0 is a no-op.
 * stream: a cudaStream_t for device buffers; NULL for host buffers. Buffer
 * kinds are detected per call (CUDA builds; a host-only build takes every
 * buffer as host memory). A device-buffer call returns once queued: errors of
 * its execution make the communicator fail and show in
 * mics_comm_get_async_error (and fail its later calls).
 */

/* recvbuf[r*sendcount ...] = rank r's sendbuf. In place: sendbuf == recvbuf + rank*sendcount. */
mics_result_t mics_allgather(const void* sendbuf, void* recvbuf, size_t sendcount,
                             mics_datatype_t type, mics_comm_t comm, void* stream);
/* Same result as mics_allgather; across nodes: parallel inter-node rings, then
 * an intra-node ring (on one node it is the intra-node ring). */
mics_result_t mics_hier_allgather(const void* sendbuf, void* recvbuf, size_t sendcount,
                                  mics_datatype_t type, mics_comm_t comm, void* stream);
/* recvbuf = op over ranks of sendbuf[rank*recvcount ...].
 * In place: recvbuf == sendbuf + rank*recvcount. */
mics_result_t mics_reduce_scatter(const void* sendbuf, void* recvbuf, size_t recvcount,
                                  mics_datatype_t type, mics_redop_t op, mics_comm_t comm,
                                  void* stream);
/* recvbuf = op over ranks of sendbuf. In place: sendbuf == recvbuf. */
mics_result_t mics_allreduce(const void* sendbuf, void* recvbuf, size_t count, mics_datatype_t type,
                             mics_redop_t op, mics_comm_t comm, void* stream);
/* recvbuf = root's sendbuf (sendbuf is read on root only). In place: sendbuf == recvbuf. */
mics_result_t mics_broadcast(const void* sendbuf, void* recvbuf, size_t count, mics_datatype_t type,
                             int root, mics_comm_t comm, void* stream);
/* Returns when every rank of comm has entered the barrier. */
mics_result_t mics_barrier(mics_comm_t comm);

/* ---- Groups ---------------------------------------------------------------
 * Collectives (and mics_grad_sync) called by one thread between
 * mics_group_start and mics_group_end are checked and recorded, not run; the
 * outermost mics_group_end issues them all at once, each communicator's calls
 * in the order made, different communicators concurrently, and returns when
 * all host-buffer calls have completed (device-buffer calls are queued on
 * their streams). This lets one thread drive several ranks of one job (the
 * comms of mics_comm_init_all). Groups nest (only the outermost end issues).
 * Buffers and communicators must stay valid until mics_group_end returns.
 * A grouped mics_grad_sync runs with its partition's calls and also drives its
 * replication group: put no other call on that replication group in the group.
 * A call that fails its checks returns its error at once and cancels the
 * group: mics_group_end then issues nothing and returns that first error.
 * Otherwise mics_group_end returns the first failure of the calls issued
 * (in recording order; a failed communicator's later calls are not issued).
 * Inside a group, split / partition groups / init_all return INVALID_USAGE.
 * mics_group_end without a start: INVALID_USAGE. */
mics_result_t mics_group_start(void);
mics_result_t mics_group_end(void);

/* ---- MiCS two-hop gradient synchronisation ------------------------------
 * Reduce-scatters grads (partition_size * shard_count elements, rank-major)
 * inside `partition` and accumulates the result into shard_accum
 * (shard_count elements): shard_accum = op(shard_accum, reduce-scatter), with
 * AVG and SUM accumulating by addition. When is_boundary != 0 it then
 * all-reduces shard_accum across `replication` (NULL or size 1: nothing to do)
 * and, for MICS_AVG, divides by partition_size * replication_size. Micro-steps
 * that are not a boundary send nothing across replication groups.
 * Zero shard_accum before the first micro-step of an accumulation window.
 * INVALID_ARGUMENT: NULL partition, NULL buffers with shard_count > 0, grads
 * overlapping shard_accum, bad type/op, host buffers with a non-NULL stream,
 * grads and shard_accum of different memory kinds. */
mics_result_t mics_grad_sync(const void* grads, void* shard_accum, size_t shard_count,
                             mics_datatype_t type, mics_redop_t op, int is_boundary,
                             mics_comm_t partition, mics_comm_t replication, void* stream);

#ifdef __cplusplus
}
#endif

#endif /* MICS_MICS_H_ */
