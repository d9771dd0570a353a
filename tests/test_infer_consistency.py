"""LR-consistency back-projection (hsrcli.infer.consistency) and ``hsr upscale --consistency``."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch
from rasters import write_geotiff

from hsrcli.cli import app
from hsrcli.data.degrade import degrade
from hsrcli.infer.consistency import REACH, BackProjection, gaussian_shrink, lr_filter, reduce_expanded, shrink
from hsrcli.io import open_scene
from hsrcli.models.crop import trim
from hsrcli.ops.imresize import imresize

SCALES = [2, 3, 4, 8]


def _pair(scale: int, bands: int = 5, side: int = 30, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """An LR image x (1, bands, side, side) and what a network adds to its bicubic upsampling, D."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, bands, side, side, generator=g, dtype=torch.float64)
    return x, 0.1 * torch.randn(1, bands, side * scale, side * scale, generator=g, dtype=torch.float64)


def _matlab_ibp(x: torch.Tensor, y: torch.Tensor, scale: int, passes: int) -> torch.Tensor:
    """The textbook iteration with MATLAB's imresize both ways: y += up(x − down(y))."""
    for _ in range(passes):
        y = y + imresize(x - imresize(y, size=tuple(x.shape[-2:])), scale=scale)
    return y


def _lr_error(y: torch.Tensor, x: torch.Tensor, border: int) -> float:
    d = imresize(y, size=tuple(x.shape[-2:])) - x
    return float(d[..., border:-border, border:-border].abs().mean())


@pytest.mark.parametrize("scale", SCALES)
def test_interpolate_with_antialias_is_matlab_bicubic_away_from_the_border(scale):
    x, d = _pair(scale)
    inside = (slice(None), slice(None), slice(3, -3), slice(3, -3))
    assert torch.allclose(shrink(d, scale)[inside], imresize(d, size=(30, 30))[inside], atol=1e-12)
    assert torch.allclose(reduce_expanded(x, scale)[inside], imresize(imresize(x, scale=scale), size=(30, 30))[inside],
                          atol=1e-12)
    k = lr_filter(scale)
    assert len(k) == 7 and torch.allclose(k, k.flip(0)) and abs(float(k.sum()) - 1) < 1e-12


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("passes", [1, 3])
def test_the_lr_arithmetic_equals_the_textbook_iteration(scale, passes):
    """↑(x + R) + D equals ``passes`` rounds of y += ↑(x − ↓(y)) from y = ↑(x) + D, away from the border."""
    x, d = _pair(scale)
    want = _matlab_ibp(x, imresize(x, scale=scale) + d, scale, passes)
    got = next(iter(BackProjection(scale, passes).apply([(0, 5, d.float())], x, (0,) * 4)))[2]
    b = 4 * REACH * passes * scale  # the array's border is treated otherwise (discarded by the callers)
    assert torch.allclose(got[..., b:-b, b:-b].double(), want[..., b:-b, b:-b], atol=2e-5)


@pytest.mark.parametrize("scale", [2, 4])
def test_each_pass_brings_the_bicubic_reduction_of_the_output_closer_to_the_input(scale):
    x, d = _pair(scale)
    errors = [_lr_error(imresize(x, scale=scale) + d, x, 8)]
    for passes in range(1, 6):
        y = next(iter(BackProjection(scale, passes).apply([(0, 5, d.float())], x, (0,) * 4)))[2]
        errors.append(_lr_error(y.double(), x, 8))
    assert all(b < 0.75 * a for a, b in itertools.pairwise(errors)), errors  # a contraction: ~0.5-0.7 per pass
    assert errors[-1] < 0.1 * errors[0]


@pytest.mark.parametrize("passes", [1, 2])
def test_pieces_and_crops_give_the_whole_output_back_projected_then_cut(passes):
    """What tiles do: the detail computed less ``widen(crop)``, in band pieces, back-projected and cut to
    ``crop`` equals the whole detail back-projected, then cut — the reach is enough (and needed)."""
    s, crop = 4, (13, 8, 0, 17)  # sides past the reach, at it, at the array's own border, far past it
    x, d = _pair(s, bands=6, side=40)
    d = d.float()
    bp = BackProjection(s, passes)
    want = trim(next(iter(bp.apply([(0, 6, d.clone())], x, (0,) * 4)))[2], crop, s)
    inner = bp.widen(crop)
    assert inner == tuple(max(0, c - REACH * passes) for c in crop)
    pieces = [(0, 2, trim(d, inner, s)[:, 0:2].clone()), (2, 6, trim(d, inner, s)[:, 2:6].clone())]
    got = torch.cat([y for _, _, y in bp.apply(pieces, x, crop)], 1)
    assert got.shape == want.shape
    assert torch.allclose(got, want, atol=1e-5)
    if passes == 1:  # one LR pixel less than the reach of one pass is not enough
        short = tuple(max(0, c - REACH + 1) for c in crop)
        bp.widen = lambda _: short  # a reach of REACH − 1
        y = next(iter(bp.apply([(0, 6, trim(d, short, s).clone())], x, crop)))[2]
        assert not torch.allclose(y, want, atol=1e-5)


