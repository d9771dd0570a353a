"""``lkca-g``: band-agnostic LKCA (beyond the papers; our design).

Spatially it is a compact LKCA-Net (smaller kernels, channel attention pooled
over 7×7 windows instead of the whole image) so that its receptive field is finite
and tiled inference is exact. The cube is cut into overlapping spectral groups of ``group_bands`` adjacent bands
(default 8 with an overlap of 2, as in SSPSR's group strategy); every group goes
through **one shared** LKCA network as one batch, and the overlapping bands are
blended back with linear ramps whose weights sum to one. The same weights
therefore serve any sensor: 31-band CAVE, 156-band Samson, 224-band AVIRIS.
Scenes with fewer bands than a group are padded by repeating their last band.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from hsrcli.choices import SCALES
from hsrcli.models.base import SRModel
from hsrcli.models.crop import Crop
from hsrcli.models.lkca import COMPACT_BRANCHES, LKCANet
from hsrcli.models.registry import register
from hsrcli.ops.windows import overlapping_starts

#: Spectral groups × LR pixels per forward chunk that :meth:`GroupedLKCA.fit_tile` aims at
#: (channels-last on 2 CPU cores: ~56 GFLOP/s at 4 × 64² or 1 × 128², ~40 at 8 × 64²).
GROUP_PIXELS = 4 * 64 * 64


def group_starts(bands: int, group: int, overlap: int) -> list[int]:
    """First band of every group; the last group ends at the last band."""
    return overlapping_starts(bands, group, overlap)


def blend_weights(bands: int, group: int, starts: list[int]) -> torch.Tensor:
    """``(groups, group)`` weights: ramps where groups overlap, normalised to sum 1 per band."""
    w = torch.ones(len(starts), group, dtype=torch.float64)
    for k, s in enumerate(starts):
        if k > 0:  # overlap with the previous group: ramp up
            ov = starts[k - 1] + group - s
            if ov > 0:
                w[k, :ov] = torch.arange(1, ov + 1, dtype=torch.float64) / (ov + 1)
        if k < len(starts) - 1:  # overlap with the next group: ramp down
            ov = s + group - starts[k + 1]
            if ov > 0:
                w[k, group - ov:] = torch.arange(ov, 0, -1, dtype=torch.float64) / (ov + 1)
    total = torch.zeros(max(bands, group), dtype=torch.float64)
    for k, s in enumerate(starts):
        total[s:s + group] += w[k]
    for k, s in enumerate(starts):
        w[k] = w[k] / total[s:s + group]
    return w


class GroupedLKCA(SRModel):
    """Shared LKCA-Net over overlapping spectral groups: ``(N, B, h, w) → (N, B, s·h, s·w)`` for any B."""

    def __init__(self, scale: int, group_bands: int = 8, overlap: int = 2, channels: int = 48, blocks: int = 3,
                 up_kernel: int = 3, group_batch: int | None = None, branches=COMPACT_BRANCHES,
                 pool: str | int = 7) -> None:
        super().__init__()
        if not 0 <= overlap < group_bands:
            raise ValueError("overlap must be in [0, group_bands)")
        self.scale, self.group_bands, self.overlap = scale, group_bands, overlap
        self.group_batch, self._fixed_batch = group_batch, group_batch is not None
        self.net = LKCANet(group_bands, scale, channels, blocks, "full", up_kernel, branches=branches, pool=pool)
        self.receptive_radius = self.net.receptive_radius

    def learnable_upsampler(self) -> nn.Module:
        """The shared network's upsampler."""
        return self.net.upsampler

    def fit_tile(self, tile: int) -> None:
        """Unless ``group_batch`` was given, run as many spectral groups per chunk as keep the
        working set near :data:`GROUP_PIXELS` (measured fastest on CPU); results are identical."""
        if not self._fixed_batch:
            self.group_batch = self._chunk(tile)

    def _chunk(self, tile: int | None) -> int:
        """Spectral groups per forward chunk for tiles of side ``tile`` (None: as configured now)."""
        if self._fixed_batch or tile is None:
            return self.group_batch or 4
        return max(1, GROUP_PIXELS // (tile * tile))

    def bands_held(self, bands: int, tile: int | None = None, crop: int = 0) -> int:
        """At most the bands of one chunk of groups plus the overlap carried to the next chunk."""
        return min(bands, (self.group_bands - self.overlap) * self._chunk(tile) + self.group_bands)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([y for _, _, y in self.forward_bands(x)], dim=1)

    def forward_bands(self, x: torch.Tensor, crop: Crop | None = None, detail: bool = False
                      ) -> Iterator[tuple[int, int, torch.Tensor]]:
        """Groups run ``group_batch`` at a time (per image); after each chunk, the bands no later
        group touches are blended and handed out, the rest is carried over. ``crop``: see
        :meth:`LKCANet.residual_phases <hsrcli.models.lkca.LKCANet.residual_phases>`; ``detail``: the
        groups' residuals alone are blended (the blend weights of a band sum to one, so that is the
        output less its bicubic base), and no bicubic is computed."""
        n, b, h, w = x.shape
        g = self.group_bands
        if b < g:
            x = torch.cat([x, x[:, -1:].expand(n, g - b, h, w)], dim=1)
        bands = x.shape[1]
        starts = group_starts(bands, g, self.overlap)
        weights = blend_weights(bands, g, starts).to(device=x.device, dtype=x.dtype)
        chunk = max(1, (self.group_batch or len(starts) * n) // n)
        carry, lo = None, 0  # blended bands lo:lo+carry.shape[1] still waiting for later groups
        for k0 in range(0, len(starts), chunk):
            ks = range(k0, min(k0 + chunk, len(starts)))
            groups = torch.stack([x[:, starts[k]:starts[k] + g] for k in ks], dim=1).reshape(n * len(ks), g, h, w)
            if x.device.type == "cpu":
                groups = groups.contiguous(memory_format=torch.channels_last)  # measured faster on CPU
            outs = self.net.detail(groups, crop) if detail else self.net(groups, crop=crop)
            hh, ww = outs.shape[-2:]
            outs = outs.reshape(n, len(ks), g, hh, ww)
            outs.mul_(weights[ks[0]:ks[-1] + 1].view(1, len(ks), g, 1, 1))
            hi = starts[ks[-1]] + g
            buf = outs[:, 0] if len(ks) == 1 else x.new_empty(n, hi - lo, hh, ww)
            end = lo  # bands of buf written so far: groups overlap their predecessor only
            for j, k in enumerate(ks):
                a = starts[k] - lo
                if len(ks) > 1:
                    ov = end - lo - a
                    if ov > 0:
                        buf[:, a:a + ov] += outs[:, j, :ov]
                    buf[:, a + max(ov, 0):a + g] = outs[:, j, max(ov, 0):]
                end = starts[k] + g
            if carry is not None:  # the previous chunk's last bands overlap this chunk's first group
                buf[:, :carry.shape[1]] += carry
            done = starts[ks[-1] + 1] if ks[-1] + 1 < len(starts) else hi
            stop = min(done, b)
            if stop > lo:
                yield lo, stop, buf[:, :stop - lo]
            carry, lo = buf[:, done - lo:].clone(), done


@register("lkca-g", "band-agnostic LKCA: one shared net over overlapping 8-band groups, blended", SCALES, True)
def build_lkca_g(bands: int, scale: int, group_bands: int = 8, overlap: int = 2, channels: int = 48,
                 blocks: int = 3, up_kernel: int = 3, group_batch: int | None = None, branches=COMPACT_BRANCHES,
                 pool: str | int = 7) -> GroupedLKCA:
    """Registry builder of the band-agnostic LKCA (``bands`` only documents the input; any B works).

    Our defaults: C = 48, 3 blocks, compact multi-scale kernels and channel attention
    pooled over 7×7 windows, so the receptive field is finite (41 LR pixels) and
    tiled inference with ``--overlap`` ≥ 82 reproduces whole-image inference exactly.
    """
    return GroupedLKCA(scale, group_bands, overlap, channels, blocks, up_kernel, group_batch, branches, pool)
