"""OpenMP's waiting policy: passive only where other processes are busy on this process's CPUs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hsrcli import omp

HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _stat(path: Path, busy: int, idle: int = 1000, extra_cpu_busy: int = 0) -> Path:
    """A /proc/stat with every CPU this process may use at ``busy`` ticks (user) and one CPU it may not."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [0]
    lines = [f"cpu  {busy * len(cpus)} 0 0 {idle * len(cpus)} 0 0 0 0 0 0"]
    lines += [f"cpu{c} {busy} 0 0 {idle} 0 0 0 0 0 0" for c in cpus]
    lines += [f"cpu{max(cpus) + 1} {extra_cpu_busy} 0 0 {idle} 0 0 0 0 0 0", "intr 12345", "ctxt 678"]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_snapshot_counts_busy_ticks_of_this_process_cpus_only(tmp_path):
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    s = omp.snapshot(_stat(tmp_path / "stat", busy=7, extra_cpu_busy=10**6))
    assert s.busy_ticks == 7 * n  # the aggregate "cpu" line and CPUs outside the affinity are left out
    assert omp.snapshot(tmp_path / "missing") is None


def test_others_busy_subtracts_own_cpu_time():
    start = omp.CpuSnapshot(busy_ticks=0, own_seconds=1.0, clock=10.0)
    end = omp.CpuSnapshot(busy_ticks=int(0.15 * HZ), own_seconds=1.05, clock=10.1)  # 150 ms busy, 50 ms ours
    assert omp.others_busy(start, end, HZ) == pytest.approx(1.0)


@pytest.mark.parametrize("others,want", [(1.0, "PASSIVE"), (0.1, None)])
def test_passive_only_when_others_are_busy(tmp_path, monkeypatch, others, want):
    monkeypatch.delitem(sys.modules, "torch", raising=False)  # as in `hsr` before a command loads torch
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    start = omp.CpuSnapshot(busy_ticks=0, own_seconds=time.process_time(), clock=time.monotonic() - 0.2)
    # 0.2 s of window: other processes' busy ticks, spread over this process's CPUs
    stat = _stat(tmp_path / "stat", busy=round(others * 0.2 * HZ / n))
    env: dict[str, str] = {}
    assert omp.choose_wait_policy(start, env, stat) == want
    assert env.get("OMP_WAIT_POLICY") == want


@pytest.mark.parametrize("setting", omp.USER_SETTINGS)
def test_users_own_setting_and_a_loaded_torch_are_left_alone(tmp_path, monkeypatch, setting):
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    start = omp.CpuSnapshot(busy_ticks=0, own_seconds=time.process_time(), clock=time.monotonic() - 0.2)
    busy = _stat(tmp_path / "stat", busy=10**6)
    env = {setting: "ACTIVE" if setting == "OMP_WAIT_POLICY" else "300000"}
    assert omp.choose_wait_policy(start, env, busy) is None and "PASSIVE" not in env.values()
    monkeypatch.setitem(sys.modules, "torch", object())
    assert omp.choose_wait_policy(start, {}, busy) is None
    assert omp.choose_wait_policy(None, {}, busy) is None  # no /proc/stat when hsrcli was imported


@pytest.mark.skipif(not Path("/proc/stat").is_file(), reason="Linux /proc/stat")
def test_hsr_start_up_sees_a_busy_loop_on_its_cpus():
    """A real busy process on this process's CPUs: `hsr`'s start-up (importing hsrcli, then the root
    command's choice) waits passively."""
    cpu = min(os.sched_getaffinity(0))
    loop = subprocess.Popen([sys.executable, "-c", f"import os; os.sched_setaffinity(0, {{{cpu}}})\nwhile True: pass"])
    try:
        time.sleep(0.3)
        code = ("import os, hsrcli.cli\nfrom hsrcli import omp\nos.environ.pop('OMP_WAIT_POLICY', None)\n"
                "print(omp.choose_wait_policy())")
        env = {k: v for k, v in os.environ.items() if k not in omp.USER_SETTINGS}
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
        assert out.stdout.strip() == "PASSIVE"
    finally:
        loop.kill()
        loop.wait()
