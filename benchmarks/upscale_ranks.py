"""Scaling of ``hsr upscale`` over several scenes with ``torchrun`` ranks (issue #14).

Writes ``--scenes`` synthetic int16 ENVI scenes of ``--size``² LR pixels × ``--bands`` bands, then
upscales them all ×4 with the default model (or ``--model``) once per rank count in ``--ranks``:
1 is a plain ``hsr upscale`` process, N > 1 is ``torchrun --standalone --nproc_per_node N -m hsrcli
upscale``. The cores are split evenly (``OMP_NUM_THREADS`` = cores / ranks); on a GPU machine
(``--device cuda``) every rank uses the one GPU. Prints wall time (start-up included), scenes per
minute and the speed-up over one rank, with the machine it ran on.

    python benchmarks/upscale_ranks.py                        # 4 scenes of 128² x 32, ranks 1 and 2
    python benchmarks/upscale_ranks.py --ranks 1 2 4 --device cuda
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from upscale_memory import make_scene

ROOT = Path(__file__).resolve().parents[1]


def machine(device: str) -> str:
    import torch

    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    gpu = f" | {torch.cuda.get_device_name()}" if device.startswith("cuda") and torch.cuda.is_available() else ""
    return f"{platform.node()} | {cpu} | {os.cpu_count()} cores (affinity {len(os.sched_getaffinity(0))}){gpu} | " \
           f"torch {torch.__version__}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenes", type=int, default=4)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--bands", type=int, default=32)
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--model", default=None)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    cores = len(os.sched_getaffinity(0))
    print(f"machine: {machine(a.device)}")
    print(f"{a.scenes} scenes of {a.size}^2 x {a.bands} LR, x4, model {a.model or 'default'}, device {a.device}")
    with tempfile.TemporaryDirectory() as tmp:
        srcs = []
        for k in range(a.scenes):
            srcs.append(Path(tmp) / f"s{k}.hdr")
            make_scene(srcs[-1], a.size, a.bands)
        base = None
        for n in a.ranks:
            out = Path(tmp) / f"out{n}"
            out.mkdir()
            args = [*map(str, srcs), "-s", "4", "-o", str(out), "--device", a.device, "-q",
                    *(["-m", a.model] if a.model else [])]
            launcher = [sys.executable, "-m", "hsrcli", "upscale"] if n == 1 else \
                [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(n), "-m",
                 "hsrcli", "upscale"]
            env = dict(os.environ, OMP_NUM_THREADS=str(max(1, cores // n)), PYTHONPATH=str(ROOT))
            t0 = time.perf_counter()
            proc = subprocess.run([*launcher, *args], capture_output=True, text=True, env=env, check=False)
            wall = time.perf_counter() - t0
            if proc.returncode:
                print(proc.stderr[-2000:])
                return 1
            base = base or wall
            print(f"ranks {n}: {wall:6.1f} s wall ({a.scenes / wall * 60:5.1f} scenes/min, "
                  f"{max(1, cores // n)} threads each)   speed-up {base / wall:4.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
