"""``hsr prepare``: scenes → a reproducible LR/HR data set on disk.

Order of work: open and check every scene → split by region or by scene
(:mod:`hsrcli.data.split`) → one streamed pass per scene for the valid-pixel mask
(nodata and non-finite pixels never enter a patch) and the normalisation
statistics → patch positions inside the training masks → write the arrays.

Layout of ``DATASET_DIR`` (all arrays float32, normalised, ``(…, bands, rows, cols)``):

* ``train_hr.npy`` ``(N, B, P, P)`` and ``train_lr.npy`` ``(N, B, P/s, P/s)``, memory-mapped;
* ``train_patches.csv``: where every patch came from (scene, resize factor, row, col, σ);
* ``val/<name>.hr.npy`` / ``.lr.npy`` and ``test/<name>.hr.npy`` / ``.lr.npy`` ``(B, H, W)``;
* ``manifest.json``: sources with SHA-256, split regions, every parameter, the
  normaliser, the degradation, counts, package version.

Augmentation (8 dihedral transforms) is applied on the fly by
:class:`hsrcli.data.dataset.PatchDataset`, so storage stays small. Everything is
computed in float64 with a fixed order of operations from the seed, so the same
inputs and options give byte-identical arrays. The data set is built in a hidden
temporary folder next to the target and renamed at the end; a failure leaves
nothing behind.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from rasterio.windows import Window

from hsrcli.choices import SCALES, Bicubic, Kernel, Sampling
from hsrcli.data.arrays import PatchSpec, patch_layout, write_images, write_patches
from hsrcli.data.degrade import describe
from hsrcli.data.manifest import MANIFEST_FORMAT
from hsrcli.data.normalize import Normalizer
from hsrcli.data.split import Box, ScenePlan, plan_split
from hsrcli.io import HsrInputError, Scene, open_scene
from hsrcli.io.atomic import remove_stale, temp_name
from hsrcli.io.bands import parse_band_selection
from hsrcli.io.hashing import sha256_files

DEFAULT_PATCH = {2: 64, 3: 63, 4: 64, 8: 128}

Progress = Callable[..., Iterable]


@dataclass
class PrepareOptions:
    """Every parameter of a data set (recorded verbatim in the manifest)."""

    scale: int
    patch: int | None = None
    stride: int | None = None
    test_fraction: float = 0.0
    test_regions: list[str] = field(default_factory=list)
    test_scenes: str | None = None
    val_fraction: float = 0.1
    val_scenes: str | None = None
    guard: int = 16
    degrade: str = "bicubic"
    sigma: list[float] = field(default_factory=lambda: [0.0])
    bicubic: str = "matlab"
    noise_sigma: float | None = None
    noise_snr: float | None = None
    scales: list[float] = field(default_factory=lambda: [1.0])
    sampling: str = "grid"
    patches_per_image: int = 24
    augment: bool = True
    normalize: str = "max"
    bands: str | None = None
    crop: str | None = None
    seed: int = 0

    def validate(self) -> None:
        if self.scale not in SCALES:
            raise HsrInputError(f"scale {self.scale} is not supported (use {', '.join(map(str, SCALES))})")
        self.patch = self.patch or DEFAULT_PATCH[self.scale]
        self.stride = self.stride or self.patch // 2
        if self.patch % self.scale:
            raise HsrInputError(f"--patch {self.patch} is not a multiple of the scale {self.scale}")
        if self.patch < 2 * self.scale or self.stride < 1:
            raise HsrInputError(f"--patch {self.patch} / --stride {self.stride} are too small")
        self.degrade = Kernel.check(self.degrade, "--degrade")
        self.bicubic = Bicubic.check(self.bicubic, "--bicubic")
        self.sampling = Sampling.check(self.sampling, "--sampling")
        if self.degrade == "gaussian" and not all(s > 0 for s in self.sigma):
            raise HsrInputError("--degrade gaussian needs --sigma > 0")
        if any(s < 0 for s in self.sigma) or not self.sigma:
            raise HsrInputError("--sigma values must be >= 0")
        if not self.scales or any(not 0 < f <= 1 for f in self.scales):
            raise HsrInputError("--scales must be factors in (0, 1], e.g. 1,0.75,0.5")
        if self.patches_per_image < 1:
            raise HsrInputError("--patches-per-image must be >= 1")
        if self.noise_sigma is not None and self.noise_snr is not None:
            raise HsrInputError("give the noise as a sigma or as an SNR, not both")


def _scene_name(path: Path) -> str:
    return path.name if path.is_dir() else path.stem


@dataclass
class _Source:
    path: Path
    scene: Scene
    bands: list[int] | None
    plan: ScenePlan | None = None
    valid: np.ndarray | None = None  # (rows, cols) bool

    @property
    def name(self) -> str:
        return self.plan.name if self.plan else _scene_name(self.path)

    def read(self, box: Box) -> np.ndarray:
        """Selected bands of a box as float64 ``(B, h, w)``."""
        block = self.scene.read(Window(box.c0, box.r0, box.width, box.height), self.bands)
        return block.astype(np.float64).transpose(2, 0, 1)


def _scan(src: _Source, want_samples: bool, rng: np.random.Generator, max_bytes: int = 64 * 2**20):
    """Valid-pixel mask, per-band maxima and (optionally) sampled pixels, streamed."""
    m = src.scene.meta
    nb = m.bands if src.bands is None else len(src.bands)
    valid = np.zeros((m.rows, m.cols), dtype=bool)
    maxima = np.full(nb, -np.inf)
    samples = []
    keep_p = min(1.0, 20000 / (m.rows * m.cols))
    from hsrcli.io.windows import iter_windows

    for w in iter_windows(m.rows, m.cols, nb, 8, max_bytes):
        raw = src.scene.read(w, src.bands)
        bad = m.missing_mask(raw).any(axis=2)
        r0, c0 = int(w.row_off), int(w.col_off)
        valid[r0:r0 + raw.shape[0], c0:c0 + raw.shape[1]] = ~bad
        good = raw[~bad].astype(np.float64)
        if good.size:
            maxima = np.maximum(maxima, good.max(axis=0))
            if want_samples:
                samples.append(good[rng.random(len(good)) < keep_p])
    return valid, maxima, (np.concatenate(samples) if samples else None)


def _open_sources(paths: list[Path], opts: PrepareOptions, stack: ExitStack, open_kw: dict) -> list[_Source]:
    from hsrcli.io.view import CroppedScene, parse_crop_box

    box = parse_crop_box(opts.crop) if opts.crop else None
    sources = []
    for p in paths:
        scene = stack.enter_context(open_scene(p, **open_kw))
        if box is not None:
            scene = CroppedScene(scene, *box)
        bands = parse_band_selection(opts.bands, scene.meta) if opts.bands else None
        sources.append(_Source(p, scene, bands))
    counts = {s.name: (s.scene.meta.bands if s.bands is None else len(s.bands)) for s in sources}
    if len(set(counts.values())) != 1:
        detail = ", ".join(f"{k}: {v}" for k, v in counts.items())
        raise HsrInputError(f"scenes have different band counts ({detail}); select common bands with --bands")
    return sources


def _atomic_dir(out: Path, overwrite: bool, inputs: list[Path]) -> Path:
    """The temporary folder the data set ``out`` is written into. ``overwrite`` replaces (deletes) only a
    data set of this command (a folder with ``manifest.json``) and none that holds an input."""
    if out.exists():
        if not overwrite:
            raise HsrInputError(f"{out}: output exists (use --overwrite to replace it)")
        if not (out / "manifest.json").is_file():
            raise HsrInputError(f"{out}: is not a data set of 'hsr prepare' (no manifest.json); --overwrite "
                                "replaces only those: choose a new folder")
        root = out.resolve()
        inside = next((p for p in inputs if p.exists() and p.resolve().is_relative_to(root)), None)
        if inside is not None:
            raise HsrInputError(f"{out}: holds the input {inside}; write the data set elsewhere")
    if not out.parent.is_dir():
        raise HsrInputError(f"{out.parent}: output folder does not exist")
    if not os.access(out.parent, os.W_OK | os.X_OK):
        raise HsrInputError(f"{out.parent}: output folder is not writable")
    remove_stale(out.parent)
    return temp_name(out)


def _commit_dir(tmp: Path, out: Path) -> None:
    old = None
    if out.exists():
        old = temp_name(out, kind="old")
        os.replace(out, old)
    os.replace(tmp, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def prepare_dataset(
    paths: list[Path],
    out: Path,
    opts: PrepareOptions,
    *,
    overwrite: bool = False,
    open_kw: dict | None = None,
    progress: Progress | None = None,
) -> dict:
    """Build the data set; returns the manifest (also written to ``out/manifest.json``)."""
    from hsrcli import __version__

    opts.validate()
    bar = progress or (lambda it, **_: it)
    tmp = _atomic_dir(out, overwrite, paths)
    with ExitStack() as stack:
        sources = _open_sources(paths, opts, stack, open_kw or {})
        plans = plan_split([(_scene_name(s.path), s.scene.meta.rows, s.scene.meta.cols) for s in sources],
                           scale=opts.scale, test_scenes=opts.test_scenes, val_scenes=opts.val_scenes,
                           test_regions=opts.test_regions, test_fraction=opts.test_fraction,
                           val_fraction=opts.val_fraction, guard=opts.guard, seed=opts.seed)
        for s, p in zip(sources, plans):
            s.plan = p
            m = s.scene.meta
            if p.role == "train" and min(m.rows, m.cols) < opts.patch:
                raise HsrInputError(f"{s.name}: scene ({m.rows} x {m.cols}) is smaller than one "
                                    f"{opts.patch} x {opts.patch} patch")
            if min(m.rows, m.cols) < opts.scale:
                raise HsrInputError(f"{s.name}: scene ({m.rows} x {m.cols}) is smaller than the scale {opts.scale}")

        rng = np.random.default_rng(opts.seed)
        norm = Normalizer.parse(opts.normalize)
        maxima, samples = [], []
        for s in bar(sources, desc="scan", unit="scene"):
            s.valid, mx, smp = _scan(s, norm.kind == "percentile", rng)
            maxima.append(mx)
            if smp is not None:
                samples.append(smp)
        if norm.kind != "fixed":
            norm.fit(np.max(maxima, axis=0), np.concatenate(samples) if samples else None)
        nb = len(maxima[0])
        divisor = norm.array(nb)

        layout = patch_layout(sources, opts)
        if not layout:
            raise HsrInputError("no training patch fits inside the training regions; lower --patch, "
                                "--guard or the held-out fractions")
        tmp.mkdir()
        try:
            gen = torch.Generator().manual_seed(opts.seed)  # patches first, then images: a fixed order
            write_patches(tmp, sources, layout, opts, divisor, nb, gen, bar)
            images = write_images(tmp, sources, opts, divisor, gen, bar)
            manifest = _manifest(sources, layout, images, opts, norm, nb)
            manifest.update(format=MANIFEST_FORMAT, hsrcli_version=__version__)
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
            _commit_dir(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return manifest


def _manifest(sources: list[_Source], layout: list[PatchSpec], images: dict, opts: PrepareOptions,
              norm: Normalizer, bands: int) -> dict:
    """Everything about the data set but its format and version (added by the caller)."""
    s = opts.scale
    ref = sources[0]
    wl = ref.scene.meta.wavelengths
    sel = list(range(ref.scene.meta.bands)) if ref.bands is None else ref.bands
    return {
        "scale": s,
        "bands": {"count": bands, "indices": sel,
                  "wavelengths_nm": None if wl is None else [float(wl[b]) for b in sel]},
        "sources": [{"name": x.name, "path": str(x.path), "format": x.scene.meta.format,
                     "shape": list(x.scene.meta.shape), "dtype": x.scene.meta.dtype.name,
                     "files": len(x.scene.files()), "sha256": sha256_files(x.scene.files()), "crop": opts.crop,
                     "invalid_pixels": int((~x.valid).sum())} for x in sources],
        "split": {"mode": "scene" if any(x.plan.role != "train" for x in sources) else "region",
                  "scenes": [x.plan.to_dict() for x in sources]},
        "degradation": describe(opts.degrade, opts.sigma[0], opts.bicubic, opts.noise_sigma, opts.noise_snr)
        | {"sigmas_hr_px": opts.sigma, "scale": s},
        "normalization": norm.to_dict(),
        "augmentation": {"enabled": opts.augment, "mode": "on the fly in PatchDataset", "transforms": "dihedral-8"},
        "patches": {"size_hr": opts.patch, "size_lr": opts.patch // s, "stride": opts.stride,
                    "sampling": opts.sampling, "resize_factors": opts.scales,
                    "per_image": opts.patches_per_image if opts.sampling == "random" else None},
        "counts": {"train": len(layout), "val": len(images["val"]), "test": len(images["test"])},
        "arrays": {"train_hr": "train_hr.npy", "train_lr": "train_lr.npy", "train_patches": "train_patches.csv"},
        "images": images,
        "parameters": asdict(opts),
    }
