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

Measured (``python benchmarks/quality.py``; ``docs/EXPERIMENTS.md``, "Spectral subspace"): +0.18 dB mean per-band
PSNR and lower SAM on the held-out airborne scenes, +0.02 dB on CAVE, never lower on any scene.

:class:`SpectraSample` draws at most ~:data:`MAX_PIXELS` LR spectra at random (fixed seed) while
the scene is streamed for its statistics (:func:`fit_subspace` in a pass of its own);
:class:`DetailProjection` streams the detail a model gives for a tile
(``SRModel.forward_bands(…, detail=True)``: the LKCA family then never computes its own bicubic
base) into k coefficients per HR pixel and hands out the projected output band range by band
range (bicubic + reconstruction): a tile's whole output is never held.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch

from hsrcli.infer.consistency import BackProjection
from hsrcli.io.scene import Scene
from hsrcli.io.stats import band_stats
from hsrcli.models.crop import Crop, trim
from hsrcli.models.resample import bicubic_base

#: At most this many LR pixels enter the covariance (a random subset beyond it; the principal
#: directions of 64 k spectra are stable, and 224 bands × 64 k pixels is ~6.6 GFLOP in float64).
MAX_PIXELS = 64 * 2**10
#: Sampled pixels per block of the covariance sum (float64 copies of at most this many spectra).
FIT_ROWS = 8192
#: At most this many HR values (images × bands × HR pixels) per projected piece of a tile's output.
CHUNK_VALUES = 4 * 2**20
#: The model's pieces are held until they reach this many values (~16 MB) and analysed in one product:
#: every product reads and writes all k coefficient maps, so a few bands at a time (a small tile's one
#: spectral group of 6 new bands) spends most of its time there (shipped sample ×4: 37 products of 6
#: bands were 11 % of the run).
ANALYSED_VALUES = 4 * 2**20


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


class SpectraSample:
    """LR spectra drawn at random (fixed seed) while a scene is streamed, to fit its subspace afterwards.

    Pass :meth:`observe` to :func:`~hsrcli.io.stats.band_stats` (``observe=``) so that the
    statistics pass ``hsr upscale`` makes anyway also draws the sample: one read of the scene, not
    two. Each pixel is kept with probability ``max_pixels / (rows · cols)``, in its stored type with
    its validity mask (at most ~``max_pixels`` × B values of each).
    """

    def __init__(self, pixels: int, max_pixels: int = MAX_PIXELS) -> None:
        self.keep = min(1.0, max_pixels / max(pixels, 1))
        self.rng = np.random.default_rng(0)
        self.raw: list[np.ndarray] = []
        self.valid: list[np.ndarray] = []

    def observe(self, raw: np.ndarray, valid: np.ndarray) -> None:
        """One window: ``raw`` ``(P, B)`` stored values, ``valid`` ``(P, B)`` (not nodata, finite)."""
        if self.keep < 1.0:  # a copy of the rows picked
            pick = self.rng.random(raw.shape[0]) < self.keep
            self.raw.append(raw[pick])
            self.valid.append(valid[pick])
        else:  # the caller's window is not held
            self.raw.append(raw.copy())
            self.valid.append(valid.copy())

    def fit(self, setting: float | int, good: Iterable[int]) -> SubspaceFit | None:  # noqa: PYI041 - rank or share
        """Principal directions of the sampled spectra over the ``good`` bands (see :func:`fit_subspace`)."""
        good = tuple(good)
        if len(good) < 2:  # nothing a projection could remove (no band varies, or one)
            return None
        g = np.asarray(good)
        every = bool(self.raw) and np.array_equal(g, np.arange(self.raw[0].shape[1]))
        oks = [(v if every else v[:, g]).all(axis=1) for v in self.valid]
        n = sum(int(ok.sum()) for ok in oks)
        x = np.empty((n, len(g)), self.raw[0].dtype if self.raw else np.float64)  # one copy of the pixels kept
        at = 0
        for raw, ok in zip(self.raw, oks):
            k = int(ok.sum())
            x[at:at + k] = raw[ok] if every else raw[np.ix_(ok, g)]
            at += k
        if n < 2:
            return None
        mean = x.mean(axis=0, dtype=np.float64)
        cov = np.zeros((len(g), len(g)))
        for i in range(0, n, FIT_ROWS):  # centred in float64 a block of pixels at a time
            block = x[i:i + FIT_ROWS].astype(np.float64) - mean
            cov += block.T @ block
        vals, vecs = np.linalg.eigh(cov / n)
        vals, vecs = np.clip(vals[::-1], 0, None), vecs[:, ::-1]
        total_var = float(vals.sum())
        if not total_var > 0:
            return None
        share = np.cumsum(vals) / total_var
        k = int(np.searchsorted(share, setting - 1e-12) + 1) if isinstance(setting, float) else int(setting)
        if k >= len(g):
            return None
        return SubspaceFit(np.ascontiguousarray(vecs[:, :k]), good, float(share[k - 1]), n)


