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

from hsrcli.choices import OutputDtype
from hsrcli.errors import HsrInputError
from hsrcli.models.base import SRModel
from hsrcli.infer.blend import DiskAccumulator, RamAccumulator
from hsrcli.infer.nodata import GoodBands, InputFill
from hsrcli.infer.refine import MIN_CHECK_LR, AngleTally, Refinement, check_side, self_check
from hsrcli.infer.resolve import ResolvedModel
from hsrcli.infer.tileplan import auto_tile, plan_overlap
from hsrcli.infer.tiling import Tile, TileGrid
from hsrcli.io.meta import SceneMeta
from hsrcli.io.scene import Scene
from hsrcli.io.windows import iter_windows
from hsrcli.io.writers import open_writer
from hsrcli.models.finesr import finesr_terms

RAM_ACCUMULATOR_BYTES = 128 * 2**20


@dataclass
class UpscaleOptions:
    """Knobs of :func:`upscale_scene` (sizes in LR pixels)."""

    tile: int | None = None
    overlap: int | None = None
    exact: bool = False  # overlap by the theoretical receptive radius, not the measured effective one
    batch: int = 1
    device: torch.device = torch.device("cpu")
    amp: torch.dtype | None = None
    dtype: str = "float32"
    ram_budget: int = RAM_ACCUMULATOR_BYTES
    max_window_bytes: int = 16 * 2**20  # one output strip (its float32 working copies are 2-3x)


def output_dtype(spec: str, meta: SceneMeta) -> np.dtype:
    """Output storage type: float32 (default), float64, the input's type, or a named integer type."""
    spec = OutputDtype.check(spec, "--dtype")
    return meta.dtype if spec == OutputDtype.input else np.dtype(spec)


def read_padded(scene: Scene, r0: int, c0: int, h: int, w: int, pad: int) -> np.ndarray:
    """LR block (h, w, B) at padded coordinates (r0, c0): the scene mirrored ``pad`` px past its borders."""
    m = scene.meta
    sr0, sc0 = r0 - pad, c0 - pad
    a0, a1 = max(0, sr0), min(m.rows, sr0 + h)
    b0, b1 = max(0, sc0), min(m.cols, sc0 + w)
    block = scene.read(Window(b0, a0, b1 - b0, a1 - a0))
    pad = ((a0 - sr0, sr0 + h - a1), (b0 - sc0, sc0 + w - b1), (0, 0))
    if any(p for p in pad[0] + pad[1]):
        small = min(block.shape[0], block.shape[1]) <= max(pad[0] + pad[1])
        block = np.pad(block, pad, mode="symmetric" if small else "reflect")
    return block


def _scene_stats(scene: Scene, models: list[ResolvedModel], progress) -> list[dict] | None:
    """Per-band statistics when a model normalises by the scene or the scene may hold nodata."""
    from hsrcli.io.stats import band_stats

    m = scene.meta
    need = any(_per_scene(r) for r in models)
    has_nodata = m.nodata is not None or np.issubdtype(m.dtype, np.floating)
    return band_stats(scene, progress=progress) if (need or has_nodata) else None


def _per_scene(resolved: ResolvedModel) -> bool:
    norm = resolved.normalization or {}
    return resolved.name != "bicubic" and bool(norm.get("per_scene") or not norm.get("divisor"))


def _divisor(scene: Scene, resolved: ResolvedModel, stats: list[dict] | None) -> tuple[np.ndarray, str]:
    """Per-band divisor (B,) that brings the scene to the model's normalised scale, and its description."""
    m = scene.meta
    if resolved.name == "bicubic":
        return np.ones(m.bands), "none (bicubic is linear)"
    if _per_scene(resolved):
        top = max((s["max"] for s in stats or [] if s["max"] is not None), default=0.0)
        if not top > 0:
            raise HsrInputError(f"{scene.path}: the scene has no positive value to normalise by")
        return np.full(m.bands, top), f"scene maximum {top:g}"
    norm = resolved.normalization
    div = np.asarray(norm["divisor"], dtype=np.float64)
    if div.size not in (1, m.bands):
        raise HsrInputError(f"the checkpoint's normaliser has {div.size} values for {m.bands} bands")
    return np.broadcast_to(div, (m.bands,)).copy(), f"checkpoint {norm.get('kind')} {div[:3].tolist()}"


