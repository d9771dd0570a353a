"""What ``hsr train`` feeds the model: the training patches of one or several data sets,
the per-epoch loader, and the data description stored in every checkpoint."""

from __future__ import annotations

import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset, DistributedSampler, RandomSampler

from hsrcli import dist as ddp
from hsrcli.data.batches import PartBatchSampler
from hsrcli.data.dataset import BandCropDataset, PatchDataset
from hsrcli.data.manifest import Manifest, load_manifest
from hsrcli.errors import HsrInputError
from hsrcli.train.config import TrainConfig


def mixed(cfg: TrainConfig) -> bool:
    """Several data sets, ``--band-crop`` or ``--band-stride``: items are random band windows
    (band-agnostic models)."""
    return bool(cfg.extra_datasets) or cfg.band_crop is not None or cfg.band_stride != 1


def band_window(model_kwargs: dict, band_crop: int | None = None) -> int:
    """Bands per training sample of a band-agnostic model: ``--band-crop``, else its group size."""
    return band_crop or int(model_kwargs.get("group_bands", 8))


class DataSets(ConcatDataset):
    """Band windows of several data sets; ``lr_patches[k]``: the LR patch side of part k."""

    def __init__(self, parts: list[Dataset], lr_patches: list[int]) -> None:
        super().__init__(parts)
        self.lr_patches = lr_patches

    def same_size(self) -> bool:
        """Whether every part's patches have one size (else a batch must come from one part)."""
        return len(set(self.lr_patches)) == 1


def training_data(cfg: TrainConfig, scale: int) -> Dataset:
    """Patches ``(lr (B, p, p), hr (B, p·s, p·s))`` of ``cfg.dataset`` — or, when :func:`mixed`, of
    every data set, as windows of ``band_crop`` bands (adjacent, or every j-th with ``band_stride``),
    each data set at its own patch size (:func:`epoch_loader` batches them one data set at a time)."""
    data = PatchDataset(cfg.dataset)
    if not mixed(cfg):
        return data
    crop = band_window(cfg.model_kwargs, cfg.band_crop)
    parts = [data] + [PatchDataset(d) for d in cfg.extra_datasets]
    for d, p in zip([cfg.dataset, *cfg.extra_datasets], parts):
        m = p.manifest
        if m.scale != scale:
            raise HsrInputError(f"{d}: made for x{m.scale}, the first data set for x{scale}")
        if m.bands < crop:
            raise HsrInputError(f"{d}: has {m.bands} bands, fewer than --band-crop {crop}")
    return DataSets([BandCropDataset(p, crop, None, scale, cfg.band_stride) for p in parts],
                    [p.manifest.lr_patch for p in parts])


def epoch_loader(data: Dataset, cfg: TrainConfig, epoch: int, info: ddp.DistInfo) -> DataLoader:
    """The batches of one epoch, drawn from (seed, epoch) so that a resumed run draws the same ones.
    Data sets whose patch sizes differ are batched one data set at a time (:class:`PartBatchSampler`)."""
    if isinstance(data, DataSets) and not data.same_size():
        batches = PartBatchSampler([len(d) for d in data.datasets], cfg.batch_size, cfg.seed * 1000 + epoch,
                                   cfg.iters_per_epoch, info.rank, info.world_size)
        return DataLoader(data, batch_sampler=batches, num_workers=cfg.workers)
    if info.enabled:
        sampler = DistributedSampler(data, num_replicas=info.world_size, rank=info.rank, shuffle=True,
                                     seed=cfg.seed, drop_last=True)
        sampler.set_epoch(epoch)
    else:
        g = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        n = None if cfg.iters_per_epoch is None else cfg.iters_per_epoch * cfg.batch_size
        sampler = RandomSampler(data, replacement=n is not None and n > len(data), num_samples=n, generator=g)
    return DataLoader(data, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.workers,
                      drop_last=len(data) >= cfg.batch_size)


def checkpoint_meta(cfg: TrainConfig, manifest: Manifest, band_agnostic: bool) -> dict:
    """Normalisation, wavelengths and data provenance stored with the weights."""
    sources = list(manifest.source_names)
    for d in cfg.extra_datasets:
        sources += load_manifest(d).source_names
    norm = dict(manifest.normalization)
    if band_agnostic:
        norm["per_scene"] = True  # band-agnostic weights serve other sensors: normalise each scene by itself
    return {"normalization": norm,
            "wavelengths_nm": None if mixed(cfg) else manifest.wavelengths_nm,
            "dataset": {"path": str(cfg.dataset), "extra": cfg.extra_datasets, "sources": sources,
                        "degradation": manifest.degradation},
            "training": cfg.to_dict()}
