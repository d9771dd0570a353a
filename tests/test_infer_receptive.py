"""``hsrcli.infer.receptive``: the measured effective receptive radius."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hsrcli.infer.receptive import effective_radius, influence_profile


def _net(k: int, weights: list[float] | None = None) -> nn.Module:
    """A k×k convolution (reach k // 2) followed by nearest ×2 upsampling."""
    conv = nn.Conv2d(1, 1, k, padding=k // 2, bias=False)
    with torch.no_grad():
        conv.weight.fill_(0.1)
        if weights is not None:  # per-ring weights: ring r gets weights[r]
            c = k // 2
            for y in range(k):
                for x in range(k):
                    conv.weight[0, 0, y, x] = weights[max(abs(y - c), abs(x - c))]
    return nn.Sequential(conv, nn.Upsample(scale_factor=2, mode="nearest"))


def test_radius_of_a_plain_convolution_is_its_reach():
    x = torch.rand(1, 1, 15, 15)
    assert effective_radius(_net(5), x, 2, reach=6) == 3  # changes at distance 0..2, none from 3 on
    prof = influence_profile(_net(5), x, 2, reach=6)
    assert prof[0] == pytest.approx(0.1, rel=1e-5) and prof[2] == pytest.approx(0.1, rel=1e-5) and prof[3] == 0
    assert torch.all(prof[:-1] >= prof[1:])  # non-increasing


def test_weak_far_taps_fall_under_the_threshold():
    net = _net(7, [1.0, 0.1, 1e-3, 1e-7])  # the outer ring moves the output by 1e-7 only
    x = torch.rand(1, 1, 15, 15)
    assert effective_radius(net, x, 2, reach=7, threshold=1e-5) == 3
    assert effective_radius(net, x, 2, reach=7, threshold=1e-8) == 4


def test_input_too_small_for_the_reach_is_refused():
    with pytest.raises(ValueError, match="at least"):
        influence_profile(_net(3), torch.rand(1, 1, 9, 9), 2, reach=6)