def test_the_lr_filter_runs_per_band_piece_never_on_every_band_at_once(monkeypatch):
    """``K(x)`` of a tile is computed piece by piece: with hundreds of bands, all of it at once (and its
    padded copies) cost more memory than the rest of a tile (425 bands: 1.2 GB → 0.68 GB peak)."""
    from hsrcli.infer import consistency

    seen = []
    real = consistency.reduce_expanded
    monkeypatch.setattr(consistency, "reduce_expanded", lambda x, *a: seen.append(x.shape[1]) or real(x, *a))
    s = 4
    x, d = _pair(s, bands=6, side=24)
    pieces = [(0, 2, d[:, 0:2].float()), (2, 6, d[:, 2:6].float())]
    assert [b1 - b0 for b0, b1, _ in BackProjection(s).apply(pieces, x, (0,) * 4)] == [2, 4]
    assert seen == [2, 4]


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("sigma", [0.8, 1.6, 3.0])
def test_the_gaussian_reduction_is_the_gaussian_degradation(scale, sigma):
    """↓ of a Gaussian PSF: hsr prepare's degradation (blur, then every s-th px from (s − 1) // 2), exactly."""
    y = torch.rand(2, 3, 12 * scale, 10 * scale, dtype=torch.float64)
    torch.testing.assert_close(gaussian_shrink(y, scale, sigma), degrade(y, scale, kernel="gaussian", sigma=sigma),
                               rtol=0, atol=1e-12)


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("passes", [1, 3])
def test_with_a_gaussian_psf_the_lr_arithmetic_equals_the_textbook_iteration(scale, passes):
    """y += ↑(x − ↓(y)) with ↓ the Gaussian degradation (an asymmetric K = ↓∘↑ on the LR grid when the
    kept samples are off the HR blocks' centres), away from the border."""
    sigma = 1.6
    x, d = _pair(scale, side=24 + 12 * passes)
    want = imresize(x, scale=scale) + d
    for _ in range(passes):
        want = want + imresize(x - degrade(want, scale, kernel="gaussian", sigma=sigma), scale=scale)
    bp = BackProjection(scale, passes, sigma)
    got = next(iter(bp.apply([(0, 5, d.float())], x, (0,) * 4)))[2]
    b = (bp.reach + 2) * scale
    assert torch.allclose(got[..., b:-b, b:-b].double(), want[..., b:-b, b:-b], atol=2e-5)
    assert bp.reach > REACH * passes and "Gaussian PSF sigma 1.6 HR px" in bp.describe()


@pytest.mark.parametrize("passes", [1, 2])
def test_with_a_blur_before_bicubic_the_lr_arithmetic_equals_the_textbook_iteration(passes):
    """↓ = ``hsr prepare --degrade bicubic --sigma``: a Gaussian blur, then MATLAB's bicubic ×1/s."""
    scale, sigma = 3, 1.2
    x, d = _pair(scale, side=24 + 12 * passes)
    want = imresize(x, scale=scale) + d
    for _ in range(passes):
        want = want + imresize(x - degrade(want, scale, kernel="bicubic", sigma=sigma), scale=scale)
    bp = BackProjection(scale, passes, sigma, "bicubic")
    got = next(iter(bp.apply([(0, 5, d.float())], x, (0,) * 4)))[2]
    b = (bp.reach + 2) * scale
    assert torch.allclose(got[..., b:-b, b:-b].double(), want[..., b:-b, b:-b], atol=2e-5)
    assert "Gaussian blur sigma 1.2 HR px before bicubic" in bp.describe()


def test_with_a_gaussian_psf_pieces_and_crops_give_the_whole_output_cut():
    s, crop = 4, (13, 20, 0, 22)
    x, d = _pair(s, bands=6, side=50)
    d = d.float()
    bp = BackProjection(s, 1, 1.6)
    want = trim(next(iter(bp.apply([(0, 6, d.clone())], x, (0,) * 4)))[2], crop, s)
    inner = bp.widen(crop)
    pieces = [(0, 2, trim(d, inner, s)[:, 0:2].clone()), (2, 6, trim(d, inner, s)[:, 2:6].clone())]
    got = torch.cat([y for _, _, y in bp.apply(pieces, x, crop)], 1)
    assert torch.allclose(got, want, atol=1e-5)


def test_at_least_one_pass():
    with pytest.raises(ValueError, match="at least one"):
        BackProjection(4, 0)


