"""The project's evaluation protocol: which real scenes in ``../shared/data`` are held out.

Whole scenes are held out, never crops of a training scene, so that quality is measured on
content (and, for the airborne set, on flight lines and a sensor) that no bundled model saw.
``scripts/train_bundled.sh`` reads these lists (``python benchmarks/protocol.py NAME`` prints one,
comma-separated) and ``benchmarks/quality.py`` scores the bundled models on them.

* CAVE (31 bands, 400-700 nm, 16-bit): the three scenes every bundled model has held out since
  the first release. The DualSR paper's split is random 80/20; ours is fixed and named.
* Airborne: four AVIRIS crops from four different flight lines (Gulfport airport, Cat Island
  beach, a Texas/Florida urban line, San Diego airport) and the only HYDICE scene, so the
  airborne score includes one sensor absent from training.
"""

from __future__ import annotations

import sys

CAVE_TEST = ("fake_and_real_food", "flowers", "glass_tiles")
AIRBORNE_TEST = ("abu-airport-4", "abu-beach-1", "abu-urban-3", "sandiego", "hydice")
AIRBORNE_TRAIN = ("abu-airport-1", "abu-airport-2", "abu-airport-3", "abu-beach-2", "abu-beach-3",
                  "abu-urban-1", "abu-urban-2", "abu-urban-4", "abu-urban-5")
#: the unmixing benchmarks, also training data (their own files and layouts, see ../shared/data/README.md)
AIRBORNE_TRAIN_OTHER = ("jasperRidge2_R198", "Samson", "Moffett_vca")

LISTS = {"cave-test": CAVE_TEST, "airborne-test": AIRBORNE_TEST, "airborne-train": AIRBORNE_TRAIN}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in LISTS:
        sys.exit(f"usage: python {sys.argv[0]} {{{','.join(LISTS)}}}")
    print(",".join(LISTS[sys.argv[1]]))
