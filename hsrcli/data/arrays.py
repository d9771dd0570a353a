"""The arrays of a prepared data set: where the training patches come from, and writing them.

* :func:`patch_layout` — every training patch as a :class:`PatchSpec`, in write order;
* :func:`write_patches` — ``train_hr.npy`` / ``train_lr.npy`` (memory-mapped, written strip by
  strip of the source) and ``train_patches.csv``;
* :func:`write_images` — the whole validation and test images (``val/``, ``test/``).

Sources are the opened scenes of :func:`hsrcli.data.prepare.prepare_dataset` (``.read(box)``
gives selected bands as float64 ``(B, h, w)``; ``.plan`` their split; ``.valid`` their mask).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from hsrcli.data.degrade import degrade
from hsrcli.data.patches import grid_positions, random_positions, resize_mask
from hsrcli.data.split import Box
from hsrcli.ops.imresize import imresize, output_size


class PatchSpec(NamedTuple):
    """One training patch: source index, resize-factor index, HR top-left (row, col), blur σ (HR px)."""

    source: int
    factor: int
    row: int
    col: int
    sigma: float


def patch_layout(sources: list[Any], opts: Any) -> list[PatchSpec]:
    """Every training patch, in write order (sources, then resize factors, then positions)."""
    sig_rng = np.random.default_rng([opts.seed, 7])
    out = []
    for si, s in enumerate(sources):
        if s.plan.role != "train":
            continue
        mask = s.plan.train_mask(s.valid)
        for fi, f in enumerate(opts.scales):
            m = mask if f == 1 else resize_mask(mask, f, output_size(mask.shape, f))
            if opts.sampling == "grid":
                pos = grid_positions(m, opts.patch, opts.stride)
            else:
                rng = np.random.default_rng([opts.seed, si, fi])
                pos = random_positions(m, opts.patch, opts.patches_per_image, rng)
            for r, c in pos:
                sigma = opts.sigma[0] if len(opts.sigma) == 1 else float(sig_rng.choice(opts.sigma))
                out.append(PatchSpec(si, fi, int(r), int(c), sigma))
    return out


def degrade_lr(hr: np.ndarray, opts: Any, sigma: float, gen: torch.Generator) -> np.ndarray:
    """The LR counterpart of HR patches/images ``(…, B, H, W)`` as ``hsr prepare`` makes it."""
    t = degrade(torch.from_numpy(hr), opts.scale, kernel=opts.degrade, sigma=sigma, method=opts.bicubic,
                noise_sigma=opts.noise_sigma, noise_snr=opts.noise_snr, generator=gen)
    return t.numpy()


def write_patches(tmp: Path, sources: list[Any], layout: list[PatchSpec], opts: Any, divisor: np.ndarray,
                  bands: int, gen: torch.Generator, bar) -> None:
    """``train_hr.npy``, ``train_lr.npy`` and ``train_patches.csv`` in ``tmp``."""
    from numpy.lib.format import open_memmap

    p, s = opts.patch, opts.scale
    hr_out = open_memmap(tmp / "train_hr.npy", mode="w+", dtype=np.float32, shape=(len(layout), bands, p, p))
    lr_out = open_memmap(tmp / "train_lr.npy", mode="w+", dtype=np.float32,
                         shape=(len(layout), bands, p // s, p // s))
    rows_csv = []
    k = 0
    groups: dict[tuple[int, int], list[PatchSpec]] = {}
    for item in layout:
        groups.setdefault((item.source, item.factor), []).append(item)
    for (si, fi), items in bar(list(groups.items()), desc="patches", unit="scene"):
        src, f = sources[si], opts.scales[fi]
        whole = None
        if f != 1:  # resized copies need the whole scene (documented)
            m = src.scene.meta
            whole = imresize(torch.from_numpy(src.read(Box(0, 0, m.rows, m.cols)) / divisor), f).numpy()
        by_row: dict[int, list[PatchSpec]] = {}
        for it in items:
            by_row.setdefault(it.row, []).append(it)
        for r, row_items in by_row.items():
            if whole is None:
                strip = src.read(Box(r, 0, r + p, src.scene.meta.cols)) / divisor
                hrs = np.stack([strip[:, :, it.col:it.col + p] for it in row_items])
            else:
                hrs = np.stack([whole[:, r:r + p, it.col:it.col + p] for it in row_items])
            sigmas = [it.sigma for it in row_items]
            lrs = np.empty((len(row_items), bands, p // s, p // s))
            for sig in sorted(set(sigmas)):
                sel = [i for i, v in enumerate(sigmas) if v == sig]
                lrs[sel] = degrade_lr(hrs[sel], opts, sig, gen)
            hr_out[k:k + len(row_items)] = hrs.astype(np.float32)
            lr_out[k:k + len(row_items)] = lrs.astype(np.float32)
            for it in row_items:
                rows_csv.append([k, src.name, f, it.row, it.col, it.sigma])
                k += 1
    hr_out.flush()
    lr_out.flush()
    del hr_out, lr_out
    with open(tmp / "train_patches.csv", "w", newline="") as fcsv:
        w = csv.writer(fcsv)
        w.writerow(["index", "scene", "resize_factor", "row", "col", "sigma"])
        w.writerows(rows_csv)


def write_images(tmp: Path, sources: list[Any], opts: Any, divisor: np.ndarray, gen: torch.Generator,
                 bar) -> dict[str, list[dict]]:
    """Whole validation and test images (``val/<name>.hr.npy`` / ``.lr.npy``…); their manifest entries.

    An image with missing pixels (nodata, NaN) gets them filled with its bands' means before it is
    degraded (so that the LR holds no stored nodata values for the bicubic to spread) and a
    ``<name>.valid.npy`` HR mask ``(H, W)`` bool that leaves them out of its metrics (``valid`` in its
    entry; None when every pixel is valid). An image without any valid pixel is not written."""
    images: dict[str, list[dict]] = {"val": [], "test": []}
    for src in bar(sources, desc="images", unit="scene"):
        plan = src.plan
        m = src.scene.meta
        boxes = []
        if plan.role in ("test", "val"):
            boxes.append((plan.role, plan.name, Box(0, 0, m.rows, m.cols)))
        boxes += [("test", f"{plan.name}_test{i}", b) for i, b in enumerate(plan.test)]
        boxes += [("val", f"{plan.name}_val{i}", b) for i, b in enumerate(plan.val)]
        for split, name, box in boxes:
            box = box.mod_crop(opts.scale)
            valid = src.valid[box.r0:box.r1, box.c0:box.c1]
            if not valid.any():
                continue
            (tmp / split).mkdir(exist_ok=True)
            hr = src.read(box) / divisor
            mask = None
            if not valid.all():
                hr = np.where(valid, hr, hr[:, valid].mean(axis=1)[:, None, None])
                mask = f"{split}/{name}.valid.npy"
                np.save(tmp / mask, valid)
            lr = degrade_lr(hr, opts, opts.sigma[0], gen)
            np.save(tmp / split / f"{name}.hr.npy", hr.astype(np.float32))
            np.save(tmp / split / f"{name}.lr.npy", lr.astype(np.float32))
            images[split].append({"name": name, "scene": plan.name, "box": box.as_list(),
                                  "hr": f"{split}/{name}.hr.npy", "lr": f"{split}/{name}.lr.npy", "valid": mask,
                                  "shape_hr": list(hr.shape), "invalid_pixels": int((~valid).sum())})
    return images