def _upscale(runner, src, out, *args):
    res = runner.invoke(app, ["upscale", str(src), "-s", "2", "-o", str(out), "-q", "--device", "cpu", "--json",
                              *args])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout[res.stdout.index("{"):])


@pytest.mark.parametrize("subspace", ["auto", "off"])
def test_upscale_back_projects_by_default_and_the_output_reproduces_its_input(runner, tmp_path, subspace):
    g = np.random.default_rng(3)
    cube = (0.3 + g.random((20, 22, 9))).astype(np.float32)
    src = write_geotiff(tmp_path / "in.tif", cube)
    runs = {c: _upscale(runner, src, tmp_path / f"c{c}.tif", "-m", "lkca-g_x2", "--subspace", subspace,
                        *([] if c is None else ["--consistency", str(c)])) for c in (None, 0, 3)}
    assert runs[None]["consistency"] == 1 and "LR back-projection (1 pass)" in runs[None]["model"]
    assert runs[0]["consistency"] == 0 and "back-projection" not in runs[0]["model"]
    assert "(3 passes)" in runs[3]["model"]
    lr = torch.from_numpy(cube.transpose(2, 0, 1)).double()

    def error(name):
        y = torch.from_numpy(open_scene(tmp_path / name).read().astype(np.float64).transpose(2, 0, 1))
        return _lr_error(y, lr, 3)

    e_off, e_one, e_three = error("c0.tif"), error("cNone.tif"), error("c3.tif")
    assert e_one < 0.6 * e_off and e_three < 0.5 * e_one


def test_upscale_back_projects_onto_a_gaussian_psf_given_or_trained_with(runner, tmp_path):
    """--degrade gaussian --sigma: the output reduced by that PSF reproduces the input (better than with the
    bicubic ↓); a checkpoint trained on Gaussian-degraded data brings its own; bad values exit 2."""
    from hsrcli.checkpoint import make_checkpoint, save_checkpoint
    from hsrcli.models import build

    g = np.random.default_rng(5)
    cube = (0.3 + g.random((24, 26, 9))).astype(np.float32)
    src = write_geotiff(tmp_path / "in.tif", cube)
    lr = torch.from_numpy(cube.transpose(2, 0, 1)).double()

    def psf_error(name):
        y = torch.from_numpy(open_scene(tmp_path / name).read().astype(np.float64).transpose(2, 0, 1))
        return float((degrade(y, 2, kernel="gaussian", sigma=1.2) - lr)[..., 4:-4, 4:-4].abs().mean())

    gauss = _upscale(runner, src, tmp_path / "g.tif", "-m", "lkca-g_x2", "--degrade", "gaussian", "--sigma", "1.2")
    assert gauss["psf_sigma"] == 1.2 and "LR back-projection (1 pass, Gaussian PSF sigma 1.2 HR px)" in gauss["model"]
    bic = _upscale(runner, src, tmp_path / "b.tif", "-m", "lkca-g_x2")
    assert bic["psf_sigma"] is None
    _upscale(runner, src, tmp_path / "g3.tif", "-m", "lkca-g_x2", "--degrade", "gaussian", "--sigma", "1.2",
             "--consistency", "3")
    # a Gaussian blur damps fine detail, so each pass closes less of the gap than with bicubic; but closes it
    assert psf_error("g3.tif") < psf_error("g.tif") < 0.9 * psf_error("b.tif")
    torch.manual_seed(0)
    model = build("lkca-g", 9, 2, channels=6, blocks=1)
    meta = {"normalization": {"kind": "max", "per_scene": True},
            "dataset": {"degradation": {"kernel": "gaussian", "sigma_hr_px": 1.2}}}
    ck = save_checkpoint(make_checkpoint(model, "lkca-g", 9, 2, {"channels": 6, "blocks": 1}, meta), tmp_path / "g.pt")
    assert _upscale(runner, src, tmp_path / "t.tif", "-m", str(ck))["psf_sigma"] == 1.2
    assert _upscale(runner, src, tmp_path / "t2.tif", "-m", str(ck), "--degrade", "bicubic")["psf_sigma"] is None
    meta["adapted"] = {"config": {"kernel": "gaussian", "sigma": 0.9}}  # hsr adapt --degrade gaussian: its PSF wins
    ck = save_checkpoint(make_checkpoint(model, "lkca-g", 9, 2, {"channels": 6, "blocks": 1}, meta), tmp_path / "a.pt")
    assert _upscale(runner, src, tmp_path / "t3.tif", "-m", str(ck))["psf_sigma"] == 0.9
    meta.pop("adapted")
    meta["dataset"]["degradation"] = {"kernel": "bicubic", "sigma_hr_px": 0.5, "sigmas_hr_px": [0.5, 1.0]}
    ck = save_checkpoint(make_checkpoint(model, "lkca-g", 9, 2, {"channels": 6, "blocks": 1}, meta), tmp_path / "m.pt")
    assert _upscale(runner, src, tmp_path / "t4.tif", "-m", str(ck))["psf_sigma"] is None  # several blurs: unknown
    blur = _upscale(runner, src, tmp_path / "bb.tif", "-m", "lkca-g_x2", "--degrade", "bicubic", "--sigma", "1")
    assert (blur["psf_kernel"], blur["psf_sigma"]) == ("bicubic", 1.0)
    assert "(1 pass, Gaussian blur sigma 1 HR px before bicubic)" in blur["model"]
    for args, msg in ((["--degrade", "gaussian"], "needs --sigma > 0"), (["--sigma", "1"], "--sigma needs --degrade")):
        res = runner.invoke(app, ["upscale", str(src), "-s", "2", "-o", str(tmp_path / "bad.tif"), "-q", *args])
        assert res.exit_code == 2 and msg in res.stderr, res.output


