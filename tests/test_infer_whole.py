"""``hsr upscale``'s output steps on one image in memory (hsrcli/infer/whole.py), as ``hsr evaluate --as-upscale``
runs them."""

from __future__ import annotations

import numpy as np
import torch

from hsrcli.infer.consistency import BackProjection, shrink
from hsrcli.infer.inputs import forward
from hsrcli.infer.whole import upscale_image
from hsrcli.models import build
from hsrcli.models.resample import bicubic_base


def _model_and_images(bands: int = 9, scale: int = 2):
    torch.manual_seed(0)
    model = build("lkca-g", bands, scale, channels=6, blocks=1).eval()
    base = torch.rand(2, 1, 14, 12)
    x = (base * torch.linspace(0.3, 1.0, bands).view(1, -1, 1, 1) + 0.05 * torch.rand(2, bands, 14, 12)).float()
    return model, x


def test_without_steps_it_is_the_model_and_with_back_projection_alone_the_textbook_pass():
    model, x = _model_and_images()
    raw = forward(model, x)
    torch.testing.assert_close(upscale_image(model, x, 2, subspace=None, consistency=0), raw)
    # the detail route (the model's detail, back-projected as LR arithmetic) = the whole output back-projected
    want = torch.cat([BackProjection(2, 1).whole(raw[i:i + 1], x[i:i + 1]) for i in range(2)])
    torch.testing.assert_close(upscale_image(model, x, 2, subspace=None, consistency=1), want, rtol=0, atol=1e-5)


def test_the_detail_stays_in_each_image_subspace_and_the_lr_error_shrinks():
    model, x = _model_and_images()
    raw = forward(model, x)
    out = upscale_image(model, x, 2, subspace=2, consistency=0)
    for i in range(2):
        spectra = x[i].flatten(1).t().double().numpy()
        u = np.linalg.svd(spectra - spectra.mean(0), full_matrices=False)[2][:2].T  # (B, 2) principal directions
        detail = (out[i] - bicubic_base(x[i:i + 1], 2)[0]).flatten(1).t().double().numpy()  # (pixels, B)
        outside = detail - detail @ u @ u.T
        assert np.abs(outside).max() < 1e-5 * max(1.0, np.abs(detail).max())
    assert not torch.allclose(out, raw, atol=1e-4)  # the model's detail had more than 2 directions
    both = upscale_image(model, x, 2)  # the defaults: subspace auto, one pass
    assert (shrink(both, 2) - x).abs().mean() < (shrink(raw, 2) - x).abs().mean()


def test_a_border_mirrors_each_image_first_and_is_left_out_of_the_output():
    """``pad``: the images are mirrored past their borders as ``hsr upscale`` mirrors a scene, and the model's
    output on that border is cut off (with the subspace and the back-projection too: same shape, the LR
    error still shrinks)."""
    from hsrcli.ops.imresize import mirror_pad

    model, x = _model_and_images()
    want = forward(model, mirror_pad(x, 3))[..., 6:-6, 6:-6]
    got = upscale_image(model, x, 2, subspace=None, consistency=0, pad=3)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-6)
    assert not torch.allclose(got, forward(model, x), atol=1e-4)  # the border changed what its pixels saw
    both = upscale_image(model, x, 2, pad=3)
    assert both.shape == got.shape and (shrink(both, 2) - x).abs().mean() < (shrink(got, 2) - x).abs().mean()
