"""MATLAB-compatible bicubic, the torch alternative, Gaussian blur, noise, dihedral transforms and gains."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hsrcli.data.augment import dihedral, random_gain
from hsrcli.data.degrade import add_noise, degrade, downsample, gaussian_blur
from hsrcli.ops.imresize import imresize

REF = json.loads((Path(__file__).parent / "data" / "imresize_reference.json").read_text())


@pytest.mark.parametrize("case", REF["float_cases"])
def test_imresize_matches_matlab_float_reference(case):
    out = imresize(torch.tensor(case["input"], dtype=torch.float64), case["scale"], antialias=case["antialias"])
    np.testing.assert_allclose(out.numpy(), case["output"], atol=1e-6)


@pytest.mark.parametrize("k", range(len(REF["uint8_cases"])))
def test_imresize_matches_matlab_uint8_references(k):
    case = REF["uint8_cases"][k]
    x = torch.tensor(REF["uint8_input"], dtype=torch.uint8)
    out = imresize(x, case["scale"], antialias=case["antialias"])
    assert out.dtype == torch.uint8
    np.testing.assert_array_equal(out.numpy(), case["output"])  # MATLAB's integer outputs, exactly
    # the float path differs from them only by MATLAB's rounding between the two passes
    f = imresize(x.to(torch.float64), case["scale"], antialias=case["antialias"]).clamp(0, 255)
    assert np.abs(f.numpy() - np.array(case["output"])).max() < 1.5


def test_imresize_properties():
    x = torch.rand(3, 24, 20, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(imresize(torch.full((2, 16, 16), 7.0, dtype=torch.float64), 0.25), torch.tensor(7.0,
                          dtype=torch.float64))
    assert imresize(x, size=(6, 5)).shape == (3, 6, 5)
    # separable per band: resizing the cube = resizing each band
    assert torch.allclose(imresize(x, 0.5)[1], imresize(x[1], 0.5))
    # reproducible to the bit
    assert torch.equal(imresize(x, 0.25), imresize(x.clone(), 0.25))


def test_torch_antialias_is_close_to_matlab_but_not_equal():
    """How far F.interpolate(antialias=True) is from MATLAB imresize (documented in the README)."""
    g = torch.Generator().manual_seed(1)
    base = torch.rand(1, 1, 16, 16, dtype=torch.float64, generator=g)
    smooth = torch.nn.functional.interpolate(base, size=(128, 128), mode="bilinear", align_corners=False)[0]
    a, b = downsample(smooth, 4, "matlab"), downsample(smooth, 4, "torch")
    diff = (a - b).abs()
    psnr = 10 * torch.log10(1 / diff.pow(2).mean())
    assert diff.max() > 1e-4  # the kernels differ (a = -0.5 vs -0.75, border handling)
    assert psnr > 40  # ...but only slightly on smooth images


def test_gaussian_degradation_and_noise():
    hr = torch.rand(4, 32, 32, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    lr = degrade(hr, 4, kernel="gaussian", sigma=1.6)
    assert lr.shape == (4, 8, 8)
    blurred = gaussian_blur(hr, 1.6)
    assert torch.allclose(lr, blurred[..., 1::4, 1::4])
    assert torch.allclose(gaussian_blur(torch.ones(1, 9, 9, dtype=torch.float64), 2.0), torch.tensor(1.0,
                          dtype=torch.float64))
    x = torch.ones(2, 64, 64, dtype=torch.float64)
    noisy = add_noise(x, snr_db=20, generator=torch.Generator().manual_seed(0))
    assert (noisy - x).std().item() == pytest.approx(0.1, rel=0.05)
    with pytest.raises(ValueError, match="not a multiple"):
        degrade(hr[:, :30], 4)


@pytest.mark.parametrize("k", range(8))
def test_dihedral_transforms_commute_with_bicubic_degradation(k):
    hr = torch.rand(3, 16, 16, dtype=torch.float64, generator=torch.Generator().manual_seed(k))
    lr = downsample(hr, 4)
    assert torch.allclose(dihedral(lr, k), downsample(dihedral(hr, k), 4), atol=1e-12)
    seen = {tuple(dihedral(torch.arange(4.0).view(2, 2), j).flatten().tolist()) for j in range(8)}
    assert len(seen) == 8


def test_random_gain_scales_each_pair_alike_log_uniformly_within_the_range():
    g = torch.Generator().manual_seed(0)
    hr = torch.rand(400, 3, 16, 16, dtype=torch.float64, generator=g) + 0.1
    lr = downsample(hr.reshape(-1, 16, 16), 4).reshape(400, 3, 4, 4)
    lr_g, hr_g = random_gain(lr, hr, 0.25, 2.0, generator=g)
    gains = (hr_g / hr).flatten(1)
    assert torch.allclose(gains, gains[:, :1].expand_as(gains), rtol=1e-12)  # one gain for all of a patch
    gains = gains[:, 0]
    assert torch.allclose(lr_g / lr, gains.view(-1, 1, 1, 1).expand_as(lr), rtol=1e-12)  # LR and HR alike
    assert gains.min() >= 0.25 and gains.max() <= 2.0
    logs = torch.log(gains / 0.25) / torch.log(torch.tensor(8.0))  # uniform on [0, 1] if log-uniform
    counts = torch.histc(logs, bins=4, min=0, max=1)
    assert (counts > 60).all(), counts  # about 100 in each quarter of the log range
    # still a pair of the same (linear) degradation
    assert torch.allclose(lr_g, downsample(hr_g.reshape(-1, 16, 16), 4).reshape(400, 3, 4, 4), atol=1e-12)
    assert torch.equal(random_gain(lr, hr, 1.0, 1.0)[1], hr)
