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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from hsrcli import dist as ddp
from hsrcli.choices import CONSISTENCY_PASSES, SUBSPACE_ENERGY
from hsrcli.data.degrade import recorded
from hsrcli.dist import DistInfo
from hsrcli.infer.blend import DiskAccumulator, RamAccumulator
from hsrcli.infer.consistency import BackProjection
from hsrcli.infer.finish import CoreWriter, Finisher, output_dtype, output_nodata
from hsrcli.infer.inputs import divisor, forward, read_block, scene_stats
from hsrcli.infer.nodata import GoodBands, InputFill
from hsrcli.infer.phases import PhaseClock
from hsrcli.infer.pipeline import InOrderWorker
from hsrcli.infer.refine import AngleTally, Refinement, SceneRefiner
from hsrcli.infer.resolve import ResolvedModel
from hsrcli.infer.staged import runs_staged, upscale_stages
from hsrcli.infer.subspace import DetailProjection, SpectraSample
from hsrcli.infer.tileplan import TILE_HR_VALUES, TILE_PROJECTED_VALUES, auto_tile, border_pad, plan_overlap
from hsrcli.infer.tiling import Tile, TileGrid
from hsrcli.infer.whole import output_pieces
from hsrcli.io.meta import SceneMeta
from hsrcli.io.scene import Scene
from hsrcli.io.windows import iter_windows
from hsrcli.io.writers import open_writer
from hsrcli.models.base import SRModel
from hsrcli.models.crop import Crop
from hsrcli.models.ensemble import SelfEnsemble

RAM_ACCUMULATOR_BYTES = 128 * 2**20


