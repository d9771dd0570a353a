"""PyTorch datasets over a folder made by ``hsr prepare`` (memory-mapped, larger than RAM is fine)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from hsrcli.data.augment import N_TRANSFORMS, dihedral
from hsrcli.data.manifest import load_manifest


class PatchDataset(Dataset):
    """Training pairs ``(lr (B, p, p), hr (B, p·s, p·s))`` float32, normalised.

    With ``augment`` (default: as the manifest says) each item gets one of the 8
    dihedral transforms, the same for LR and HR, drawn from torch's RNG (seed it
    per worker for reproducible runs). Arrays are memory-mapped lazily, so the
    dataset pickles cheaply to DataLoader workers.
    """

    def __init__(self, root: str | Path, augment: bool | None = None) -> None:
        self.root = Path(root)
        self.manifest = load_manifest(self.root)
        self.augment = self.manifest.augment if augment is None else augment
        self._hr = self._lr = None
        self.count = self.manifest.train_count

    def _arrays(self):
        if self._hr is None:
            a = self.manifest.arrays
            self._hr = np.load(self.root / a["train_hr"], mmap_mode="r")
            self._lr = np.load(self.root / a["train_lr"], mmap_mode="r")
        return self._lr, self._hr

    def __len__(self) -> int:
        return self.count

    @property
    def bands(self) -> int:
        """Bands per item."""
        return self.manifest.bands

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.pair(i)

    def pair(self, i: int, bands: slice = slice(None)) -> tuple[torch.Tensor, torch.Tensor]:
        """Item ``i`` restricted to ``bands`` (only those are read from the memory map)."""
        lr_a, hr_a = self._arrays()
        lr = torch.from_numpy(np.array(lr_a[i, bands], dtype=np.float32))
        hr = torch.from_numpy(np.array(hr_a[i, bands], dtype=np.float32))
        if self.augment:
            k = int(torch.randint(N_TRANSFORMS, (1,)))
            lr, hr = dihedral(lr, k), dihedral(hr, k)
        return lr, hr

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_hr"] = state["_lr"] = None
        return state


class BandCropDataset(Dataset):
    """Random windows of another pair dataset: ``bands`` bands, and (with ``lr_patch``)
    a random square of ``lr_patch`` LR pixels with its ``lr_patch·scale`` HR pixels (band-agnostic
    training; data sets whose patch sizes differ are batched one at a time, see
    :mod:`hsrcli.data.batches`, so ``hsr train`` passes None and keeps every patch whole).

    The bands of a window are adjacent, or, with ``max_stride`` k > 1, every j-th band for a j drawn
    from 1…k (at most what the item's bands allow): the spectral sampling of coarser sensors.
    Window positions and strides are drawn from torch's RNG per item (reproducible under a seeded run;
    with ``max_stride`` 1 the draws are those of contiguous windows).
    """

    def __init__(self, base: Dataset, bands: int, lr_patch: int | None = None, scale: int = 1,
                 max_stride: int = 1) -> None:
        if max_stride < 1:
            raise ValueError(f"max_stride must be >= 1, got {max_stride}")
        self.base, self.bands, self.lr_patch, self.scale = base, bands, lr_patch, scale
        self.max_stride = max_stride

    def __len__(self) -> int:
        return len(self.base)

    def window(self, b: int) -> slice:
        """A random window of ``self.bands`` bands out of ``b``: ``slice(first, end, stride)``."""
        k = 1
        if self.max_stride > 1:
            fits = (b - 1) // max(1, self.bands - 1)  # the largest stride whose window fits in b bands
            k = int(torch.randint(1, max(1, min(self.max_stride, fits)) + 1, (1,)))
        span = (self.bands - 1) * k + 1
        s = int(torch.randint(max(1, b - span + 1), (1,)))
        return slice(s, s + span, k)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if isinstance(self.base, PatchDataset):  # read only the window's bands from the memory map
            b = self.base.bands
            lr, hr = self.base.pair(i, self.window(b))
        else:
            lr, hr = self.base[i]
            b = lr.shape[0]
            w = self.window(b)
            lr, hr = lr[w], hr[w]
        if b < self.bands:
            raise ValueError(f"item has {b} bands, fewer than the crop of {self.bands}")
        h, w = lr.shape[1:]
        p = self.lr_patch
        if p is not None and (h > p or w > p):
            if h < p or w < p:
                raise ValueError(f"item is {h}x{w} LR pixels, smaller than the crop of {p}")
            y, x = int(torch.randint(h - p + 1, (1,))), int(torch.randint(w - p + 1, (1,)))
            k = self.scale
            lr, hr = lr[:, y:y + p, x:x + p], hr[:, y * k:(y + p) * k, x * k:(x + p) * k]
        return lr, hr


class ImageDataset(Dataset):
    """Whole validation or test images: ``(name, lr (B, h, w), hr (B, h·s, w·s), valid)``, ``valid`` the
    HR pixels to score ``(h·s, w·s)`` bool, or None when every pixel counts (data sets made before it)."""

    def __init__(self, root: str | Path, split: str = "test") -> None:
        if split not in ("val", "test"):
            raise ValueError("split must be 'val' or 'test'")
        self.root = Path(root)
        self.manifest = load_manifest(self.root)
        self.items = self.manifest.images[split]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> tuple[str, torch.Tensor, torch.Tensor, np.ndarray | None]:
        it = self.items[i]
        lr = torch.from_numpy(np.load(self.root / it["lr"]))
        hr = torch.from_numpy(np.load(self.root / it["hr"]))
        valid = np.load(self.root / it["valid"]) if it.get("valid") else None
        return it["name"], lr, hr, valid
