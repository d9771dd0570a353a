"""Batches drawn one data set at a time (``hsrcli.data.batches``)."""

from __future__ import annotations

import pytest

from hsrcli.data.batches import PartBatchSampler

SIZES = [10, 3, 25]  # items 0-9, 10-12, 13-37
PART_OF = [k for k, n in enumerate(SIZES) for _ in range(n)]


def test_every_batch_comes_from_one_part_and_a_pass_covers_every_item():
    s = PartBatchSampler(SIZES, batch_size=4, seed=0)
    batches = list(s)
    assert len(batches) == len(s) == 3 + 1 + 7  # ceil(n / 4) per part
    assert all(len(b) == 4 and len({PART_OF[i] for i in b}) == 1 for b in batches)
    seen = sorted({i for b in batches for i in b})
    assert seen == list(range(sum(SIZES)))  # a last batch is filled up from its own part, never another's
    assert sum(PART_OF[b[0]] == 1 for b in batches) == 1  # 3 items, batch 4: one batch, one item twice


def test_batches_follow_the_seed_and_span_passes():
    a, b = list(PartBatchSampler(SIZES, 4, seed=3)), list(PartBatchSampler(SIZES, 4, seed=3))
    assert a == b and a != list(PartBatchSampler(SIZES, 4, seed=4))
    long = list(PartBatchSampler(SIZES, 4, seed=3, num_batches=25))  # two passes and a bit
    assert len(long) == 25 and long[:11] == a


def test_ranks_take_disjoint_batches_of_the_same_passes():
    one = list(PartBatchSampler(SIZES, 4, seed=1, num_batches=10))
    r0 = list(PartBatchSampler(SIZES, 4, seed=1, num_batches=5, rank=0, world_size=2))
    r1 = list(PartBatchSampler(SIZES, 4, seed=1, num_batches=5, rank=1, world_size=2))
    assert r0 == one[0::2] and r1 == one[1::2]
    assert len(PartBatchSampler(SIZES, 4, seed=1, rank=1, world_size=2)) == 11 // 2  # one pass shared


@pytest.mark.parametrize("kwargs", [{"sizes": [], "batch_size": 4}, {"sizes": [3, 0], "batch_size": 4},
                                    {"sizes": [3], "batch_size": 0}, {"sizes": [3], "batch_size": 2, "rank": 2}])
def test_bad_arguments_are_refused(kwargs):
    with pytest.raises(ValueError):
        PartBatchSampler(seed=0, **kwargs)
