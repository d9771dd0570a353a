"""Spectral-subspace detail projection (hsrcli.infer.subspace) and ``hsr upscale --subspace``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from rasters import write_geotiff

from hsrcli import choices
from hsrcli.cli import app
from hsrcli.errors import HsrInputError
from hsrcli.infer import subspace
from hsrcli.infer.subspace import DetailProjection, SubspaceFit, fit_subspace
from hsrcli.io import open_scene
from hsrcli.ops.imresize import imresize


def low_rank_cube(rows: int, cols: int, bands: int, rank: int, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    """(rows, cols, bands) float32: ``rank`` positive spectra mixed by random abundances, plus noise."""
    g = np.random.default_rng(seed)
    spectra = 0.2 + g.random((rank, bands))
    cube = g.random((rows, cols, rank)) @ spectra + noise * g.standard_normal((rows, cols, bands))
    return cube.astype(np.float32)


def _fit(tmp_path, cube, setting, **kw):
    with open_scene(write_geotiff(tmp_path / "in.tif", cube, nodata=kw.pop("nodata", None))) as sc:
        return fit_subspace(sc, setting, **kw)


def test_the_energy_rule_finds_the_rank_of_mixed_spectra(tmp_path):
    fit = _fit(tmp_path, low_rank_cube(20, 24, 12, 3, noise=1e-4), choices.SUBSPACE_ENERGY)
    assert fit.rank == 3  # 3 spectra with free abundances: 3 directions above the noise
    assert fit.captured >= choices.SUBSPACE_ENERGY and fit.pixels == 20 * 24
    assert np.allclose(fit.basis.T @ fit.basis, np.eye(3), atol=1e-10)


def test_a_given_rank_is_kept_and_a_full_rank_removes_nothing(tmp_path):
    cube = low_rank_cube(16, 16, 8, 8, noise=0.05)
    assert _fit(tmp_path, cube, 5).rank == 5
    assert _fit(tmp_path, cube, 8) is None  # every direction kept: nothing to do
    assert _fit(tmp_path, cube, 0.999999999) is None


def test_nodata_pixels_and_dead_bands_stay_out_of_the_fit(tmp_path):
    cube = low_rank_cube(16, 16, 8, 2, seed=1)
    holed = cube.copy()
    holed[3, 4, 2] = -9999.0  # one missing value: the pixel is left out
    holed[..., 6] = -9999.0  # a dead band
    good = [0, 1, 2, 3, 4, 5, 7]
    fit = _fit(tmp_path, holed, 1, nodata=-9999.0, good=good)
    assert fit.pixels == 16 * 16 - 1 and fit.good == tuple(good)
    clean = cube[..., good].reshape(-1, 7).astype(np.float64)
    clean = np.delete(clean, 3 * 16 + 4, axis=0)
    top = np.linalg.eigh(np.cov(clean.T, bias=True))[1][:, -1]
    assert abs(abs(float(top @ fit.basis[:, 0])) - 1) < 1e-9


def test_large_scenes_are_subsampled(tmp_path):
    fit = _fit(tmp_path, low_rank_cube(40, 40, 6, 2, noise=0.01), 2, max_pixels=400)
    assert 300 < fit.pixels < 500  # ~400 of 1600 drawn, with a fixed seed
    assert fit.pixels == _fit(tmp_path, low_rank_cube(40, 40, 6, 2, noise=0.01), 2, max_pixels=400).pixels


@pytest.mark.parametrize("dead", [(), (1, 5)])
def test_projection_equals_the_formula_on_the_whole_tile(monkeypatch, dead):
    """y' = bicubic + D⁻¹UUᵀD r on the good bands, bicubic + r on the others, from detail pieces in
    any band order to output pieces in band order of at most CHUNK_VALUES values."""
    monkeypatch.setattr(subspace, "CHUNK_VALUES", 3 * 2 * 24 * 18)  # three bands of both images
    g = torch.Generator().manual_seed(0)
    n, b, h, w, s, k = 2, 7, 11, 9, 3, 2
    good = tuple(i for i in range(b) if i not in dead)
    basis = np.linalg.qr(np.random.default_rng(0).standard_normal((len(good), k)))[0]
    div = 1.0 + np.arange(b, dtype=np.float64)
    proj = DetailProjection(SubspaceFit(basis, good, 0.99, 100), div, s, torch.device("cpu"))
    x = torch.rand(n, b, h, w, generator=g, dtype=torch.float64).float()
    crop = (2, 1, 3, 0)
    r = torch.rand(n, b, s * (h - 3), s * (w - 3), generator=g) - 0.5
    detail = [(4, 7, r[:, 4:].clone()), (0, 2, r[:, :2].clone()), (2, 4, r[:, 2:4].clone())]
    out = list(proj.project(iter(detail), x, crop))
    assert [(b0, b1) for b0, b1, _ in out] == [(0, 3), (3, 6), (6, 7)]
    y = torch.cat([piece for _, _, piece in out], 1)
    bic = imresize(x.double(), scale=s)[..., 2 * s:(h - 1) * s, 3 * s:]
    d = torch.from_numpy(div[list(good)]).view(1, -1, 1, 1)
    u = torch.from_numpy(basis)
    kept = torch.einsum("gk,hk,nhij->ngij", u, u, r.double()[:, list(good)] * d) / d
    want = bic + r.double()
    want[:, list(good)] = bic[:, list(good)] + kept
    assert torch.allclose(y.double(), want, atol=2e-5)


def test_check_subspace_reads_every_form():
    assert choices.check_subspace("auto") == choices.SUBSPACE_ENERGY
    assert choices.check_subspace("OFF") is None
    assert choices.check_subspace("8") == 8 and isinstance(choices.check_subspace("8"), int)
    assert choices.check_subspace("0.999") == 0.999
    for bad in ("0", "1.0", "1.5", "-3", "", "8.5", "nan"):
        with pytest.raises(HsrInputError, match="--subspace"):
            choices.check_subspace(bad)


def _upscale(runner, src, out, *args):
    res = runner.invoke(app, ["upscale", str(src), "-s", "2", "-m", "lkca-g_x2", "-o", str(out), "-q",
                              "--device", "cpu", "--json", *args])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout[res.stdout.index("{"):])


def test_upscale_keeps_the_added_detail_in_the_scene_subspace(runner, tmp_path):
    cube = low_rank_cube(24, 20, 10, 3, noise=0.02, seed=2)
    src = write_geotiff(tmp_path / "in.tif", cube)
    # without the back-projection, which adds the LR scene's own residual, off the subspace or not
    on = _upscale(runner, src, tmp_path / "on.tif", "--subspace", "2", "--consistency", "0")
    off = _upscale(runner, src, tmp_path / "off.tif", "--subspace", "off", "--consistency", "0")
    assert on["subspace"]["rank"] == 2 and on["subspace"]["bands"] == 10 and off["subspace"] is None
    assert "spectral subspace (rank 2 of 10)" in on["model"]
    y_on, y_off = (open_scene(tmp_path / f).read().astype(np.float64) for f in ("on.tif", "off.tif"))
    bic = imresize(torch.from_numpy(cube.transpose(2, 0, 1)).double(), scale=2).numpy().transpose(1, 2, 0)
    with open_scene(src) as sc:
        basis = fit_subspace(sc, 2).basis

    def outside(d):  # the detail off the 2-D subspace
        return d - d @ basis @ basis.T

    assert np.abs(outside(y_on - bic)).max() < 1e-4 * np.abs(cube).max()
    assert np.abs(outside(y_off - bic)).max() > 1e-3 * np.abs(cube).max()  # the model did add some
    assert not np.allclose(y_on, y_off)


def test_upscale_projection_is_tiling_invariant(runner, tmp_path):
    src = write_geotiff(tmp_path / "in.tif", low_rank_cube(104, 100, 6, 3, noise=0.02, seed=3))
    _upscale(runner, src, tmp_path / "one.tif", "--subspace", "3", "--tile", "200", "--exact")
    tiled = _upscale(runner, src, tmp_path / "tiles.tif", "--subspace", "3", "--tile", "100", "--exact")
    assert tiled["tiles"] > 1
    a, b = (open_scene(tmp_path / f).read() for f in ("one.tif", "tiles.tif"))
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5 * float(np.abs(a).max()))


def test_bicubic_is_left_alone(runner, tmp_path):
    src = write_geotiff(tmp_path / "in.tif", low_rank_cube(12, 12, 6, 2, noise=0.02))
    res = runner.invoke(app, ["upscale", str(src), "-s", "2", "-m", "bicubic", "-o", str(tmp_path / "o.tif"), "-q",
                              "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout[res.stdout.index("{"):])["subspace"] is None


def test_the_projection_adds_no_read_of_the_scene(runner, tmp_path, monkeypatch):
    """The spectra are drawn during the statistics pass: as many reads with the projection as without."""
    src = write_geotiff(tmp_path / "in.tif", low_rank_cube(30, 26, 6, 3, noise=0.02))
    with open_scene(src) as sc:
        cls = type(sc)
    reads, read = [], cls.read
    monkeypatch.setattr(cls, "read", lambda self, *a, **kw: reads.append(a) or read(self, *a, **kw))
    _upscale(runner, src, tmp_path / "off.tif", "--subspace", "off")
    without, reads[:] = len(reads), []
    assert _upscale(runner, src, tmp_path / "on.tif", "--subspace", "2")["subspace"]["rank"] == 2
    assert len(reads) == without > 0

