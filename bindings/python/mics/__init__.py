"""mics: topology-aware collectives for MiCS-style sharded training.

    import mics.torch                      # registers the "mics" torch.distributed backend
    from mics import Comm, get_unique_id   # the C API on NumPy arrays (mics.core), no torch needed

`import mics` itself loads nothing: libmics and NumPy are loaded on first use of an attribute of
mics.core (PEP 562), so the version can be read, and mics.torch imported, without them.
"""

import importlib

__version__ = "0.1.0"

_CORE_NAMES = (
    "Comm", "MicsError", "MicsArgumentError", "Result", "DataType", "ReduceOp", "Topology",
    "get_unique_id", "version", "supported_dtypes", "BFLOAT16", "SPLIT_NOCOLOR",
)
__all__ = ["__version__", "core", *_CORE_NAMES]


def __getattr__(name):
    if name in _CORE_NAMES:
        return getattr(importlib.import_module(".core", __name__), name)
    if name == "core":
        return importlib.import_module(".core", __name__)
    raise AttributeError("module 'mics' has no attribute %r" % name)


def __dir__():
    return sorted(set(globals()) | set(__all__))
