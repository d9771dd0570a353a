"""Record ``hsr evaluate --json`` results in the bundled models' cards (``test`` entry).

    hsr evaluate cave_x4_eval -m bicubic -m lkca-g_x4 ... --json > eval.json
    python scripts/record_test_metrics.py eval.json --data "CAVE x4 test scenes (...)" --command "..."
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

WEIGHTS = Path(__file__).resolve().parents[1] / "hsrcli" / "weights"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("results", type=Path)
    ap.add_argument("--data", required=True)
    ap.add_argument("--command", required=True)
    a = ap.parse_args()
    rows = json.loads(a.results.read_text())
    bicubic = next((r for r in rows if r["model"] == "bicubic"), None)
    for r in rows:
        card = WEIGHTS / f"{r['model']}.json"
        if not card.is_file():
            continue
        info = json.loads(card.read_text())
        info["test"] = {k: r[k] for k in ("psnr", "ssim", "sam", "ergas", "rmse", "cc", "seconds_per_image")}
        info["test"].update(data=a.data, command=a.command,
                            bicubic=None if bicubic is None else {k: bicubic[k] for k in ("psnr", "ssim", "sam")})
        card.write_text(json.dumps(info, indent=2) + "\n")
        print(f"updated {card}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
