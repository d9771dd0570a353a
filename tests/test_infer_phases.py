"""Seconds per phase of upscale (hsrcli/infer/phases.py)."""

from __future__ import annotations

import threading
import time

import pytest

from hsrcli.infer.phases import PHASES, PhaseClock


def test_blocks_and_generators_are_timed_per_phase():
    clock = PhaseClock()
    with clock("read"):
        time.sleep(0.02)

    def slow():
        for i in range(3):
            time.sleep(0.01)  # the generator's own work: counted
            yield i

    for _ in clock.iterate("model", slow()):
        time.sleep(0.02)  # the consumer's work: not counted as model
    seconds = clock.as_dict()
    assert list(seconds) == ["read", "model"]  # PHASES order, only the phases that ran
    assert 0.02 <= seconds["read"] < 0.2
    assert 0.03 <= seconds["model"] < 0.06


def test_threads_add_up_and_unknown_phases_are_refused():
    clock = PhaseClock()
    threads = [threading.Thread(target=lambda: [clock.add("store", 0.001) for _ in range(1000)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert clock.as_dict() == {"store": pytest.approx(4.0)}
    with pytest.raises(ValueError, match="unknown phase"):
        clock.add("sleep", 1.0)
    assert set(PHASES) == {"stats", "read", "model", "store", "write", "wait"}
