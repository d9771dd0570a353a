"""What the process may use of the machine (:mod:`hsrcli.io.resources`)."""

from __future__ import annotations

import os

from hsrcli.io import resources


def test_usable_cpus_follow_the_affinity_mask():
    n = resources.usable_cpus()
    assert 1 <= n <= (os.cpu_count() or n)
    if hasattr(os, "sched_getaffinity"):
        assert n == len(os.sched_getaffinity(0))


def test_cgroup_limits_are_read_in_order_and_unlimited_ones_skipped(tmp_path):
    v2, v1 = tmp_path / "memory.max", tmp_path / "memory.limit_in_bytes"
    assert resources.cgroup_memory_limit((v2, v1)) is None  # neither file
    v2.write_text("max\n")
    assert resources.cgroup_memory_limit((v2, v1)) is None  # v2 without a limit
    v1.write_text("2147483648\n")
    assert resources.cgroup_memory_limit((v2, v1)) == 2**31
    v2.write_text("1073741824\n")
    assert resources.cgroup_memory_limit((v2, v1)) == 2**30


def test_usable_memory_is_the_lower_of_ram_and_the_container_limit(monkeypatch):
    ram = resources.physical_memory()
    if ram is not None:
        assert ram > 2**26
    monkeypatch.setattr(resources, "physical_memory", lambda: 8 * 2**30)
    monkeypatch.setattr(resources, "cgroup_memory_limit", lambda: 2 * 2**30)
    assert resources.usable_memory() == 2 * 2**30
    monkeypatch.setattr(resources, "cgroup_memory_limit", lambda: None)
    assert resources.usable_memory() == 8 * 2**30
    monkeypatch.setattr(resources, "physical_memory", lambda: None)
    assert resources.usable_memory() is None
