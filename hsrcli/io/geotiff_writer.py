"""GeoTIFF and Cloud-Optimised GeoTIFF output (tiled, DEFLATE level 1, BigTIFF when needed, through rasterio);
see :mod:`hsrcli.io.writers`."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import numpy as np
from rasterio.windows import Window

from hsrcli.errors import HsrInputError
from hsrcli.io import resources
from hsrcli.io.atomic import check_targets as _check_target
from hsrcli.io.atomic import temp_name as _temp_name
from hsrcli.io.geo import format_number as _num
from hsrcli.io.meta import SceneMeta
from hsrcli.io.writers import SceneWriter

#: DEFLATE (and ZSTD) level of GeoTIFF and COG outputs (GDAL's defaults: 6 and 9). Measured on 2 cores, one
#: thread, 256² tiles: a 1024² × 64 float32 SR output (floating-point predictor) 4.0 → 1.8 s to write,
#: 154.5 → 162.0 MB; as int16 (horizontal predictor) 3.7 → 0.7 s, 58.7 → 59.8 MB; 800 × 360 × 425 float32
#: 10.0 → 5.9 s, 384.5 → 390.1 MB. Reads of the files got no slower (0.9–4.8 s against 1.2–3.6 s).
DEFLATE_LEVEL = 1


def compression_options(compress: str, integer: bool, cog: bool = False) -> dict[str, str | int]:
    """GDAL creation options (rasterio's lower-case keywords) of ``--compress`` ``compress``
    (:class:`~hsrcli.choices.Compression`) for the GTiff driver, or with ``cog`` for the COG driver:
    the codec, its level (:data:`DEFLATE_LEVEL`) and the predictor (horizontal differencing for
    integers, floating-point for floats); none for ``none``."""
    from hsrcli.choices import Compression

    compress = Compression.check(compress, "--compress")
    if compress == Compression.none:
        return {"compress": "NONE"} if cog else {}
    predictor = 2 if integer else 3
    opts: dict[str, str | int] = {"compress": compress.upper(),
                                  "predictor": {2: "STANDARD", 3: "FLOATING_POINT"}[predictor] if cog else predictor}
    if compress in (Compression.deflate, Compression.zstd):
        opts["level" if cog else "zlevel" if compress == Compression.deflate else "zstd_level"] = DEFLATE_LEVEL
    return opts
@functools.cache
def codec_available(compress: str) -> bool:
    """Whether this GDAL writes GeoTIFF blocks with ``compress`` (:class:`~hsrcli.choices.Compression`): a
    16² GeoTIFF written in memory (``/vsimem``) and read back names the codec. GDAL built without one
    (ZSTD before 2.3, or a libtiff without it) only warns and writes the blocks uncompressed."""
    import rasterio
    from rasterio.errors import NotGeoreferencedWarning
    from rasterio.shutil import delete

    from hsrcli.io.geotiff import gdal_env

    opts = compression_options(compress, integer=True)
    if "compress" not in opts:
        return True
    path = f"/vsimem/hsr-codec-{compress}.tif"
    try:
        with gdal_env(), warnings.catch_warnings():
            warnings.simplefilter("ignore", NotGeoreferencedWarning)
            with rasterio.open(path, "w", driver="GTiff", width=16, height=16, count=1, dtype="uint8", **opts) as ds:
                ds.write(np.zeros((1, 16, 16), np.uint8))
            with rasterio.open(path) as ds:
                return ds.compression is not None and ds.compression.name.lower() == compress
    finally:
        delete(path)


#: Smallest tile GDAL's COG driver takes (``BLOCKSIZE``; it warns about a smaller one and ignores it).
COG_MIN_BLOCK = 128
#: Memory GDAL's compression threads may hold (bytes): each holds about four copies of a block
#: (pixel-interleaved: 256² px × every band), so a 224-band float32 output gets fewer threads than a
#: 64-band one on the same machine (measured on 2 cores, 64 bands: +80–150 MB peak RSS with 2 threads).
COMPRESSION_BYTES = 512 * 2**20


def compression_threads(block_bytes: int) -> int | None:
    """GDAL worker threads for DEFLATE (``NUM_THREADS``): every usable CPU within
    :data:`COMPRESSION_BYTES` for blocks of ``block_bytes``; None where the user's own
    ``GDAL_NUM_THREADS`` environment variable is to decide. The bytes written are those of one thread
    (GDAL writes blocks in order); 512² × 64 ×4 float32 on 2 cores: writing 1 GB took 20 s with one."""
    import os

    if "GDAL_NUM_THREADS" in os.environ:
        return None
    return max(1, min(resources.usable_cpus(), COMPRESSION_BYTES // (4 * block_bytes)))


def cog_cache_bytes(meta: SceneMeta, block_shape: tuple[int, int]) -> int:
    """GDAL block cache for the COG copy: two rows of the intermediate GeoTIFF's blocks (every band: the
    averaged overview reads two source block rows per row it writes) above :data:`GDAL_CACHE_BYTES`.
    With the plain 64 MB, the copy of a 2048² × 64 float32 output (block rows of 128 MB) took ~270 s
    on 2 cores, re-reading and re-inflating blocks; with this rule (320 MB) 27 s. At most
    :func:`~hsrcli.io.geotiff.raised_cache_bound` (a quarter of the usable memory): a 20 000-px wide
    224-band float32 output would ask for ~9 GB; past the bound the copy re-reads blocks (slower, not
    wrong) unless the user's ``GDAL_CACHEMAX`` allows more."""
    from hsrcli.io.geotiff import GDAL_CACHE_BYTES, blocks_bytes, raised_cache_bound

    want = GDAL_CACHE_BYTES + blocks_bytes(meta, block_shape, rows=2)
    return max(GDAL_CACHE_BYTES, min(want, raised_cache_bound()))