@dataclass
class UpscaleOptions:
    """Knobs of :func:`upscale_scene` (sizes in LR pixels)."""

    tile: int | None = None
    overlap: int | None = None
    exact: bool = False  # overlap by the theoretical receptive radius, not the measured effective one
    batch: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    amp: torch.dtype | None = None
    dtype: str = "float32"
    #: the output's nodata value, written where input values are missing (None: the input's)
    nodata: float | None = None
    ram_budget: int = RAM_ACCUMULATOR_BYTES
    max_window_bytes: int = 16 * 2**20  # one output strip (its float32 working copies are 2-3x)
    #: accumulate and write in a background thread while the model runs (None: when the model is
    #: not on the CPU; on 2 CPU cores it gained nothing measurable and held ~300 MB more)
    behind: bool | None = None
    #: spectral-subspace detail projection (:mod:`hsrcli.infer.subspace`): a share of variance in
    #: (0, 1), a rank, or None (off); not where FineSR is applied, nor for linear models (bicubic)
    subspace: float | int | None = SUBSPACE_ENERGY
    #: geometric self-ensemble: the model on this many dihedral transforms of each tile, averaged
    #: (:mod:`hsrcli.models.ensemble`; 1: off)
    ensemble: int = 1
    #: LR-consistency back-projection passes (:mod:`hsrcli.infer.consistency`; 0: off); not where
    #: FineSR is applied, nor for linear models (bicubic)
    consistency: int = CONSISTENCY_PASSES
    #: how the LR scene was degraded, for the back-projection's ↓: ``bicubic`` (MATLAB; ``sigma`` > 0: a
    #: Gaussian blur of ``sigma`` HR px first), ``gaussian`` (a PSF of ``sigma`` HR px, every s-th px
    #: kept), or None: as the checkpoint was adapted or trained (:func:`lr_degradation`)
    degrade: str | None = None
    sigma: float = 0.0
    #: GeoTIFF/COG block compression (:class:`~hsrcli.choices.Compression`; None: deflate; ENVI: None)
    compress: str | None = None

    @property
    def behind_model(self) -> bool:
        return self.device.type != "cpu" if self.behind is None else self.behind


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
    info: DistInfo | None = None,
) -> dict:
    """Super-resolve ``scene`` by ``resolved.scale`` into ``out`` (ENVI or GeoTIFF); returns run statistics.

    With ``refine``, DualSR's FineSR back-projection combines the ×s result with the ×s/2
    result of the partner (or the LR input itself for ×2), with one λ for the whole scene,
    after a self-check on the scene's own LR (see :mod:`hsrcli.infer.refine`).

    With ``info`` (torchrun, every rank calling it for the same scene) the tiles are shared over the
    ranks; rank 0 alone accumulates and writes, and its statistics are the ones that count.

    A cascade runs stage by stage (:mod:`hsrcli.infer.staged`), each stage through this function.
    """
    from hsrcli import __version__

    if runs_staged(resolved, *lr_degradation(opts, resolved), refine is not None):
        return upscale_stages(scene, out, fmt, resolved, opts, upscale_scene, overwrite=overwrite, progress=progress,
                              info=info)
    bar = progress or (lambda it, **_: it)
    m = scene.meta
    s = resolved.scale
    out_dtype = output_dtype(opts.dtype, m)
    model = resolved.for_inference(opts.device)
    if opts.ensemble > 1:
        model = SelfEnsemble(model, opts.ensemble)
    project = opts.subspace is not None and resolved.normalised  # unless FineSR is applied
    hr = m.rescaled(s)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    nodata_out = output_nodata(opts.nodata, m, out_dtype)
    acc = writer = None
    clock = PhaseClock()
    t0 = time.perf_counter()
    try:
        models = [resolved] + ([refine.partner] if refine is not None and refine.partner is not None else [])
        sample = SpectraSample(m.rows * m.cols) if project else None  # drawn in the statistics pass
        with clock("stats"):
            stats = scene_stats(scene, models, lambda it: bar(it, desc="stats", unit="win"),
                                None if sample is None else sample.observe)
        div, norm_desc = divisor(scene, resolved, stats)
        fill = None if stats is None else InputFill.from_stats(stats)
        net = model  # what the tile plan asks how many bands it holds
        if fill is not None and resolved.bands is None:  # band-agnostic: no dead or flat band enters a group
            model = GoodBands.around(model, s, fill, resolved.min_bands)
        div_t = torch.from_numpy(div.astype(np.float32)).view(1, -1, 1, 1).to(opts.device)
        # the LR back-projection, for every output but FineSR's and a linear model's
        kernel, sigma = lr_degradation(opts, resolved)
        back = BackProjection(s, opts.consistency, sigma, kernel) if opts.consistency and resolved.normalised else None
        refiner = None
        if refine is not None:
            refiner = SceneRefiner(refine, scene, stats, div, opts.device, opts.amp)
            if refine.check:  # against the output without FineSR, back-projected as it then would be
                refiner.run_check(scene, lambda x: forward(model, x, opts.amp), div_t, fill, s,
                                  None if back is None else back.whole)
        use_refine = refiner is not None and refiner.applied
        projection = None
        if project and not use_refine:
            with clock("stats"):
                fit = sample.fit(opts.subspace, range(m.bands) if fill is None else fill.varying)
            if fit is not None:
                projection = DetailProjection(fit, div, s, opts.device, None if fill is None else fill.dead)
        sample = None  # the drawn spectra are not held while the model runs
        back = None if use_refine else back
        grid = plan_grid(net, resolved, m, refine, opts, 0 if projection is None else projection.fit.rank,
                         0 if back is None else back.reach)
        model.fit_tile(grid.side)
        what = resolved.label + (f" (self-ensemble of {opts.ensemble})" if opts.ensemble > 1 else "")
        what += f" {model.summary()}" if isinstance(model, GoodBands) else ""
        what += f" + FineSR({refiner.summary()['partner']})" if use_refine else ""
        if projection is not None:
            what += f" + spectral subspace (rank {projection.fit.rank} of {len(projection.fit.good)})"
        if back is not None:
            what += f" + LR back-projection ({back.describe()})"

        main = info is None or info.is_main  # the one writer
        channels = 2 * m.bands if use_refine else m.bands  # FineSR: U and its correction C side by side
        # no statistics: an integer scene without a nodata value, where nothing can be missing
        complete = stats is None or all(b["valid"] == m.rows * m.cols for b in stats)
        # Without a nodata value (--nodata or the input's), missing input pixels (NaN, ±inf) become NaN
        # in float outputs, tagged as the output's nodata so that GDAL/QGIS mask them, and 0 in integer
        # ones (no tag: 0 is data).
        if nodata_out is None and not complete and np.issubdtype(out_dtype, np.floating):
            nodata_out = float("nan")
        out_meta = hr.replace(dtype=out_dtype, nodata=nodata_out,
                              history=[*hr.history, f"{stamp} hsr upscale x{s} with {what} (hsrcli {__version__})"])
        finisher = Finisher(scene, s, out_dtype, nodata_out, complete,
                            None if fill is None else {b: float(fill.means[b]) for b in fill.flat})
        direct = False
        if main:
            writer = open_writer(out, out_meta, fmt, overwrite=overwrite, compress=opts.compress)
            direct = writer.band_writes and not grid.feathered and not use_refine
            if direct:  # the cores partition the scene: each goes straight into the output
                acc = CoreWriter(writer, finisher)
            elif hr.rows * hr.cols * channels * 4 <= opts.ram_budget:
                acc = RamAccumulator(hr.rows, hr.cols, channels, grid.feathered)
            else:
                acc = DiskAccumulator(hr.rows, hr.cols, channels, out.parent, grid.feathered)
        out_div = torch.cat([div_t, div_t], 1) if use_refine else div_t
        # cores go straight into the file: cast them on the model's device (less to copy to the host)
        cast = finisher.cast_early if direct and (info is None or not info.enabled) else None
        skipped = _blend_tiles(scene, model, grid, acc, fill, div_t, out_div, refiner if use_refine else None, opts,
                               bar, info, clock, cast, projection, back)
        if main:
            if not direct:
                lam = np.float32(refiner.tally.weight) if use_refine else None
                with clock("write"):
                    _write(scene, acc, writer, finisher, lam, opts, bar)
            writer.commit()
    except BaseException:
        if writer is not None:
            writer.abort()
        raise
    finally:
        if acc is not None:
            acc.close()
    seconds = time.perf_counter() - t0
    result = {"output": str(out if writer is None else writer.path), "rows": hr.rows, "cols": hr.cols,
              "bands": m.bands, "modelled_bands": len(model.good) if isinstance(model, GoodBands) else m.bands,
              "scale": s, "model": what, "tiles": len(grid), "tiles_without_data": skipped,
              "tile": max(grid.shape), "tile_shape": list(grid.shape),
              "overlap": grid.overlap, "margin": grid.margin, "pad": grid.pad, "exact": opts.exact, "ensemble": opts.ensemble,
              "ranks": info.world_size if info is not None else 1,
              "normalisation": norm_desc, "seconds": seconds, "phases": clock.as_dict(),
              "mpx_bands_per_s": hr.rows * hr.cols * m.bands / 1e6 / max(seconds, 1e-9)}
    if refiner is not None:
        result["refine"] = refiner.summary()
    result["subspace"] = None if projection is None else projection.fit.summary()
    result["consistency"] = 0 if back is None else back.passes
    blurred = back is not None and back.sigma > 0
    result["psf_kernel"], result["psf_sigma"] = (back.kernel, back.sigma) if blurred else (None, None)
    return result


