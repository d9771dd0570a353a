"""Batches drawn one data set at a time (training on data sets whose patches differ in size).

A batch must hold items of one size, so when several data sets are trained on together and their
patches differ (e.g. 128-px HR patches of large lab scenes beside 48-px ones of small airborne crops),
:class:`PartBatchSampler` draws every batch from one part of the :class:`~torch.utils.data.ConcatDataset`
instead of cropping all patches to the smallest: each part keeps the spatial context it was prepared
with. Parts are drawn in proportion to their size, as a sampler over the concatenation would.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler


class PartBatchSampler(Sampler[list[int]]):
    """Index batches of a concatenation of parts of ``sizes`` items, each batch from one part.

    One *pass* shuffles every part, cuts it into batches of ``batch_size`` (a part's last batch is
    filled up with items from the start of its shuffled order, so a part smaller than a batch still
    gives one) and shuffles the order of all batches. An epoch is ``num_batches`` batches per rank
    (default: one pass shared by the ranks), taken from consecutive passes; under DDP every rank
    draws the same passes from ``seed`` and takes every ``world_size``-th batch from ``rank`` on,
    so the ranks' batches are disjoint within a pass.
    """

    def __init__(self, sizes: Sequence[int], batch_size: int, seed: int, num_batches: int | None = None,
                 rank: int = 0, world_size: int = 1) -> None:
        if batch_size < 1 or not sizes or min(sizes) < 1:
            raise ValueError("PartBatchSampler needs a batch size >= 1 and non-empty parts")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, {world_size})")
        self.sizes, self.batch_size, self.seed = [int(n) for n in sizes], int(batch_size), int(seed)
        self.rank, self.world_size = rank, world_size
        per_pass = sum(-(-n // self.batch_size) for n in self.sizes)
        self.num_batches = max(1, per_pass // world_size) if num_batches is None else int(num_batches)

    def _one_pass(self, g: torch.Generator) -> list[list[int]]:
        """Every part's items once (its last batch filled up), batches in a random order."""
        batches, offset = [], 0
        for n in self.sizes:
            k = -(-n // self.batch_size)
            perm = torch.randperm(n, generator=g)
            idx = perm.repeat(-(-k * self.batch_size // n))[:k * self.batch_size] + offset
            batches += idx.view(k, self.batch_size).tolist()
            offset += n
        return [batches[i] for i in torch.randperm(len(batches), generator=g).tolist()]

    def __iter__(self) -> Iterator[list[int]]:
        g = torch.Generator().manual_seed(self.seed)
        total, drawn = self.num_batches * self.world_size, []
        while len(drawn) < total:
            drawn += self._one_pass(g)
        return iter(drawn[self.rank:total:self.world_size])

    def __len__(self) -> int:
        return self.num_batches
