"""How PyTorch's OpenMP threads wait between parallel regions, chosen before torch loads (no torch import).

PyTorch runs its CPU operators on OpenMP threads (libgomp on Linux) that, between parallel regions,
spin for a while before sleeping. On CPUs of their own that is what makes many small operators fast;
when other processes keep the same CPUs busy, a thread spins while the one it waits for has been
descheduled, and whole commands slow down several-fold. ``OMP_WAIT_POLICY=PASSIVE`` (sleep at once)
avoids that and costs on idle CPUs. Measured with ``hsr upscale`` ×4 (its run time, 2-core EPYC VM,
torch 2.13.0+cpu, 2026-11-25, alternating runs):

=====================================================  ===============  ===============
                                                        default          PASSIVE
=====================================================  ===============  ===============
shipped sample (90² × 224), idle CPUs                  1.45–2.16 s      1.74–2.36 s
512² × 64 int16, idle CPUs                             12.6–14.1 s      13.3–17.3 s
shipped sample, one busy Python loop on one CPU        3.9–5.4 s        2.45–2.54 s
shipped sample, another PyTorch job on both CPUs       24.9–42.2 s      4.9–6.9 s
=====================================================  ===============  ===============

(``GOMP_SPINCOUNT`` of 10 000 or 30 000 was no middle way: 4.8–5.6 s and 7.5–11.7 s beside the busy
loop.) So ``hsr`` waits passively only when other processes are busy on the CPUs it may use: the
CPU time those CPUs spent (``/proc/stat``) while ``hsr`` started, less its own, over at least
:data:`MIN_WINDOW_S`; :data:`OTHERS_BUSY_CPUS` CPUs or more of it means contention. A busy loop reads
as 0.9–1.2 CPUs over 50–200 ms, idle CPUs as −0.2–0.1. A user's own ``OMP_WAIT_POLICY`` or
``GOMP_SPINCOUNT`` is left alone, and nothing changes once torch is loaded (libgomp reads its
settings when it loads).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

#: Other processes' use of this process's CPUs (in CPUs) from which OpenMP threads wait passively.
OTHERS_BUSY_CPUS = 0.5
#: Shortest window the busy time is measured over (seconds); start-up waits out the rest if shorter.
MIN_WINDOW_S = 0.05
#: Variables with which a user chose the waiting themselves.
USER_SETTINGS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
_PROC_STAT = Path("/proc/stat")


@dataclass(frozen=True)
class CpuSnapshot:
    """Busy ticks of the CPUs this process may run on, its own CPU time (s) and the clock (s)."""

    busy_ticks: int
    own_seconds: float
    clock: float


def snapshot(stat: Path = _PROC_STAT) -> CpuSnapshot | None:
    """Now, or None where there is no ``/proc/stat`` (not Linux) or it cannot be read."""
    try:
        lines = stat.read_text().splitlines()
    except OSError:
        return None
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    busy = 0
    for line in lines:
        name, *values = line.split()
        if not (name.startswith("cpu") and name[3:].isdigit()) or (cpus is not None and int(name[3:]) not in cpus):
            continue
        ticks = [int(v) for v in values[:8]]  # user nice system idle iowait irq softirq steal
        busy += sum(ticks) - ticks[3] - ticks[4]
    return CpuSnapshot(busy, time.process_time(), time.monotonic())


def others_busy(start: CpuSnapshot, end: CpuSnapshot, hz: float) -> float:
    """CPUs' worth of time other processes used this process's CPUs between two snapshots."""
    window = max(end.clock - start.clock, 1e-9)
    return ((end.busy_ticks - start.busy_ticks) / hz - (end.own_seconds - start.own_seconds)) / window


#: Taken when this module is imported (first thing the ``hsrcli`` package does): the start of the window.
STARTED = snapshot()


def choose_wait_policy(start: CpuSnapshot | None = STARTED, environ: dict | None = None,
                       stat: Path = _PROC_STAT) -> str | None:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` in ``environ`` (default ``os.environ``) when other processes are
    busy on this process's CPUs since ``start``; return the policy set, None when nothing was set."""
    env = os.environ if environ is None else environ
    if start is None or "torch" in sys.modules or any(k in env for k in USER_SETTINGS):
        return None
    time.sleep(max(0.0, MIN_WINDOW_S - (time.monotonic() - start.clock)))
    end = snapshot(stat)
    if end is None or others_busy(start, end, os.sysconf("SC_CLK_TCK")) < OTHERS_BUSY_CPUS:
        return None
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    return "PASSIVE"