def lr_degradation(opts: UpscaleOptions, resolved: ResolvedModel) -> tuple[str, float]:
    """``(kernel, sigma)`` of the degradation the back-projection's ↓ models (``hsr prepare --degrade
    KERNEL --sigma SIGMA``'s; sigma in HR px, 0: plain MATLAB bicubic): ``opts.degrade``/``opts.sigma``
    (``--degrade``, ``--sigma``) when given, else what the checkpoint was adapted with (``hsr adapt
    --degrade --sigma``: the scene's own, the same σ one scale up) or trained on, recorded in its
    metadata, else plain bicubic."""
    if opts.degrade is not None:
        return opts.degrade, float(opts.sigma)
    meta = resolved.checkpoint.meta if resolved.checkpoint is not None else {}
    adapted = (meta.get("adapted") or {}).get("config")  # hsr adapt --degrade: the scene's own
    if adapted:
        return str(adapted.get("kernel") or "bicubic"), float(adapted.get("sigma") or 0.0)
    return recorded((meta.get("dataset") or {}).get("degradation"))


def plan_grid(model: SRModel, resolved: ResolvedModel, meta: SceneMeta, refine: Refinement | None,
              opts: UpscaleOptions, coefficients: int = 0, reach: int = 0) -> TileGrid:
    """The tiles of a scene: overlap from the receptive radius (the measured effective one unless
    ``--exact`` or ``--refine``), tile size from :func:`auto_tile` unless given (``coefficients``: values
    per HR pixel held beside the model's output bands, the subspace projection's rank; ``reach``: LR px
    of output the back-projection reads past a kept pixel, added to the theoretical radius so that
    ``--exact`` stays exact — the measured effective radius already leaves it room, see
    :mod:`hsrcli.infer.consistency`)."""
    radius = model.receptive_radius
    effective = resolved.effective_radius if radius is not None else None
    if radius is not None:
        radius += reach
    if effective is not None and refine is None and not opts.exact:
        radius = min(radius, effective)  # measured: far fewer LR pixels computed twice
    if refine is not None:
        r2 = 0 if refine.partner is None else refine.partner.model.receptive_radius
        radius = None if radius is None or r2 is None else max(radius, r2) + 3  # + the bicubic resizes
    overlap, margin = plan_overlap(radius, opts.overlap)
    # The mirrored scene border: from the model's measured radius when known (the same with --exact and
    # --refine, so that they see the same padded scene as whole-image inference), else the margin.
    pad = border_pad(effective, margin)
    if opts.tile is None:
        crop = 0 if refine is not None else min(pad, margin)  # the least a tile leaves out (TileGrid.crop)

        def held(side: int) -> int:  # output bands held at once with tiles of this side
            if refine is not None:  # (where FineSR is declined, the projection's k < B values fit within)
                return 2 * meta.bands
            return model.bands_held(meta.bands, side, crop) + coefficients

        budget = TILE_PROJECTED_VALUES if coefficients and refine is None else TILE_HR_VALUES
        rows, cols = auto_tile(held, resolved.scale, overlap, meta.rows, meta.cols, pad, opts.device.type, budget,
                               lambda side: model.work_side(side, crop))
    else:
        rows = cols = max(opts.tile, overlap + 16)
    if refine is not None:  # FineSR halves the tile
        rows, cols = rows + rows % 2, cols + cols % 2
    return TileGrid(meta.rows, meta.cols, rows, overlap, margin, resolved.scale, pad, cols)


