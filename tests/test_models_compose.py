"""Composite models (``hsrcli/models/compose.py``): cascades and averages, exact under crops."""

from __future__ import annotations

import pytest
import torch

from hsrcli.models import build
from hsrcli.models.compose import Average, Cascade, average_radius, cascade_radius
from hsrcli.models.resample import bicubic_base


def _g(scale: int, seed: int):
    torch.manual_seed(seed)
    return build("lkca-g", 5, scale, channels=6, blocks=1).eval()


def test_cascade_radius_counts_later_stages_in_the_first_input_pixels():
    assert cascade_radius([41, 41], [2, 4]) == 41 + 21
    assert cascade_radius([5, 7, 9], [2, 2, 2]) == 5 + 4 + 3  # 7/2 and 9/4 rounded up
    assert cascade_radius([5, None], [2, 2]) is None
    assert average_radius([3, 9, 4]) == 9 and average_radius([3, None]) is None


@pytest.mark.parametrize("crop", [None, (3, 5, 2, 7), (12, 12, 12, 12)])
def test_cascade_is_its_stages_in_order_and_streams_cropped_pieces_exactly(crop):
    a, b = _g(2, 0), _g(4, 1)
    model = Cascade([a, b], [2, 4])
    x = torch.rand(1, 5, 30, 34)
    with torch.no_grad():
        ref = b(a(x))
        whole = model(x)
        pieces = list(model.forward_bands(x, crop))
        detail = list(model.forward_bands(x, crop, detail=True))
    assert model.scale == 8 and model.receptive_radius == cascade_radius([a.receptive_radius, b.receptive_radius],
                                                                         [2, 4])
    torch.testing.assert_close(whole, ref)
    t, bo, left, r = (0, 0, 0, 0) if crop is None else (c * 8 for c in crop)
    want = ref[..., t:ref.shape[-2] - bo, left:ref.shape[-1] - r]
    got = torch.cat([y for _, _, y in pieces], 1)
    assert pieces[0][0] == 0 and pieces[-1][1] == 5
    torch.testing.assert_close(got, want, atol=1e-5, rtol=0)
    back = torch.cat([y for _, _, y in detail], 1) + bicubic_base(x, 8, crop)
    torch.testing.assert_close(back, want, atol=1e-5, rtol=0)


def test_cascade_halos_crop_the_intermediate_to_what_later_stages_reach():
    a, b = _g(2, 0), _g(2, 1)
    exact, lean = Cascade([a, b], [2, 2]), Cascade([a, b], [2, 2], halos=[None, 3])
    assert exact.halos == (a.receptive_radius, b.receptive_radius) and lean.halos == (a.receptive_radius, 3)
    assert lean.receptive_radius == exact.receptive_radius  # the theoretical radius stays the model's
    seen = []
    b.net.register_forward_pre_hook(lambda _m, args: seen.append(args[0].shape[-1]))
    x, crop = torch.rand(1, 5, 40, 40), (12, 12, 12, 12)
    with torch.no_grad():
        want = torch.cat([y for _, _, y in exact.forward_bands(x, crop)], 1)
        n = len(seen)
        got = torch.cat([y for _, _, y in lean.forward_bands(x, crop)], 1)
    # the x2 stage's input: the kept 16 LR px + what it reaches, in intermediate px
    assert seen[n] == 2 * 16 + 2 * 2 * 2 < seen[0]  # halo 3 intermediate px: 2 LR px each side
    # the planner is told the sides the stages run on (tiles size for them: larger LR tiles fit)
    assert (lean.work_side(40, 12), exact.work_side(40, 12), lean.work_side(40)) == (seen[n], seen[0], 2 * 40)
    assert lean.bands_held(64, 40, 12) < exact.bands_held(64, 40, 12) < lean.bands_held(64, 40)
    assert got.shape == want.shape
    assert (got - want).abs().max() < 0.05 * want.abs().max()  # close (random weights), not exact
    with pytest.raises(ValueError, match="one halo per stage"):
        Cascade([a, b], [2, 2], halos=[1])


def test_cascade_plans_for_its_largest_stage():
    model = Cascade([_g(2, 0), _g(4, 1)], [2, 4])
    assert model.work_side(100) == 200  # the x4 stage runs on the x2 output of the tile
    assert model.bands_held(64, 100) > model.stages[-1].bands_held(64, 200)  # + the intermediate image
    with pytest.raises(ValueError, match="at least two stages"):
        Cascade([_g(2, 0)], [2])


@pytest.mark.parametrize("crop", [None, (4, 2, 6, 1)])
def test_average_is_the_mean_of_its_members(crop):
    a, b = _g(2, 0), _g(2, 1)
    model = Average([a, b])
    x = torch.rand(2, 5, 26, 22)
    with torch.no_grad():
        ref = (a(x) + b(x)) / 2
        (b0, b1, y), = model.forward_bands(x, crop)
        (_, _, d), = model.forward_bands(x, crop, detail=True)
    t, bo, left, r = (0, 0, 0, 0) if crop is None else (c * 2 for c in crop)
    want = ref[..., t:ref.shape[-2] - bo, left:ref.shape[-1] - r]
    assert (b0, b1) == (0, 5)
    torch.testing.assert_close(y, want, atol=1e-6, rtol=0)
    torch.testing.assert_close(d + bicubic_base(x, 2, crop), want, atol=1e-5, rtol=0)
    torch.testing.assert_close(model(x), ref, atol=1e-6, rtol=0)
    assert model.receptive_radius == max(a.receptive_radius, b.receptive_radius)
