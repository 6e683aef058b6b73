"""Finds libmics.so, loads it with ctypes and declares the C signatures of include/mics/mics.h.

Search order (the first that exists wins; a MICS_LIBRARY that fails to load is an error, not a
reason to try the next place, so a wrong override never goes unnoticed):
  1. $MICS_LIBRARY                       an explicit path to libmics.so*
  2. <package>/libmics.so.0              the copy a pip install puts beside this file
  3. <package>/../../libmics.so.0        the build-tree package (<build>/python/mics)
  4. $MICS_BUILD_DIR/libmics.so.0, <repo>/build/libmics.so.0   a source checkout
  5. the system loader ("libmics.so.0")  after `cmake --install` to a standard prefix
"""

import ctypes
import os

SONAME = "libmics.so.0"
UNIQUE_ID_BYTES = 128  # MICS_UNIQUE_ID_BYTES

_HERE = os.path.dirname(os.path.abspath(__file__))


class UniqueId(ctypes.Structure):
    _fields_ = [("internal", ctypes.c_char * UNIQUE_ID_BYTES)]


class Config(ctypes.Structure):
    _fields_ = [("size", ctypes.c_size_t), ("version", ctypes.c_uint), ("timeout_ms", ctypes.c_int)]


class LibraryNotFound(ImportError):
    pass


def candidate_paths():
    """The places searched, in order (for loading and for error messages)."""
    paths = [os.path.join(_HERE, SONAME), os.path.join(_HERE, "..", "..", SONAME)]
    build = os.environ.get("MICS_BUILD_DIR")
    if build:
        paths.append(os.path.join(build, SONAME))
    # bindings/python/mics -> repository root
    paths.append(os.path.join(_HERE, "..", "..", "..", "build", SONAME))
    return [os.path.normpath(p) for p in paths]


def _load():
    override = os.environ.get("MICS_LIBRARY")
    if override:
        try:
            return ctypes.CDLL(override, mode=ctypes.RTLD_GLOBAL)
        except OSError as e:
            raise LibraryNotFound("MICS_LIBRARY=%s cannot be loaded: %s" % (override, e)) from e
    tried = []
    for path in candidate_paths():
        if os.path.exists(path):
            # RTLD_GLOBAL: the torch extension (_mics_torch) links libmics.so.0 by soname and
            # must reuse this very copy, not a second one with separate state.
            return ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
        tried.append(path)
    try:
        return ctypes.CDLL(SONAME, mode=ctypes.RTLD_GLOBAL)
    except OSError:
        tried.append(SONAME + " (system loader)")
    raise LibraryNotFound("libmics not found; set MICS_LIBRARY=/path/to/libmics.so, or "
                          "MICS_BUILD_DIR=<cmake build dir>; tried: " + ", ".join(tried))


def _declare(lib):
    c_int, c_size_t, c_void_p, c_char_p = ctypes.c_int, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_char_p
    comm_p = ctypes.POINTER(c_void_p)
    int_p = ctypes.POINTER(c_int)
    signatures = {
        "mics_result_string": (c_char_p, [c_int]),
        "mics_last_error": (c_char_p, [c_void_p]),
        "mics_get_version": (c_int, [int_p]),
        "mics_type_size": (c_size_t, [c_int]),
        "mics_get_unique_id": (c_int, [ctypes.POINTER(UniqueId)]),
        "mics_comm_init_rank": (c_int, [comm_p, c_int, UniqueId, c_int]),
        "mics_comm_init_rank_config": (c_int, [comm_p, c_int, UniqueId, c_int,
                                               ctypes.POINTER(Config)]),
        "mics_comm_init_env": (c_int, [comm_p]),
        "mics_comm_destroy": (c_int, [c_void_p]),
        "mics_comm_abort": (c_int, [c_void_p]),
        "mics_comm_get_async_error": (c_int, [c_void_p, int_p]),
        "mics_comm_rank": (c_int, [c_void_p, int_p]),
        "mics_comm_size": (c_int, [c_void_p, int_p]),
        "mics_comm_topology": (c_int, [c_void_p, int_p, int_p, int_p, int_p]),
        "mics_comm_split": (c_int, [c_void_p, c_int, c_int, comm_p]),
        "mics_create_partition_groups": (c_int, [c_void_p, c_int, comm_p, comm_p]),
        "mics_allgather": (c_int, [c_void_p, c_void_p, c_size_t, c_int, c_void_p, c_void_p]),
        "mics_hier_allgather": (c_int, [c_void_p, c_void_p, c_size_t, c_int, c_void_p, c_void_p]),
        "mics_reduce_scatter": (c_int, [c_void_p, c_void_p, c_size_t, c_int, c_int, c_void_p,
                                        c_void_p]),
        "mics_allreduce": (c_int, [c_void_p, c_void_p, c_size_t, c_int, c_int, c_void_p,
                                   c_void_p]),
        "mics_broadcast": (c_int, [c_void_p, c_void_p, c_size_t, c_int, c_int, c_void_p,
                                   c_void_p]),
        "mics_barrier": (c_int, [c_void_p]),
        "mics_grad_sync": (c_int, [c_void_p, c_void_p, c_size_t, c_int, c_int, c_int, c_void_p,
                                   c_void_p, c_void_p]),
    }
    for name, (restype, argtypes) in signatures.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes
    return lib


lib = _declare(_load())
path = lib._name
