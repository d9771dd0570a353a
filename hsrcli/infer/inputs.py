"""What the network is fed for one scene, and how it is run.

* :func:`scene_stats` / :func:`divisor` — per-band statistics when needed, and the divisor that
  brings the scene to the model's normalised scale (the checkpoint's
  :class:`~hsrcli.data.normalize.Normalizer`, or the scene's own maximum);
* :func:`read_padded` / :func:`read_block` — an LR window of the scene mirrored past its
  borders, missing values filled (:mod:`hsrcli.infer.nodata`), as ``(B, h, w)`` float32;
* :func:`forward` / :func:`forward_bands` — the model under ``no_grad`` and autocast.
"""

from __future__ import annotations

import numpy as np
import torch
from rasterio.windows import Window

from hsrcli.data.normalize import Normalizer
from hsrcli.errors import HsrInputError
from hsrcli.infer.nodata import InputFill
from hsrcli.infer.resolve import ResolvedModel
from hsrcli.io.meta import SceneMeta
from hsrcli.io.scene import Scene
from hsrcli.models.base import SRModel
from hsrcli.models.crop import Crop
from hsrcli.ops.imresize import mirror


def read_padded(scene: Scene, r0: int, c0: int, h: int, w: int, pad: int) -> np.ndarray:
    """LR block (B, h, w) at padded coordinates (r0, c0), band-planar (:meth:`~hsrcli.io.scene.Scene.read_planes`,
    as the network takes it: no pixel transposed twice): the scene mirrored ``pad`` px past its borders
    with the edge pixel repeated — MATLAB's imresize border rule that made the LR, measured +0.3 dB
    over "reflect" on the 25-px-wide airborne test scenes (lkca-g_x4, ×4) — by
    :func:`~hsrcli.ops.imresize.mirror`, the rule ``hsr adapt`` pads its crops with too."""
    m = scene.meta
    rows = mirror(torch.arange(r0 - pad, r0 - pad + h), m.rows).numpy()  # the scene row of each block row
    cols = mirror(torch.arange(c0 - pad, c0 - pad + w), m.cols).numpy()
    a0, b0 = int(rows.min()), int(cols.min())
    block = scene.read_planes(Window(b0, a0, int(cols.max()) + 1 - b0, int(rows.max()) + 1 - a0))
    if block.shape[1:] != (h, w):  # some rows or columns lie past a border
        block = block[:, rows - a0][:, :, cols - b0]
    return block


def scene_stats(scene: Scene, models: list[ResolvedModel], progress, observe=None) -> list[dict] | None:
    """Per-band statistics when a model normalises by the scene, the scene may hold nodata, or
    ``observe`` is to see every window (:func:`~hsrcli.io.stats.band_stats`)."""
    from hsrcli.io.stats import band_stats

    m = scene.meta
    need = any(per_scene(r) for r in models) or observe is not None
    has_nodata = m.nodata is not None or np.issubdtype(m.dtype, np.floating)
    return band_stats(scene, progress=progress, observe=observe) if (need or has_nodata) else None


def per_scene(resolved: ResolvedModel) -> bool:
    """True when the model is fed the scene divided by its own maximum (band-agnostic weights)."""
    norm = resolved.normalization or {}
    return resolved.normalised and bool(norm.get("per_scene") or not norm.get("divisor"))


def divisor(scene: Scene, resolved: ResolvedModel, stats: list[dict] | None) -> tuple[np.ndarray, str]:
    """Per-band divisor (B,) that brings the scene to the model's normalised scale, and its description."""
    m = scene.meta
    if not resolved.normalised:
        return np.ones(m.bands), f"none ({resolved.name} is linear)"
    if per_scene(resolved):
        top = max((s["max"] for s in stats or [] if s["max"] is not None), default=0.0)
        if not top > 0:
            raise HsrInputError(f"{scene.path}: the scene has no positive value to normalise by")
        return np.full(m.bands, top), f"scene maximum {top:g}"
    norm = Normalizer.from_dict(resolved.normalization)
    try:
        div = norm.array(m.bands).reshape(m.bands).copy()
    except HsrInputError as exc:
        raise HsrInputError(f"the checkpoint's {exc}") from None
    return div, f"checkpoint {norm.kind} {np.asarray(norm.divisor).ravel()[:3].tolist()}"


def forward(model: torch.nn.Module, x: torch.Tensor, amp: torch.dtype | None = None) -> torch.Tensor:
    """``model(x)`` under ``no_grad`` and autocast (``amp``: reduced precision, None: float32), as float32."""
    with torch.no_grad(), torch.autocast(x.device.type, dtype=amp or torch.float32, enabled=amp is not None):
        return model(x).float()


def forward_bands(model: SRModel, x: torch.Tensor, amp: torch.dtype | None = None, crop: Crop | None = None,
                  detail: bool = False):
    """:meth:`SRModel.forward_bands` under ``no_grad`` and autocast (``crop``: LR px left out of the
    output on each side; ``detail``: what the model adds to the bicubic instead of its output);
    pieces as float32."""
    with torch.no_grad(), torch.autocast(x.device.type, dtype=amp or torch.float32, enabled=amp is not None):
        for b0, b1, y in model.forward_bands(x, crop, detail):
            yield b0, b1, y.float()


def float32_block(raw: np.ndarray, meta: SceneMeta) -> tuple[np.ndarray, np.ndarray]:
    """``raw`` (stored values of a scene read, any shape) as float32 — ``raw`` itself when it is float32
    already: a scene's read is the caller's to change — and the mask of its missing values
    (:meth:`~hsrcli.io.meta.SceneMeta.missing_mask`, and values float32 cannot hold, such as 1e39 in
    a float64 scene)."""
    bad = meta.missing_mask(raw)
    with np.errstate(over="ignore"):
        x = raw.astype(np.float32, copy=False)
    if x is not raw and np.issubdtype(raw.dtype, np.floating):
        bad |= np.isinf(x)
    return x, bad


def read_block(scene: Scene, r0: int, c0: int, h: int, w: int, pad: int,
               fill: InputFill | None) -> tuple[np.ndarray, np.ndarray]:
    """Network input ``(B, h, w)`` float32 (missing values filled, see :mod:`hsrcli.infer.nodata`) and
    the mask ``(h, w)`` of pixels with no valid band, at padded LR coordinates (r0, c0).

    One float32 block is made and filled in place: a float32 scene's block is not copied again
    (a 414 × 194 LR tile of 425 bands is 137 MB)."""
    x, bad = float32_block(read_padded(scene, r0, c0, h, w, pad), scene.meta)
    if fill is not None:
        fill.apply(x.transpose(1, 2, 0), bad.transpose(1, 2, 0))
    elif bad.any():
        np.copyto(x, np.float32(0), where=bad)
    return x, bad.all(axis=0)
