"""What this process may use of the machine: CPUs (its affinity mask) and memory (RAM, or its
container's limit) — the bounds that GDAL's threads and caches and the ENVI copy threads are sized by."""

from __future__ import annotations

import os
from pathlib import Path

#: cgroup files that hold a memory limit in bytes (v2, then v1); "max" or a huge number: none.
CGROUP_MEMORY_LIMITS = (Path("/sys/fs/cgroup/memory.max"), Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one, e.g. under ``taskset`` or
    a container's cpuset), at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def physical_memory() -> int | None:
    """Bytes of RAM of the machine (None where the OS does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # no sysconf (Windows) or no such name
        return None


def cgroup_memory_limit(files: tuple[Path, ...] = CGROUP_MEMORY_LIMITS) -> int | None:
    """The memory limit of this process's container in bytes (cgroup v2 ``memory.max`` or v1
    ``memory.limit_in_bytes``), None where there is none or it cannot be read."""
    for path in files:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit():
            return int(text)
    return None


def usable_memory() -> int | None:
    """Bytes of memory this process may count on: the machine's RAM or its container's limit, whichever
    is lower (None where neither is known)."""
    known = [n for n in (physical_memory(), cgroup_memory_limit()) if n]
    return min(known) if known else None
