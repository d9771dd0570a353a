"""The training material of ``hsr adapt``: the user's scene itself, normalised as ``hsr upscale``
will feed it, split into a training area and a held-back validation strip.

Units: *scene pixels* — the user's scene is the HR of every self-supervised pair; its ×s
degradation is the pair's LR. A crop of ``crop × crop`` scene pixels becomes an LR input of
``crop/s × crop/s``.

* Normalisation, nodata fill and dead bands follow :mod:`hsrcli.infer.inputs` and
  :mod:`hsrcli.infer.nodata` exactly (the divisor of the base model, filled missing values);
  band-agnostic models see only the bands with valid pixels, as they do in ``upscale``.
* A crop never contains a pixel that is nodata (or NaN) in any good band.
* The validation strip is the last ``max(crop, ⌈val_fraction · side⌉)`` pixels along the
  scene's longer side; training crops never overlap it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rasterio.windows import Window

from hsrcli.errors import HsrInputError
from hsrcli.infer.inputs import divisor, float32_block, scene_stats
from hsrcli.infer.nodata import InputFill
from hsrcli.infer.resolve import ResolvedModel
from hsrcli.io.hashing import sha256_files
from hsrcli.io.scene import Scene

#: At most this many values of a scene are read for adaptation (a centred window beyond it; 256 MB float32).
MAX_VALUES = 64 * 2**20


@dataclass
class AdaptScene:
    """One scene ready for adaptation: normalised cube, where crops may start, validation tiles."""

    name: str
    sha256: str
    cube: torch.Tensor  # (B, rows, cols) float32, normalised; only the good bands for band-agnostic models
    starts: np.ndarray  # (n, 2) top-left (row, col) of every fully valid training crop
    val_tiles: list[tuple[int, int]]  # top-left corners of the fully valid validation tiles
    crop: int
    divisor: float | list[float]


def _read(scene: Scene, resolved: ResolvedModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(cube (rows, cols, B) normalised float32, invalid (rows, cols), divisor (B,))`` of the scene,
    or of a centred window when it holds more than :data:`MAX_VALUES` values."""
    m = scene.meta
    stats = scene_stats(scene, [resolved], lambda it: it)
    div, _ = divisor(scene, resolved, stats)
    side = int(math.sqrt(MAX_VALUES / m.bands))
    h, w = min(m.rows, side), min(m.cols, side)
    raw = scene.read(Window((m.cols - w) // 2, (m.rows - h) // 2, w, h))
    x, bad = float32_block(raw, m)
    run = checked = list(range(m.bands))  # the bands fed to the model, those whose missing values count
    if stats is not None:
        fill = InputFill.from_stats(stats)
        x = fill.apply(x, bad)
        if resolved.bands is None:  # band-agnostic: dead and flat bands never enter a group (as in upscale)
            run = fill.modelled(resolved.min_bands)
            if not run:
                raise HsrInputError(f"{Path(scene.path).name}: every band holds one value: there is nothing to adapt to")
        checked = [b for b in run if b not in fill.dead]
    else:
        x = np.where(bad, np.float32(0), x)
    x /= div.astype(np.float32)
    if resolved.bands is None:
        x, div = x[:, :, run], div[run]
    return x, bad[:, :, checked].any(axis=2), div


def _valid_starts(invalid: np.ndarray, crop: int, rows: tuple[int, int], cols: tuple[int, int]) -> np.ndarray:
    """Top-left corners (row, col) of crops inside ``rows × cols`` (half-open spans) with no invalid pixel."""
    ii = np.pad(invalid.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    r = np.arange(rows[0], rows[1] - crop + 1)[:, None]
    c = np.arange(cols[0], cols[1] - crop + 1)[None, :]
    if r.size == 0 or c.size == 0:
        return np.zeros((0, 2), dtype=np.int64)
    count = ii[r + crop, c + crop] - ii[r, c + crop] - ii[r + crop, c] + ii[r, c]
    rr, cc = np.nonzero(count == 0)
    return np.stack([rr + rows[0], cc + cols[0]], axis=1)


def load_scene(scene: Scene, resolved: ResolvedModel, crop: int, val_fraction: float) -> AdaptScene:
    """Read, normalise and split one scene; :class:`HsrInputError` when it is too small to adapt."""
    name = Path(scene.path).name
    s = resolved.scale
    cube, invalid, div = _read(scene, resolved)
    rows, cols = invalid.shape
    long_rows = rows > cols
    side, other = (rows, cols) if long_rows else (cols, rows)
    val = max(crop, math.ceil(val_fraction * side))
    if side - val < crop or other < crop:
        raise HsrInputError(
            f"{name}: {rows} x {cols} px is too small to adapt at x{s}: it needs at least {crop} x {2 * crop} px "
            f"(training crops of {crop} px, the scene's own x{s} degradation being {crop // s} px, and a "
            f"validation strip as wide); upscale it with the base model instead")
    train_span, val_span = (0, side - val), (side - val, side)
    full = (0, other)
    starts = _valid_starts(invalid, crop, *((train_span, full) if long_rows else (full, train_span)))
    vr, vc = (val_span, full) if long_rows else (full, val_span)
    val_tiles = [(r, c) for r in range(vr[0], vr[1] - crop + 1, crop) for c in range(vc[0], vc[1] - crop + 1, crop)
                 if not invalid[r:r + crop, c:c + crop].any()]  # non-overlapping, fully valid
    if len(starts) == 0 or not val_tiles:
        raise HsrInputError(f"{name}: too few pixels without nodata to adapt on (no fully valid {crop}-px crop "
                            "in the training area or the validation strip)")
    div_out = float(div[0]) if np.all(div == div[0]) else div.tolist()
    return AdaptScene(name, sha256_files(scene.files()), torch.from_numpy(np.ascontiguousarray(cube.transpose(2, 0, 1))),
                      starts, val_tiles, crop, div_out)

