"""A small Pythonic API over the C functions of libmics, on NumPy arrays.

Buffers are host NumPy arrays, C-contiguous, of a supported dtype; shapes are free (counts are
taken from .size, in C order). In-place forms are the C ones, written with views: e.g.
``comm.allgather(out[r*n:(r+1)*n], out)`` or ``comm.allreduce(a, a)``. Every call blocks until
the collective is complete on this rank; ctypes releases the GIL meanwhile, so another thread
may call ``abort()``. Failures raise MicsError (argument checks done here raise its subclass
MicsArgumentError, also a ValueError).
"""

import collections
import ctypes
import enum

import numpy as np

from . import _lib

_C = _lib.lib
_HEADER_VERSION_CODE = 100  # MICS_VERSION_CODE of the header these bindings mirror (0.1.0)
SPLIT_NOCOLOR = -1


class Result(enum.IntEnum):
    SUCCESS = 0
    INVALID_ARGUMENT = 1
    INVALID_USAGE = 2
    SYSTEM_ERROR = 3
    REMOTE_ERROR = 4
    TIMEOUT = 5
    CUDA_ERROR = 6
    INTERNAL_ERROR = 7
    IN_PROGRESS = 8


class DataType(enum.IntEnum):
    INT8 = 0
    UINT8 = 1
    INT32 = 2
    UINT32 = 3
    INT64 = 4
    UINT64 = 5
    FLOAT16 = 6
    FLOAT32 = 7
    FLOAT64 = 8
    BFLOAT16 = 9


class ReduceOp(enum.IntEnum):
    SUM = 0
    PROD = 1
    MAX = 2
    MIN = 3
    AVG = 4


Topology = collections.namedtuple("Topology", "node nnodes local_rank local_size")


def _bfloat16_dtype():
    try:
        import ml_dtypes  # optional: NumPy has no bfloat16 of its own
    except ImportError:
        return None
    return np.dtype(ml_dtypes.bfloat16)


_DTYPES = {
    np.dtype(np.int8): DataType.INT8,
    np.dtype(np.uint8): DataType.UINT8,
    np.dtype(np.int32): DataType.INT32,
    np.dtype(np.uint32): DataType.UINT32,
    np.dtype(np.int64): DataType.INT64,
    np.dtype(np.uint64): DataType.UINT64,
    np.dtype(np.float16): DataType.FLOAT16,
    np.dtype(np.float32): DataType.FLOAT32,
    np.dtype(np.float64): DataType.FLOAT64,
}
BFLOAT16 = _bfloat16_dtype()  # numpy dtype of ml_dtypes.bfloat16, or None without ml_dtypes
if BFLOAT16 is not None:
    _DTYPES[BFLOAT16] = DataType.BFLOAT16


def supported_dtypes():
    """The NumPy dtypes the collectives accept (bfloat16 only when ml_dtypes is installed)."""
    return list(_DTYPES)


class MicsError(RuntimeError):
    """A mics call failed. .result is a Result, .name its C name, .detail mics_last_error()."""

    def __init__(self, result, detail, call):
        self.result = Result(result)
        self.name = _C.mics_result_string(int(result)).decode()
        self.detail = detail
        self.call = call
        super().__init__("%s: %s: %s" % (call, self.name, detail or "(no detail)"))


class MicsArgumentError(MicsError, ValueError):
    """An argument was refused by the checks done in Python, before calling the library."""

    def __init__(self, detail, call):
        super().__init__(Result.INVALID_ARGUMENT, detail, call)


def _check(result, call, comm_handle=None):
    if result != Result.SUCCESS:
        raise MicsError(result, _C.mics_last_error(comm_handle).decode(errors="replace"), call)


def version():
    """(major, minor, patch) of the loaded libmics."""
    code = ctypes.c_int()
    _check(_C.mics_get_version(ctypes.byref(code)), "mics_get_version")
    return code.value // 10000, code.value // 100 % 100, code.value % 100


def get_unique_id():
    """A rendezvous token (bytes, 128) hosted by this process; give it to every rank."""
    uid = _lib.UniqueId()
    _check(_C.mics_get_unique_id(ctypes.byref(uid)), "mics_get_unique_id")
    return ctypes.string_at(ctypes.addressof(uid), _lib.UNIQUE_ID_BYTES)


def _reduce_op(op, call):
    if isinstance(op, str):
        try:
            return ReduceOp[op.upper()]
        except KeyError:
            raise MicsArgumentError("unknown op %r (sum, prod, max, min, avg)" % op, call) from None
    try:
        return ReduceOp(op)
    except ValueError:
        raise MicsArgumentError("unknown op %r" % (op,), call) from None


