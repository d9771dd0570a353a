"""Whole-scene super-resolution that streams: read tile → normalise → model → blend → write.

Memory is bounded by one batch of tiles, the model's activations and one output
strip; the blended sum lives in RAM only for small outputs and otherwise in
sparse float32 files beside the output (see :mod:`hsrcli.infer.blend`). The
output is written window by window through :func:`hsrcli.io.open_writer`, under a
temporary name until complete.
"""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rasterio.windows import Window

from hsrcli.infer.blend import DiskAccumulator, RamAccumulator
from hsrcli.infer.resolve import ResolvedModel
from hsrcli.infer.tiling import Tile, TileGrid
from hsrcli.io.errors import HsrInputError
from hsrcli.io.meta import SceneMeta
from hsrcli.io.scene import Scene
from hsrcli.io.windows import iter_windows
from hsrcli.io.writers import open_writer

TILE_HR_VALUES = 24 * 2**20  # default tile: at most this many output values (bands x HR pixels) per tile
UNBOUNDED_OVERLAP = 32  # models whose receptive field is the whole image (global attention)
RAM_ACCUMULATOR_BYTES = 128 * 2**20
OUTPUT_DTYPES = ("float32", "float64", "input", "uint8", "uint16", "int16", "int32")


@dataclass
class UpscaleOptions:
    """Knobs of :func:`upscale_scene` (sizes in LR pixels)."""

    tile: int | None = None
    overlap: int | None = None
    batch: int = 1
    device: torch.device = torch.device("cpu")
    amp: torch.dtype | None = None
    dtype: str = "float32"
    bp_iters: int = 1
    ram_budget: int = RAM_ACCUMULATOR_BYTES
    max_window_bytes: int = 64 * 2**20


def plan_overlap(radius: int | None, overlap: int | None) -> tuple[int, int]:
    """(overlap, discarded margin) in LR pixels; the default overlap is 2 × the receptive radius."""
    if overlap is None:
        overlap = UNBOUNDED_OVERLAP if radius is None else 2 * radius
    if overlap < 0:
        raise HsrInputError("--overlap must be >= 0")
    margin = overlap // 2 if radius is None else min(radius, overlap // 2)
    return overlap, margin


def auto_tile(bands: int, scale: int, overlap: int) -> int:
    """Default tile (LR px): the largest multiple of 8 whose output fits :data:`TILE_HR_VALUES`,
    at least ``overlap + 32`` and at most 512."""
    side = int((TILE_HR_VALUES / max(1, bands)) ** 0.5 / scale) // 8 * 8
    return max(overlap + 32, min(512, side))


def output_dtype(spec: str, meta: SceneMeta) -> np.dtype:
    """Output storage type: float32 (default), float64, the input's type, or a named integer type."""
    if spec not in OUTPUT_DTYPES:
        raise HsrInputError(f"unknown --dtype {spec!r} (use {', '.join(OUTPUT_DTYPES)})")
    return meta.dtype if spec == "input" else np.dtype(spec)


def read_padded(scene: Scene, r0: int, c0: int, h: int, w: int, margin: int) -> np.ndarray:
    """LR block (h, w, B) at padded coordinates (r0, c0): the scene mirrored ``margin`` px past its borders."""
    m = scene.meta
    sr0, sc0 = r0 - margin, c0 - margin
    a0, a1 = max(0, sr0), min(m.rows, sr0 + h)
    b0, b1 = max(0, sc0), min(m.cols, sc0 + w)
    block = scene.read(Window(b0, a0, b1 - b0, a1 - a0))
    pad = ((a0 - sr0, sr0 + h - a1), (b0 - sc0, sc0 + w - b1), (0, 0))
    if any(p for p in pad[0] + pad[1]):
        small = min(block.shape[0], block.shape[1]) <= max(pad[0] + pad[1])
        block = np.pad(block, pad, mode="symmetric" if small else "reflect")
    return block


