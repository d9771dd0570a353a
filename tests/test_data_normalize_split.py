"""``hsrcli.data.normalize`` and ``hsrcli.data.split``: the rules, directly."""

from __future__ import annotations

import numpy as np
import pytest

from hsrcli.data.normalize import Normalizer
from hsrcli.data.split import Box, plan_split
from hsrcli.errors import HsrInputError


def test_normalizer_kinds_fit_and_round_trip():
    n = Normalizer.parse("max")
    n.fit(np.array([3.0, 7.0, 5.0]))
    assert n.divisor == [7.0] and n.array(3).shape == (3, 1, 1) and (n.array(3) == 7.0).all()
    p = Normalizer.parse("percentile:50")
    p.fit(np.array([9.0, 9.0]), np.array([[1.0, 0.0], [3.0, 0.0], [5.0, 0.0]]))
    assert p.divisor == [3.0, 1.0]  # a band with a zero percentile divides by 1
    f = Normalizer.parse("fixed:65535")
    assert f.divisor == [65535.0] and Normalizer.from_dict(f.to_dict()) == f
    with pytest.raises(HsrInputError, match="normaliser has 2 values for 3 bands"):
        p.array(3)


@pytest.mark.parametrize("spec", ["max:3", "percentile:0", "percentile:101", "fixed:0", "fixed:x", "median"])
def test_normalizer_refuses_bad_specs(spec):
    with pytest.raises(HsrInputError, match="bad --normalize"):
        Normalizer.parse(spec)


def test_region_split_holds_out_strips_with_a_guard():
    (plan,) = plan_split([("a", 100, 80)], scale=4, test_fraction=0.2, val_fraction=0.1, guard=4)
    assert plan.role == "train" and plan.test and plan.val
    mask = plan.train_mask()
    for box in plan.test + plan.val:
        g = box.grown(4, 100, 80)
        assert not mask[g.r0:g.r1, g.c0:g.c1].any()  # no training pixel in a held-out box or its guard
    assert mask.sum() > 0


def test_scene_split_and_its_refusals():
    plans = plan_split([("beads_ms", 64, 64), ("cd_ms", 64, 64), ("flowers_ms", 64, 64)], scale=2,
                       test_scenes="flowers", val_scenes="cd")
    assert [p.role for p in plans] == ["train", "val", "test"]
    with pytest.raises(HsrInputError, match="either --test-scenes or --test-region"):
        plan_split([("a", 64, 64), ("b", 64, 64)], scale=2, test_scenes="a", test_fraction=0.2)
    with pytest.raises(HsrInputError, match="no test split"):
        plan_split([("a", 64, 64)], scale=2)
    assert Box(1, 2, 12, 15).mod_crop(4) == Box(1, 2, 9, 14)
