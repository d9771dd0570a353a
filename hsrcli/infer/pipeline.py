"""Work done behind the model: one background thread that runs calls in the order they were given.

``hsr upscale`` hands every finished band range of a tile to :class:`InOrderWorker`, which
accumulates or finishes and writes it (numpy and file I/O, which release the GIL) while the
model computes the next one. One thread keeps the order, so results are the same to the bit as
without it; at most ``depth`` calls wait, so at most ``depth + 1`` outputs are held beyond the
one being computed. An error in the thread is raised in the caller at its next ``submit`` or
at :meth:`InOrderWorker.drain`.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any


class InOrderWorker:
    """Run ``fn(*args)`` calls in one background thread, in submission order, ``depth`` pending at most."""

    def __init__(self, depth: int = 2, name: str = "hsr-writer", enabled: bool = True) -> None:
        if depth < 1:
            raise ValueError("depth must be >= 1")
        self.depth = depth
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name) if enabled else None
        self._pending: deque[Future] = deque()
        #: seconds the caller spent blocked on the thread (in :meth:`submit` and :meth:`drain`)
        self.waited = 0.0

    def submit(self, fn: Callable[..., Any], *args: Any) -> None:
        """Queue ``fn(*args)``; waits while more than ``depth`` calls are pending (re-raising their errors).
        Disabled: runs it now, in the caller's thread."""
        if self._pool is None:
            fn(*args)
            return
        self._pending.append(self._pool.submit(fn, *args))
        self._wait(self.depth)

    def drain(self) -> None:
        """Wait for every queued call; the first error is raised."""
        self._wait(0)

    def _wait(self, left: int) -> None:
        """Wait until at most ``left`` calls are pending (re-raising their errors), timing it."""
        t0 = time.perf_counter()
        try:
            while len(self._pending) > left:
                self._pending.popleft().result()
        finally:
            self.waited += time.perf_counter() - t0

    def close(self) -> None:
        """Drop the calls not started and wait for the one running (after an error elsewhere, say)."""
        for f in self._pending:
            f.cancel()
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> InOrderWorker:  # noqa: PYI034 - final class
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if exc_type is None:
                self.drain()
        finally:
            self.close()
