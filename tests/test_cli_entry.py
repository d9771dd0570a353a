"""The installed entry points: ``hsr``/``python -m hsrcli``, fast help and version."""

from __future__ import annotations

import json
import subprocess
import sys

from rasters import ROOT, SAMPLE_HDR


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    return out.stdout


def test_help_and_version_do_not_import_torch():
    probe = (
        "import sys\n"
        "from hsrcli.cli import app\n"
        "for args in (['--help'], ['--version'], ['info', '--help']):\n"
        "    try:\n"
        "        app(args, prog_name='hsr')\n"
        "    except SystemExit as e:\n"
        "        assert e.code in (0, None), e.code\n"
        "print('HEAVY', sorted(m for m in ('torch', 'rasterio', 'spectral', 'matplotlib') if m in sys.modules))\n"
    )
    out = _run(probe)
    assert "HEAVY []" in out
    assert "Usage" in out and "hsr " in out


def test_python_dash_m_runs_info_on_the_sample():
    out = subprocess.run([sys.executable, "-m", "hsrcli", "info", str(SAMPLE_HDR), "--json"],
                         capture_output=True, text=True, check=True)
    d = json.loads(out.stdout)
    assert (d["rows"], d["cols"], d["bands"]) == (90, 90, 224)


def test_io_layer_never_imports_torch():
    out = _run("import sys, hsrcli.io as io\n"
               f"s = io.open_scene(r'{SAMPLE_HDR}')\n"
               "s.read()\n"
               "print('TORCH', 'torch' in sys.modules)\n")
    assert "TORCH False" in out


def test_the_entry_point_exits_with_the_command_status_and_flushed_output(tmp_path):
    """``main`` ends the process without the interpreter's teardown: the status is the command's
    (0, 2 on bad input, 2 on a usage error), piped output arrives whole, atexit handlers run."""
    ok = subprocess.run([sys.executable, "-m", "hsrcli", "info", str(SAMPLE_HDR), "--json"], capture_output=True,
                        text=True, check=False)
    assert ok.returncode == 0 and json.loads(ok.stdout)["bands"] == 224
    bad = subprocess.run([sys.executable, "-m", "hsrcli", "info", str(tmp_path / "none.hdr")], capture_output=True,
                         text=True, check=False)
    assert bad.returncode == 2 and "hsr: error:" in bad.stderr and bad.stdout == ""
    usage = subprocess.run([sys.executable, "-m", "hsrcli", "upscale", "x", "-s", "9"], capture_output=True, text=True,
                           check=False)
    assert usage.returncode == 2 and "9 is not one of" in usage.stderr
    marker = tmp_path / "atexit.txt"
    code = ("import atexit, sys\n"
            f"atexit.register(lambda: open({str(marker)!r}, 'w').write('ran'))\n"
            "from hsrcli.cli import _exit\n"
            "print('buffered', end='')\n"
            "_exit(sys.argv[1] if sys.argv[1] != '3' else 3)\n")
    for arg, status in (("3", 3), ("a message", 1)):
        marker.unlink(missing_ok=True)
        out = subprocess.run([sys.executable, "-c", code, arg], capture_output=True, text=True, check=False)
        assert out.returncode == status and out.stdout == "buffered" and marker.read_text() == "ran"
        assert ("a message" in out.stderr) == (status == 1)


def test_metrics_and_compare_run_without_torch(tmp_path):
    """``hsr metrics`` and ``hsr compare`` are NumPy only: they run with ``import torch`` made to fail (the
    ~1.4 s of importing it was most of ``hsr metrics``' time on a 512² × 31 pair)."""
    probe = (
        "import sys\n"
        "sys.modules['torch'] = None  # any 'import torch' now raises ImportError\n"
        "from hsrcli.cli import app\n"
        f"for args in (['metrics', r'{SAMPLE_HDR}', r'{SAMPLE_HDR}', '--json', '-q'],\n"
        f"             ['compare', r'{SAMPLE_HDR}', r'{SAMPLE_HDR}', '-o', r'{tmp_path / 'c.png'}', '-q']):\n"
        "    try:\n"
        "        app(args, prog_name='hsr', standalone_mode=False)\n"
        "    except SystemExit as e:\n"
        "        assert e.code in (0, None), e.code\n"
        "print('DONE')\n"
    )
    out = _run(probe)
    assert out.rstrip().endswith("DONE") and '"psnr_global": 100.0' in out
    assert (tmp_path / "c.png").stat().st_size > 0
