"""The metrics of :mod:`hsrcli.metrics.functional`, streamed over whole scenes.

Scenes are read in full-width row strips. Additive statistics (per-band squared
error, sums for means and correlations, spectral-angle sums) are accumulated over
disjoint strips; SSIM strips are read with a 5-row halo so that the valid SSIM
centres of consecutive strips partition the valid SSIM map of the whole image.
The result therefore equals the in-memory result up to float64 rounding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from hsrcli.errors import HsrInputError
from hsrcli.io.geotiff import GDAL_CACHE_BYTES, block_rows_bytes, raised_cache_bound, read_cache
from hsrcli.io.scene import Scene
from hsrcli.metrics.functional import SSIM_HALO, SSIM_WINDOW, band64, finalize, spectral_angles, ssim_sums

#: Bytes of one row strip of one scene as stored (its rows: this over width × bands × the stored item
#: size). The strips, two per pass, make the pass's memory (bands are made float64 one at a time): ``hsr
#: metrics`` of two 2048² × 64 float32 ENVI files on 2 cores, 2026-11-25, peak RSS 389 / 446 / 554 MB with
#: 8 / 16 / 32 MB strips in 21 / 13–18 / 17 s (the VM's noise; 707–800 MB in 18–21 s with the float64
#: strips of torch before); a 512² × 31 pair 144 / 199 / 238 MB.
STRIP_BYTES = 16 * 2**20


class MetricAccumulator:
    """Running per-band statistics of an SR/reference pair.

    Feed disjoint pixel blocks to :meth:`add_pixels` and (possibly overlapping)
    blocks whose *valid SSIM centres* are disjoint to :meth:`add_ssim`; then
    :meth:`result` gives the same dict as :func:`~hsrcli.metrics.functional.compute_metrics`.
    Blocks are ``(C, h, w)`` arrays on the data scale, of any dtype (stored values): each band is
    made float64 alone, SR clipped to ``[0, clip_to]`` when given, so that a block costs no
    float64 copy of itself.
    """

    def __init__(self, bands: int, data_range: float, scale: float | None = None,
                 clip_to: float | None = None) -> None:
        self.data_range = float(data_range)
        self.scale = scale
        self.clip_to = clip_to
        self.sse, self.sx, self.sy, self.sxx, self.syy, self.sxy = np.zeros((6, bands))
        self.ssim_sum, self.ssim_n = np.zeros(bands), 0
        self.n = 0
        self.sam_sum, self.sam_n = 0.0, 0
        #: reference values outside ``[0, clip_to]``, where a clipped SR cannot follow them
        self.ref_outside = 0

    def add_pixels(self, sr: ArrayLike, ref: ArrayLike, valid: np.ndarray | None = None) -> None:
        """Accumulate a block of pixels not seen before (only where ``valid`` (h, w), when given)."""
        sr, ref = np.asarray(sr), np.asarray(ref)
        if valid is not None:  # the valid pixels of each band, (C, n)
            sr, ref = sr[:, valid], ref[:, valid]
        pixels = sr[0].size if len(sr) else 0
        self.n += pixels
        if pixels == 0:
            return
        dot = xx = yy = 0.0  # per-pixel sums over bands for the spectral angle
        for b in range(len(sr)):
            x, y = band64(sr[b], self.clip_to), band64(ref[b])
            if self.clip_to is not None:
                self.ref_outside += int(np.count_nonzero((y < 0) | (y > self.clip_to)))
            d = x - y
            x2, y2, xy = x * x, y * y, x * y
            self.sse[b] += (d * d).sum()
            self.sx[b] += x.sum()
            self.sy[b] += y.sum()
            self.sxx[b] += x2.sum()
            self.syy[b] += y2.sum()
            self.sxy[b] += xy.sum()
            dot, xx, yy = dot + xy, xx + x2, yy + y2
        angles = spectral_angles(np.asarray(dot), np.asarray(xx), np.asarray(yy))
        counted = ~np.isnan(angles)
        self.sam_sum += float(angles[counted].sum())
        self.sam_n += int(counted.sum())

    def add_ssim(self, sr: ArrayLike, ref: ArrayLike, valid: np.ndarray | None = None) -> None:
        """Accumulate the valid SSIM map of a block (no-op when it has no valid centre).

        With ``valid`` (h, w), only windows made entirely of valid pixels count.
        """
        if np.shape(sr)[1] < SSIM_WINDOW or np.shape(sr)[2] < SSIM_WINDOW:
            return
        sums, n = ssim_sums(sr, ref, self.data_range, valid, self.clip_to)
        self.ssim_sum += sums
        self.ssim_n += n

    def result(self) -> dict[str, Any]:
        """Metrics dict (see :func:`hsrcli.metrics.functional.compute_metrics`)."""
        if self.n == 0:
            raise HsrInputError("no valid pixel to measure (every pixel is nodata in at least one band; "
                                "leave bands that are entirely nodata out with --bands)")
        n = self.n
        mu_x, mu_y = self.sx / n, self.sy / n
        cov = self.sxy / n - mu_x * mu_y
        var_x = np.maximum(self.sxx / n - mu_x**2, 0)
        var_y = np.maximum(self.syy / n - mu_y**2, 0)
        denom = np.sqrt(var_x * var_y)
        # Constant bands (zero variance up to rounding) have no correlation.
        tiny = 1e-12 * np.maximum(self.syy / n, 1e-300)
        with np.errstate(divide="ignore", invalid="ignore"):
            cc = np.where((var_x > tiny) & (var_y > tiny), cov / np.maximum(denom, 1e-300), np.nan)
        out = finalize(
            mse_b=self.sse / n, mu_b=mu_y, cc_b=cc,
            ssim_b=self.ssim_sum / self.ssim_n if self.ssim_n else None,
            sam_sum=self.sam_sum, sam_count=self.sam_n, pixels=n,
            data_range=self.data_range, scale=self.scale,
        )
        out["ref_outside_clip"] = None if self.clip_to is None else self.ref_outside
        return out


def scene_max(scene: Scene, bands: Sequence[int] | None, rows: tuple[int, int], cols: tuple[int, int],
              max_bytes: int) -> float:
    """Largest finite value of ``scene`` in a region that is not its nodata value (streamed)."""
    from rasterio.windows import Window

    from hsrcli.io.windows import iter_windows

    nb = scene.meta.bands if bands is None else len(bands)
    best = -np.inf
    for w in iter_windows(rows[1] - rows[0], cols[1] - cols[0], nb, scene.meta.dtype.itemsize, max_bytes):
        raw = scene.read_planes(Window(cols[0] + w.col_off, rows[0] + w.row_off, w.width, w.height), bands)
        finite = raw[~scene.meta.missing_mask(raw)].astype(np.float64)
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
    progress: Callable[[Iterable[Any]], Iterable[Any]] | None = None,
) -> dict[str, Any]:
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
        measured = source == "reference maximum"
        if measured and not np.isfinite(data_range):
            raise HsrInputError("the reference has no valid value (every one is nodata or NaN) in the evaluated "
                                "region: nothing to measure")
        if not (np.isfinite(data_range) and data_range > 0):
            hint = " (the reference's maximum: give --data-range)" if measured else ""
            raise HsrInputError(f"data range must be positive, got {data_range:g}{hint}")
        acc = MetricAccumulator(nb, data_range, scale, clip_to=float(data_range) if clip else None)
        masked = _stream(sr, ref, acc, bands, nb, (r0, r1, c0, c1), max_bytes, progress)
    out = acc.result()
    out.update(border=border, clipped=clip, data_range_source=source, masked_pixels=masked,
               band_indices=list(range(mr.bands)) if bands is None else [int(b) for b in bands])
    return out


def _stream(sr: Scene, ref: Scene, acc: MetricAccumulator, bands: Sequence[int] | None, nb: int,
            box: tuple[int, int, int, int], max_bytes: int, progress: Callable[[Iterable[Any]], Iterable[Any]] | None) -> int:
    """Row strips of ``box`` (r0, r1, c0, c1) with the SSIM halo, added to ``acc``; the number of pixels
    masked (missing in either scene)."""
    from rasterio.windows import Window

    r0, r1, c0, c1 = box
    ms, mr = sr.meta, ref.meta
    width = c1 - c0
    strip = max(1, int(max_bytes // max(1, width * nb * max(ms.dtype.itemsize, mr.dtype.itemsize))))
    starts = list(range(r0, r1, strip))
    iterator: Iterable[Any] = progress(starts) if progress else starts
    masked = 0
    for a in iterator:
        b = min(a + strip, r1)
        lo, hi = max(a - SSIM_HALO, r0), min(b + SSIM_HALO, r1)
        win = Window(c0, lo, width, hi - lo)
        x, y = sr.read_planes(win, bands), ref.read_planes(win, bands)  # (bands, rows, cols), as stored
        core = slice(a - lo, b - lo)
        valid = ~(ms.missing_mask(x) | mr.missing_mask(y)).any(axis=0)
        masked += int((~valid[core]).sum())
        mask = None if valid.all() else valid
        acc.add_pixels(x[:, core], y[:, core], None if mask is None else mask[core])
        acc.add_ssim(x, y, mask)
    return masked
