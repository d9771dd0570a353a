"""The metrics of :mod:`hsrcli.metrics.functional`, streamed over whole scenes.

Scenes are read in full-width row strips. Additive statistics (per-band squared
error, sums for means and correlations, spectral-angle sums) are accumulated over
disjoint strips; SSIM strips are read with a 5-row halo so that the valid SSIM
centres of consecutive strips partition the valid SSIM map of the whole image.
The result therefore equals the in-memory result up to float64 rounding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import torch

from hsrcli.errors import HsrInputError
from hsrcli.io.geotiff import GDAL_CACHE_BYTES, block_rows_bytes, raised_cache_bound, read_cache
from hsrcli.io.scene import Scene
from hsrcli.metrics.functional import SSIM_HALO, SSIM_WINDOW, finalize, sam_map, ssim_sums

#: Bytes of one row strip of one scene in float64 (its rows: this over width × bands × 8). Its float64
#: working copies make the pass's memory: ``hsr metrics`` of two 2048² × 64 float32 ENVI files on 2 cores,
#: peak RSS 1107–1148 MB with 64 MB strips, 836 MB with 32, 707–710 MB with 16, 643 MB with 8, in the same
#: 18–25 s; a 512² × 31 pair 0.8–0.9 s → 0.4 s (610 → 396–445 MB) from 64 MB to 16 MB.
STRIP_BYTES = 16 * 2**20


class MetricAccumulator:
    """Running per-band statistics of an SR/reference pair.

    Feed disjoint pixel blocks to :meth:`add_pixels` and (possibly overlapping)
    blocks whose *valid SSIM centres* are disjoint to :meth:`add_ssim`; then
    :meth:`result` gives the same dict as :func:`~hsrcli.metrics.functional.compute_metrics`.
    Blocks are ``(C, h, w)`` tensors on the data scale.
    """

    def __init__(self, bands: int, data_range: float, scale: float | None = None) -> None:
        self.data_range = float(data_range)
        self.scale = scale
        z = lambda: torch.zeros(bands, dtype=torch.float64)
        self.sse, self.sx, self.sy, self.sxx, self.syy, self.sxy = z(), z(), z(), z(), z(), z()
        self.ssim_sum, self.ssim_n = z(), 0
        self.n = 0
        self.sam_sum, self.sam_n = 0.0, 0

    def add_pixels(self, sr: torch.Tensor, ref: torch.Tensor, valid: torch.Tensor | None = None) -> None:
        """Accumulate a block of pixels not seen before (only where ``valid`` (h, w), when given)."""
        x, y = sr.to(torch.float64), ref.to(torch.float64)
        if valid is not None:  # the valid pixels as a (C, n, 1) "image"
            x, y = x[:, valid].unsqueeze(-1), y[:, valid].unsqueeze(-1)
        self.sse += (x - y).pow(2).sum(dim=(1, 2))
        self.sx += x.sum(dim=(1, 2))
        self.sy += y.sum(dim=(1, 2))
        self.sxx += x.pow(2).sum(dim=(1, 2))
        self.syy += y.pow(2).sum(dim=(1, 2))
        self.sxy += (x * y).sum(dim=(1, 2))
        self.n += x.shape[1] * x.shape[2]
        if x.shape[1] == 0:
            return
        angles = sam_map(x, y)
        valid = ~torch.isnan(angles)
        self.sam_sum += float(angles[valid].sum())
        self.sam_n += int(valid.sum())

    def add_ssim(self, sr: torch.Tensor, ref: torch.Tensor, valid: torch.Tensor | None = None) -> None:
        """Accumulate the valid SSIM map of a block (no-op when it has no valid centre).

        With ``valid`` (h, w), only windows made entirely of valid pixels count.
        """
        if sr.shape[1] < SSIM_WINDOW or sr.shape[2] < SSIM_WINDOW:
            return
        sums, n = ssim_sums(sr, ref, self.data_range, valid)
        self.ssim_sum += sums
        self.ssim_n += n

    def result(self) -> dict:
        """Metrics dict (see :func:`hsrcli.metrics.functional.compute_metrics`)."""
        if self.n == 0:
            raise HsrInputError("no valid pixel to measure (every pixel is nodata in at least one band; "
                                "leave bands that are entirely nodata out with --bands)")
        n = self.n
        mu_x, mu_y = self.sx / n, self.sy / n
        cov = self.sxy / n - mu_x * mu_y
        var_x = (self.sxx / n - mu_x**2).clamp_min(0)
        var_y = (self.syy / n - mu_y**2).clamp_min(0)
        denom = torch.sqrt(var_x * var_y)
        # Constant bands (zero variance up to rounding) have no correlation.
        tiny = 1e-12 * (self.syy / n).clamp_min(1e-300)
        cc = torch.where((var_x > tiny) & (var_y > tiny), cov / denom.clamp_min(1e-300),
                         torch.full_like(cov, float("nan")))
        return finalize(
            mse_b=self.sse / n, mu_b=mu_y, cc_b=cc,
            ssim_b=self.ssim_sum / self.ssim_n if self.ssim_n else None,
            sam_sum=self.sam_sum, sam_count=self.sam_n, pixels=n,
            data_range=self.data_range, scale=self.scale,
        )


def _to_chw(block: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(block.transpose(2, 0, 1))).to(torch.float64)


def _missing(raw: np.ndarray, meta) -> np.ndarray:
    """Values of a stored block that are nodata (:meth:`SceneMeta.nodata_mask`) or not finite."""
    return meta.nodata_mask(raw) | ~np.isfinite(raw.astype(np.float64))


def scene_max(scene: Scene, bands: Sequence[int] | None, rows: tuple[int, int], cols: tuple[int, int],
              max_bytes: int) -> float:
    """Largest finite value of ``scene`` in a region that is not its nodata value (streamed)."""
    from rasterio.windows import Window

    from hsrcli.io.windows import iter_windows

    nb = scene.meta.bands if bands is None else len(bands)
    best = -np.inf
    for w in iter_windows(rows[1] - rows[0], cols[1] - cols[0], nb, 8, max_bytes):
        raw = scene.read(Window(cols[0] + w.col_off, rows[0] + w.row_off, w.width, w.height), bands)
        finite = raw[~_missing(raw, scene.meta)].astype(np.float64)
        if finite.size:
            best = max(best, float(finite.max()))
    return best


def stream_metrics(
    sr: Scene,
    ref: Scene,
    *,
    data_range: float | None = None,
    scale: float | None = None,
    border: int = 0,
    bands: Sequence[int] | None = None,
    clip: bool = True,
    max_bytes: int = STRIP_BYTES,
    progress: Callable[[Iterable], Iterable] | None = None,
) -> dict:
    """Metrics of an SR scene against its reference, streamed over row strips.

    Args:
        sr, ref: open scenes of identical shape (rows, cols, bands).
        data_range: value of "white" in the reference's stored units. Default: the
            reference's ``reflectance scale factor`` if it has one, else the
            reference's maximum over the evaluated region (one extra pass).
        scale: SR factor, needed for ERGAS (100 / scale).
        border: pixels cropped from every side before measuring.
        bands: 0-based band indices to evaluate. Default: the bands the reference's
            ``bbl`` marks good, or all bands when it has no ``bbl``.
        clip: clip SR values to ``[0, data_range]`` first (DualSR convention).
        max_bytes: memory budget of one strip of one scene.
        progress: wraps the strip iterator (e.g. a tqdm factory).

    Returns:
        The metrics dict of :func:`~hsrcli.metrics.functional.compute_metrics` plus
        ``border``, ``clipped``, ``data_range_source``, ``masked_pixels`` (pixels left out
        because a band is nodata or not finite in either scene) and ``band_indices``.
        Pixels with nodata (or NaN) in any evaluated band of either scene are left out
        of every metric; SSIM uses only windows made of valid pixels.
    """
    ms, mr = sr.meta, ref.meta
    if ms.shape != mr.shape:
        raise HsrInputError(
            f"shape mismatch: SR is {ms.rows} x {ms.cols} x {ms.bands}, reference is {mr.rows} x {mr.cols} x {mr.bands}"
        )
    if border < 0 or 2 * border >= min(mr.rows, mr.cols):
        raise HsrInputError(f"--border {border} leaves no pixel of the {mr.rows} x {mr.cols} scene")
    r0, r1, c0, c1 = border, mr.rows - border, border, mr.cols - border
    if bands is None and mr.bbl is not None and not mr.bbl.all():
        bands = [int(b) for b in np.flatnonzero(mr.bbl)]
        if not bands:
            raise HsrInputError("the reference's bbl marks every band bad; choose bands explicitly")
    nb = mr.bands if bands is None else len(bands)
    source = "option"
    # Both passes' strips are narrower than a tiled file's block rows: GDAL's cache holds two block rows of
    # each (a strip and its halo) so that a block is inflated once, not once per strip (two 1 GB 2048² × 64
    # float32 GeoTIFFs on 2 cores: 62.8 s → 26.0 s); past the bound (a quarter of the usable memory), where
    # a partial cache would help unpredictably, the default cache.
    blocks = block_rows_bytes(sr) + block_rows_bytes(ref)
    with read_cache(GDAL_CACHE_BYTES + (blocks if blocks <= raised_cache_bound() else 0)):
        if data_range is None:
            if mr.scale_factor:
                data_range, source = float(mr.scale_factor), "reflectance scale factor"
            else:
                data_range, source = scene_max(ref, bands, (r0, r1), (c0, c1), max_bytes), "reference maximum"
        if not data_range or not np.isfinite(data_range) or data_range <= 0:
            raise HsrInputError(f"data range must be positive, got {data_range}")
        acc = MetricAccumulator(nb, data_range, scale)
        masked = _stream(sr, ref, acc, bands, nb, (r0, r1, c0, c1), float(data_range) if clip else None,
                         max_bytes, progress)
    out = acc.result()
    out.update(border=border, clipped=clip, data_range_source=source, masked_pixels=masked,
               band_indices=list(range(mr.bands)) if bands is None else [int(b) for b in bands])
    return out


def _stream(sr: Scene, ref: Scene, acc: MetricAccumulator, bands: Sequence[int] | None, nb: int,
            box: tuple[int, int, int, int], clip_to: float | None, max_bytes: int,
            progress: Callable[[Iterable], Iterable] | None) -> int:
    """Row strips of ``box`` (r0, r1, c0, c1) with the SSIM halo, added to ``acc``; the number of pixels
    masked (missing in either scene)."""
    from rasterio.windows import Window

    r0, r1, c0, c1 = box
    ms, mr = sr.meta, ref.meta
    width = c1 - c0
    strip = max(1, int(max_bytes // max(1, width * nb * 8)))
    starts = list(range(r0, r1, strip))
    iterator: Iterable = progress(starts) if progress else starts
    masked = 0
    for a in iterator:
        b = min(a + strip, r1)
        lo, hi = max(a - SSIM_HALO, r0), min(b + SSIM_HALO, r1)
        win = Window(c0, lo, width, hi - lo)
        rx, ry = sr.read(win, bands), ref.read(win, bands)
        x, y = _to_chw(rx), _to_chw(ry)
        core = slice(a - lo, b - lo)
        valid = torch.from_numpy(~(_missing(rx, ms) | _missing(ry, mr)).any(axis=2))
        masked += int((~valid[core]).sum())
        if clip_to is not None:
            x = x.clamp(0.0, clip_to)
        mask = None if bool(valid.all()) else valid
        acc.add_pixels(x[:, core], y[:, core], None if mask is None else mask[core])
        acc.add_ssim(x, y, mask)
    return masked
