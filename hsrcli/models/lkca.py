"""LKCA-Net and LKCA-LR (Shi, Zhou, Sun, Han: "Rethinking the Upsampling Layer in HSI SR").

What is the paper's ([SOURCE], abstract and summaries): a lightweight SHSR CNN
whose blocks use *large-kernel channel attention* to calibrate multi-scale
channel features; a *learnable upsampling layer* that holds most parameters and
is low-rank; LKCA-LR replaces it by a group-convolution low-rank approximation;
LKCA-KD distils the full model into LKCA-LR (see ``hsrcli.train``).

What is ours (ALGORITHMS.md §1.2, the paper's body text being unavailable):
every layer below — bicubic global residual, 3×3 shallow conv, N LKCA blocks
(pre-norm, 1×1, three decomposed large kernels (3,5,2)/(5,7,3)/(7,9,4) on channel
thirds, channel attention (SE, r = 4, or ECA), 1×1, residual, optional FFN),
a 3×3 conv and long skip, then the one-shot upsampler. Defaults: C = 64, N = 6.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from hsrcli.choices import SCALES
from hsrcli.models.base import SRModel
from hsrcli.models.crop import Crop, crop_window
from hsrcli.models.registry import register
from hsrcli.models.resample import bicubic_phases
from hsrcli.models.upsampler import FullUpsampler, LowRankUpsampler, shuffle

#: (k1, k2, dilation) of the three decomposed large kernels (receptive fields ≈ 7, 19, 35).
LK_BRANCHES = ((3, 5, 2), (5, 7, 3), (7, 9, 4))
#: Compact branches (receptive fields ≈ 11, 13, 17) used by ``lkca-g`` to keep tiles exact and cheap.
COMPACT_BRANCHES = ((3, 5, 2), (5, 5, 2), (5, 7, 2))


def branch_radius(branches) -> int:
    """Largest spatial reach (pixels from the centre) of a set of (k1, k2, dilation) branches."""
    return max(k1 // 2 + d * (k2 // 2) for k1, k2, d in branches)


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channel dimension of an ``(N, C, H, W)`` tensor."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


#: On CPU, depthwise convolutions with a dilation and a kernel larger than this run polyphase
#: (:func:`polyphase_depthwise`): oneDNN has no fast path for them (2 cores, 16 channels at
#: 120² LR: 7×7 dilation 2 took 6.8 ms natively, 0.75 ms polyphase; 5×5 dilation 2 is fast natively).
NATIVE_DILATED_KERNEL = 5


def polyphase_depthwise(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """``conv(x)`` for a depthwise, dilated (d), odd-kernel, "same"-padded ``conv``, computed as one
    undilated convolution of the d² polyphase components of ``x`` (``pixel_unshuffle``).

    Tap for tap the same sums as the dilated convolution (zero padding included: a tap outside
    the image is outside its component too). ``x``: ``(N, C, H, W)``, any H, W.
    """
    d = conv.dilation[0]
    k = conv.kernel_size[0]
    c, h, w = x.shape[1:]
    ph, pw = (-h) % d, (-w) % d
    if ph or pw:
        x = F.pad(x, (0, pw, 0, ph))
    y = F.conv2d(F.pixel_unshuffle(x, d), conv.weight.repeat_interleave(d * d, 0),
                 None if conv.bias is None else conv.bias.repeat_interleave(d * d), padding=k // 2, groups=c * d * d)
    y = F.pixel_shuffle(y, d)
    return y[:, :, :h, :w] if ph or pw else y


class DecomposedLargeKernel(nn.Module):
    """Depthwise k1×k1 → depthwise dilated k2×k2 → pointwise 1×1 (VAN/LKA decomposition)."""

    def __init__(self, channels: int, k1: int, k2: int, dilation: int) -> None:
        super().__init__()
        self.dw = nn.Conv2d(channels, channels, k1, padding=k1 // 2, groups=channels)
        self.dwd = nn.Conv2d(channels, channels, k2, padding=dilation * (k2 // 2), dilation=dilation,
                             groups=channels)
        self.pw = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dw(x)
        dwd = self.dwd
        slow = x.device.type == "cpu" and dwd.dilation[0] > 1 and dwd.kernel_size[0] > NATIVE_DILATED_KERNEL
        return self.pw(polyphase_depthwise(x, dwd) if slow else dwd(x))


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation (``kind="ca"``, reduction r) or ECA (``kind="eca"``, 1-D conv k = 3).

    ``pool="global"`` squeezes with the global average (classic SE: the attention
    depends on the whole image, so the receptive field is unbounded); an odd integer
    ``pool`` uses a local k×k average instead, which keeps the receptive field finite
    (exact tiled inference).
    """

    def __init__(self, channels: int, reduction: int = 4, kind: str = "ca", pool: str | int = "global") -> None:
        super().__init__()
        self.kind, self.pool = kind, pool
        if pool != "global" and (not isinstance(pool, int) or pool < 1 or pool % 2 == 0):
            raise ValueError(f"pool must be 'global' or an odd window size, got {pool!r}")
        if kind == "ca":
            self.fc = nn.Sequential(nn.Conv2d(channels, max(1, channels // reduction), 1), nn.ReLU(inplace=True),
                                    nn.Conv2d(max(1, channels // reduction), channels, 1))
        elif kind == "eca":
            self.conv = nn.Conv1d(1, 1, 3, padding=1, bias=False)
        else:
            raise ValueError(f"unknown attention {kind!r} (use ca or eca)")

    def _mean(self, x: torch.Tensor) -> torch.Tensor:
        """The squeeze: global mean ``(N, C, 1, 1)``, or the mean over the valid pixels of each k×k window."""
        if self.pool == "global":
            return x.mean(dim=(2, 3), keepdim=True)
        # the k×k mean as a k×1 then a 1×k mean: the same numbers (the valid counts factor), 3× faster
        k, r = self.pool, self.pool // 2
        x = F.avg_pool2d(x, (1, k), stride=1, padding=(0, r), count_include_pad=False)
        return F.avg_pool2d(x, (k, 1), stride=1, padding=(r, 0), count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "ca" and self.pool != "global":
            # A window mean (weights summing to 1) commutes with the first 1×1 conv: pool its C/r
            # channels instead of C (the same function, ~4× less pooling; rounding aside).
            w = self.fc[2](self.fc[1](self._mean(self.fc[0](x))))
        elif self.kind == "ca":
            w = self.fc(self._mean(x))
        else:
            pooled = self._mean(x)
            n, c, h, w_ = pooled.shape
            flat = pooled.permute(0, 2, 3, 1).reshape(n * h * w_, 1, c)
            w = self.conv(flat).reshape(n, h, w_, c).permute(0, 3, 1, 2)
        return x * torch.sigmoid(w)


#: On CPU at inference, the FFN of an LKCA block runs over bands of rows of about this many pixels
#: (:meth:`LKCABlock._ffn_by_rows`): its 2C-channel intermediates then take ~3 MB instead of the
#: whole tile's. ``lkca-g_x4`` over 64 bands on 288² and 400² tiles, 2 cores: the forward's peak RSS
#: growth 4.15–4.17 → 3.4–3.5 KB per LR pixel (``hsr upscale`` of 512² × 64 ×4: peak RSS 744–760 →
#: 666–689 MB), speed unchanged (33.0 vs 32.6 k LR px/s, medians of 8 alternating runs).
FFN_ROW_PIXELS = 8192


class LKCABlock(nn.Module):
    """Norm → 1×1 → multi-scale large kernels on channel thirds → channel attention → 1×1, + input; FFN."""

    def __init__(self, channels: int, reduction: int = 4, attention: str = "ca", ffn: bool = True,
                 norm: bool = True, branches=LK_BRANCHES, pool: str | int = "global") -> None:
        super().__init__()
        n = len(branches)
        if channels < n:
            raise ValueError(f"channels must be at least {n}")
        # Channel "thirds": equal when C is a multiple of 3, else the first part takes the remainder.
        self.parts = [channels - (n - 1) * (channels // n)] + [channels // n] * (n - 1)
        self.norm = ChannelLayerNorm(channels) if norm else nn.Identity()
        self.proj_in = nn.Conv2d(channels, channels, 1)
        self.act = nn.GELU()
        self.branches = nn.ModuleList(DecomposedLargeKernel(p, *k) for p, k in zip(self.parts, branches))
        self.attn = ChannelAttention(channels, reduction, attention, pool)
        self.radius = None if pool == "global" else branch_radius(branches) + pool // 2 + (1 if ffn else 0)
        self.proj_out = nn.Conv2d(channels, channels, 1)
        self.ffn = None
        if ffn:
            self.ffn = nn.Sequential(
                ChannelLayerNorm(channels) if norm else nn.Identity(),
                nn.Conv2d(channels, 2 * channels, 1),
                nn.Conv2d(2 * channels, 2 * channels, 3, padding=1, groups=2 * channels),
                nn.GELU(),
                nn.Conv2d(2 * channels, channels, 1),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act(self.proj_in(self.norm(x)))
        parts = torch.split(y, self.parts, dim=1)
        y = torch.cat([b(p) for b, p in zip(self.branches, parts)], dim=1)
        x = x + self.proj_out(self.attn(y))
        if self.ffn is None:
            return x
        if x.device.type == "cpu" and not torch.is_grad_enabled():
            return self._ffn_by_rows(x)
        return x + self.ffn(x)

    def _ffn_by_rows(self, x: torch.Tensor) -> torch.Tensor:
        """``x + ffn(x)`` for ``x`` ``(N, C, H, W)``, over bands of rows of about :data:`FFN_ROW_PIXELS`
        pixels: each band is computed with the rows its depthwise conv reads above and below it, whose
        outputs are dropped. The same sums as on the whole image (the rest of the FFN is per pixel)."""
        h, w = x.shape[-2:]
        step = max(1, FFN_ROW_PIXELS // w)
        if step >= h:
            return x + self.ffn(x)
        halo = self.ffn[2].kernel_size[0] // 2
        out = torch.empty_like(x)
        for a in range(0, h, step):
            b = min(h, a + step)
            lo, hi = max(0, a - halo), min(h, b + halo)
            torch.add(x[:, :, a:b], self.ffn(x[:, :, lo:hi])[:, :, a - lo:b - lo], out=out[:, :, a:b])
        return out


class LKCANet(SRModel):
    """LKCA-Net (``upsampler="full"``) or LKCA-LR (``upsampler="lowrank"``).

    Input ``(N, B, h, w)`` LR; output ``(N, B, s·h, s·w)`` = bicubic(LR) + upsampler(features).
    """

    def __init__(self, bands: int, scale: int, channels: int = 64, blocks: int = 6, upsampler: str = "full",
                 up_kernel: int = 3, lr_groups: int | None = None, lr_rank: int = 16, reduction: int = 4,
                 attention: str = "ca", ffn: bool = True, norm: bool = True, branches=LK_BRANCHES,
                 pool: str | int = "global") -> None:
        super().__init__()
        self.bands, self.scale = bands, scale
        self.head = nn.Conv2d(bands, channels, 3, padding=1)
        self.body = nn.Sequential(*(LKCABlock(channels, reduction, attention, ffn, norm, tuple(map(tuple, branches)),
                                              pool) for _ in range(blocks)))
        radii = [b.radius for b in self.body]
        #: LR pixels from which an output pixel can draw information (None: whole image, global pooling).
        self.receptive_radius = None if None in radii else sum(radii) + 2 + up_kernel // 2 + 2  # + bicubic
        self.body_tail = nn.Conv2d(channels, channels, 3, padding=1)
        if upsampler == "full":
            self.upsampler: nn.Module = FullUpsampler(channels, bands, scale, up_kernel)
        elif upsampler == "lowrank":
            self.upsampler = LowRankUpsampler(channels, bands, scale, up_kernel, lr_groups, lr_rank)
        else:
            raise ValueError(f"unknown upsampler {upsampler!r} (use full or lowrank)")

    def learnable_upsampler(self) -> nn.Module:
        """The full or low-rank upsampler."""
        return self.upsampler

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Backbone features ``(N, C, h, w)`` before the upsampler."""
        f0 = self.head(x)
        return self.body_tail(self.body(f0)) + f0

    def residual_phases(self, x: torch.Tensor, crop: Crop | None = None) -> torch.Tensor:
        """The upsampler's residual before the pixel shuffle ``(N, B·s², h', w')`` (see
        :func:`~hsrcli.models.upsampler.shuffle`): over the whole input, or without ``crop`` (LR px) —
        the backbone still runs on the whole input, the upsampler on the kept window plus its reach."""
        f = self.features(x)
        (rows, cols), keep = crop_window(*x.shape[-2:], crop, self.upsampler.kernel // 2)
        return self.upsampler.phases(f[..., rows, cols])[..., keep[0], keep[1]]

    def phases(self, x: torch.Tensor, crop: Crop | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``(upsampler residual, bicubic base)`` before the pixel shuffle, each ``(N, B·s², h', w')``
        (:meth:`residual_phases`, :func:`~hsrcli.models.resample.bicubic_phases`; the base in the
        input's precision, float32, under autocast too)."""
        return self.residual_phases(x, crop), bicubic_phases(x, self.scale, crop)

    def detail(self, x: torch.Tensor, crop: Crop | None = None) -> torch.Tensor:
        """The upsampler's residual ``(N, B, s·h', s·w')``: the output less its bicubic base, which is
        not computed."""
        return shuffle(self.residual_phases(x, crop), self.scale)

    def forward_bands(self, x: torch.Tensor, crop: Crop | None = None, detail: bool = False
                      ) -> Iterator[tuple[int, int, torch.Tensor]]:
        """One piece, all bands (see :meth:`SRModel.forward_bands`); with ``detail``, :meth:`detail`."""
        yield 0, self.bands, self.detail(x, crop) if detail else self(x, crop=crop)

    def forward_parts(self, x: torch.Tensor, crop: Crop | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(output, upsampler residual, bicubic base)``, each ``(N, B, s·h, s·w)`` — the residual is
        what KD aligns."""
        residual, base = (shuffle(p, self.scale) for p in self.phases(x, crop))
        return base + residual, residual, base

    def forward(self, x: torch.Tensor, return_parts: bool = False, crop: Crop | None = None):
        """SR cube ``(N, B, s·h, s·w)`` (less ``s·crop`` HR px on each side); with ``return_parts`` the
        tuple of :meth:`forward_parts` (for KD through DDP)."""
        if return_parts:
            return self.forward_parts(x, crop)
        residual, base = self.phases(x, crop)
        if not torch.is_grad_enabled() and base.dtype == torch.promote_types(base.dtype, residual.dtype):
            return shuffle(base.add_(residual), self.scale)  # summed in LR layout, shuffled once
        return shuffle(base + residual, self.scale)


def upsampler_param_share(model: LKCANet) -> tuple[int, int]:
    """(upsampler parameters, all parameters)."""
    up = sum(p.numel() for p in model.upsampler.parameters())
    return up, sum(p.numel() for p in model.parameters())


@register("lkca", "LKCA-Net: large-kernel channel attention, one-shot full-rank upsampler", SCALES, False)
def build_lkca(bands: int, scale: int, channels: int = 64, blocks: int = 6, up_kernel: int = 3,
               reduction: int = 4, attention: str = "ca", ffn: bool = True, norm: bool = True,
               pool: str | int = "global") -> LKCANet:
    """Registry builder of LKCA-Net (defaults of ALGORITHMS.md §1.2: C = 64, N = 6, k = 3)."""
    return LKCANet(bands, scale, channels, blocks, "full", up_kernel, None, 16, reduction, attention, ffn, norm,
                   pool=pool)


@register("lkca-lr", "LKCA-LR: LKCA-Net with the block low-rank group-conv upsampler", SCALES, False,
          teacher="lkca")
def build_lkca_lr(bands: int, scale: int, channels: int = 64, blocks: int = 6, up_kernel: int = 3,
                  lr_groups: int | None = None, lr_rank: int = 16, reduction: int = 4, attention: str = "ca",
                  ffn: bool = True, norm: bool = True, pool: str | int = "global") -> LKCANet:
    """Registry builder of LKCA-LR (default groups = s², rank 16 per group)."""
    return LKCANet(bands, scale, channels, blocks, "lowrank", up_kernel, lr_groups, lr_rank, reduction, attention,
                   ffn, norm, pool=pool)


@torch.no_grad()
def lkca_lr_from_lkca(teacher: LKCANet, lr_groups: int | None = None, lr_rank: int = 16) -> LKCANet:
    """An LKCA-LR with the teacher's backbone and the SVD projection of its upsampler (§1.4)."""
    from copy import deepcopy

    from hsrcli.models.upsampler import lowrank_from_full

    if not isinstance(teacher.upsampler, FullUpsampler):
        raise TypeError("the teacher must have a full upsampler (model 'lkca')")
    student = deepcopy(teacher)
    student.upsampler = lowrank_from_full(teacher.upsampler, lr_groups, lr_rank)
    return student

