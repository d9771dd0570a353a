"""The background writer of upscale (hsrcli/infer/pipeline.py): order kept, errors raised, bounded."""

from __future__ import annotations

import threading
import time

import pytest

from hsrcli.infer.pipeline import InOrderWorker


def test_calls_run_in_order_in_one_other_thread():
    seen, threads = [], set()

    def work(i):
        time.sleep(0.001 * (i % 3))
        seen.append(i)
        threads.add(threading.get_ident())

    with InOrderWorker(depth=3) as w:
        for i in range(20):
            w.submit(work, i)
    assert seen == list(range(20))
    assert threads and threading.get_ident() not in threads


def test_at_most_depth_calls_wait():
    gate, started = threading.Event(), []

    def work(i):
        started.append(i)
        gate.wait(5)

    w = InOrderWorker(depth=2)
    for i in range(3):
        w.submit(work, i)  # one running, two pending: no wait yet
    t = threading.Thread(target=w.submit, args=(work, 3))
    t.start()
    time.sleep(0.05)
    assert t.is_alive()  # the fourth waits for the first to finish
    gate.set()
    t.join(5)
    w.drain()
    w.close()
    assert started == [0, 1, 2, 3]
    assert w.waited >= 0.04  # the caller's time blocked on the thread is counted


def test_an_error_in_the_thread_reaches_the_caller_and_later_calls_are_dropped():
    ran = []

    def work(i):
        if i == 1:
            raise OSError("disk full")
        ran.append(i)

    with pytest.raises(OSError, match="disk full"), InOrderWorker(depth=1) as w:
        for i in range(50):
            w.submit(work, i)
    assert 1 not in ran and len(ran) < 49


def test_disabled_runs_in_the_callers_thread():
    seen = []
    with InOrderWorker(enabled=False) as w:
        w.submit(lambda: seen.append(threading.get_ident()))
    assert seen == [threading.get_ident()]
