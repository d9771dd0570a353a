"""Geometric self-ensemble (hsrcli/models/ensemble.py)."""

from __future__ import annotations

import itertools

import pytest
import torch

from hsrcli.models import build
from hsrcli.models.crop import trim
from hsrcli.models.ensemble import TRANSFORMS, SelfEnsemble, transform, transform_crop, untransform


@pytest.mark.parametrize("turns,flip", TRANSFORMS)
def test_transforms_invert_and_carry_their_crop(turns, flip):
    x = torch.arange(2 * 7 * 5.0).view(1, 2, 7, 5)
    assert torch.equal(untransform(transform(x, turns, flip), turns, flip), x)
    crop = (3, 1, 0, 2)
    marked = torch.zeros(7, 5)
    marked[3:7 - 1, 0:5 - 2] = 1  # the kept window
    t, b, left, r = transform_crop(crop, turns, flip)
    moved = transform(marked, turns, flip)
    want = torch.zeros_like(moved)
    want[t:moved.shape[0] - b, left:moved.shape[1] - r] = 1
    assert torch.equal(moved, want)


@pytest.mark.parametrize("name", ["lkca-g", "lkca"])
@pytest.mark.parametrize("n", [1, 2, 8])
@pytest.mark.parametrize("detail", [False, True])
def test_ensemble_pieces_average_the_transformed_outputs(name, n, detail):
    torch.manual_seed(0)
    scale, crop = 2, (2, 1, 0, 3)
    kw = {"channels": 6, "blocks": 1} | ({"group_batch": 1} if name == "lkca-g" else {})
    model = build(name, 13, scale, **kw).eval()
    ens = SelfEnsemble(model, n).eval()
    x = torch.rand(2, 13, 11, 9)
    with torch.no_grad():
        want = sum(untransform(model(transform(x, t, f).contiguous()), t, f) for t, f in TRANSFORMS[:n]) / n
        pieces = list(ens.forward_bands(x, crop, detail))
        whole = ens(x)
    torch.testing.assert_close(whole, want, rtol=0, atol=1e-6)
    assert pieces[0][0] == 0 and pieces[-1][1] == 13
    assert all(a[1] == b[0] for a, b in itertools.pairwise(pieces))
    got = torch.cat([y for _, _, y in pieces], 1)
    if detail:
        from hsrcli.models.resample import bicubic_base

        got = got + bicubic_base(x, scale, crop)
    torch.testing.assert_close(got, trim(want, crop, scale), rtol=0, atol=2e-5)
    if n == 8:  # not the plain model: the ensemble does average something
        assert (whole - model(x)).abs().max() > 1e-4
    assert ens.bands_held(13, 16) == n * model.bands_held(13, 16)


def test_ensemble_size_is_checked():
    with pytest.raises(ValueError, match="ensemble size"):
        SelfEnsemble(build("bicubic", 3, 2), 3)
