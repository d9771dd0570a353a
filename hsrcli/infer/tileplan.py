"""How big the tiles of ``hsr upscale`` are and how much they overlap (LR pixels).

* :func:`plan_overlap` — overlap = 2 × the receptive radius the runner passes (by default
  the model's measured *effective* radius, see :mod:`hsrcli.infer.receptive`); the
  discarded margin at inner tile edges is that radius.
* :func:`border_pad` — the scene's mirrored border: half the measured effective radius.
* :func:`auto_tile` — chosen from measured throughput and memory: among the tiles (rectangles:
  memory follows the area) whose output fits :data:`TILE_HR_VALUES` (output bands held at once ×
  HR pixels) and whose area fits :data:`TILE_LR_PIXELS` (the model's working set), the one that
  minimises the estimated time = LR pixels computed (overlap included) / relative speed at
  that tile size (:data:`CPU_SPEED`, measured; flat on GPUs, where larger is never slower).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import count
from math import isqrt

import numpy as np

from hsrcli.errors import HsrInputError

#: At most this many output values (bands held at once × HR pixels) per tile (~96 MB float32).
TILE_HR_VALUES = 24 * 2**20
#: The same when the spectral-subspace projection's k coefficients per HR pixel are held beside the
#: model's output bands (:mod:`hsrcli.infer.subspace`; ~256 MB float32): 288² tiles ×4 with up to ~48
#: values per HR pixel (lkca-g's ~14 bands + k ≤ 34), a 90² × 224 scene ×4 stays one tile.
TILE_PROJECTED_VALUES = 64 * 2**20
#: At most this many LR pixels per tile: the model's working set grows with the tile's area whatever
#: the bands (lkca-g_x4 over 64 bands: ~3.4 KB per LR pixel at its peak, measured on 288² tiles). It
#: was the area of a 256² scene's one tile when scenes were mirrored by the whole radius (286²; 288 as a
#: multiple of 8; with half the radius that tile is 272²), so that larger scenes — which add the heap's
#: fragmentation over many tiles, ~+60 MB — hold no larger tiles: peak RSS flat from small scenes to
#: large ones (``benchmarks/upscale_memory.py``: +13.9 % from 256² to 2048² on 2026-11-25, limit 20 %).
TILE_LR_PIXELS = 288 * 288
#: Overlap for models whose receptive field is the whole image (global attention).
UNBOUNDED_OVERLAP = 32
#: Relative forward speed (LR px/s) of a tile of side N on CPU, measured with the bundled
#: lkca-g_x4 on 64 bands streaming its band groups (``forward_bands``, as ``hsr upscale`` runs it),
#: 2 cores, freed memory retained (:mod:`hsrcli.allocator`), best of 3: flat within ±5 % from 64 to
#: 512 px (21.7 k LR px/s at 32 px, 24.3 k at 512), so the fewest LR pixels computed win.
#: Interpolated in log2(N); flat outside the table.
CPU_SPEED = {32: 0.89, 48: 0.91, 64: 0.96, 96: 0.90, 128: 0.97, 160: 0.95, 192: 0.95, 256: 0.98, 320: 0.99,
             384: 1.0, 512: 1.0}
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


def border_pad(effective: int | None, margin: int) -> int:
    """LR pixels by which a scene is mirrored past its borders before the model sees it: half the model's
    measured effective receptive radius (rounded up), or, where it was not measured, the tiles'
    discarded ``margin``.

    Half the radius gives border pixels the mirrored context that matters: held-out scenes scored the
    same within ±0.003 dB with a border of 8 LR px as with the full radius (``lkca-g`` ×2, ×3, ×4 and
    the ×8 cascade, CAVE and airborne, 2026-11-24), and a small scene's padded area shrinks (the
    shipped 90² sample: 122² → 106² LR px computed)."""
    return margin if effective is None else -(-effective // 2)


def relative_speed(tile: int, device_type: str = "cpu") -> float:
    """Forward speed per LR pixel at ``tile`` relative to the fastest size (1 on GPUs)."""
    if device_type != "cpu":
        return 1.0
    sizes = np.log2(list(CPU_SPEED))
    return float(np.interp(np.log2(tile), sizes, list(CPU_SPEED.values())))


def _even(n: int, k: int, overlap: int) -> int:
    """Side of each of ``k`` tiles that cover ``n`` px evenly, neighbours sharing ``overlap``."""
    return n if k == 1 else -(-(n - overlap) // k) + overlap


#: Tile counts tried along the second axis past the fewest that fit (the speed table is not monotone).
_MORE_COUNTS = 3


def auto_tile(held: int | Callable[[int], int], scale: int, overlap: int, rows: int | None = None,
              cols: int | None = None, pad: int = 0, device_type: str = "cpu", hr_values: int = TILE_HR_VALUES,
              work: Callable[[int], int] | None = None) -> tuple[int, int]:
    """Default tile ``(rows, cols)`` (LR px) for a model that holds ``held`` output bands at once (a
    number, or a function of the tile's side: band-streaming models hold fewer bands on larger tiles;
    a rectangular tile counts as the square of its area, ``isqrt(rows · cols)``).

    A tile *fits* when each side is at most :data:`MAX_TILE`, the output it holds, ``held × scale² ×
    rows × cols`` values, is within ``hr_values`` (:data:`TILE_HR_VALUES`; :data:`TILE_PROJECTED_VALUES`
    with the projection's coefficients) and the area the model works on, ``work(rows) × work(cols)``
    (default ``rows × cols``; a cascade's later stages run on upscaled tiles,
    :meth:`~hsrcli.models.base.SRModel.work_side`), within :data:`TILE_LR_PIXELS`: memory follows the
    area, so tiles need not be square. Without the scene size: the largest fitting square whose side
    is a multiple of 8 up to :data:`MAX_TILE` (at least ``overlap + 32``). With it (``rows × cols``
    LR px, padded by ``pad`` on each side as the tile grid does): among the fitting grids of
    ``kr × kc`` tiles split evenly along each axis (sides at least ``overlap + 16``, rounded up to 8,
    unless the padded scene is narrower), the one with the least estimated time — computed LR pixels
    / :func:`relative_speed` at the tile's square-equivalent side. A long strip of a flight line or a
    scene just past the area bound is cut along one axis only (a 300² scene: 2 tiles of 332 × 182, not
    4 of 182²), so fewer LR pixels are computed twice.
    """
    held_at = held if callable(held) else (lambda _side: held)
    work_at = work or (lambda side: side)
    floor = overlap + 32

    def fits(r: int, c: int) -> bool:
        if max(r, c) <= floor:
            return True
        return (max(r, c) <= MAX_TILE and held_at(isqrt(r * c)) * scale * scale * r * c <= hr_values
                and work_at(r) * work_at(c) <= TILE_LR_PIXELS)

    cap = max([floor] + [s for s in range(8, MAX_TILE + 1, 8) if fits(s, s)])
    if rows is None or cols is None:
        return cap, cap
    pr, pc = rows + 2 * pad, cols + 2 * pad
    least = (overlap + 16 + 7) // 8 * 8  # the smallest tile side tried
    best: tuple[float, tuple[int, int]] | None = None
    for kr in count(1):
        tr = _even(pr, kr, overlap)
        if kr > 1 and (tr < least or tr == _even(pr, kr - 1, overlap)):
            break
        tried, kc = 0, 0
        while tried <= _MORE_COUNTS:
            kc += 1
            tc = _even(pc, kc, overlap)
            if kc > 1 and (tc < least or tc == _even(pc, kc - 1, overlap)):
                break
            if not fits(tr, tc):
                continue
            tried += 1
            cost = kr * kc * tr * tc / relative_speed(isqrt(tr * tc), device_type)
            if best is None or cost < best[0] - 1e-9:
                best = (cost, (tr, tc))
    return (cap, cap) if best is None else best[1]