def test_bicubic_is_not_back_projected(runner, tmp_path):
    src = write_geotiff(tmp_path / "in.tif", np.random.default_rng(0).random((12, 12, 4)).astype(np.float32))
    res = _upscale(runner, src, tmp_path / "b.tif", "-m", "bicubic", "--consistency", "2")
    assert res["consistency"] == 0
    ref = imresize(torch.from_numpy(open_scene(src).read().transpose(2, 0, 1)).double(), scale=2)
    assert np.allclose(open_scene(tmp_path / "b.tif").read(), ref.numpy().transpose(1, 2, 0), atol=1e-5)


@pytest.mark.parametrize("passes", [1, 2])
def test_the_projection_back_projects_its_coefficients_as_the_textbook_iteration_would_its_output(passes):
    """DetailProjection.project with ``back``: ↓ of k coefficient maps instead of B bands, a dead band's
    detail left alone — the same as projecting, then y += ↑(x − ↓(y)), then cutting the tile's crop."""
    from hsrcli.infer.subspace import DetailProjection, SubspaceFit

    s, bands, crop = 2, 7, (14, 10, 9, 12)
    x, d = _pair(s, bands=bands, side=40, seed=5)
    good = [b for b in range(bands) if b != 3]  # band 3: no valid pixel, its detail kept as it is
    basis, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((len(good), 2)))
    proj = DetailProjection(SubspaceFit(basis, good, 0.99, 100), np.linspace(1, 2, bands), s, torch.device("cpu"))
    pieces = [(0, 4, d[:, :4].float()), (4, bands, d[:, 4:].float())]
    plain = torch.cat([y for _, _, y in proj.project(pieces, x.float())], 1).double()
    want = trim(_matlab_ibp(x, plain, s, passes), crop, s)
    bp = BackProjection(s, passes)
    inner = bp.widen(crop)
    _check_projection(proj, pieces, x, crop, bp, want, inner)


def _check_projection(proj, pieces, x, crop, bp, want, inner):
    s = bp.scale
    cut = [(b0, b1, trim(p, inner, s).clone()) for b0, b1, p in pieces]
    got = torch.cat([y for _, _, y in proj.project(cut, x.float(), crop, bp)], 1).double()
    assert got.shape == want.shape
    assert torch.allclose(got, want, atol=2e-5)


@pytest.mark.parametrize("kernel", ["gaussian", "bicubic"])
def test_the_projection_back_projects_its_coefficients_onto_a_blurred_degradation_too(kernel):
    """The same with ↓ a Gaussian PSF or a blur before bicubic: ↓ of the k coefficient maps (the
    projection's) is that ↓, the dead band's detail reduced alike."""
    from hsrcli.infer.subspace import DetailProjection, SubspaceFit

    s, bands, crop, sigma = 2, 7, (20, 16, 15, 18), 1.2
    x, d = _pair(s, bands=bands, side=56, seed=5)
    good = [b for b in range(bands) if b != 3]
    basis, _ = np.linalg.qr(np.random.default_rng(1).standard_normal((len(good), 2)))
    proj = DetailProjection(SubspaceFit(basis, good, 0.99, 100), np.linspace(1, 2, bands), s, torch.device("cpu"))
    pieces = [(0, 4, d[:, :4].float()), (4, bands, d[:, 4:].float())]
    y = torch.cat([y for _, _, y in proj.project(pieces, x.float())], 1).double()
    y = y + imresize(x - degrade(y, s, kernel=kernel, sigma=sigma), scale=s)  # the textbook pass
    bp = BackProjection(s, 1, sigma, kernel)
    _check_projection(proj, pieces, x, crop, bp, trim(y, crop, s), bp.widen(crop))
