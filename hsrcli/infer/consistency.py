"""LR consistency: the super-resolved output back-projected onto the LR input it came from.

Iterative back-projection (Irani & Peleg, 1991): ``y ← y + ↑(x − ↓(y))``, per band, ``passes``
times, where ↑ and ↓ are the MATLAB-compatible bicubic ×s and ×1/s (antialiased) that ``hsr
prepare`` and the benchmarks degrade with — or, when the LR scene is known to be blurrier (``hsr
upscale --degrade gaussian|bicubic --sigma``), ↓ is that degradation (:func:`gaussian_shrink`: a
Gaussian point-spread function sampled every s-th px; or a Gaussian blur before the bicubic). Each pass moves the output towards one whose ×s bicubic
reduction is the LR scene itself: the LR pixels' spectra are kept, what the network got wrong at the
LR scale is corrected, and the detail it adds above that scale stays. The correction is the bicubic
upsampling of an LR residual: smooth, and made of the LR scene's own content (inside the spectral
subspace of :mod:`hsrcli.infer.subspace`, applied before it, or not).

It costs one HR-sized operation per band: with the output written ``y = ↑(x) + D`` (``D`` what the
network adds to the bicubic upsampling, which models hand over on request), ``↓(y) = K(x) + ↓(D)``
where ``K = ↓∘↑`` is a 7-tap separable filter on the LR grid, so every pass is LR arithmetic,
``R ← R + x − K(x + R) − ↓(D)`` from ``R = 0``, and the output is ``↑(x + R) + D`` — the bicubic
upsampling the output needs anyway, of ``x + R`` instead of ``x``. Only ``↓(D)`` runs at HR. Both
resizes use :func:`torch.nn.functional.interpolate` with ``antialias=True``, whose bicubic (a = −0.5,
kernel widened by s when shrinking, same pixel centres) equals MATLAB's away from an array's
border (tests); at the border it renormalises instead of mirroring, which touches only the
:data:`REACH` outermost LR pixels of the array — the discarded margin of a tile, or the mirrored
padding of the scene.

Measured with the bundled weights on the held-out scenes (``benchmarks/quality.py``; ``docs/EXPERIMENTS.md``).

An output pixel after ``n`` passes depends on the network's output within ``n ×`` :data:`REACH` LR
pixels of its own (↓ draws on ±2 LR px, ``K`` on ±3, ↑ on ±2; the LR input ``x`` is read over the
whole tile): tiles compute that much more of the output than they keep (:meth:`BackProjection.widen`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator

import torch
import torch.nn.functional as F

from hsrcli.data.degrade import gaussian_blur, gaussian_kernel
from hsrcli.models.crop import Crop, trim
from hsrcli.models.resample import BICUBIC_REACH, bicubic_base
from hsrcli.ops.imresize import imresize

#: LR pixels of network output one back-projection pass reads around an output pixel (bicubic ↓).
REACH = 2 * BICUBIC_REACH


@functools.cache
def lr_filter(scale: int, sigma: float = 0.0, kernel: str = "gaussian") -> torch.Tensor:
    """``K = ↓∘↑`` along one axis: the 1-D LR → LR kernel (float64, odd length, centred) of MATLAB's
    bicubic ×``scale`` followed by ↓: its antialiased ×1/``scale``, or with ``sigma`` > 0 a Gaussian blur
    of ``sigma`` HR px then every ``scale``-th px (``kernel="gaussian"``, :func:`gaussian_shrink`) or
    then that bicubic ×1/``scale`` (``kernel="bicubic"``: ``hsr prepare --degrade bicubic --sigma``)."""
    n = 64
    delta = torch.zeros(1, 1, n, 1, dtype=torch.float64)
    delta[0, 0, n // 2, 0] = 1.0
    up = imresize(delta, size=(scale * n, 1))
    if sigma <= 0:
        k = imresize(up, size=(n, 1))
    elif kernel == "gaussian":
        k = gaussian_shrink(up, scale, sigma, axes=(-2,))
    else:
        k = imresize(gaussian_blur(up, sigma), size=(n, 1))
    k = k[0, 0, :, 0]
    half = int((k.abs() > 1e-12).nonzero().flatten().sub(n // 2).abs().max())
    return k[n // 2 - half:n // 2 + half + 1].clone()


def shrink(y: torch.Tensor, scale: int) -> torch.Tensor:
    """``↓``: MATLAB's antialiased bicubic ×1/``scale`` of ``y`` ``(N, b, s·h, s·w)`` → ``(N, b, h, w)``
    (exact away from the array's border; see the module docstring)."""
    h, w = y.shape[-2] // scale, y.shape[-1] // scale
    return F.interpolate(y, size=(h, w), mode="bicubic", antialias=True, align_corners=False)


def gaussian_shrink(y: torch.Tensor, scale: int, sigma: float, axes: tuple[int, ...] = (-2, -1)) -> torch.Tensor:
    """``↓`` of a Gaussian point-spread function: ``y`` ``(N, b, s·h, s·w)`` blurred by ``sigma`` HR px and
    sampled every ``scale``-th px from ``(scale − 1) // 2`` — :func:`hsrcli.data.degrade.degrade` with
    ``kernel="gaussian"`` (mirrored borders alike), computed as strided convolutions (only the kept
    samples) → ``(N, b, h, w)`` (``axes``: the axes reduced)."""
    k = gaussian_kernel(sigma).to(device=y.device, dtype=y.dtype)
    r, off = (len(k) - 1) // 2, (scale - 1) // 2
    n, c, h, w = y.shape
    z = y.reshape(n * c, 1, h, w)
    mode = "reflect" if min(h, w) > r else "replicate"
    if -1 in axes:
        z = F.conv2d(F.pad(z, (r, r, 0, 0), mode=mode)[..., off:], k.view(1, 1, 1, -1), stride=(1, scale))
    if -2 in axes:
        z = F.conv2d(F.pad(z, (0, 0, r, r), mode=mode)[..., off:, :], k.view(1, 1, -1, 1), stride=(scale, 1))
    return z.reshape(n, c, *z.shape[-2:])


def reduce_expanded(x: torch.Tensor, scale: int, sigma: float = 0.0, kernel: str = "gaussian") -> torch.Tensor:
    """``K(x) = ↓(↑(x))`` of ``x`` ``(N, b, h, w)`` computed on the LR grid (:func:`lr_filter`): the separable
    filter as weighted sums of shifted views (no convolution workspace); the array's edge pixels repeated
    past its border."""
    taps = lr_filter(scale, sigma, kernel).flip(0).tolist()  # a convolution: out[i] = Σ k[u] x[i − u]
    r = len(taps) // 2
    h, w = x.shape[-2:]
    for dim, n in ((-2, h), (-1, w)):
        idx = torch.arange(-r, n + r, device=x.device).clamp_(0, n - 1)
        xp = x.index_select(dim, idx)
        out = None
        for t, weight in enumerate(taps):
            term = xp.narrow(dim, t, n) * weight
            out = term if out is None else out.add_(term)
        x = out
    return x


class BackProjection:
    """``passes`` back-projection passes at ``scale`` on the network's detail, band piece by band piece,
    in normalised units (the network's input ``x`` ``(N, B, h, w)``). ↓ is the LR scene's degradation as
    ``hsr prepare --degrade KERNEL --sigma SIGMA`` makes it: MATLAB's bicubic (``sigma`` 0), a Gaussian
    point-spread function of ``sigma`` HR px sampled every ``scale``-th px (``kernel="gaussian"``), or
    a Gaussian blur before the bicubic (``kernel="bicubic"``, ``sigma`` > 0)."""

    def __init__(self, scale: int, passes: int = 1, sigma: float = 0.0, kernel: str = "gaussian") -> None:
        if passes < 1:
            raise ValueError("back-projection needs at least one pass")
        if sigma < 0 or kernel not in ("bicubic", "gaussian"):
            raise ValueError("sigma must be >= 0 and kernel bicubic or gaussian")
        self.scale, self.passes, self.sigma = int(scale), int(passes), float(sigma)
        self.kernel = kernel if self.sigma > 0 else "bicubic"

    @property
    def reach(self) -> int:
        """LR pixels of output needed past every kept pixel."""
        if self.sigma <= 0:
            return REACH * self.passes
        s, r = self.scale, (len(gaussian_kernel(self.sigma)) - 1) // 2
        # the LR pixels whose HR pixels a kept sample's blur (and bicubic) reads
        down = -(-(r + s) // s) if self.kernel == "gaussian" else -(-r // s) + BICUBIC_REACH
        k_half = (len(lr_filter(s, self.sigma, self.kernel)) - 1) // 2
        return self.passes * (down + BICUBIC_REACH + k_half)

    def describe(self) -> str:
        """``N pass(es)``, and the blur of ↓ when there is one (for the output's history)."""
        what = f"{self.passes} pass{'es' if self.passes > 1 else ''}"
        if self.sigma <= 0:
            return what
        return f"{what}, " + (f"Gaussian PSF sigma {self.sigma:g} HR px" if self.kernel == "gaussian" else
                              f"Gaussian blur sigma {self.sigma:g} HR px before bicubic")

    def shrink(self, y: torch.Tensor) -> torch.Tensor:
        """``↓`` of ``y`` ``(N, b, s·h, s·w)`` → ``(N, b, h, w)``."""
        if self.sigma <= 0:
            return shrink(y, self.scale)
        if self.kernel == "gaussian":
            return gaussian_shrink(y, self.scale, self.sigma)
        return shrink(gaussian_blur(y, self.sigma), self.scale)

    def widen(self, crop: Crop) -> Crop:
        """The crop the network's detail must be computed with so that :meth:`apply` can keep ``crop``
        (an array's own border needs no more: it is treated alike in a tile and in the whole image)."""
        return tuple(max(0, c - self.reach) for c in crop)

    def margins(self, crop: Crop) -> tuple[Crop, Crop]:
        """``(inner, more)``: :meth:`widen` of ``crop``, and what is cut from the back-projected output
        of a detail computed less ``inner`` to leave ``crop`` (LR px on each side)."""
        inner = self.widen(crop)
        return inner, tuple(c - i for c, i in zip(crop, inner))

    def whole(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The output ``y`` ``(N, B, s·h, s·w)`` of ``x`` ``(N, B, h, w)`` back-projected as one array (no tiles)."""
        with torch.no_grad(), torch.autocast(x.device.type, enabled=False):
            detail = y.float() - bicubic_base(x.float(), self.scale)
        return torch.cat([out for _, _, out in self.apply([(0, x.shape[1], detail)], x, (0, 0, 0, 0))], 1)

    def lr_input(self, x: torch.Tensor, inner: Crop) -> Callable[[int, int], tuple[torch.Tensor, torch.Tensor]]:
        """For bands ``b0:b1``, ``(x, K(x))`` float32 ``(N, b1 − b0, …)`` on the window of ``x`` ``(N, B, h, w)``
        less ``inner`` (``K(x)`` from the whole of ``x``: exact up to its border). Computed when a band
        range asks for it: ``K`` of a tile's every band is never held at once (hundreds of bands)."""

        def bands(b0: int, b1: int) -> tuple[torch.Tensor, torch.Tensor]:
            with torch.no_grad(), torch.autocast(x.device.type, enabled=False):
                xb = x[:, b0:b1].float()
                return trim(xb, inner, 1), trim(reduce_expanded(xb, self.scale, self.sigma, self.kernel), inner, 1)

        return bands

    def corrected(self, lr: tuple[torch.Tensor, torch.Tensor], shrunk: torch.Tensor, more: Crop) -> torch.Tensor:
        """``↑(x + R)`` less ``s·more`` HR px on each side (``(N, b, H, W)``, contiguous), for a band range's
        :meth:`lr_input` ``lr = (x, K(x))`` and ``shrunk = ↓(D)`` of the same shape: what the output
        adds ``D`` to, ``R`` the residual after the passes (``R ← R + x − K(x + R) − ↓(D)`` from 0)."""
        x, kx = lr
        with torch.no_grad(), torch.autocast(x.device.type, enabled=False):
            target = x - kx - shrunk  # R_1
            r = target.clone()
            for _ in range(self.passes - 1):
                r += target - reduce_expanded(r, self.scale, self.sigma, self.kernel)
            z = r.add_(x)
            if z.device.type == "cpu" and z.shape[1] > 1:  # the depthwise bicubic is ~3x faster channels-last
                z = z.contiguous(memory_format=torch.channels_last)
            return bicubic_base(z, self.scale, more)

    def apply(self, pieces: Iterable[tuple[int, int, torch.Tensor]], x: torch.Tensor,
              crop: Crop) -> Iterator[tuple[int, int, torch.Tensor]]:
        """Outputs ``(b0, b1, y)`` (``y`` ``(N, b, H, W)``, float32, less ``s·crop`` HR px on each side) from
        the detail ``pieces`` ``(b0, b1, D)`` of the network on ``x``, computed less :meth:`widen` of
        ``crop``: the back-projected ``↑(x) + D``, as if cut from the whole back-projected output. ``D``
        pieces are consumed. (With the spectral subspace,
        :meth:`~hsrcli.infer.subspace.DetailProjection.project` does the same on its coefficients.)"""
        s = self.scale
        inner, more = self.margins(crop)
        lr = self.lr_input(x, inner)
        for b0, b1, d in pieces:
            with torch.no_grad(), torch.autocast(d.device.type, enabled=False):
                y = self.corrected(lr(b0, b1), self.shrink(d), more)
                yield b0, b1, y.add_(trim(d, more, s))
            d = y = None