def _normaliser(scene: Scene, resolved: ResolvedModel, progress) -> tuple[np.ndarray, np.ndarray | None, str]:
    """(divisor (B,), nodata fill (B,) or None, description)."""
    from hsrcli.io.stats import band_stats

    m = scene.meta
    norm = resolved.normalization or {}
    need_stats = resolved.name != "bicubic" and (norm.get("per_scene") or not norm.get("divisor"))
    has_nodata = m.nodata is not None or np.issubdtype(m.dtype, np.floating)
    stats = band_stats(scene, progress=progress) if (need_stats or has_nodata) else None
    fill = None
    if stats is not None:
        fill = np.array([s["mean"] if s["mean"] is not None else 0.0 for s in stats])
    if resolved.name == "bicubic":
        return np.ones(m.bands), fill, "none (bicubic is linear)"
    if need_stats:
        top = max((s["max"] for s in stats if s["max"] is not None), default=0.0)
        if not top > 0:
            raise HsrInputError(f"{scene.path}: the scene has no positive value to normalise by")
        return np.full(m.bands, top), fill, f"scene maximum {top:g}"
    div = np.asarray(norm["divisor"], dtype=np.float64)
    if div.size not in (1, m.bands):
        raise HsrInputError(f"the checkpoint's normaliser has {div.size} values for {m.bands} bands")
    return np.broadcast_to(div, (m.bands,)).copy(), fill, f"checkpoint {norm.get('kind')} {div[:3].tolist()}"


def _forward(model: torch.nn.Module, x: torch.Tensor, opts: UpscaleOptions) -> torch.Tensor:
    with torch.no_grad(), torch.autocast(opts.device.type, dtype=opts.amp or torch.float32,
                                         enabled=opts.amp is not None):
        return model(x).float()


def upscale_scene(
    scene: Scene,
    out: Path,
    fmt: str,
    resolved: ResolvedModel,
    opts: UpscaleOptions,
    *,
    overwrite: bool = False,
    refine: ResolvedModel | None = None,
    progress: Callable[..., Iterable] | None = None,
) -> dict:
    """Super-resolve ``scene`` by ``resolved.scale`` into ``out`` (ENVI or GeoTIFF); returns run statistics.

    With ``refine``, DualSR's FineSR back-projection combines the ×s result with the
    ×s/2 result of ``refine`` (or the LR input itself for ×2), tile by tile.
    """
    from hsrcli import __version__
    from hsrcli.models.finesr import finesr

    bar = progress or (lambda it, **_: it)
    m = scene.meta
    s = resolved.scale
    out_dtype = output_dtype(opts.dtype, m)
    model = resolved.model.to(opts.device).eval()
    if getattr(model, "group_batch", 0) is None:
        model.group_batch = 8  # lkca-g: bound activation memory (results are identical)
    radius = getattr(model, "receptive_radius", None)
    refine_model = None if refine is None else refine.model.to(opts.device).eval()
    if refine is not None:
        r2 = getattr(refine_model, "receptive_radius", None)
        radius = None if radius is None or r2 is None else max(radius, r2) + 3
    overlap, margin = plan_overlap(radius, opts.overlap)
    tile = auto_tile(m.bands, s, overlap) if opts.tile is None else max(opts.tile, overlap + 16)
    grid = TileGrid(m.rows, m.cols, tile, overlap, margin, s)
    hr = m.rescaled(s)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    what = resolved.label + (f" + FineSR({refine.label}, {opts.bp_iters} it)" if refine is not None else "")
    nodata_out = None
    if m.nodata is not None:
        nodata_out = m.nodata
        if np.issubdtype(out_dtype, np.integer):
            info = np.iinfo(out_dtype)
            if not info.min <= m.nodata <= info.max:
                raise HsrInputError(f"nodata {m.nodata:g} does not fit the output type {out_dtype.name}")
    # without a nodata value, NaN input pixels stay NaN in float outputs and become 0 in integer ones
    out_meta = hr.replace(dtype=out_dtype, nodata=nodata_out,
                          history=[*hr.history, f"{stamp} hsr upscale x{s} with {what} (hsrcli {__version__})"])
    writer = open_writer(out, out_meta, fmt, overwrite=overwrite)  # refuses before any compute
    acc = None
    t0 = time.perf_counter()
    try:
        divisor, fill, norm_desc = _normaliser(scene, resolved, lambda it: bar(it, desc="stats", unit="win"))
        div_t = torch.from_numpy(divisor.astype(np.float32)).view(1, -1, 1, 1).to(opts.device)
        hr_bytes = hr.rows * hr.cols * m.bands * 4
        acc = (RamAccumulator(hr.rows, hr.cols, m.bands) if hr_bytes <= opts.ram_budget
               else DiskAccumulator(hr.rows, hr.cols, m.bands, out.parent))
        tiles = list(grid)
        for i in bar(range(0, len(tiles), opts.batch), desc="tiles", unit="batch"):
            group: list[Tile] = tiles[i:i + opts.batch]
            blocks = []
            for t in group:
                raw = read_padded(scene, t.row, t.col, t.size_r, t.size_c, margin)
                x = raw.astype(np.float32)
                bad = m.nodata_mask(raw) | ~np.isfinite(x)
                if bad.any():
                    x = np.where(bad, (fill if fill is not None else np.zeros(m.bands)).astype(np.float32), x)
                blocks.append(x.transpose(2, 0, 1))
            x = torch.from_numpy(np.stack(blocks)).to(opts.device) / div_t
            y = _forward(model, x, opts)
            if refine is not None:
                v = x if s == 2 else _forward(refine_model, x, opts)
                y = finesr(y.double(), v.double(), opts.bp_iters).float()
            y = y.mul_(div_t).cpu().numpy()
            for t, yt in zip(group, y):
                _accumulate(acc, grid, t, yt, margin, s, hr.rows, hr.cols)
        strips = iter_windows(hr.rows, hr.cols, m.bands, 4, opts.max_window_bytes, writer.block_shape)
        for w in bar(list(strips), desc="write", unit="win"):
            r0, r1 = int(w.row_off), int(w.row_off + w.height)
            c0, c1 = int(w.col_off), int(w.col_off + w.width)
            total, weight = acc.result(r0, r1, c0, c1)
            block = total / np.maximum(weight, 1e-20)[:, :, None]
            block = _finish(block, scene, r0, r1, c0, c1, s, out_dtype, nodata_out)
            writer.write(Window(c0, r0, c1 - c0, r1 - r0), block)
        writer.commit()
    except BaseException:
        writer.abort()
        raise
    finally:
        if acc is not None:
            acc.close()
    seconds = time.perf_counter() - t0
    return {"output": str(writer.path), "rows": hr.rows, "cols": hr.cols, "bands": m.bands, "scale": s,
            "model": what, "tiles": len(tiles), "tile": tile, "overlap": overlap, "margin": margin,
            "normalisation": norm_desc, "seconds": seconds,
            "mpx_bands_per_s": hr.rows * hr.cols * m.bands / 1e6 / max(seconds, 1e-9)}