def fit_subspace(scene: Scene, setting: float | int,  # noqa: PYI041 - an int is a rank, a float a share
                 good: Iterable[int] | None = None,
                 max_pixels: int = MAX_PIXELS, progress: Callable[[list], Iterable] | None = None,
                 ) -> SubspaceFit | None:
    """Principal directions of the valid LR spectra of ``scene`` over the ``good`` bands (default all),
    in a pass of their own (``hsr upscale`` draws the sample during its statistics pass instead).

    ``setting``: a float in (0, 1) — keep the fewest directions holding that share of the
    variance — or an int — that many directions. A pixel counts when every good band is valid
    (not nodata, finite). Returns None when nothing would be removed (``k`` ≥ the good bands, or
    fewer than two valid pixels).
    """
    m = scene.meta
    sample = SpectraSample(m.rows * m.cols, max_pixels)
    band_stats(scene, progress=progress, observe=sample.observe)
    return sample.fit(setting, range(m.bands) if good is None else good)


class DetailProjection:
    """:class:`SubspaceFit` applied to network outputs in normalised units (input ``x / div``).

    In stored units the detail is ``D r`` (``D = diag(div)``), so the kept detail in normalised
    units is ``D⁻¹ U Uᵀ D r``: coefficients ``c = (DU)ᵀ r``, reconstruction ``D⁻¹U c``. The output
    ``bicubic + D⁻¹U c`` needs ``c`` (k values per HR pixel), not ``r``: :meth:`project` streams the
    model's band pieces into ``c`` and hands out the output band range by band range, so a tile's
    whole output is never held. Bands outside ``fit.good`` have zero rows in ``D U`` and ``D⁻¹ U``: those
    in ``dead`` (no valid LR pixel; default: every band outside the fit) keep the model's detail, held
    until the end; the others (flat bands, one value in every LR pixel) get none, so that they stay the
    constant their bicubic upsampling is.
    """

    def __init__(self, fit: SubspaceFit, div: np.ndarray, scale: int, device: torch.device,
                 dead: Iterable[int] | None = None) -> None:
        div = np.asarray(div, dtype=np.float64).reshape(-1)
        good = list(fit.good)
        self.fit, self.scale = fit, scale
        analysis, synthesis = np.zeros((len(div), fit.rank)), np.zeros((len(div), fit.rank))
        analysis[good] = fit.basis * div[good, None]
        synthesis[good] = fit.basis / div[good, None]
        self.analysis = torch.from_numpy(analysis).float().to(device)  # (B, k)
        self.synthesis = torch.from_numpy(synthesis).float().to(device)  # (B, k)
        self.dead = sorted(set(range(len(div))) - set(good) if dead is None else set(dead))

    def project(self, pieces: Iterable[tuple[int, int, torch.Tensor]], x: torch.Tensor, crop: Crop | None = None,
                back: BackProjection | None = None) -> Iterator[tuple[int, int, torch.Tensor]]:
        """The projected output of LR input ``x`` ``(N, B, h, w)``, less ``s·crop`` HR px on each side, as
        ``(b0, b1, y)`` pieces ``(N, b1 − b0, H, W)`` in band order (at most :data:`CHUNK_VALUES` values
        each), from the ``pieces`` of what the model adds to the bicubic upsampling
        (``SRModel.forward_bands(…, detail=True)``), consumed first, in any band order.

        With ``back`` (:mod:`hsrcli.infer.consistency`) the pieces are computed less
        :meth:`~hsrcli.infer.consistency.BackProjection.widen` of ``crop`` and the output is
        back-projected onto ``x``: the reduction of the projected detail ``D⁻¹U c`` is that of the k
        coefficient maps (↓ is linear and per band), so only those are reduced at HR, not B bands."""
        coef, dead, held = None, {}, []

        def analyse() -> None:  # the held pieces into the coefficients, in one product per image
            a = torch.cat([self.analysis[b0:b1] for b0, b1, _ in held]).t()  # (k, b)
            r = held[0][2] if len(held) == 1 else torch.cat([p for _, _, p in held], 1)
            for n in range(r.shape[0]):
                coef[n].addmm_(a, r[n].reshape(a.shape[1], -1))
            held.clear()

        for b0, b1, r in pieces:
            if coef is None:
                coef = r.new_zeros(r.shape[0], self.fit.rank, r.shape[-2] * r.shape[-1])
                dims = r.shape[-2:]
            for b in self.dead:
                if b0 <= b < b1:
                    dead[b] = r[:, b - b0].clone()
            held.append((b0, b1, r))
            if sum(p.numel() for _, _, p in held) >= ANALYSED_VALUES:
                analyse()
            r = None  # the piece is freed while the next one is computed (unless held)
        if coef is None:
            return
        if held:
            analyse()
        n, bands = x.shape[:2]
        if back is not None:
            inner, more = back.margins(crop)
            lr = back.lr_input(x, inner)
            shrunk = back.shrink(coef.view(n, -1, *dims)).flatten(2)  # ↓ of the coefficient maps
            # ``coef`` stays whole (k values per HR pixel: a copy cut by ``more`` would double them); each
            # chunk's reconstruction is cut instead
            dead_low = {b: back.shrink(v[:, None])[:, 0] for b, v in dead.items()}  # ↓ of a dead band's detail
            dead = {b: trim(v, more, self.scale) for b, v in dead.items()}
        step = max(1, CHUNK_VALUES // (n * coef.shape[-1]))
        if back is None and x.device.type == "cpu" and bands > 1:  # the depthwise bicubic is ~3x faster channels-last
            x = x.contiguous(memory_format=torch.channels_last)
        for b0 in range(0, bands, step):
            b1 = min(bands, b0 + step)
            if back is None:
                y = bicubic_base(x[:, b0:b1].float(), self.scale, crop)  # (N, b1 − b0, H, W), contiguous
            else:
                x_lr = lr(b0, b1)
                low = torch.matmul(self.synthesis[b0:b1], shrunk).view(n, b1 - b0, *x_lr[0].shape[-2:])  # ↓(D⁻¹U c)
                for b in range(b0, b1):
                    if b in dead_low:
                        low[:, b - b0] += dead_low[b]
                y = back.corrected(x_lr, low, more)
            for i in range(n):
                if back is None or not any(more):
                    y[i].view(b1 - b0, -1).addmm_(self.synthesis[b0:b1], coef[i])
                else:
                    y[i] += trim(torch.matmul(self.synthesis[b0:b1], coef[i]).view(b1 - b0, *dims), more, self.scale)
            for b in range(b0, b1):
                if b in dead:
                    y[:, b - b0] += dead.pop(b)
            yield b0, b1, y
            y = None
