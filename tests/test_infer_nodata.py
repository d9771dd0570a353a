"""Bands with no valid pixel or one value (hsrcli/infer/nodata.py): a band-agnostic model runs on the others only."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from hsrcli.errors import HsrInputError
from hsrcli.infer.nodata import GoodBands, InputFill
from hsrcli.models import build
from hsrcli.models.crop import trim
from hsrcli.models.resample import bicubic_resize


@pytest.mark.parametrize("dead,flat", [((0, 5, 6, 12), ()), ((3,), ()), ((), ()), ((0, 5), (6, 12)), ((), (4, 7, 8)),
                                       ((0, 5), tuple(b for b in range(13) if b not in (0, 5)))])
@pytest.mark.parametrize("detail", [False, True])
def test_good_bands_stream_the_model_pieces_in_scene_numbering(dead, flat, detail):
    """Pieces cover every band in order; they are the whole output (zeros in the bands without data,
    the bicubic upsampling in the flat ones), or with ``detail`` that output less its bicubic, cropped
    inside the model. With no band left for it (every band flat or without data), the model never runs."""
    torch.manual_seed(0)
    bands, scale, crop = 13, 2, (2, 1, 0, 3)
    inner = build("lkca-g", bands, scale, channels=6, blocks=1, group_batch=1).eval()
    good = [b for b in range(bands) if b not in dead + flat]
    model = GoodBands(inner, scale, good, bands, flat).eval()
    if not good:
        inner.forward = inner.forward_bands = None  # it must not be called
    x = torch.rand(2, bands, 11, 10)
    with torch.no_grad():
        full = trim(model(x), crop, scale)
        pieces = list(model.forward_bands(x, crop, detail))
    assert pieces[0][0] == 0 and pieces[-1][1] == bands and (len(pieces) > 1) == bool(good)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(pieces))
    got = torch.cat([y for _, _, y in pieces], 1)
    want = full - trim(bicubic_resize(x, scale), crop, scale) if detail else full
    torch.testing.assert_close(got, want, rtol=0, atol=2e-6)
    assert not full[:, list(dead)].any()
    torch.testing.assert_close(full[:, list(flat)], trim(bicubic_resize(x, scale), crop, scale)[:, list(flat)],
                               rtol=0, atol=2e-6)
    if detail:
        assert not got[:, list(flat)].any()


def _stats(columns):
    """band_stats-like dicts of columns of valid values (an empty column: no valid pixel)."""
    return [{"band": i, "valid": len(v), "min": min(v, default=None), "max": max(v, default=None),
             "mean": float(np.mean(v)) if v else None} for i, v in enumerate(columns)]


def test_input_fill_finds_flat_bands_and_the_bands_a_model_runs_on():
    fill = InputFill.from_stats(_stats([[1, 2], [0, 0], [], [5, 5], [3, 1]]))
    assert fill.dead == (2,) and fill.flat == (1, 3)
    assert fill.good == [0, 1, 3, 4] and fill.modelled() == [0, 4]
    model = build("lkca-g", 5, 2, channels=6, blocks=1)
    wrapped = GoodBands.around(model, 2, fill)
    assert wrapped.good.tolist() == [0, 4] and wrapped.flat == {1, 3}
    assert wrapped.summary() == "on 2 of 5 bands (2 flat: bicubic; 1 without data)"
    # a model that needs more bands than are left runs on every band, as a model with a fixed band list
    assert fill.modelled(min_bands=3) == [0, 1, 2, 3, 4] and GoodBands.around(model, 2, fill, 3) is model
    # a constant scene: nothing but flat bands, the model does not run at all
    const = InputFill.from_stats(_stats([[7, 7], [], [2]]))
    assert const.modelled() == const.modelled(5) == []
    assert GoodBands.around(model, 2, const).summary() == "on 0 of 3 bands (2 flat: bicubic; 1 without data)"
    # nothing to leave out: itself
    assert GoodBands.around(model, 2, InputFill.from_stats(_stats([[1, 2], [3, 4]]))) is model
    with pytest.raises(HsrInputError, match="every band of the scene is nodata"):
        InputFill.from_stats(_stats([[], []]))
