"""Figure of the upsampler's cumulative normalised singular values (``hsr analyze-rank``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_rank(profile: dict, out: Path, title: str) -> None:
    """c(r) against r/n for the whole matrix (bold) and each PixelShuffle phase (thin)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    ax = fig.subplots()
    for k, ph in enumerate(profile["phases"]):
        n = ph["n"]
        ax.plot(np.arange(1, n + 1) / n, ph["curve"], color="tab:gray", lw=0.8, alpha=0.6,
                label="per PixelShuffle phase" if k == 0 else None)
    full = profile["full"]
    n = full["n"]
    ax.plot(np.arange(1, n + 1) / n, full["curve"], color="tab:blue", lw=2.2, label=f"whole matrix {full['shape']}")
    for level, colour in ((0.90, "tab:green"), (0.95, "tab:orange"), (0.99, "tab:red")):
        key = f"r{round(level * 100)}"
        ax.axhline(level, color=colour, lw=0.8, ls="--")
        ax.annotate(f"{key} = {full[key]} ({full[key] / n:.1%})", (full[key] / n, level), xytext=(6, -12),
                    textcoords="offset points", color=colour, fontsize=8)
    what = "σ²" if profile["energy"] == "sv2" else "σ"
    ax.set_xlabel("rank r / n")
    ax.set_ylabel(f"cumulative normalised {what}")
    ax.set_ylim(0, 1.02)
    ax.set_xlim(0, 1)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title, fontsize=10)
    fig.savefig(out, dpi=130, format=out.suffix.lstrip(".").lower() or "png")
