"""``hsrcli.io.atomic``: temporary names that name their process; leftovers of killed runs removed."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from rasters import make_cube, write_geotiff

from hsrcli.cli import app
from hsrcli.io.atomic import process_tag, remove_stale, temp_name


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _tag_of(pid: int) -> str:
    mine = process_tag()
    return f"{pid}@{mine.split('@', 1)[1]}"


def test_remove_stale_removes_only_leftovers_of_dead_processes_on_this_host(tmp_path):
    dead = _tag_of(_dead_pid())
    stale_file = tmp_path / f".hsr-accumulator-sum.{dead}.partial"
    stale_dir = tmp_path / f".ds.{dead}.partial"
    stale_file.write_bytes(b"x")
    stale_dir.mkdir()
    (stale_dir / "train_hr.npy").write_bytes(b"x")
    live = temp_name(tmp_path / "out.tif")  # this process: still running
    live.write_bytes(b"x")
    other_host = tmp_path / f".out.{dead.split('@')[0]}@zzzz.0123abcd.partial.tif"
    other_host.write_bytes(b"x")
    user_file = tmp_path / ".something.partial"
    user_file.write_bytes(b"x")
    assert sorted(remove_stale(tmp_path)) == sorted([stale_file, stale_dir])
    assert live.exists() and other_host.exists() and user_file.exists()


def test_upscale_cleans_what_a_killed_run_left_in_the_output_folder(runner, tmp_path):
    src = write_geotiff(tmp_path / "in.tif", make_cube(16, 16, 4, "float32"))
    dead = _tag_of(_dead_pid())
    left = [tmp_path / f".hsr-accumulator-sum.{dead}.partial", tmp_path / f".hsr-accumulator-weight.{dead}.partial",
            tmp_path / f".out.{dead}.partial.tif"]
    for p in left:
        p.write_bytes(b"\0" * 64)
    res = runner.invoke(app, ["upscale", str(src), "-s", "2", "-m", "bicubic", "-o", str(tmp_path / "out.tif"), "-q"])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif", "out.tif"]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_killed_upscale_leaves_nothing_once_the_next_run_is_done(tmp_path, sig):
    src = write_geotiff(tmp_path / "in.tif", np.random.default_rng(0).random((96, 96, 24), dtype=np.float32))
    out = tmp_path / "out.tif"
    cmd = [sys.executable, "-m", "hsrcli", "upscale", str(src), "-s", "4", "-m", "lkca-g_x4", "-o", str(out),
           "--tile", "24", "--device", "cpu", "-q"]
    proc = subprocess.Popen(cmd)
    deadline = time.time() + 60
    while not any(".partial" in p.name for p in tmp_path.iterdir()):
        assert proc.poll() is None and time.time() < deadline, "the run ended before it wrote anything"
        time.sleep(0.05)
    proc.send_signal(sig)
    proc.wait(30)
    assert not out.exists()
    if sig == signal.SIGTERM:  # unwinds: its own temporary files are gone at once
        assert proc.returncode == 128 + sig
        assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif"]
    subprocess.run(cmd, check=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.tif", "out.tif"]
