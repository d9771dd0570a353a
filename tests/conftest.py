"""Shared fixtures: tiny generated rasters, CLI runner, the shared data folder (helpers: ``rasters.py``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from rasters import PIXEL, SHARED_DATA, UL, UTM_EPSG, make_cube, wavelengths_nm

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture
def cube() -> np.ndarray:
    return make_cube()


@pytest.fixture
def utm_meta():
    """SceneMeta of a georeferenced 16 × 16 × 8 int16 scene (UTM 11N, 30 m)."""
    from affine import Affine
    from rasterio.crs import CRS

    from hsrcli.io import SceneMeta

    return SceneMeta(
        rows=16, cols=16, bands=8, dtype="int16",
        wavelengths=wavelengths_nm(8), fwhm=np.full(8, 10.5),
        band_names=[f"b{i}" for i in range(8)], bbl=[1, 1, 0, 1, 1, 1, 0, 1],
        crs=CRS.from_epsg(UTM_EPSG).to_wkt(), transform=Affine(PIXEL, 0, UL[0], 0, -PIXEL, UL[1]),
        nodata=-9999.0, scale_factor=10000.0, description="test scene", history=["created by tests"],
    )


@pytest.fixture
def runner():
    from typer.testing import CliRunner

    return CliRunner()


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA
