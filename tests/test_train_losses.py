"""``hsrcli.train.losses`` and ``hsrcli.train.schedule``: values checked against hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from hsrcli.train.losses import gradient_loss, hloss, kd_loss, sam_loss
from hsrcli.train.schedule import fit_epochs, make_scheduler


def test_sam_loss_is_the_mean_angle_over_pi():
    x = torch.tensor([1.0, 0.0]).view(1, 2, 1, 1)
    y = torch.tensor([1.0, 1.0]).view(1, 2, 1, 1)
    assert float(sam_loss(x, y)) == pytest.approx(0.25, abs=1e-4)  # 45° = π/4
    assert float(sam_loss(y, 3 * y)) == pytest.approx(0.0, abs=2e-3)  # scale-invariant


def test_hloss_adds_the_weighted_terms_and_is_l1_without_them():
    g = torch.Generator().manual_seed(0)
    sr, hr = torch.rand(2, 4, 6, 6, generator=g), torch.rand(2, 4, 6, 6, generator=g)
    l1 = (sr - hr).abs().mean()
    assert float(hloss(sr, hr, 0.0, 0.0)) == pytest.approx(float(l1))
    expected = l1 + 0.3 * sam_loss(sr, hr) + 0.1 * gradient_loss(sr, hr)
    assert float(hloss(sr, hr)) == pytest.approx(float(expected))
    assert float(hloss(hr, hr)) == pytest.approx(0.0, abs=1e-3)


def test_kd_loss_is_zero_when_the_student_matches_the_teacher_and_grows_with_the_gap():
    g = torch.Generator().manual_seed(1)
    base, t = torch.rand(1, 3, 8, 8, generator=g), 0.1 * torch.rand(1, 3, 8, 8, generator=g)
    assert float(kd_loss(t, t, base)) == pytest.approx(0.0, abs=1e-3)
    assert float(kd_loss(t + 0.05, t, base)) < float(kd_loss(t + 0.2, t, base))


def test_fit_epochs_and_schedules():
    assert fit_epochs(2, 20.0, 60.0, 100) == 6  # 10 s per epoch, 40 s left
    assert fit_epochs(2, 20.0, 10.0, 100) == 2  # over budget: stop where we are
    assert fit_epochs(0, 0.0, 60.0, 7) == 7
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = make_scheduler(opt, "step", 10, step=2, gamma=0.5)
    lrs = []
    for _ in range(5):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.25]
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    sched = make_scheduler(opt, "cosine", 4)
    lrs = []
    for _ in range(4):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([0.5 * (1 + math.cos(math.pi * e / 4)) for e in range(4)])
