"""Split scenes into training, validation and test parts *before* cutting patches.

Two modes:

* **region** (one or a few large scenes, e.g. Chikusei, Jasper Ridge): test and
  validation are rectangles of each scene — ``--test-region`` boxes or a
  ``--test-fraction`` strip at the top, and a ``--val-fraction`` strip at the
  bottom. A guard band of ``guard`` pixels around them is excluded from training
  as well, so no training patch touches (or borders) a test or validation pixel.
* **scene** (many-scene sets, e.g. CAVE): ``--test-scenes`` names or a seeded
  count of whole scenes is held out; validation is ``--val-scenes`` or, when not
  given, a ``--val-fraction`` strip of each training scene (with its guard band).

Boxes are half-open pixel rectangles ``(row0, col0, row1, col1)`` of the scene.
Test and validation images are stored whole, their size floored to a multiple of
the scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hsrcli.errors import HsrInputError
from hsrcli.io.coords import parse_ints


@dataclass(frozen=True)
class Box:
    """Half-open rectangle rows ``r0:r1``, cols ``c0:c1``."""

    r0: int
    c0: int
    r1: int
    c1: int

    @property
    def height(self) -> int:
        return self.r1 - self.r0

    @property
    def width(self) -> int:
        return self.c1 - self.c0

    def mod_crop(self, scale: int) -> Box:
        """Same top-left corner, size floored to a multiple of ``scale``."""
        return Box(self.r0, self.c0, self.r0 + self.height // scale * scale, self.c0 + self.width // scale * scale)

    def grown(self, g: int, rows: int, cols: int) -> Box:
        """The box enlarged by ``g`` pixels on every side, clipped to the scene."""
        return Box(max(0, self.r0 - g), max(0, self.c0 - g), min(rows, self.r1 + g), min(cols, self.c1 + g))

    def as_list(self) -> list[int]:
        return [self.r0, self.c0, self.r1, self.c1]


def parse_box(spec: str, rows: int, cols: int) -> Box:
    """``ROW0,COL0,ROW1,COL1`` (half-open, 0-based) checked against a scene."""
    r0, c0, r1, c1 = parse_ints(spec, "ROW0,COL0,ROW1,COL1", "--test-region", "half-open, 0-based")
    if not (0 <= r0 < r1 <= rows and 0 <= c0 < c1 <= cols):
        raise HsrInputError(f"--test-region {spec} is outside the {rows} x {cols} scene")
    return Box(r0, c0, r1, c1)


@dataclass
class ScenePlan:
    """How one scene is used: role (train/test/val) and held-out boxes."""

    name: str
    rows: int
    cols: int
    role: str = "train"  # whole scene: "train", "test" or "val"
    test: list[Box] = field(default_factory=list)
    val: list[Box] = field(default_factory=list)
    guard: int = 0

    def held_out(self) -> list[Box]:
        return [*self.test, *self.val]

    def train_mask(self, valid: np.ndarray | None = None) -> np.ndarray:
        """Boolean (rows, cols): pixels a training patch may use (False in held-out boxes + guard)."""
        mask = np.ones((self.rows, self.cols), dtype=bool) if valid is None else valid.copy()
        if self.role != "train":
            mask[:] = False
            return mask
        for b in self.held_out():
            g = b.grown(self.guard, self.rows, self.cols)
            mask[g.r0:g.r1, g.c0:g.c1] = False
        return mask

    def to_dict(self) -> dict:
        return {"name": self.name, "rows": self.rows, "cols": self.cols, "role": self.role, "guard": self.guard,
                "test": [b.as_list() for b in self.test], "val": [b.as_list() for b in self.val]}


def _strip(rows: int, cols: int, fraction: float, scale: int, top: bool) -> Box | None:
    if fraction <= 0:
        return None
    h = round(rows * fraction) // scale * scale
    if h < scale:
        raise HsrInputError(f"a fraction of {fraction:g} of {rows} rows is less than the scale {scale}")
    return Box(0, 0, h, cols) if top else Box(rows - h, 0, rows, cols)


def choose_scenes(names: list[str], spec: str | None, seed: int, taken: set[str] = frozenset()) -> list[str]:
    """Scenes named in ``spec`` (comma list; ``beads`` matches ``beads_ms``) or a seeded count."""
    if not spec:
        return []
    pool = [n for n in names if n not in taken]
    if spec.strip().isdigit():
        k = int(spec)
        if not 0 < k < len(pool):
            raise HsrInputError(f"cannot hold out {k} of {len(pool)} scenes (at least one must stay for training)")
        rng = np.random.default_rng(seed)
        return sorted(pool[i] for i in rng.choice(len(pool), size=k, replace=False))
    chosen = []
    for want in (s.strip() for s in spec.split(",") if s.strip()):
        hits = [n for n in pool if n == want or n == f"{want}_ms" or n.split("_ms")[0] == want]
        if not hits:
            raise HsrInputError(f"no scene named {want!r} (scenes: {', '.join(pool)})")
        chosen.extend(h for h in hits if h not in chosen)
    if len(chosen) >= len(pool):
        raise HsrInputError("every scene is held out; at least one must stay for training")
    return chosen


def plan_split(
    scenes: list[tuple[str, int, int]],
    *,
    scale: int,
    test_scenes: str | None = None,
    val_scenes: str | None = None,
    test_regions: list[str] | None = None,
    test_fraction: float = 0.0,
    val_fraction: float = 0.1,
    guard: int = 16,
    seed: int = 0,
) -> list[ScenePlan]:
    """One :class:`ScenePlan` per ``(name, rows, cols)`` following the module's rules."""
    if not 0 <= test_fraction < 1 or not 0 <= val_fraction < 1 or test_fraction + val_fraction >= 1:
        raise HsrInputError("--test-fraction and --val-fraction must be in [0, 1) and sum to less than 1")
    if guard < 0:
        raise HsrInputError("--guard must be >= 0")
    names = [n for n, _, _ in scenes]
    if len(set(names)) != len(names):
        raise HsrInputError(f"scene names must be unique, got {names}")
    test_set = set(choose_scenes(names, test_scenes, seed))
    val_set = set(choose_scenes(names, val_scenes, seed + 1, taken=test_set))
    scene_mode = bool(test_set)
    if scene_mode and (test_regions or test_fraction):
        raise HsrInputError("use either --test-scenes or --test-region/--test-fraction, not both")
    if not scene_mode and not (test_regions or test_fraction):
        raise HsrInputError("no test split: give --test-scenes, --test-region or --test-fraction")
    plans = []
    for name, rows, cols in scenes:
        p = ScenePlan(name, rows, cols, guard=guard)
        if name in test_set:
            p.role = "test"
        elif name in val_set:
            p.role = "val"
        else:
            if not scene_mode:
                p.test = [parse_box(s, rows, cols) for s in (test_regions or [])]
                top = _strip(rows, cols, test_fraction, scale, top=True)
                p.test += [top] if top else []
            if not val_set:
                bottom = _strip(rows, cols, val_fraction, scale, top=False)
                p.val = [bottom] if bottom else []
            for a in p.test:
                for b in p.val:
                    if a.r0 < b.r1 and b.r0 < a.r1 and a.c0 < b.c1 and b.c0 < a.c1:
                        raise HsrInputError(f"{name}: test region {a.as_list()} overlaps the validation strip")
        plans.append(p)
    return plans
