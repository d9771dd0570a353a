"""Regenerate ``sample_data/aviris_sample.{hdr,img}`` from the shipped AVIRIS crop.

Source: ``../shared/data/sample/a_hsi_img_for_VI_demo.mat`` (GatorSense
hsi_toolkit_py, MIT). The cube ``hsi_img`` (90 × 90 × 224, int16) and its
``wavelengths`` (nm) are written as ENVI BSQ int16 with the hsrcli writer.
The 43 bands that are zero in every pixel (water-absorption and sensor-edge bands
zeroed upstream: 1-2, 97-116, 154-171, 222-224 counted from 1) are flagged in
``bbl`` so tools show them as gaps; pixel values are not changed.

Usage: ``python scripts/make_sample.py [SOURCE.mat] [--overwrite]``
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from hsrcli.io import copy_scene, open_scene

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = ROOT.parent / "shared" / "data" / "sample" / "a_hsi_img_for_VI_demo.mat"


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    source = Path(args[0]) if args else DEFAULT_SOURCE
    with open_scene(source, var="hsi_img") as scene:
        zero = ~scene.read().any(axis=(0, 1))  # 90 x 90 x 224 int16: small
        meta = scene.meta.replace(
            bbl=np.where(zero, 0, 1),
            description="AVIRIS crop 90 x 90 x 224 (int16) from GatorSense hsi_toolkit_py "
                        "(a_hsi_img_for_VI_demo.mat; MIT licence), converted by hsrcli scripts/make_sample.py",
            extra={"sensor type": "AVIRIS"},
        )
        out = copy_scene(scene, ROOT / "sample_data" / "aviris_sample.hdr", "envi",
                         meta=meta, overwrite="--overwrite" in argv, interleave="bsq")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