def _forward(model: torch.nn.Module, x: torch.Tensor, opts: UpscaleOptions) -> torch.Tensor:
    with torch.no_grad(), torch.autocast(opts.device.type, dtype=opts.amp or torch.float32,
                                         enabled=opts.amp is not None):
        return model(x).float()


def _forward_bands(model: SRModel, x: torch.Tensor, opts: UpscaleOptions):
    """:meth:`SRModel.forward_bands` under ``no_grad`` and autocast; pieces as float32."""
    with torch.no_grad(), torch.autocast(opts.device.type, dtype=opts.amp or torch.float32,
                                         enabled=opts.amp is not None):
        for b0, b1, y in model.forward_bands(x):
            yield b0, b1, y.float()


def _read_block(scene: Scene, r0: int, c0: int, h: int, w: int, pad: int,
                fill: InputFill | None) -> tuple[np.ndarray, np.ndarray]:
    """Network input ``(B, h, w)`` float32 (missing values filled, see :mod:`hsrcli.infer.nodata`) and
    the mask ``(h, w)`` of pixels with no valid band, at padded LR coordinates (r0, c0)."""
    m = scene.meta
    raw = read_padded(scene, r0, c0, h, w, pad)
    x = raw.astype(np.float32)
    bad = m.nodata_mask(raw) | ~np.isfinite(x)
    if fill is not None:
        x = fill.apply(x, bad)
    elif bad.any():
        x = np.where(bad, np.float32(0), x)
    return np.ascontiguousarray(x.transpose(2, 0, 1)), bad.all(axis=2)


