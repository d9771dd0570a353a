"""Spectral-curve figures: the spectra of chosen pixels in several scenes.

Pixel positions are given on the grid of the first scene (the reference). A scene
on another grid (an LR input, or an SR result of another scale) is sampled at the
pixel that covers the same ground: ``row' = floor((row + 0.5) · rows' / rows)``
and likewise for columns, so an LR input shows the LR pixel an HR pixel lies in.

Values are physical when a scene has a reflectance scale factor (stored / factor),
else as stored. Bands flagged bad in ``bbl`` and missing values (nodata, NaN, ±inf) are drawn as gaps.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from rasterio.windows import Window

from hsrcli.errors import HsrInputError
from hsrcli.io.coords import parse_ints
from hsrcli.io.meta import SceneMeta
from hsrcli.io.scene import Scene
from hsrcli.plot.rgb import read_preview, rgb_bands, stretch

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]


def map_pixel(row: int, col: int, ref: SceneMeta, other: SceneMeta) -> tuple[int, int]:
    """The pixel of ``other`` covering the centre of ``(row, col)`` of ``ref``."""
    r = int(np.floor((row + 0.5) * other.rows / ref.rows))
    c = int(np.floor((col + 0.5) * other.cols / ref.cols))
    return min(r, other.rows - 1), min(c, other.cols - 1)


def spectrum(scene: Scene, row: int, col: int) -> np.ndarray:
    """Spectrum of one pixel as float64 (physical units when a scale factor is known)."""
    m = scene.meta
    raw = scene.read(Window(col, row, 1, 1))[0, 0]
    values = raw.astype(np.float64)
    values[m.missing_mask(raw)] = np.nan
    if m.bbl is not None:
        values[m.bbl == 0] = np.nan
    if m.scale_factor:
        values = values / m.scale_factor
    return values


def x_axis(meta: SceneMeta, ref: SceneMeta) -> tuple[np.ndarray, bool]:
    """(x values, are-wavelengths) for a scene: its wavelengths, the reference's, or band numbers."""
    if meta.wavelengths is not None and ref.wavelengths is not None:
        return meta.wavelengths, True
    if ref.wavelengths is not None and meta.bands == ref.bands:
        return ref.wavelengths, True
    return np.arange(1, meta.bands + 1, dtype=float), False


def parse_pixels(specs: Sequence[str], random: int, meta: SceneMeta, seed: int = 0) -> list[tuple[int, int]]:
    """Pixels from ``ROW,COL`` strings (0-based, on the reference grid) plus ``random`` ones."""
    pixels = []
    for s in specs:
        r, c = parse_ints(s, "ROW,COL", "--pixel")
        if not (0 <= r < meta.rows and 0 <= c < meta.cols):
            raise HsrInputError(f"--pixel {r},{c} is outside the {meta.rows} x {meta.cols} reference")
        pixels.append((r, c))
    if random:
        rng = np.random.default_rng(seed)
        pixels += [(int(rng.integers(meta.rows)), int(rng.integers(meta.cols))) for _ in range(random)]
    if not pixels:
        raise HsrInputError("no pixel given: use --pixel ROW,COL and/or --random N")
    return pixels


def plot_spectra(
    scenes: Sequence[Scene],
    labels: Sequence[str],
    pixels: Sequence[tuple[int, int]],
    out: Path,
    *,
    preview: bool = True,
    rgb: str | None = None,
    title: str | None = None,
) -> None:
    """Draw one panel per pixel (curves of every scene) and an optional preview; save to ``out``.

    The file type follows the extension (PNG, PDF, SVG...). ``out`` is written as given
    (atomic replacement is the caller's job).
    """
    from matplotlib.figure import Figure

    ref = scenes[0].meta
    n_panels = len(pixels) + (1 if preview else 0)
    ncols = min(3, n_panels)
    nrows = -(-n_panels // ncols)
    fig = Figure(figsize=(5.2 * ncols, 3.8 * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[n_panels:]:
        ax.set_visible(False)
    physical = all(s.meta.scale_factor for s in scenes)
    ylabel = "reflectance (value / scale factor)" if physical else "value"
    any_wl = False
    for k, (r, c) in enumerate(pixels):
        ax = axes[k + (1 if preview else 0)]
        for j, (scene, label) in enumerate(zip(scenes, labels)):
            rr, cc = map_pixel(r, c, ref, scene.meta)
            x, is_wl = x_axis(scene.meta, ref)
            any_wl |= is_wl
            where = "" if (rr, cc) == (r, c) else f" @ {rr},{cc}"
            style = {"lw": 2.0, "color": "black"} if j == 0 else {"lw": 1.4, "color": COLOURS[(j - 1) % len(COLOURS)]}
            ax.plot(x, spectrum(scene, rr, cc), label=f"{label}{where}", **style)
        ax.set_title(f"P{k + 1}: row {r}, col {c}", fontsize=10)
        ax.set_xlabel("wavelength (nm)" if any_wl else "band number")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    if preview:
        _draw_preview(axes[0], scenes[0], labels[0], pixels, rgb)
    if title:
        fig.suptitle(title)
    fig.savefig(out, dpi=130, format=out.suffix.lstrip(".").lower() or "png")


def _draw_preview(ax, scene: Scene, label: str, pixels, rgb: str | None) -> None:
    bands = rgb_bands(scene.meta, rgb)
    img, step = read_preview(scene, bands)
    ax.imshow(stretch(img), interpolation="nearest")
    for k, (r, c) in enumerate(pixels):
        ax.plot(c / step, r / step, marker="+", color="yellow", ms=12, mew=2)
        ax.annotate(f"P{k + 1}", (c / step, r / step), xytext=(4, 4), textcoords="offset points",
                    color="yellow", fontsize=9, weight="bold")
    wl = scene.meta.wavelengths
    names = [f"{wl[b]:.0f} nm" if wl is not None else f"band {b + 1}" for b in bands]
    ax.set_title(f"{label} (R/G/B = {', '.join(names)})", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
