"""``hsrcli.train.ema``: the warmed-up moving average of the trained weights (``hsr train --ema``)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hsrcli.train.ema import ema_update_fn, make_ema, warmed_decay


def test_warmed_decay_starts_low_and_reaches_the_decay():
    assert warmed_decay(0.999, 0) == pytest.approx(0.1)
    assert warmed_decay(0.999, 90) == pytest.approx(0.91)
    assert warmed_decay(0.999, 10**6) == 0.999
    assert warmed_decay(0.5, 5) == pytest.approx(0.4) and warmed_decay(0.5, 10) == 0.5


def test_average_follows_the_warmed_recursion_and_buffers_follow_the_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    ema = make_ema(model, 0.99)
    w0 = model[0].weight.detach().clone()
    ema.update_parameters(model)  # the first update copies
    assert torch.equal(ema.module[0].weight, w0)
    expected = w0
    for n in range(1, 4):
        with torch.no_grad():
            model[0].weight.add_(1.0)
            model[1].running_mean.fill_(float(n))
        ema.update_parameters(model)
        d = warmed_decay(0.99, n)
        expected = d * expected + (1 - d) * model[0].weight.detach()
        assert torch.allclose(ema.module[0].weight, expected, atol=1e-6)
        assert not torch.allclose(ema.module[0].weight, model[0].weight)  # an average, not a copy
        assert torch.equal(ema.module[1].running_mean, model[1].running_mean)  # buffers are not averaged


def test_no_decay_no_average_and_bad_decays_refused():
    assert make_ema(nn.Linear(2, 2), None) is None
    for bad in (0.0, 1.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="EMA decay"):
            ema_update_fn(bad)