class _Refiner:
    """FineSR for one scene: the partner's forward on the main model's scale, the self-check,
    and the angle tally of the whole-image λ."""

    def __init__(self, spec: Refinement, scene: Scene, stats: list[dict] | None, main_div: np.ndarray,
                 opts: UpscaleOptions) -> None:
        self.spec = spec
        self.scale_v = None
        self.partner = None
        if spec.partner is not None:
            self.partner = spec.partner.model.to(opts.device).eval()
            div, _ = _divisor(scene, spec.partner, stats)
            # the partner sees its own normalisation; its output comes back on the main model's scale
            self.scale_v = torch.from_numpy((div / main_div).astype(np.float32)).view(1, -1, 1, 1).to(opts.device)
        self.opts = opts
        self.tally = AngleTally()
        self.check: dict | None = None
        self.applied = True
        self.reason = "applied without self-check (--no-refine-check)"

    def forward_v(self, x: torch.Tensor) -> torch.Tensor:
        """V on the main model's normalised scale: ``(N, B, h, w) → (N, B, s/2·h, s/2·w)``."""
        if self.partner is None:
            return x
        return _forward(self.partner, x / self.scale_v, self.opts) * self.scale_v

    def run_check(self, scene: Scene, forward_u, div_t: torch.Tensor, fill: np.ndarray | None, scale: int) -> None:
        """Decide from the scene's own LR whether FineSR helps this pair (sets ``applied``)."""
        m = scene.meta
        side = check_side(m.rows, m.cols, scale)
        if side == 0:
            self.applied = False
            self.reason = (f"not applied: the scene is too small for the self-check (needs at least "
                           f"{MIN_CHECK_LR * scale} LR px a side; --no-refine-check applies it anyway)")
            return
        x, _ = _read_block(scene, (m.rows - side) // 2, (m.cols - side) // 2, side, side, 0, fill)
        crop = torch.from_numpy(x)[None].to(self.opts.device) / div_t
        self.check = self_check(forward_u, None if self.partner is None else self.forward_v, crop, scale)
        gain = self.check["gain_db"]
        self.applied = gain >= 0
        self.reason = (f"{'applied' if self.applied else 'not applied'}: on this scene's own LR, degraded "
                       f"x{scale} again, FineSR changes PSNR by {gain:+.2f} dB (--no-refine-check applies it "
                       f"anyway)")

    def terms(self, y: torch.Tensor, x: torch.Tensor, grid: TileGrid, group: list[Tile],
              bads: list[np.ndarray]) -> torch.Tensor:
        """Correction C ``(N, B, s·h, s·w)`` of a batch of tiles; tallies the angles the tiles own."""
        correction, angles = finesr_terms(y, self.forward_v(x))
        h2 = grid.scale // 2
        for k, (t, bad) in enumerate(zip(group, bads)):
            r0, r1, c0, c1 = grid.core(t)
            a0, a1, b0, b1 = (r0 - t.row) * h2, (r1 - t.row) * h2, (c0 - t.col) * h2, (c1 - t.col) * h2
            valid = ~np.repeat(np.repeat(bad, h2, axis=0), h2, axis=1)[a0:a1, b0:b1]
            self.tally.add(angles[k, a0:a1, b0:b1].cpu(), torch.from_numpy(valid))
        return correction

    def summary(self) -> dict:
        p = self.spec.partner
        return {"partner": "LR input" if p is None else p.label, "applied": self.applied, "reason": self.reason,
                "self_check": self.check, "sam": self.tally.sam if self.applied else None,
                "weight": self.tally.weight if self.applied else None}


def upscale_scene(
    scene: Scene,
    out: Path,
    fmt: str,
    resolved: ResolvedModel,
    opts: UpscaleOptions,
    *,
    overwrite: bool = False,
    refine: Refinement | None = None,
    progress: Callable[..., Iterable] | None = None,
) -> dict:
    """Super-resolve ``scene`` by ``resolved.scale`` into ``out`` (ENVI or GeoTIFF); returns run statistics.

    With ``refine``, DualSR's FineSR back-projection combines the ×s result with the ×s/2
    result of the partner (or the LR input itself for ×2), with one λ for the whole scene,
    after a self-check on the scene's own LR (see :mod:`hsrcli.infer.refine`).
    """
    from hsrcli import __version__

    bar = progress or (lambda it, **_: it)
    m = scene.meta
    s = resolved.scale
    out_dtype = output_dtype(opts.dtype, m)
    model = resolved.model.to(opts.device).eval()
    radius = model.receptive_radius
    effective = resolved.effective_radius if radius is not None else None
    if effective is not None and refine is None and not opts.exact:
        radius = min(radius, effective)  # measured: far fewer LR pixels computed twice
    if refine is not None:
        r2 = 0 if refine.partner is None else refine.partner.model.receptive_radius
        radius = None if radius is None or r2 is None else max(radius, r2) + 3  # + the bicubic resizes
    overlap, margin = plan_overlap(radius, opts.overlap)
    # The mirrored scene border: the model's measured radius when known (the same with --exact and
    # --refine, so that they see the same padded scene as whole-image inference), else the margin.
    pad = margin if effective is None else effective
    if opts.tile is None:
        tile = auto_tile(model.bands_held(m.bands) if refine is None else 2 * m.bands, s, overlap, m.rows,
                         m.cols, pad, opts.device.type)
    else:
        tile = max(opts.tile, overlap + 16)
    if refine is not None:
        tile += tile % 2  # FineSR halves the tile
    model.fit_tile(tile)
    grid = TileGrid(m.rows, m.cols, tile, overlap, margin, s, pad)
    hr = m.rescaled(s)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    nodata_out = None
    if m.nodata is not None:
        nodata_out = m.nodata
        if np.issubdtype(out_dtype, np.integer):
            info = np.iinfo(out_dtype)
            if not info.min <= m.nodata <= info.max:
                raise HsrInputError(f"nodata {m.nodata:g} does not fit the output type {out_dtype.name}")
    acc = writer = None
    t0 = time.perf_counter()
    try:
        models = [resolved] + ([refine.partner] if refine is not None and refine.partner is not None else [])
        stats = _scene_stats(scene, models, lambda it: bar(it, desc="stats", unit="win"))
        divisor, norm_desc = _divisor(scene, resolved, stats)
        fill = None if stats is None else InputFill.from_stats(stats)
        if fill is not None and fill.dead and resolved.bands is None:
            model = GoodBands(model, fill.good, m.bands)  # band-agnostic: dead bands never enter a group
        div_t = torch.from_numpy(divisor.astype(np.float32)).view(1, -1, 1, 1).to(opts.device)
        refiner = None
        if refine is not None:
            refiner = _Refiner(refine, scene, stats, divisor, opts)
            if refine.check:
                refiner.run_check(scene, lambda x: _forward(model, x, opts), div_t, fill, s)
        use_refine = refiner is not None and refiner.applied
        what = resolved.label + (f" + FineSR({refiner.summary()['partner']})" if use_refine else "")
        # without a nodata value, NaN input pixels stay NaN in float outputs and become 0 in integer ones
        out_meta = hr.replace(dtype=out_dtype, nodata=nodata_out,
                              history=[*hr.history, f"{stamp} hsr upscale x{s} with {what} (hsrcli {__version__})"])
        writer = open_writer(out, out_meta, fmt, overwrite=overwrite)
        channels = 2 * m.bands if use_refine else m.bands  # FineSR: U and its correction C side by side
        hr_bytes = hr.rows * hr.cols * channels * 4
        acc = (RamAccumulator(hr.rows, hr.cols, channels) if hr_bytes <= opts.ram_budget
               else DiskAccumulator(hr.rows, hr.cols, channels, out.parent))
        out_div = torch.cat([div_t, div_t], 1) if use_refine else div_t
        tiles = list(grid)
        for i in bar(range(0, len(tiles), opts.batch), desc="tiles", unit="batch"):
            group: list[Tile] = tiles[i:i + opts.batch]
            blocks = [_read_block(scene, t.row, t.col, t.size_r, t.size_c, pad, fill) for t in group]
            x = torch.from_numpy(np.stack([b[0] for b in blocks])).to(opts.device) / div_t
            if use_refine:  # FineSR needs the whole output of the tile
                y = _forward(model, x, opts)
                y = torch.cat([y, refiner.terms(y, x, grid, group, [b[1] for b in blocks])], 1)
                pieces = [(0, 2 * m.bands, y)]
            else:  # band ranges as the model finishes them: a tile's full output is never held
                pieces = _forward_bands(model, x, opts)
            for b0, b1, y in pieces:
                y = y.mul_(out_div[:, b0:b1]).cpu().numpy()
                for t, yt in zip(group, y):
                    _accumulate(acc, grid, t, yt, pad, s, hr.rows, hr.cols, b0)
        lam = np.float32(refiner.tally.weight) if use_refine else None
        strips = iter_windows(hr.rows, hr.cols, m.bands, 4, opts.max_window_bytes, writer.block_shape)
        for w in bar(list(strips), desc="write", unit="win"):
            r0, r1 = int(w.row_off), int(w.row_off + w.height)
            c0, c1 = int(w.col_off), int(w.col_off + w.width)
            total, weight = acc.result(r0, r1, c0, c1)
            block = total / np.maximum(weight, 1e-20)[:, :, None]
            if use_refine:
                block = block[:, :, :m.bands] + lam * block[:, :, m.bands:]
            block = _finish(block, scene, r0, r1, c0, c1, s, out_dtype, nodata_out)
            writer.write(Window(c0, r0, c1 - c0, r1 - r0), block)
        writer.commit()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        if acc is not None:
            acc.close()
    seconds = time.perf_counter() - t0
    result = {"output": str(writer.path), "rows": hr.rows, "cols": hr.cols, "bands": m.bands, "scale": s,
              "model": what, "tiles": len(tiles), "tile": tile, "overlap": overlap, "margin": margin, "pad": pad, "exact": opts.exact,
              "normalisation": norm_desc, "seconds": seconds,
              "mpx_bands_per_s": hr.rows * hr.cols * m.bands / 1e6 / max(seconds, 1e-9)}
    if refiner is not None:
        result["refine"] = refiner.summary()
    return result


def _accumulate(acc, grid: TileGrid, t: Tile, y: np.ndarray, pad: int, s: int, rows: int, cols: int,
                band0: int = 0) -> None:
    """Add one tile's output bands ``band0:band0+b`` (b, h·s, w·s) with its weights (counted with the
    piece that starts at band 0), cropped to the scene's HR extent."""
    weights = grid.weights(t)
    r0, c0 = (t.row - pad) * s, (t.col - pad) * s
    a0, b0 = max(0, r0), max(0, c0)
    a1, b1 = min(rows, r0 + y.shape[1]), min(cols, c0 + y.shape[2])
    if a1 <= a0 or b1 <= b0:
        return
    vals = y[:, a0 - r0:a1 - r0, b0 - c0:b1 - c0].transpose(1, 2, 0)
    acc.add(a0, b0, vals, weights[a0 - r0:a1 - r0, b0 - c0:b1 - c0], band0=band0, add_weight=band0 == 0)


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