def _blend_tiles(scene: Scene, model: SRModel, grid: TileGrid, acc, fill: InputFill | None, div_t: torch.Tensor,
                 out_div: torch.Tensor, refiner: SceneRefiner | None, opts: UpscaleOptions, bar,
                 info: DistInfo | None = None, clock: PhaseClock | None = None,
                 cast: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 projection: DetailProjection | None = None, back: BackProjection | None = None) -> int:
    """Every batch of tiles: read → normalise → model (→ FineSR terms, or → spectral subspace → LR
    back-projection) → de-normalise (→ ``cast`` on the model's device) → accumulate, each step timed in
    ``clock`` (:mod:`hsrcli.infer.phases`).

    Under torchrun (``info``) the batches are shared over the ranks (one per rank per round) and
    their outputs gathered to rank 0, which accumulates them in the one-process order (so the
    result is the same to the bit); ``acc`` is None on the other ranks.

    A batch whose kept LR pixels are all missing in every band (:func:`all_missing`: the nodata
    around an orthorectified flight line) is not run through the model: its output is nodata
    whatever the model gives. Returns how many tiles were skipped so (under torchrun, on rank 0: by
    every rank)."""
    tiles, bands = list(grid), scene.meta.bands
    clock = clock or PhaseClock()
    hr_rows, hr_cols = scene.meta.rows * grid.scale, scene.meta.cols * grid.scale
    starts = list(range(0, len(tiles), opts.batch))

    def outputs(i: int):
        """``(tile index, band0, output bands, crop)`` of the batch that starts at tile ``i``, as computed
        (without the LR margins ``crop`` that no tile of the batch keeps)."""
        group: list[Tile] = tiles[i:i + opts.batch]
        with clock("read"):
            blocks = [read_block(scene, t.row, t.col, t.size_r, t.size_c, grid.pad, fill) for t in group]
        if refiner is None:
            crop = tuple(min(c) for c in zip(*(grid.crop(t) for t in group)))  # one crop for the batch
            if all(all_missing(b[1], crop) for b in blocks):  # nothing kept has data: nodata out, no model
                skipped.append(len(group))
                yield from missing_outputs(i, blocks[0][0].shape, crop)
                return
        with clock("model"):
            planes = [b[0] for b in blocks]  # one tile is not copied into a batch, nor divided into a copy
            x = torch.from_numpy(planes[0][None] if len(planes) == 1 else np.stack(planes)).to(opts.device)
            x = x.div_(div_t)
            masks = [b[1] for b in blocks]
            del planes, blocks
            if refiner is not None:  # FineSR needs the whole output of the tile
                y = forward(model, x, opts.amp)
                y = torch.cat([y, refiner.terms(y, x, grid, group, masks)], 1)
                crop, pieces = (0, 0, 0, 0), [(0, 2 * bands, y)]
            else:  # band ranges as the model finishes them (projected: as the projection hands them out)
                pieces = output_pieces(model, x, opts.amp, crop, projection, back)
        for b0, b1, y in clock.iterate("model", pieces):
            with clock("model"):
                y = y.mul_(out_div[:, b0:b1])
                y = (y if cast is None else cast(y)).cpu().numpy()
            for k, yt in enumerate(y):
                yield i + k, b0, yt, crop

    def missing_outputs(i: int, shape: tuple[int, int, int], crop: Crop):
        """The outputs of a batch whose kept LR pixels are all missing, as :func:`outputs` hands them over
        (zeros: the finishing writes the output's nodata there), a few bands at a time."""
        hr = ((shape[1] - crop[0] - crop[1]) * grid.scale, (shape[2] - crop[2] - crop[3]) * grid.scale)
        step = max(1, TILE_HR_VALUES // (8 * hr[0] * hr[1]))
        for k in range(len(tiles[i:i + opts.batch])):
            for b0 in range(0, bands, step):
                y = torch.zeros(min(step, bands - b0), *hr)
                yield i + k, b0, (y if cast is None else cast(y)).numpy(), crop

    skipped: list[int] = []
    weights: dict[int, np.ndarray | None] = {}

    def add(k: int, b0: int, yt: np.ndarray, crop: Crop) -> None:
        if k not in weights:  # once per tile (a batch's pieces come band range by band range)
            if len(weights) >= opts.batch:
                weights.clear()
            weights[k] = grid.weights(tiles[k]) if grid.feathered else None
        with clock("store"):
            _accumulate(acc, grid, tiles[k], weights[k], yt, hr_rows, hr_cols, b0, crop)

    if info is None or not info.enabled:
        with InOrderWorker(enabled=opts.behind_model) as behind:  # accumulate/write during the next forward
            for i in bar(starts, desc="tiles", unit="batch"):
                for k, b0, yt, crop in outputs(i):
                    behind.submit(add, k, b0, yt, crop)
                yt = None  # the last piece is not held while the next batch computes
            behind.drain()
        if opts.behind_model:
            clock.add("wait", behind.waited)
        return sum(skipped)

    def compute(j: int) -> tuple[list, list, int]:
        if refiner is not None:
            refiner.tally = AngleTally()  # this batch's angle sums, replayed on rank 0 in order
        before = sum(skipped)
        items = list(outputs(starts[j]))
        return items, ([] if refiner is None else refiner.tally.parts), sum(skipped) - before

    main_tally = AngleTally() if refiner is not None else None
    rounds = ddp.map_rounds(len(starts), compute, info, opts.device, to_main=True)
    without_data = 0  # over every rank's batches (rank 0 gets them all)
    for done in bar(rounds, desc="tiles", unit="round", total=-(-len(starts) // info.world_size)):
        for _, (items, parts, n) in done:
            for k, b0, yt, crop in items:
                add(k, b0, yt, crop)
            for total, count in parts:
                main_tally.add_part(total, count)
            without_data += n
    if refiner is not None and info.is_main:
        refiner.tally = main_tally
    return without_data


def all_missing(missing: np.ndarray, crop: Crop) -> bool:
    """Whether every LR pixel a tile keeps is missing in every band: ``missing`` ``(h, w)`` over the tile's
    padded block (:func:`~hsrcli.infer.inputs.read_block`), less ``crop`` (LR px, top, bottom, left, right)."""
    h, w = missing.shape
    return bool(missing[crop[0]:h - crop[1], crop[2]:w - crop[3]].all())


def _write(scene: Scene, acc, writer, finisher: Finisher, lam: np.float32 | None, opts: UpscaleOptions,
           bar) -> None:
    """Strip by strip: sum / weight (+ λ·correction with FineSR), finished (nodata, cast), written — band
    planes all the way (the accumulators' and rasterio's layout)."""
    m = scene.meta
    rows, cols = writer.meta.rows, writer.meta.cols
    for w in bar(list(iter_windows(rows, cols, m.bands, 4, opts.max_window_bytes, writer.block_shape)),
                 desc="write", unit="win"):
        r0, r1 = int(w.row_off), int(w.row_off + w.height)
        c0, c1 = int(w.col_off), int(w.col_off + w.width)
        block = acc.result(r0, r1, c0, c1)
        if lam is not None:
            block = block[:m.bands] + lam * block[m.bands:]
        writer.write_planes(w, finisher.planes(block, r0, c0, 0))


def _accumulate(acc, grid: TileGrid, t: Tile, weights: np.ndarray | None, y: np.ndarray, rows: int, cols: int,
                band0: int = 0, crop: Crop = (0, 0, 0, 0)) -> None:
    """Add one tile's output bands ``band0:band0+b`` (b, h, w): the tile's HR output less ``crop``
    (LR px) on each side. With its HR ``weights`` (the whole tile's; counted with the piece that
    starts at band 0) cropped to the scene's HR extent, or, without, its core."""
    s, pad = grid.scale, grid.pad
    tr0, tc0 = (t.row - pad) * s, (t.col - pad) * s  # the tile's HR origin in the scene
    r0, c0 = tr0 + crop[0] * s, tc0 + crop[2] * s  # that of y
    if weights is None:  # unfeathered grid: store the core this tile owns
        k0, k1, j0, j1 = grid.core(t)
        a0, a1, b0, b1 = (k0 - pad) * s, (k1 - pad) * s, (j0 - pad) * s, (j1 - pad) * s
    else:
        a0, b0 = max(0, r0), max(0, c0)
        a1, b1 = min(rows, r0 + y.shape[1]), min(cols, c0 + y.shape[2])
    if a1 <= a0 or b1 <= b0:
        return
    vals = y[:, a0 - r0:a1 - r0, b0 - c0:b1 - c0]
    w = None if weights is None else weights[a0 - tr0:a1 - tr0, b0 - tc0:b1 - tc0]
    acc.add(a0, b0, vals, w, band0=band0, add_weight=band0 == 0)