def _accumulate(acc, grid: TileGrid, t: Tile, y: np.ndarray, margin: int, s: int, rows: int, cols: int) -> None:
    """Add one tile output (B, h·s, w·s) with its weights, cropped to the scene's HR extent."""
    weights = grid.weights(t)
    r0, c0 = (t.row - margin) * s, (t.col - margin) * s
    a0, b0 = max(0, r0), max(0, c0)
    a1, b1 = min(rows, r0 + y.shape[1]), min(cols, c0 + y.shape[2])
    if a1 <= a0 or b1 <= b0:
        return
    vals = y[:, a0 - r0:a1 - r0, b0 - c0:b1 - c0].transpose(1, 2, 0)
    acc.add(a0, b0, vals, weights[a0 - r0:a1 - r0, b0 - c0:b1 - c0])


def _finish(block: np.ndarray, scene: Scene, r0: int, r1: int, c0: int, c1: int, s: int, dtype: np.dtype,
            nodata: float | None) -> np.ndarray:
    """Nodata where the LR pixel was missing (any band → that band), then cast (round + clip for ints)."""
    m = scene.meta
    lr0, lr1 = r0 // s, (r1 + s - 1) // s
    lc0, lc1 = c0 // s, (c1 + s - 1) // s
    raw = scene.read(Window(lc0, lr0, lc1 - lc0, lr1 - lr0))
    bad = m.nodata_mask(raw) | ~np.isfinite(raw.astype(np.float64))
    if bad.any():
        bad_hr = np.repeat(np.repeat(bad, s, axis=0), s, axis=1)[r0 - lr0 * s:r1 - lr0 * s, c0 - lc0 * s:c1 - lc0 * s]
        fill = nodata if nodata is not None else (np.nan if np.issubdtype(dtype, np.floating) else 0)
        block = np.where(bad_hr, np.float32(fill), block)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        block = np.clip(np.rint(np.nan_to_num(block)), info.min, info.max)
    return block.astype(dtype)
