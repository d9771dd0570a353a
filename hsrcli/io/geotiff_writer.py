"""GeoTIFF and Cloud-Optimised GeoTIFF output (tiled, DEFLATE, BigTIFF when needed, through rasterio);
see :mod:`hsrcli.io.writers`."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from rasterio.windows import Window

from hsrcli.io.atomic import check_targets as _check_target
from hsrcli.io.atomic import temp_name as _temp_name
from hsrcli.io.geo import format_number as _num
from hsrcli.io.meta import SceneMeta
from hsrcli.io.writers import SceneWriter


def _block(n: int) -> int:
    return 256 if n >= 256 else max(16, -(-n // 16) * 16)


class GeoTiffWriter(SceneWriter):
    """Tiled, compressed GeoTIFF (BigTIFF when needed), written window by window."""

    def __init__(self, path: Path, meta: SceneMeta, overwrite: bool = False) -> None:
        import rasterio
        from rasterio.errors import NotGeoreferencedWarning

        from hsrcli.io.geotiff import gdal_env

        _check_target([path], overwrite)
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
            "compress": "deflate",
            "predictor": 2 if integer else 3,
            "bigtiff": "IF_SAFER",
        }
        if meta.transform is None:
            profile.pop("transform")
        self.block_shape = (profile["blockysize"], profile["blockxsize"])
        self._predictor = profile["predictor"]
        try:
            with gdal_env(), warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                self._ds = rasterio.open(self._tmp, "w", **profile)
            self._write_tags(out_meta)
        except BaseException:  # SIGTERM (SystemExit) and Ctrl-C too: no temporary file stays behind
            self.abort()
            raise

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
        from hsrcli.io.geotiff import gdal_env

        with gdal_env():
            self._ds.write(data.transpose(2, 0, 1), window=Window(c0, r0, data.shape[1], data.shape[0]))

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
    (smaller for small outputs), overviews down to one tile (averaged: spectra stay means of the pixels
    they cover) and every tag, band description and nodata value; the intermediate file is removed."""

    def __init__(self, path: Path, meta: SceneMeta, overwrite: bool = False) -> None:
        self._cog_tmp = _temp_name(path)  # unique per call: not the intermediate GeoTIFF's name
        super().__init__(path, meta, overwrite)

    def _finish(self) -> list[tuple[Path, Path]]:
        from rasterio.shutil import copy

        from hsrcli.io.geotiff import gdal_env

        if self._ds.closed:  # abort() after a failed copy: nothing left to finish
            return [(self._cog_tmp, self.path)]
        [(tiff, _)] = super()._finish()
        predictor = {2: "STANDARD", 3: "FLOATING_POINT"}[self._predictor]  # the GeoTIFF's, by its COG name
        try:
            with gdal_env():
                copy(tiff, self._cog_tmp, driver="COG", compress="DEFLATE", predictor=predictor,
                     blocksize=self.block_shape[1], overviews="AUTO", overview_resampling="AVERAGE",
                     bigtiff="IF_SAFER")
        finally:
            tiff.unlink(missing_ok=True)
        return [(self._cog_tmp, self.path)]

    def _temps(self) -> list[Path]:
        return [*super()._temps(), self._cog_tmp, Path(f"{self._cog_tmp}.aux.xml")]
