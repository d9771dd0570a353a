"""Spectral-subspace detail projection: what a model adds to bicubic stays in the scene's own spectral subspace.

The spectra of a hyperspectral scene lie close to a low-dimensional subspace (a few materials,
mixed; the premise of HySime, Bioucas-Dias & Nascimento 2008, and of subspace-based
denoising), and the LR scene spans the same subspace as the HR one: resampling only mixes
neighbouring spectra. So the detail a model adds to the bicubic upsampling, ``r = y − bicubic(x)``,
is projected onto the top ``k`` principal directions ``U`` (B × k) of the scene's own LR spectra::

    y' = bicubic(x) + U Uᵀ r          (per HR pixel, in the scene's units)

What the model adds outside them — noise amplified in weak bands, artefacts of spectral band
groups — is removed; what the LR scene itself holds (rare materials included) is kept exactly as
bicubic carries it. ``k`` is the smallest number of principal components of the LR spectra
(centred) that hold ``energy`` of their variance (default :data:`~hsrcli.choices.SUBSPACE_ENERGY`),
or a rank given by the user; when ``k`` reaches the number of bands there is nothing to remove.

Measured (``python benchmarks/quality.py``; README, "Spectral subspace"): +0.18 dB mean per-band
PSNR and lower SAM on the held-out airborne scenes, +0.02 dB on CAVE, never lower on any scene.

:func:`fit_subspace` streams the LR scene once (at most :data:`MAX_PIXELS` valid pixels, drawn at
random with a fixed seed); :class:`DetailProjection` applies it to a tile's output in row chunks,
with the bicubic computed in LR layout on the chunk's LR rows only (exact: the same taps as on
the whole tile), so no HR-sized temporary beyond the tile's output is held.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch

from hsrcli.io.scene import Scene
from hsrcli.models.base import Crop, crop_window
from hsrcli.models.resample import BICUBIC_REACH
from hsrcli.models.upsampler import shuffle
from hsrcli.ops.imresize import upsample_phases

#: At most this many LR pixels enter the covariance (a random subset beyond it; the principal
#: directions of 64 k spectra are stable, and 224 bands × 64 k pixels is ~6.6 GFLOP in float64).
MAX_PIXELS = 64 * 2**10
#: HR values (bands × HR pixels) per projected chunk of a tile's output.
CHUNK_VALUES = 4 * 2**20


@dataclass(frozen=True)
class SubspaceFit:
    """The principal directions of a scene's LR spectra.

    ``basis`` (G, k): orthonormal columns over the ``good`` bands (indices into the scene's B
    bands; bands without any valid pixel are left out and left alone), in the scene's stored units.
    ``captured``: the share of the centred spectra's variance the k directions hold;
    ``pixels``: how many LR pixels were used.
    """

    basis: np.ndarray
    good: tuple[int, ...]
    captured: float
    pixels: int

    @property
    def rank(self) -> int:
        return int(self.basis.shape[1])

    def summary(self) -> dict:
        return {"rank": self.rank, "bands": len(self.good), "variance_kept": self.captured, "pixels": self.pixels}


def fit_subspace(scene: Scene, setting: float | int,  # noqa: PYI041 - an int is a rank, a float a share
                 good: Iterable[int] | None = None,
                 max_pixels: int = MAX_PIXELS, progress: Callable[[list], Iterable] | None = None,
                 ) -> SubspaceFit | None:
    """Principal directions of the valid LR spectra of ``scene`` over the ``good`` bands (default all).

    ``setting``: a float in (0, 1) — keep the fewest directions holding that share of the
    variance — or an int — that many directions. A pixel counts when every good band is valid
    (not nodata, finite). Returns None when nothing would be removed (``k`` ≥ the good bands, or
    fewer than two valid pixels).
    """
    m = scene.meta
    good = tuple(range(m.bands)) if good is None else tuple(good)
    g = np.asarray(good)
    windows = list(scene.windows())
    total = m.rows * m.cols
    keep_p = min(1.0, max_pixels / max(total, 1))
    rng = np.random.default_rng(0)
    n, shift, s1, s2 = 0, None, np.zeros(len(g)), np.zeros((len(g), len(g)))
    for window in (progress or (lambda it: it))(windows):
        raw = scene.read(window).reshape(-1, m.bands)[:, g]
        ok = ~m.nodata_mask(raw).any(axis=1)
        if np.issubdtype(raw.dtype, np.floating):
            ok &= np.isfinite(raw).all(axis=1)
        if keep_p < 1.0:
            ok &= rng.random(raw.shape[0]) < keep_p
        x = raw[ok].astype(np.float64)
        if not len(x):
            continue
        if shift is None:  # centre on a first estimate: no cancellation in the second moments
            shift = x.mean(axis=0)
        x -= shift
        n += len(x)
        s1 += x.sum(axis=0)
        s2 += x.T @ x
    if n < 2:
        return None
    mean = s1 / n
    cov = s2 / n - np.outer(mean, mean)
    vals, vecs = np.linalg.eigh(cov)
    vals, vecs = np.clip(vals[::-1], 0, None), vecs[:, ::-1]
    total_var = float(vals.sum())
    if not total_var > 0:
        return None
    share = np.cumsum(vals) / total_var
    if isinstance(setting, float):
        k = int(np.searchsorted(share, setting - 1e-12) + 1)
    else:
        k = int(setting)
    if k >= len(g):
        return None
    return SubspaceFit(np.ascontiguousarray(vecs[:, :k]), good, float(share[k - 1]), n)


class DetailProjection:
    """:class:`SubspaceFit` applied to network outputs in normalised units (input ``x / div``).

    In stored units the detail is ``D r`` (``D = diag(div)``), so the kept detail in normalised
    units is ``D⁻¹ U Uᵀ D r``: coefficients with ``D U``, reconstruction with ``D⁻¹ U``.
    """

    def __init__(self, fit: SubspaceFit, div: np.ndarray, scale: int, device: torch.device) -> None:
        div = np.asarray(div, dtype=np.float64).reshape(-1)
        d = div[list(fit.good)]
        self.fit, self.scale = fit, scale
        self.good = torch.as_tensor(fit.good, device=device)
        self.all_good = len(fit.good) == len(div)
        self.analysis = torch.from_numpy(fit.basis * d[:, None]).float().to(device)  # (G, k)
        self.synthesis = torch.from_numpy(fit.basis / d[:, None]).float().to(device)  # (G, k)

    def apply_(self, y: torch.Tensor, x: torch.Tensor, crop: Crop | None = None) -> torch.Tensor:
        """Project the detail of ``y`` ``(N, B, s·h', s·w')`` — the output of LR input ``x`` ``(N, B, h, w)``
        less ``s·crop`` HR px on each side — in place, chunk of HR rows by chunk; returns ``y``."""
        s = self.scale
        h, w = x.shape[-2:]
        top, bottom, left, right = crop or (0, 0, 0, 0)
        lr_rows = h - top - bottom
        row_values = x.shape[1] * s * s * (w - left - right)
        step = max(1, min(lr_rows, CHUNK_VALUES // max(row_values, 1)))
        if x.device.type == "cpu" and x.shape[1] > 1:  # the depthwise bicubic is ~3x faster channels-last
            x = x.contiguous(memory_format=torch.channels_last)
        for n in range(x.shape[0]):
            for a in range(0, lr_rows, step):
                b = min(lr_rows, a + step)
                (rows, cols), keep = crop_window(h, w, (top + a, h - top - b, left, right), BICUBIC_REACH)
                with torch.autocast(x.device.type, enabled=False):
                    base = shuffle(upsample_phases(x[n:n + 1, :, rows, cols].float(), s)[..., keep[0], keep[1]], s)
                self._project_(y[n, :, a * s:b * s, :], base[0])
        return y

    def _project_(self, y: torch.Tensor, base: torch.Tensor) -> None:
        """``y ← base + D⁻¹U·(DU)ᵀ(y − base)`` on the good bands of the chunk ``y`` ``(B, H, W)`` (a view, in
        place): coefficients from ``y`` and ``base`` directly, then one pass that writes ``y``."""
        if self.all_good:
            yv = y.flatten(1)  # a view for a chunk of whole rows: rows are contiguous within each band
            flat = yv if yv.data_ptr() == y.data_ptr() else None
            bv = base.reshape(base.shape[0], -1)
            coef = self.analysis.t() @ yv - self.analysis.t() @ bv  # (k, H·W)
            if flat is not None:
                torch.addmm(bv, self.synthesis, coef, out=flat)
            else:
                y.copy_(torch.addmm(bv, self.synthesis, coef).view_as(y))
            return
        yg = y.index_select(0, self.good).reshape(len(self.good), -1)
        bg = base.index_select(0, self.good).reshape(len(self.good), -1)
        coef = self.analysis.t() @ (yg - bg)
        y.index_copy_(0, self.good, torch.addmm(bg, self.synthesis, coef).view(len(self.good), *y.shape[1:]))
