"""Bands with no valid pixel (hsrcli/infer/nodata.py): a band-agnostic model runs on the good ones only."""

from __future__ import annotations

import itertools

import pytest
import torch

from hsrcli.infer.nodata import GoodBands
from hsrcli.models import build
from hsrcli.models.crop import trim
from hsrcli.models.resample import bicubic_resize


@pytest.mark.parametrize("dead", [(0, 5, 6, 12), (3,), ()])
@pytest.mark.parametrize("detail", [False, True])
def test_good_bands_stream_the_model_pieces_in_scene_numbering(dead, detail):
    """Pieces cover every band in order; they are the whole output (zeros in the bad bands), or with
    ``detail`` that output less its bicubic, cropped inside the model."""
    torch.manual_seed(0)
    bands, scale, crop = 13, 2, (2, 1, 0, 3)
    inner = build("lkca-g", bands, scale, channels=6, blocks=1, group_batch=1).eval()
    model = GoodBands(inner, [b for b in range(bands) if b not in dead], bands).eval()
    x = torch.rand(2, bands, 11, 10)
    with torch.no_grad():
        full = trim(model(x), crop, scale)
        pieces = list(model.forward_bands(x, crop, detail))
    assert pieces[0][0] == 0 and pieces[-1][1] == bands and len(pieces) > 1
    assert all(a[1] == b[0] for a, b in itertools.pairwise(pieces))
    got = torch.cat([y for _, _, y in pieces], 1)
    want = full - trim(bicubic_resize(x, scale), crop, scale) if detail else full
    torch.testing.assert_close(got, want, rtol=0, atol=2e-6)
    assert not full[:, list(dead)].any()
