"""Process-wide tuning of the C allocator for large, short-lived tensors (no torch import).

PyTorch has no caching allocator on CPU: every activation of a large tile (several MB)
is served by glibc with a fresh ``mmap`` that the kernel zero-fills page by page, and
``munmap``-ed when freed. Measured on 2 cores with ``lkca-g_x4`` on 201² LR tiles
(64 bands), that page-fault traffic took ~1 s of system time per 6 s of forward and
made large tiles ~25 % slower per pixel than small ones; with the thresholds below the
blocks stay in the heap and are reused, and the speed per pixel is flat up to 512² LR
(see ``hsrcli.infer.tileplan.CPU_SPEED``). Peak RSS is still the peak working set.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

#: glibc ``mallopt`` parameter numbers (``malloc.h``).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
#: Blocks up to this size come from the heap, and this much freed memory may stay in it (bytes).
RETAIN_FREED_BYTES = 1 << 30


def _glibc(name: str):
    """The glibc function ``name``, or None where there is none (macOS, Windows, musl)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), name)
    except (OSError, AttributeError):
        return None


def retain_freed_memory(limit: int = RETAIN_FREED_BYTES) -> bool:
    """Raise glibc's mmap and trim thresholds to ``limit`` bytes; True if applied.

    A no-op returning False where there is no glibc ``mallopt`` (macOS, Windows, musl).
    """
    mallopt = _glibc("mallopt")
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, limit)) and bool(mallopt(_M_TRIM_THRESHOLD, limit))


def release_freed_memory() -> bool:
    """Hand the heap's free pages back to the system (glibc ``malloc_trim(0)``); True if any were.

    For a phase boundary after which the working set changes shape (the stages of a cascade,
    :mod:`hsrcli.infer.staged`): blocks :func:`retain_freed_memory` kept for one stage's tiles would
    otherwise stay beside the next stage's, which reuses them only in part. A no-op returning False
    without glibc.
    """
    trim = _glibc("malloc_trim")
    if trim is None:
        return False
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return bool(trim(0))
