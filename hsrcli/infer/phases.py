"""Where the time of one ``hsr upscale`` run goes: seconds per phase, summed over its tiles.

``hsr upscale --json`` reports them as ``phases`` so that a slow run shows what it waited on
(reading, the model, storing the output) and ``benchmarks/upscale_speed.py`` prints them. Each
phase is timed in the thread that runs it; the writer thread works behind the model when the
model is not on the CPU, so phases may overlap and their sum may exceed the run time.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")

#: The phases of ``hsr upscale``, in the order they are reported.
PHASES = {
    "stats": "per-band statistics of the scene (one streamed pass)",
    "read": "LR tiles read, mirrored past the borders and filled",
    "model": "the model on every tile, and its output copied to the host",
    "store": "tile outputs finished (nodata, cast) and written, or accumulated",
    "write": "accumulated outputs blended, finished and written strip by strip",
    "wait": "the model's thread waiting for the writer thread",
}


class PhaseClock:
    """Seconds per phase (thread-safe)."""

    def __init__(self) -> None:
        self._seconds: dict[str, float] = defaultdict(float)
        self._lock = threading.Lock()

    def add(self, phase: str, seconds: float) -> None:
        if phase not in PHASES:
            raise ValueError(f"unknown phase {phase!r}")
        with self._lock:
            self._seconds[phase] += seconds

    @contextmanager
    def __call__(self, phase: str) -> Iterator[None]:
        """Time the ``with`` block as ``phase``."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.add(phase, time.perf_counter() - t0)

    def iterate(self, phase: str, items: Iterable[T]) -> Iterator[T]:
        """``items`` with the time spent producing each (a generator's work) counted as ``phase``."""
        it = iter(items)
        while True:
            t0 = time.perf_counter()
            try:
                item = next(it)
            except StopIteration:
                self.add(phase, time.perf_counter() - t0)
                return
            self.add(phase, time.perf_counter() - t0)
            yield item

    def as_dict(self) -> dict[str, float]:
        """Seconds of every phase that ran, in :data:`PHASES` order."""
        with self._lock:
            return {p: self._seconds[p] for p in PHASES if p in self._seconds}
