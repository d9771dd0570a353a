"""The bicubic base in LR layout (``upsample_phases``) and the NCHW pixel shuffle."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from hsrcli.models.upsampler import shuffle
from hsrcli.ops.imresize import imresize, upsample_phases


@pytest.mark.parametrize("scale", [2, 3, 4, 8])
@pytest.mark.parametrize("shape", [(1, 3, 7, 9), (2, 5, 1, 4), (1, 8, 33, 20)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_upsample_phases_shuffled_is_matlab_imresize(scale, shape, channels_last):
    torch.manual_seed(0)
    x = torch.rand(shape, dtype=torch.float64)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    phases = upsample_phases(x, scale)
    assert phases.shape == (shape[0], shape[1] * scale * scale, *shape[2:])
    ref = imresize(x, size=(shape[2] * scale, shape[3] * scale))
    torch.testing.assert_close(F.pixel_shuffle(phases, scale), ref, rtol=0, atol=1e-12)
    y32 = F.pixel_shuffle(upsample_phases(x.float(), scale), scale)
    torch.testing.assert_close(y32, ref.float(), rtol=0, atol=1e-6)


@pytest.mark.parametrize("channels_last", [False, True])
def test_shuffle_is_pixel_shuffle_and_contiguous(channels_last):
    y = torch.rand(2, 3 * 16, 5, 7)
    if channels_last:
        y = y.contiguous(memory_format=torch.channels_last)
    out = shuffle(y, 4)
    assert out.is_contiguous() and torch.equal(out, F.pixel_shuffle(y, 4))