def _block(n: int) -> int:
    return 256 if n >= 256 else max(16, -(-n // 16) * 16)


class GeoTiffWriter(SceneWriter):
    """Tiled, compressed GeoTIFF (BigTIFF when needed), written window by window, its blocks compressed
    on :func:`compression_threads` threads."""

    def __init__(self, path: Path, meta: SceneMeta, overwrite: bool = False, compress: str = "deflate") -> None:
        """``compress``: :class:`~hsrcli.choices.Compression` (a GDAL without the codec: :class:`HsrInputError`
        now, before anything is computed)."""
        import rasterio
        from rasterio.errors import NotGeoreferencedWarning

        from hsrcli.io.geotiff import gdal_env

        _check_target([path], overwrite)
        if not codec_available(compress):  # GDAL would only warn, and write the blocks uncompressed
            raise HsrInputError(f"--compress {compress}: this GDAL ({rasterio.__gdal_version__}) cannot write it")
        self._tmp = _temp_name(path)
        out_meta = meta.replace(format="gtiff", interleave="pixel", map_info=None)
        super().__init__(path, out_meta)
        integer = np.issubdtype(meta.dtype, np.integer)
        profile = {
            "driver": "GTiff",
            "width": meta.cols,
            "height": meta.rows,
            "count": meta.bands,
            "dtype": meta.dtype.name,
            "crs": meta.crs,
            "transform": meta.transform,
            "nodata": meta.nodata,
            "tiled": True,
            "blockxsize": _block(meta.cols),
            "blockysize": _block(meta.rows),
            "bigtiff": "IF_SAFER",
            **compression_options(compress, integer),
        }
        self.compress = compress
        by_gcps = bool(meta.gcps) and meta.transform is None  # georeferenced by ground control points
        if meta.transform is None:
            profile.pop("transform")
        if by_gcps:  # the CRS is the points' (set with them below)
            profile.pop("crs")
        self.block_shape = (profile["blockysize"], profile["blockxsize"])
        self._threads = compression_threads(self.block_shape[0] * self.block_shape[1] * meta.bands
                                            * meta.dtype.itemsize)
        if self._threads is not None:
            profile["num_threads"] = str(self._threads)
        try:
            with gdal_env(), warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                self._ds = rasterio.open(self._tmp, "w", **profile)
                if by_gcps:
                    self._write_gcps(meta)
                if meta.rpcs is not None:
                    from rasterio.rpc import RPC

                    self._ds.rpcs = RPC(**meta.rpcs)
            self._write_tags(out_meta)
        except BaseException:  # SIGTERM (SystemExit) and Ctrl-C too: no temporary file stays behind
            self.abort()
            raise

    def _write_gcps(self, meta: SceneMeta) -> None:
        from rasterio.control import GroundControlPoint
        from rasterio.crs import CRS

        points = [GroundControlPoint(row=r, col=c, x=x, y=y, z=z) for r, c, x, y, z in meta.gcps or []]
        self._ds.gcps = (points, CRS.from_wkt(meta.crs) if meta.crs else None)

    def _write_tags(self, meta: SceneMeta) -> None:
        ds = self._ds
        tags: dict[str, str] = {}
        if meta.wavelengths is not None:
            tags["wavelength_units"] = "Nanometers"
        if meta.scale_factor is not None:
            tags["reflectance_scale_factor"] = _num(meta.scale_factor)
        if meta.description:
            tags["description"] = meta.description
        if meta.history:
            tags["history"] = "\n".join(meta.history)
        if tags:
            ds.update_tags(**tags)
        for i in range(meta.bands):
            band: dict[str, str] = {}
            imagery: dict[str, str] = {}
            if meta.wavelengths is not None:
                band["wavelength"] = _num(meta.wavelengths[i])
                band["wavelength_units"] = "Nanometers"
                imagery["CENTRAL_WAVELENGTH_UM"] = repr(float(meta.wavelengths[i]) / 1000.0)
            if meta.fwhm is not None:
                band["fwhm"] = _num(meta.fwhm[i])
                imagery["FWHM_UM"] = repr(float(meta.fwhm[i]) / 1000.0)
            if meta.bbl is not None:
                band["bbl"] = str(int(meta.bbl[i]))
            if band:
                ds.update_tags(i + 1, **band)
            if imagery:
                ds.update_tags(i + 1, ns="IMAGERY", **imagery)
            if meta.band_names is not None:
                ds.set_band_description(i + 1, meta.band_names[i])

    def _write(self, r0: int, c0: int, data: np.ndarray) -> None:
        self._write_planes(r0, c0, np.ascontiguousarray(data.transpose(2, 0, 1)))

    def _write_planes(self, r0: int, c0: int, data: np.ndarray) -> None:
        """Band-planar ``data`` (B, h, w), rasterio's layout: written as it is (a transposed view would
        cost GDAL a strided copy per band, ~2× the write of an uncompressed strip)."""
        from hsrcli.io.geotiff import gdal_env

        with gdal_env():
            self._ds.write(data, window=Window(c0, r0, data.shape[2], data.shape[1]))

    def _finish(self) -> list[tuple[Path, Path]]:
        from hsrcli.io.geotiff import gdal_env

        if not self._ds.closed:
            with gdal_env():
                self._ds.close()
        return [(self._tmp, self.path)]

    def _temps(self) -> list[Path]:
        return [self._tmp, Path(f"{self._tmp}.aux.xml")]


class CogWriter(GeoTiffWriter):
    """Cloud-Optimised GeoTIFF: streamed window by window into a temporary tiled GeoTIFF, then copied by
    GDAL's COG driver (which can only copy, not write windows) with the same compression, 256-px tiles
    (128 px for outputs under 256 px, the least the driver takes), overviews down to one tile (averaged: spectra stay means of the pixels
    they cover) and every tag, band description and nodata value; the intermediate file is removed. The
    copy runs with a block cache of two block rows (:func:`cog_cache_bytes`): it reads the whole file
    again to build the overviews."""

    def __init__(self, path: Path, meta: SceneMeta, overwrite: bool = False, compress: str = "deflate") -> None:
        self._cog_tmp = _temp_name(path)  # unique per call: not the intermediate GeoTIFF's name
        super().__init__(path, meta, overwrite, compress)

    def _finish(self) -> list[tuple[Path, Path]]:
        from rasterio.shutil import copy

        from hsrcli.io.geotiff import gdal_env

        if self._ds.closed:  # abort() after a failed copy: nothing left to finish
            return [(self._cog_tmp, self.path)]
        [(tiff, _)] = super()._finish()
        codec = compression_options(self.compress, np.issubdtype(self.meta.dtype, np.integer), cog=True)
        try:
            with gdal_env(cog_cache_bytes(self.meta, self.block_shape)):
                copy(tiff, self._cog_tmp, driver="COG", **codec,
                     blocksize=max(COG_MIN_BLOCK, self.block_shape[1]), overviews="AUTO", overview_resampling="AVERAGE",
                     bigtiff="IF_SAFER", **({} if self._threads is None else {"num_threads": str(self._threads)}))
        finally:
            tiff.unlink(missing_ok=True)
        return [(self._cog_tmp, self.path)]

    def _temps(self) -> list[Path]:
        return [*super()._temps(), self._cog_tmp, Path(f"{self._cog_tmp}.aux.xml")]
