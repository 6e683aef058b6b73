"""Registers the "mics" torch.distributed backend (importing this module is enough).

    import torch.distributed as dist
    import mics.torch  # noqa: F401
    dist.init_process_group("mics")                      # CPU and CUDA tensors
    dist.init_process_group("cpu:mics,cuda:nccl")        # mics for CPU tensors only
    dist.new_group([0, 2], backend="mics")               # subgroups get their own communicator

The backend itself is the C++ extension _mics_torch (bindings/torch). It is found beside this
file (pip install), else in a CMake build tree built with -DMICS_BUILD_TORCH=ON:
$MICS_BUILD_DIR/python/mics, then <repo>/build/python/mics.
"""

import glob
import importlib.machinery
import importlib.util
import os
import sys

import torch.distributed as dist

BACKEND_NAME = "mics"
_HERE = os.path.dirname(os.path.abspath(__file__))


def _extension_dirs():
    dirs = [_HERE]
    build = os.environ.get("MICS_BUILD_DIR")
    if build:
        dirs.append(os.path.join(build, "python", "mics"))
    dirs.append(os.path.join(_HERE, "..", "..", "..", "build", "python", "mics"))
    return [os.path.normpath(d) for d in dirs]


def _load_extension():
    """Imports _mics_torch from the first directory of _extension_dirs() that has it."""
    name = __package__ + "._mics_torch"
    if name in sys.modules:
        return sys.modules[name]
    for directory in _extension_dirs():
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(directory, "_mics_torch" + suffix)
            if not os.path.exists(path):
                continue
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[name]
                raise
            return module
    found = [p for d in _extension_dirs() for p in glob.glob(os.path.join(d, "_mics_torch*"))]
    hint = (" Found %s, built for another Python or platform (this one takes %s)."
            % (", ".join(found), ", ".join(importlib.machinery.EXTENSION_SUFFIXES))
            if found else "")
    raise ImportError(
        "mics.torch: the extension _mics_torch is not built. Build it with "
        "`cmake -DMICS_BUILD_TORCH=ON -DMICS_TORCH_PYTHON=%s` (or pip install the package), "
        "or set MICS_BUILD_DIR to the build directory. Searched: %s.%s"
        % (sys.executable, ", ".join(_extension_dirs()), hint))


_ext = _load_extension()
MicsBackend = _ext.MicsBackend


def create_backend(dist_backend_opts, backend_options=None):
    """The factory torch.distributed calls (extended_api=True) for each group using mics.

    dist_backend_opts carries store (the group's PrefixStore), group_rank, group_size, timeout
    (a timedelta), group_id and global_ranks_in_group. backend_options (the pg_options of
    init_process_group/new_group) is accepted only as None: mics has no per-group options yet.
    """
    if backend_options is not None:
        raise ValueError("mics backend: pg_options/backend_options are not supported (got %r)"
                         % (backend_options,))
    opts = dist_backend_opts
    return MicsBackend(opts.store, opts.group_rank, opts.group_size,
                       opts.timeout.total_seconds(), str(opts.group_id),
                       list(opts.global_ranks_in_group))


def register():
    """Registers the backend once (later calls, e.g. re-imports, do nothing)."""
    if BACKEND_NAME.upper() in getattr(dist.Backend, "_plugins", {}):
        return
    dist.Backend.register_backend(BACKEND_NAME, create_backend, extended_api=True,
                                  devices=["cpu", "cuda"])


register()
