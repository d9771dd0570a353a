"""CoarSR, the band-by-band network of DualSR (Li, Yuan, Jia, Wang, IEEE TIP 2022), ALGORITHMS.md §2.1.

Band i of an L-band LR cube is super-resolved from three groups of bands chosen
by the Neighbouring Band Partition (NBP, with the published code's exact edge
rules), through a head of three weight-normalised 3×3 convs, M ASFM modules
(per-stream residual groups, learnable inter-group fusion, a 3-D
spatial-spectral unit, re-injection of the head features), a merge, the FCF
recurrence that carries a state from band i−1 to band i, and an upsampler for
×2/×3/×4/×8 plus a bicubic residual. The weights are shared by all bands, so one
model serves any L ≥ 5.

Published-code quirks kept (and switchable): BatchNorm inside the ResBlocks
(``bn=True``, 48 BN layers), M = 2 modules.

Inference and training batch what the recurrence allows: the per-band encoder and
the tail run on ``band_chunk`` bands at once (:meth:`CoarSR.forward_span`); only the
cheap FCF step is sequential. Without gradients the tail, whose activations are at up to
HR size, runs one band at a time (the same numbers; a 256² × 31 ×4 upscale peaked at 1.5 GB
instead of 2.2 GB). ``hsr upscale`` takes the output span by span as the recurrence finishes it
(:meth:`CoarSR.forward_bands`), the tail computed on the tile's kept window only, so that it never
holds a tile's every band; it runs the network folded (:mod:`hsrcli.models.fold`) and, on the CPU,
with channels-last LR convolutions (:meth:`CoarSR.fit_tile`).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import weight_norm

from hsrcli.choices import SCALES
from hsrcli.models.base import SRModel
from hsrcli.models.crop import Crop, crop_window, trim
from hsrcli.models.registry import register
from hsrcli.models.resample import bicubic_resize

#: Bands per span when ``hsr upscale`` runs CoarSR on the CPU (:meth:`CoarSR.fit_tile`): measured on 2
#: cores, 31 bands at 96² LR ×4, 64 features, three runs each: 15.6–17.2 s and 226–255 MB of peak
#: working memory against 17.0–17.2 s and 406–424 MB with the default 4; ``hsr upscale`` of a 256² × 31
#: scene: 165 s and 1.14 GB peak RSS against 162 s and 1.49 GB, outputs within 3e-7 of the data range.
CPU_INFERENCE_CHUNK = 2


def neighbour_bands(i: int, bands: int) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """NBP groups G2 and G3 (left, centre, right) of band ``i`` with the published edge rules."""
    L = bands
    if L < 5:
        raise ValueError(f"CoarSR needs at least 5 bands, got {L}")
    if not 0 <= i < L:
        raise ValueError(f"band {i} outside 0..{L - 1}")
    if i == 0:
        return (1, 0, 2), (3, 0, 4)
    if i == 1:
        return (0, 1, 2), (3, 1, 4)
    if i == L - 2:
        return (L - 3, L - 2, L - 1), (L - 5, L - 2, L - 4)
    if i == L - 1:
        return (L - 2, L - 1, L - 3), (L - 4, L - 1, L - 5)
    return (i - 1, i, i + 1), (i - 2, i, i + 2)


def wn_conv(cin: int, cout: int, k: int, **kw) -> nn.Module:
    """Weight-normalised Conv2d with 'same' padding (as the published code)."""
    return weight_norm(nn.Conv2d(cin, cout, k, padding=k // 2, **kw))


class ResBlock(nn.Module):
    """conv3×3 → (BN) → ReLU → conv3×3 → (BN), plus the input."""

    def __init__(self, feats: int, bn: bool) -> None:
        super().__init__()
        layers: list[nn.Module] = [wn_conv(feats, feats, 3)]
        if bn:
            layers.append(nn.BatchNorm2d(feats))
        layers += [nn.ReLU(inplace=True), wn_conv(feats, feats, 3)]
        if bn:
            layers.append(nn.BatchNorm2d(feats))
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + x


class ResidualGroup(nn.Module):
    """``n`` ResBlocks with an outer skip."""

    def __init__(self, feats: int, n: int, bn: bool) -> None:
        super().__init__()
        self.body = nn.Sequential(*(ResBlock(feats, bn) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + x


class SpatialSpectralUnit(nn.Module):
    """U(V) = V + Conv3d₁ₓ₃ₓ₃(ReLU(Conv3d₁ₓ₃ₓ₃(V) + Conv3d₃ₓ₁ₓ₁(V))) on a depth-3 volume."""

    def __init__(self, feats: int) -> None:
        super().__init__()
        self.spatial = weight_norm(nn.Conv3d(feats, feats, (1, 3, 3), padding=(0, 1, 1)))
        self.spectral = weight_norm(nn.Conv3d(feats, feats, (3, 1, 1), padding=(1, 0, 0)))
        self.out = weight_norm(nn.Conv3d(feats, feats, (1, 3, 3), padding=(0, 1, 1)))

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return v + self.out(torch.relu(self.spatial(v) + self.spectral(v)))


class ASFM(nn.Module):
    """Adjacent Spectral Fusion Mechanism on three feature streams."""

    def __init__(self, feats: int, blocks: int, bn: bool) -> None:
        super().__init__()
        self.intra = nn.ModuleList(ResidualGroup(feats, blocks, bn) for _ in range(3))
        self.gamma = nn.Parameter(torch.ones(3, 3))
        self.fuse = nn.ModuleList(wn_conv(3 * feats, feats, 1) for _ in range(3))
        self.post = nn.ModuleList(ResidualGroup(feats, blocks, bn) for _ in range(3))
        self.gamma_inter = nn.Parameter(torch.ones(3))
        self.unit = SpatialSpectralUnit(feats)

    def forward(self, streams: list[torch.Tensor]) -> list[torch.Tensor]:
        inner = [rg(a) for rg, a in zip(self.intra, streams)]  # RG(A) + A (skip inside the group)
        out = []
        for j in range(3):
            fused = self.fuse[j](torch.cat([self.gamma[j, k] * inner[k] for k in range(3)], dim=1))
            out.append(self.post[j](fused) + streams[j])  # RG'(F) + F + A
        v = torch.stack([self.gamma_inter[j] * out[j] for j in range(3)], dim=2)  # (N, C, 3, h, w)
        return list(self.unit(v).unbind(dim=2))


def _upsampler(feats: int, scale: int) -> nn.Sequential:
    if scale == 3:
        return nn.Sequential(wn_conv(feats, feats * 9, 3), nn.PixelShuffle(3))
    layers: list[nn.Module] = []
    for _ in range(scale.bit_length() - 1):
        layers += [wn_conv(feats, feats * 4, 3), nn.PixelShuffle(2)]
    return nn.Sequential(*layers)


class CoarSR(SRModel):
    """CoarSR: ``(N, L, h, w) → (N, L, s·h, s·w)``, band by band with a recurrent state."""

    def __init__(self, scale: int, feats: int = 64, blocks: int = 2, modules: int = 2, bn: bool = True,
                 band_chunk: int = 4) -> None:
        super().__init__()
        if scale not in SCALES:
            raise ValueError(f"CoarSR supports scales {SCALES}, not {scale}")
        self.scale, self.band_chunk = scale, band_chunk
        # head 3x3 + per ASFM (2 + 2 ResBlock convs, 3-D unit 2) + merge 3x3 + tail (<= 2) + bicubic (2)
        self.receptive_radius = 1 + 10 * modules + 1 + 2 + 2
        self.head = nn.ModuleList([wn_conv(1, feats, 3), wn_conv(3, feats, 3), wn_conv(3, feats, 3)])
        self.asfm = nn.ModuleList(ASFM(feats, blocks, bn) for _ in range(modules))
        self.merge = nn.Sequential(wn_conv(3 * feats, feats, 1), wn_conv(feats, feats, 3))
        self.rho = nn.Parameter(torch.ones(2))
        self.fcf = wn_conv(2 * feats, feats, 1)
        self.tail = nn.Sequential(_upsampler(feats, scale), wn_conv(feats, 1, 3))
        #: LR pixels from which the tail draws an output pixel: its 3×3 convolutions (at LR or finer) reach
        #: at most 1 LR px each
        self.tail_reach = sum(isinstance(m, nn.Conv2d) for m in self.tail.modules())

    def fit_tile(self, tile: int) -> None:
        """On the CPU, spans of at most :data:`CPU_INFERENCE_CHUNK` bands, and the LR-sized convolutions
        (head, ASFMs, merge, FCF) on channels-last weights, so that oneDNN runs them on NHWC activations
        whatever layout their input arrives in; the HR-sized tail stays as it is. Measured on 2 cores,
        ``coarsr_x4`` on 128² LR × 31 bands, folded (:mod:`hsrcli.models.fold`): 25.0 → 21.8 s, peak RSS
        663 → 660 MB (every layer channels-last: 21.3 s, 750 MB). The same numbers, to float rounding."""
        if next(self.parameters()).device.type != "cpu":
            return
        self.band_chunk = self._chunk(tile)
        for part in (self.head, self.asfm, self.merge, self.fcf):
            for conv in part.modules():
                if isinstance(conv, nn.Conv2d) and not parametrize.is_parametrized(conv):  # folded weights
                    conv.weight.data = conv.weight.data.contiguous(memory_format=torch.channels_last)

    def _chunk(self, tile: int | None) -> int:
        """Bands per span once :meth:`fit_tile` has seen ``tile`` (None: as configured now)."""
        if tile is None or next(self.parameters()).device.type != "cpu":
            return self.band_chunk
        return min(self.band_chunk, CPU_INFERENCE_CHUNK)

    # -- pieces -----------------------------------------------------------------------------------
    def encode(self, g1: torch.Tensor, g2: torch.Tensor, g3: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Head + ASFMs + merge for a batch of bands: returns (Z, F0¹), each ``(n, C, h, w)``."""
        f0 = [self.head[0](g1), self.head[1](g2), self.head[2](g3)]
        streams = f0
        for module in self.asfm:
            streams = [s + f for s, f in zip(module(streams), f0)]
        z = self.merge(torch.cat(streams, dim=1)) + f0[0]
        return z, f0[0]

    def step(self, z: torch.Tensor, state: torch.Tensor | None) -> torch.Tensor:
        """FCF: the new state H_i from Z_i and H_{i−1}."""
        if state is None:
            return z
        return self.fcf(torch.cat([self.rho[0] * z, self.rho[1] * state], dim=1))

    @staticmethod
    def band_inputs(x: torch.Tensor, idx: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """G1, G2, G3 of bands ``idx`` stacked band-major: ``(len(idx)·N, 1|3, h, w)``."""
        L = x.shape[1]
        g2 = [neighbour_bands(i, L)[0] for i in idx]
        g3 = [neighbour_bands(i, L)[1] for i in idx]
        n, _, h, w = x.shape

        def take(groups: list[tuple[int, ...]]) -> torch.Tensor:
            return torch.stack([x[:, list(g)] for g in groups]).reshape(len(idx) * n, len(groups[0]), h, w)

        return take([(i,) for i in idx]), take(g2), take(g3)

    def forward_span(self, x: torch.Tensor, start: int, stop: int, state: torch.Tensor | None = None,
                     crop: Crop | None = None, detail: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Bands ``start..stop-1`` in one pass: ``(ŷ (N, stop−start, s·h, s·w), H_{stop−1} (N, C, h, w))``.

        The encoder and the tail see the span's bands as one batch; only the FCF step runs band
        after band. The state entering each step is detached (no back-propagation through the
        recurrence, the published protocol), so a band's loss reaches the weights through its
        own encoder, step and tail only: training span by span gives the gradients of training
        band by band, except that BatchNorm's batch statistics cover the span's bands together.

        ``crop`` (LR px on each side): ŷ leaves out ``s·crop`` HR px there, and the tail, local within
        :attr:`tail_reach` LR px, runs on the kept window plus that reach only (the encoder and the
        state need the whole input). ``detail``: ŷ is the tail's output alone, what CoarSR adds to
        the bicubic upsampling (no bicubic computed).
        """
        n, _, h, w = x.shape
        s, k = self.scale, stop - start
        idx = list(range(start, stop))
        z, f01 = self.encode(*self.band_inputs(x, idx))
        z, f01 = z.view(k, n, *z.shape[1:]), f01.view(k, n, *f01.shape[1:])
        feats = []
        for j in range(k):  # the only sequential part
            state = self.step(z[j], None if state is None else state.detach())
            feats.append(state + f01[j])
        del z
        (rows, cols), (keep_r, keep_c) = crop_window(h, w, crop, self.tail_reach)
        if torch.is_grad_enabled():
            tail = self.tail(torch.cat(feats)[..., rows, cols])
        else:  # inference: one band's HR-sized tail at a time (its activations are ~4x the encoder's)
            tail = torch.cat([self.tail(f[..., rows, cols]) for f in feats])
        tail = tail[..., keep_r.start * s:keep_r.stop * s, keep_c.start * s:keep_c.stop * s]
        y = tail.reshape(k, n, *tail.shape[-2:]).transpose(0, 1)
        if detail:
            return y, state
        return y + trim(bicubic_resize(x[:, start:stop], s), crop, s), state

    def forward_bands(self, x: torch.Tensor, crop: Crop | None = None, detail: bool = False
                      ) -> Iterator[tuple[int, int, torch.Tensor]]:
        """Span by span (``band_chunk`` bands), each handed out as the recurrence finishes it, so that a
        caller never holds a tile's whole output (see :meth:`forward_span` for ``crop`` and ``detail``)."""
        state = None
        for start in range(0, x.shape[1], self.band_chunk):
            stop = min(x.shape[1], start + self.band_chunk)
            y, state = self.forward_span(x, start, stop, state, crop, detail)
            yield start, stop, y

    def bands_held(self, bands: int, tile: int | None = None, crop: int = 0) -> int:
        """One span of :meth:`forward_bands` (after :meth:`fit_tile` for ``tile``: at most 2 bands on the CPU)."""
        return min(bands, self._chunk(tile))

    def forward_band(self, x: torch.Tensor, i: int, state: torch.Tensor | None = None):
        """Band ``i`` alone: returns ``(ŷ_i (N, 1, s·h, s·w), H_i)`` (for per-band training)."""
        return self.forward_span(x, i, i + 1, state)

    def forward(self, x: torch.Tensor, band: int | tuple[int, int] | None = None,
                state: torch.Tensor | None = None):
        """The whole cube ``(N, L, s·h, s·w)``; with ``band`` (an index, or a ``(start, stop)`` span) the
        pair of :meth:`forward_span` (for training through DDP, whose hooks need ``forward``)."""
        if band is not None:
            start, stop = (band, band + 1) if isinstance(band, int) else band
            return self.forward_span(x, start, stop, state)
        n, L, h, w = x.shape
        s = self.scale
        out = x.new_empty(n, L, h * s, w * s)
        state = None
        for start in range(0, L, self.band_chunk):
            stop = min(L, start + self.band_chunk)
            out[:, start:stop], state = self.forward_span(x, start, stop, state)
        return out


@register("coarsr", "CoarSR (DualSR stage 1): band-by-band network with neighbour bands and recurrence",
          SCALES, True, min_bands=5, band_steps=True)
def build_coarsr(bands: int, scale: int, feats: int = 64, blocks: int = 2, modules: int = 2, bn: bool = True,
                 band_chunk: int = 4) -> CoarSR:
    """Registry builder of CoarSR (published defaults: 64 features, 2 ResBlocks, M = 2, BN on)."""
    return CoarSR(scale, feats, blocks, modules, bn, band_chunk)
