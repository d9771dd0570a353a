"""Test helpers (plain functions and constants, imported as ``from rasters import ...``):
tiny generated rasters (16 × 16 × 8 by default) written by hand, independent of hsrcli."""

from __future__ import annotations

from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"
SAMPLE_HDR = ROOT / "sample_data" / "aviris_sample.hdr"

UTM_EPSG = 32611  # WGS 84 / UTM zone 11N
UL = (500010.0, 4100020.0)  # upper-left corner (m)
PIXEL = 30.0  # m

ENVI_CODES = {1: "uint8", 2: "int16", 3: "int32", 4: "float32", 5: "float64",
              12: "uint16", 13: "uint32", 14: "int64", 15: "uint64"}


def make_cube(rows: int = 16, cols: int = 16, bands: int = 8, dtype: str = "int16", seed: int = 0) -> np.ndarray:
    """Deterministic random cube (rows, cols, bands) spanning much of the dtype's range."""
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if np.issubdtype(dt, np.integer):
        info = np.iinfo(dt)
        lo, hi = max(info.min, -30000), min(info.max, 60000)
        return rng.integers(lo, hi, size=(rows, cols, bands), endpoint=True).astype(dt)
    return (rng.standard_normal((rows, cols, bands)) * 100).astype(dt)


def wavelengths_nm(bands: int = 8) -> np.ndarray:
    return 400.0 + 37.5 * np.arange(bands)


def write_raw_envi(
    folder: Path,
    cube: np.ndarray,
    *,
    name: str = "scene",
    interleave: str = "bsq",
    byte_order: int = 0,
    offset: int = 0,
    data_ext: str = ".img",
    header: dict | None = None,
    code: int | None = None,
) -> Path:
    """Write an ENVI file *by hand* (numpy + SPy's header writer), independent of hsrcli."""
    from spectral.io.envi import write_envi_header

    rows, cols, bands = cube.shape
    if code is None:
        code = {v: k for k, v in ENVI_CODES.items()}[cube.dtype.name]
    order = {"bsq": (2, 0, 1), "bil": (0, 2, 1), "bip": (0, 1, 2)}[interleave]
    arr = cube.transpose(order).astype(cube.dtype.newbyteorder(">" if byte_order else "<"))
    data = folder / f"{name}{data_ext}"
    with open(data, "wb") as f:
        f.write(b"\0" * offset)
        f.write(arr.tobytes())
    h = {"samples": cols, "lines": rows, "bands": bands, "header offset": offset,
         "data type": code, "interleave": interleave, "byte order": byte_order}
    h.update(header or {})
    hdr = folder / f"{name}.hdr"
    write_envi_header(str(hdr), h)
    return hdr


def write_geotiff(path: Path, cube: np.ndarray, *, crs: int | None = UTM_EPSG, pixel: float = PIXEL,
                  nodata: float | None = None, band_tags: list[dict] | None = None,
                  descriptions: list[str] | None = None) -> Path:
    """Write a GeoTIFF with rasterio directly (UTM 11N, 30 m pixels by default)."""
    import rasterio
    from affine import Affine

    rows, cols, bands = cube.shape
    profile = {"driver": "GTiff", "width": cols, "height": rows, "count": bands, "dtype": cube.dtype.name,
               "crs": f"EPSG:{crs}" if crs else None, "transform": Affine(pixel, 0, UL[0], 0, -pixel, UL[1]),
               "nodata": nodata}
    with rasterio.open(path, "w", **profile) as ds:
        ds.write(cube.transpose(2, 0, 1))
        for i, tags in enumerate(band_tags or []):
            ns = tags.pop("_ns", None)
            if ns:
                ds.update_tags(i + 1, ns=ns, **tags)
            else:
                ds.update_tags(i + 1, **tags)
        for i, d in enumerate(descriptions or []):
            ds.set_band_description(i + 1, d)
    return path