def _datatype(array, name, call):
    if not isinstance(array, np.ndarray):
        raise MicsArgumentError("%s must be a numpy.ndarray, not %s" % (name, type(array).__name__),
                                call)
    dtype = _DTYPES.get(array.dtype)
    if dtype is None:
        hint = " (install ml_dtypes for bfloat16)" if array.dtype.name == "bfloat16" else ""
        raise MicsArgumentError("%s has unsupported dtype %s%s" % (name, array.dtype, hint), call)
    if not array.flags.c_contiguous:
        raise MicsArgumentError("%s is not C-contiguous (use numpy.ascontiguousarray)" % name, call)
    return dtype


def _output(array, name, like, call):
    """Checks an output buffer: writable and of the same dtype as the input `like`."""
    dtype = _datatype(array, name, call)
    if not array.flags.writeable:
        raise MicsArgumentError("%s is read-only" % name, call)
    if array.dtype != like.dtype:
        raise MicsArgumentError("%s has dtype %s but the input has %s" % (name, array.dtype,
                                                                          like.dtype), call)
    return dtype


def _need_size(array, name, expected, call):
    if array.size != expected:
        raise MicsArgumentError("%s has %d elements, expected %d" % (name, array.size, expected),
                                call)


class Comm:
    """A mics communicator. Create with Comm.init_rank / Comm.init_env, or split an existing
    one; free with destroy() (or a `with` block); garbage collection destroys it too."""

    def __init__(self, handle):
        self._handle = ctypes.c_void_p(handle)
        rank, size = ctypes.c_int(), ctypes.c_int()
        _check(_C.mics_comm_rank(self._handle, ctypes.byref(rank)), "mics_comm_rank", self._handle)
        _check(_C.mics_comm_size(self._handle, ctypes.byref(size)), "mics_comm_size", self._handle)
        self.rank, self.size = rank.value, size.value

    # ---- creation ----
    @classmethod
    def init_rank(cls, nranks, unique_id, rank, timeout_ms=None):
        """Collective over nranks processes that share unique_id (from get_unique_id())."""
        call = "mics_comm_init_rank"
        if not isinstance(unique_id, (bytes, bytearray)) or len(unique_id) != _lib.UNIQUE_ID_BYTES:
            raise MicsArgumentError("unique_id must be %d bytes from get_unique_id()" %
                                    _lib.UNIQUE_ID_BYTES, call)
        uid = _lib.UniqueId.from_buffer_copy(bytes(unique_id))
        config = _lib.Config(ctypes.sizeof(_lib.Config), _HEADER_VERSION_CODE, timeout_ms or 0)
        handle = ctypes.c_void_p()
        _check(_C.mics_comm_init_rank_config(ctypes.byref(handle), int(nranks), uid, int(rank),
                                             ctypes.byref(config)), call)
        return cls(handle.value)

    @classmethod
    def init_env(cls):
        """From RANK/WORLD_SIZE + MASTER_ADDR/MASTER_PORT (torchrun, mics-run) or mpirun's."""
        handle = ctypes.c_void_p()
        _check(_C.mics_comm_init_env(ctypes.byref(handle)), "mics_comm_init_env")
        return cls(handle.value)

    def split(self, color, key=0):
        """Ranks with equal color form a new Comm (ordered by key, then rank); color None gives
        None (this rank joins no group)."""
        handle = ctypes.c_void_p()
        c = SPLIT_NOCOLOR if color is None else int(color)
        self._call("mics_comm_split", _C.mics_comm_split(self._h(), c, int(key),
                                                         ctypes.byref(handle)))
        return Comm(handle.value) if handle.value else None

    def partition_groups(self, partition_size):
        """(partition, replication): MiCS groups in DeviceMesh order (partition g = ranks
        [g*p, (g+1)*p), replication group i = {i, i+p, ...})."""
        part, repl = ctypes.c_void_p(), ctypes.c_void_p()
        self._call("mics_create_partition_groups",
                   _C.mics_create_partition_groups(self._h(), int(partition_size),
                                                   ctypes.byref(part), ctypes.byref(repl)))
        return Comm(part.value), Comm(repl.value)

    # ---- queries ----
    def topology(self):
        """Topology(node, nnodes, local_rank, local_size) of this rank in this communicator."""
        v = [ctypes.c_int() for _ in range(4)]
        self._call("mics_comm_topology", _C.mics_comm_topology(self._h(), *map(ctypes.byref, v)))
        return Topology(*(x.value for x in v))

    def async_error(self):
        """The Result that made this communicator unusable, or Result.SUCCESS (never blocks)."""
        r = ctypes.c_int()
        self._call("mics_comm_get_async_error",
                   _C.mics_comm_get_async_error(self._h(), ctypes.byref(r)))
        return Result(r.value)

    @property
    def handle(self):
        """The mics_comm_t as an integer (0 once destroyed)."""
        return self._handle.value or 0

    # ---- collectives ----
    def allgather(self, send, out=None):
        """out[r*n:(r+1)*n] = rank r's send (n = send.size). Returns out (allocated if None)."""
        return self._allgather(_C.mics_allgather, "mics_allgather", send, out)

    def hier_allgather(self, send, out=None):
        """As allgather; across nodes: inter-node rings, then the intra-node ring."""
        return self._allgather(_C.mics_hier_allgather, "mics_hier_allgather", send, out)

    def reduce_scatter(self, send, out=None, op=ReduceOp.SUM):
        """out = op over ranks of send[rank*n:(rank+1)*n], n = send.size / size."""
        call = "mics_reduce_scatter"
        dtype, red = _datatype(send, "send", call), _reduce_op(op, call)
        if send.size % self.size:
            raise MicsArgumentError("send has %d elements, not a multiple of the %d ranks" %
                                    (send.size, self.size), call)
        n = send.size // self.size
        out = np.empty(n, send.dtype) if out is None else out
        _output(out, "out", send, call)
        _need_size(out, "out", n, call)
        self._call(call, _C.mics_reduce_scatter(send.ctypes.data, out.ctypes.data, n, dtype, red,
                                                self._h(), None))
        return out

    def allreduce(self, send, out=None, op=ReduceOp.SUM):
        """out = op over ranks of send; pass out=send for in place."""
        call = "mics_allreduce"
        dtype, red = _datatype(send, "send", call), _reduce_op(op, call)
        out = np.empty_like(send) if out is None else out
        _output(out, "out", send, call)
        _need_size(out, "out", send.size, call)
        self._call(call, _C.mics_allreduce(send.ctypes.data, out.ctypes.data, send.size, dtype,
                                           red, self._h(), None))
        return out

    def broadcast(self, buf, root=0, out=None):
        """out = root's buf; in place on buf when out is None (buf is read on root only)."""
        call = "mics_broadcast"
        dtype = _datatype(buf, "buf", call)
        out = buf if out is None else out
        _output(out, "out" if out is not buf else "buf", buf, call)
        _need_size(out, "out", buf.size, call)
        self._call(call, _C.mics_broadcast(buf.ctypes.data, out.ctypes.data, buf.size, dtype,
                                           int(root), self._h(), None))
        return out

    def barrier(self):
        self._call("mics_barrier", _C.mics_barrier(self._h()))

    def grad_sync(self, grads, shard_accum, is_boundary, replication=None, op=ReduceOp.AVG):
        """MiCS two-hop sync with this Comm as the partition group: reduce-scatter grads
        (size * shard_accum.size elements) and accumulate into shard_accum; at the boundary,
        all-reduce shard_accum across `replication` (a Comm or None). Zero shard_accum before
        the first micro-step of a window."""
        call = "mics_grad_sync"
        dtype, red = _datatype(grads, "grads", call), _reduce_op(op, call)
        _output(shard_accum, "shard_accum", grads, call)
        _need_size(grads, "grads", self.size * shard_accum.size, call)
        repl = replication._h() if replication is not None else None
        self._call(call, _C.mics_grad_sync(grads.ctypes.data, shard_accum.ctypes.data,
                                           shard_accum.size, dtype, red, 1 if is_boundary else 0,
                                           self._h(), repl, None))
        return shard_accum

    # ---- lifetime ----
    def abort(self):
        """Fails any call in progress on this Comm (from another thread) and every later one."""
        self._call("mics_comm_abort", _C.mics_comm_abort(self._h()))

    def destroy(self):
        """Frees the communicator (not collective); later calls raise. Idempotent."""
        handle, self._handle = self._handle, ctypes.c_void_p()
        if handle.value:
            _check(_C.mics_comm_destroy(handle), "mics_comm_destroy")

    close = destroy

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.destroy()

    def __del__(self):
        try:
            self.destroy()
        except Exception:  # at interpreter exit the module may be half torn down
            pass

    def __repr__(self):
        return "<mics.Comm rank %d of %d%s>" % (self.rank, self.size,
                                               "" if self.handle else ", destroyed")

    # ---- helpers ----
    def _h(self):
        if not self._handle.value:
            raise MicsError(Result.INVALID_USAGE, "the communicator was destroyed", "mics.Comm")
        return self._handle

    def _call(self, call, result):
        _check(result, call, self._handle)

    def _allgather(self, fn, call, send, out):
        dtype = _datatype(send, "send", call)
        out = np.empty(send.size * self.size, send.dtype) if out is None else out
        _output(out, "out", send, call)
        _need_size(out, "out", send.size * self.size, call)
        self._call(call, fn(send.ctypes.data, out.ctypes.data, send.size, dtype, self._h(), None))
        return out
