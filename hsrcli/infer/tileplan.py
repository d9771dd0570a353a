"""How big the tiles of ``hsr upscale`` are and how much they overlap (LR pixels).

* :func:`plan_overlap` — overlap = 2 × the receptive radius the runner passes (by default
  the model's measured *effective* radius, see :mod:`hsrcli.infer.receptive`); the
  discarded margin at inner tile edges and the mirrored border of the scene are that radius.
* :func:`auto_tile` — chosen from measured throughput and memory: among the tiles whose
  output fits :data:`TILE_HR_VALUES` (output bands held at once × HR pixels), the one that
  minimises the estimated time = LR pixels computed (overlap included) / relative speed at
  that tile size (:data:`CPU_SPEED`, measured; flat on GPUs, where larger is never slower).
"""

from __future__ import annotations

import numpy as np

from hsrcli.errors import HsrInputError

#: At most this many output values (bands held at once × HR pixels) per tile (~96 MB float32).
TILE_HR_VALUES = 24 * 2**20
#: Overlap for models whose receptive field is the whole image (global attention).
UNBOUNDED_OVERLAP = 32
#: Relative forward speed (LR px/s) of a tile of side N on CPU, measured with the bundled
#: lkca-g_x4 on 64 bands, 2 cores, freed memory retained (:mod:`hsrcli.allocator`;
#: benchmarks/upscale_speed.py): the working set outgrows the caches past ~256 px.
#: Interpolated in log2(N); flat outside the table.
CPU_SPEED = {48: 1.0, 64: 1.0, 96: 0.95, 128: 0.98, 160: 0.99, 192: 0.96, 256: 0.90, 320: 0.82, 384: 0.78}
#: Largest default tile.
MAX_TILE = 512


def plan_overlap(radius: int | None, overlap: int | None) -> tuple[int, int]:
    """(overlap, discarded margin) in LR pixels; the default overlap is 2 × the receptive radius."""
    if overlap is None:
        overlap = UNBOUNDED_OVERLAP if radius is None else 2 * radius
    if overlap < 0:
        raise HsrInputError("--overlap must be >= 0")
    margin = overlap // 2 if radius is None else min(radius, overlap // 2)
    return overlap, margin


def relative_speed(tile: int, device_type: str = "cpu") -> float:
    """Forward speed per LR pixel at ``tile`` relative to the fastest size (1 on GPUs)."""
    if device_type != "cpu":
        return 1.0
    sizes = np.log2(list(CPU_SPEED))
    return float(np.interp(np.log2(tile), sizes, list(CPU_SPEED.values())))


def _split(n: int, cap: int, overlap: int) -> tuple[int, int]:
    """(tiles, tile side) that cover ``n`` px with tiles of at most ``cap`` split evenly."""
    if n <= cap:
        return 1, n
    k = -(-(n - overlap) // (cap - overlap))
    return k, -(-(n - overlap) // k) + overlap


def auto_tile(bands: int, scale: int, overlap: int, rows: int | None = None, cols: int | None = None,
              pad: int = 0, device_type: str = "cpu") -> int:
    """Default tile (LR px) for output ``bands`` held at once.

    Without the scene size: the memory cap, the largest multiple of 8 whose output fits
    :data:`TILE_HR_VALUES` (at least ``overlap + 32``, at most :data:`MAX_TILE`). With it
    (``rows × cols`` LR px, padded by ``pad`` on each side as the tile grid does): the
    tile up to that cap, split evenly along each axis, with the least estimated time
    (computed LR pixels / :func:`relative_speed`).
    """
    side = int((TILE_HR_VALUES / max(1, bands)) ** 0.5 / scale) // 8 * 8
    cap = max(overlap + 32, min(MAX_TILE, side))
    if rows is None or cols is None:
        return cap
    pr, pc = rows + 2 * pad, cols + 2 * pad
    best = None
    for limit in range((overlap + 16 + 7) // 8 * 8, cap + 1, 8):  # multiples of 8 from overlap + 16 (cap >= it)
        (kr, tr), (kc, tc) = _split(pr, limit, overlap), _split(pc, limit, overlap)
        tile = max(tr, tc)
        cost = kr * kc * tile * tile / relative_speed(tile, device_type)
        if best is None or cost < best[0] - 1e-9:
            best = (cost, tile)
    return best[1]
