"""GeoTIFF (and other GDAL raster) reader built on rasterio.

Metadata read:

* CRS, affine transform (or ground control points, with their CRS), nodata, band descriptions
  (→ band names);
* wavelengths per band from GDAL's ``wavelength`` / ``wavelength_units`` band items
  (what GDAL's ENVI driver and this project's writer set), or from the ``IMAGERY``
  domain's ``CENTRAL_WAVELENGTH_UM`` (GDAL ≥ 3.10); FWHM likewise (``fwhm`` /
  ``FWHM_UM``);
* ``bbl`` band items, the dataset tags ``reflectance_scale_factor``,
  ``description`` and ``history`` written by :mod:`hsrcli.io.writers`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np

from hsrcli.errors import HsrInputError
from hsrcli.io import resources
from hsrcli.io.meta import SceneMeta
from hsrcli.io.scene import Scene, check_file
from hsrcli.io.wavelengths import to_nm

#: GDAL block-cache cap used around our reads and writes (bytes). GDAL's default
#: (5 % of RAM) lets a streamed GeoTIFF fill gigabytes; a user's own
#: ``GDAL_CACHEMAX`` environment variable takes precedence.
GDAL_CACHE_BYTES = 64 * 2**20


#: A GDAL cache raised for a pass (:func:`raised_cache_bound`) takes at most this share (1/n) of the memory
#: the process may use (:func:`~hsrcli.io.resources.usable_memory`); 512 MB where that is unknown.
RAISED_CACHE_SHARE = 4


def raised_cache_bound() -> int:
    """Bytes a GDAL block cache raised above :data:`GDAL_CACHE_BYTES` for one pass may reach (``hsr
    metrics``' strips, the COG copy): 1/:data:`RAISED_CACHE_SHARE` of the usable memory."""
    memory = resources.usable_memory()
    return 512 * 2**20 if memory is None else memory // RAISED_CACHE_SHARE


#: GDAL block cache of the reads in a :func:`read_cache` block (bytes).
_READ_CACHE: ContextVar[int] = ContextVar("hsr_gdal_read_cache", default=GDAL_CACHE_BYTES)


@contextmanager
def read_cache(nbytes: int) -> Iterator[None]:
    """Within the block, GeoTIFF reads run with a GDAL block cache of ``nbytes`` (at least
    :data:`GDAL_CACHE_BYTES`): for a pass whose windows are narrower than a file's block rows, so that a
    block row is inflated once and not once per window (see :func:`block_rows_bytes`)."""
    token = _READ_CACHE.set(max(int(nbytes), GDAL_CACHE_BYTES))
    try:
        yield
    finally:
        _READ_CACHE.reset(token)


def blocks_bytes(meta: SceneMeta, block_shape: tuple[int, int], rows: int = 2) -> int:
    """Bytes of ``rows`` rows of ``block_shape`` blocks across a raster of ``meta``, every band (a
    pixel-interleaved GeoTIFF's block holds them all)."""
    br, bc = block_shape
    return rows * -(-meta.cols // bc) * br * bc * meta.bands * meta.dtype.itemsize


def block_rows_bytes(scene: Scene, rows: int = 2) -> int:
    """:func:`blocks_bytes` of ``scene``'s storage blocks: 0 for a scene not stored in blocks (ENVI: lines)."""
    return 0 if scene.block_shape[0] <= 1 else blocks_bytes(scene.meta, scene.block_shape, rows)


def gdal_env(cache_bytes: int | None = None) -> Any:
    """rasterio environment around our reads and writes: a bounded GDAL block cache of ``cache_bytes``
    (default :data:`GDAL_CACHE_BYTES`, or the enclosing :func:`read_cache`'s) and GDAL's worker threads
    on every usable CPU
    (``GDAL_NUM_THREADS``: a window over several compressed blocks is decoded in parallel — ``hsr
    metrics`` of two 2048² × 64 float32 GeoTIFFs on 2 cores: 67–69 s → 47–49 s; writers set their own
    bound, :func:`~hsrcli.io.geotiff_writer.compression_threads`). The user's ``GDAL_CACHEMAX`` and
    ``GDAL_NUM_THREADS`` take precedence."""
    import os

    import rasterio

    options: dict[str, int | str] = {}
    if "GDAL_CACHEMAX" not in os.environ:
        options["GDAL_CACHEMAX"] = _READ_CACHE.get() if cache_bytes is None else cache_bytes
    if "GDAL_NUM_THREADS" not in os.environ:
        options["GDAL_NUM_THREADS"] = str(resources.usable_cpus())
    return rasterio.Env(**options)


def _lower(tags: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in tags.items()}


def _band_values(ds: Any, key: str, imagery_key: str) -> tuple[np.ndarray | None, str | None]:
    """Per-band float values of a band item, and the units they are in."""
    vals: list[float] = []
    units: str | None = None
    for i in range(1, ds.count + 1):
        tags = _lower(ds.tags(i))
        if key in tags:
            units = tags.get("wavelength_units", units)
            raw = tags[key]
        else:
            imagery = ds.tags(i, ns="IMAGERY")
            if imagery_key not in imagery:
                return None, None
            units, raw = "um", imagery[imagery_key]
        try:
            vals.append(float(raw))
        except ValueError:
            raise HsrInputError(f"{ds.name}: band {i} has a {key} that is not a number: {raw!r}") from None
    if units is None:
        units = _lower(ds.tags()).get("wavelength_units")
    return np.asarray(vals), units


def meta_from_dataset(ds: Any, fmt: str = "gtiff") -> SceneMeta:
    """:class:`SceneMeta` of an open rasterio dataset."""
    if len(set(ds.dtypes)) != 1:
        raise HsrInputError(f"{ds.name}: bands have different data types {sorted(set(ds.dtypes))}")
    wl, wl_units = _band_values(ds, "wavelength", "CENTRAL_WAVELENGTH_UM")
    fwhm, fwhm_units = _band_values(ds, "fwhm", "FWHM_UM")
    bbl_tags = [_lower(ds.tags(i)).get("bbl") for i in range(1, ds.count + 1)]
    known = [b for b in bbl_tags if b is not None]
    bbl = np.array([int(float(b)) for b in known]) if len(known) == len(bbl_tags) else None
    tags = _lower(ds.tags())
    names = list(ds.descriptions)
    georeferenced = ds.crs is not None or not ds.transform.is_identity
    points, gcp_crs = ds.gcps if not georeferenced else ([], None)
    rsf = tags.get("reflectance_scale_factor")
    history = [h for h in tags.get("history", "").split("\n") if h]
    return SceneMeta(
        rows=ds.height,
        cols=ds.width,
        bands=ds.count,
        dtype=np.dtype(ds.dtypes[0]),
        format=fmt,
        interleave=(ds.profile.get("interleave") or "").lower() or None,
        wavelengths=None if wl is None else to_nm(wl, wl_units),
        fwhm=None if fwhm is None else to_nm(fwhm, fwhm_units or wl_units),
        wavelength_units=wl_units,
        band_names=None if all(n is None for n in names) else [n or f"Band {i + 1}" for i, n in enumerate(names)],
        bbl=bbl,
        crs=ds.crs.to_wkt() if ds.crs else (gcp_crs.to_wkt() if points and gcp_crs else None),
        transform=ds.transform if georeferenced else None,
        gcps=[(p.row, p.col, p.x, p.y, p.z or 0.0) for p in points] or None,
        rpcs=ds.rpcs.to_dict() if ds.rpcs else None,
        nodata=None if ds.nodata is None else float(ds.nodata),
        scale_factor=None if rsf is None else float(rsf),
        description=tags.get("description"),
        history=history,
    )


class GeoTiffScene(Scene):
    """A lazily read GeoTIFF (or any single-file GDAL raster)."""

    def __init__(self, path: Path | str, fmt: str = "gtiff", remote: bool = False) -> None:
        """``path``: a local file, or with ``remote`` a GDAL ``/vsi…`` path (a string)."""
        import rasterio
        from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

        if not remote:
            check_file(Path(path), "raster file")
        try:
            with warnings.catch_warnings(), gdal_env():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                self._ds = rasterio.open(path)
        except RasterioIOError as exc:
            first = str(exc).splitlines()[0] if str(exc) else "unrecognised format"
            raise HsrInputError(f"{path}: not a readable raster ({first})") from None
        try:
            meta = meta_from_dataset(self._ds, fmt)
        except Exception:
            self._ds.close()
            raise
        super().__init__(path, meta)
        rows, cols = self._ds.block_shapes[0]
        self.block_shape = (int(rows), int(cols))

    def _read(self, r0: int, r1: int, c0: int, c1: int, bands: list[int] | None) -> np.ndarray:
        from rasterio.windows import Window

        indexes = list(range(1, self.meta.bands + 1)) if bands is None else [b + 1 for b in bands]
        with gdal_env():
            arr = self._ds.read(indexes, window=Window(c0, r0, c1 - c0, r1 - r0))
        return arr.transpose(1, 2, 0)

    def close(self) -> None:
        if not self._ds.closed:
            self._ds.close()
