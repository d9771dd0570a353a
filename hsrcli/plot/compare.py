"""Comparison panel of SR results against a reference (the figure SR papers show).

Row 1: false-colour crops of the reference and every result, all stretched with
the *reference's* limits so colours compare. Row 2: per-pixel spectral angle
(degrees) of every result against the reference on the same crop, one colour
scale for all. Row 3: PSNR of every band over the whole scene (streamed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
from rasterio.windows import Window

from hsrcli.errors import HsrInputError
from hsrcli.io.coords import parse_ints
from hsrcli.io.scene import Scene
from hsrcli.metrics.functional import sam_map
from hsrcli.metrics.stream import stream_metrics
from hsrcli.plot.rgb import rgb_bands, stretch, stretch_limits
from hsrcli.plot.spectra import COLOURS


def _deg(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}°"


def default_crop(rows: int, cols: int, size: int = 256) -> tuple[int, int, int]:
    """Centre crop ``(row, col, size)`` of at most ``size`` pixels."""
    s = min(size, rows, cols)
    return (rows - s) // 2, (cols - s) // 2, s


def parse_crop(spec: str | None, rows: int, cols: int) -> tuple[int, int, int]:
    """``ROW,COL,SIZE`` (reference pixels) → validated crop; None → centre crop."""
    if spec is None:
        return default_crop(rows, cols)
    r, c, s = parse_ints(spec, "ROW,COL,SIZE", "--crop")
    if s <= 0 or r < 0 or c < 0 or r + s > rows or c + s > cols:
        raise HsrInputError(f"--crop {spec} does not fit the {rows} x {cols} reference")
    return r, c, s


def plot_compare(
    ref: Scene,
    results: Sequence[Scene],
    labels: Sequence[str],
    out: Path,
    *,
    crop: tuple[int, int, int],
    data_range: float | None = None,
    rgb: str | None = None,
    progress: Callable[[Iterable], Iterable] | None = None,
) -> list[dict]:
    """Draw the comparison panel into ``out``; returns the metrics of every result."""
    from matplotlib.figure import Figure

    for res, label in zip(results, labels[1:]):
        if res.meta.shape != ref.meta.shape:
            a, b = res.meta, ref.meta
            raise HsrInputError(f"{label}: shape {a.rows} x {a.cols} x {a.bands} differs from the reference's "
                                f"{b.rows} x {b.cols} x {b.bands}")
    r, c, s = crop
    win = Window(c, r, s, s)
    bands = rgb_bands(ref.meta, rgb)
    crops = [ref.read(win).astype(np.float64)] + [x.read(win).astype(np.float64) for x in results]
    limits = stretch_limits(crops[0][:, :, bands])
    metrics = [stream_metrics(x, ref, data_range=data_range, progress=progress) for x in results]
    y = crops[0].transpose(2, 0, 1)
    sams = [sam_map(c.transpose(2, 0, 1), y) for c in crops[1:]]
    finite = np.concatenate([m[np.isfinite(m)].ravel() for m in sams]) if sams else np.array([1.0])
    vmax = float(np.percentile(finite, 99)) if finite.size else 1.0

    n = len(results) + 1
    fig = Figure(figsize=(3.1 * n + 0.8, 10.2), layout="constrained")
    grid = fig.add_gridspec(3, n, height_ratios=[1, 1, 0.9])
    for k, (cube, label) in enumerate(zip(crops, labels)):
        ax = fig.add_subplot(grid[0, k])
        ax.imshow(stretch(cube[:, :, bands], limits), interpolation="nearest")
        sub = "" if k == 0 else f"\n{metrics[k - 1]['psnr']:.2f} dB, SAM {_deg(metrics[k - 1]['sam'])}"
        ax.set_title(f"{label}{sub}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    im = None
    for k, m in enumerate(sams):
        ax = fig.add_subplot(grid[1, k + 1])
        im = ax.imshow(m, cmap="magma", vmin=0, vmax=vmax, interpolation="nearest")
        ax.set_title(f"SAM map: {labels[k + 1]}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if im is not None:
        fig.colorbar(im, ax=fig.axes[n:], label="spectral angle (degrees)", shrink=0.8)
    info = fig.add_subplot(grid[1, 0])
    info.axis("off")
    wl = ref.meta.wavelengths
    names = [f"{wl[b]:.0f} nm" if wl is not None else f"band {b + 1}" for b in bands]
    info.text(0, 0.5, f"crop rows {r}-{r + s - 1}\ncols {c}-{c + s - 1}\nR/G/B: {', '.join(names)}\n"
              f"data range {metrics[0]['data_range']:g}" if metrics else "", fontsize=9, va="center")
    ax = fig.add_subplot(grid[2, :])
    x = wl if wl is not None else np.arange(1, ref.meta.bands + 1)
    for k, m in enumerate(metrics):
        y = np.full(ref.meta.bands, np.nan)  # bands left out (bbl) stay gaps
        y[m["band_indices"]] = m["psnr_per_band"]
        ax.plot(x, y, color=COLOURS[k % len(COLOURS)], lw=1.4,
                label=f"{labels[k + 1]} (mean {m['psnr']:.2f} dB)")
    ax.set_xlabel("wavelength (nm)" if wl is not None else "band number")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title("PSNR per band (whole scene)", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.savefig(out, dpi=130, format=out.suffix.lstrip(".").lower() or "png")
    return metrics
