"""Streaming writers for ENVI (via SPy) and GeoTIFF (via rasterio).

Both write window by window and never hold the whole output in memory. Both write
to hidden temporary names in the target folder and only rename to the final
name(s) on :meth:`SceneWriter.commit`; an error (or :meth:`SceneWriter.abort`)
removes the temporary files, so a failed run never leaves a partial output and
never damages an existing file. Existing outputs are refused unless
``overwrite=True``.

Metadata written (from :class:`~hsrcli.io.meta.SceneMeta`):

* ENVI: ``wavelength`` + ``wavelength units = Nanometers``, ``fwhm``, ``band names``,
  ``bbl``, ``data ignore value``, ``reflectance scale factor``, ``map info``
  (kept verbatim from an ENVI source, else derived from the transform),
  ``coordinate system string`` (WKT), ``description``, ``history`` and the extra
  header fields of the source.
* GeoTIFF: tiled, DEFLATE-compressed (with predictor), BigTIFF when needed; CRS,
  transform, nodata, band descriptions; per band ``wavelength``,
  ``wavelength_units``, ``fwhm``, ``bbl`` items (GDAL's ENVI-driver names) and the
  ``IMAGERY`` domain's ``CENTRAL_WAVELENGTH_UM``/``FWHM_UM``; dataset tags
  ``reflectance_scale_factor``, ``description``, ``history``.
"""

from __future__ import annotations

import os
import warnings
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType

import numpy as np
from rasterio.windows import Window

from hsrcli.choices import Format, Interleave
from hsrcli.errors import HsrInputError
from hsrcli.io.atomic import check_targets as _check_target
from hsrcli.io.atomic import temp_name as _temp_name
from hsrcli.io.geo import format_number as _num
from hsrcli.io.meta import SceneMeta


def format_for_path(path: Path) -> str:
    """Output format implied by a file name (``.tif``/``.tiff`` → gtiff, else envi)."""
    return "gtiff" if path.suffix.lower() in (".tif", ".tiff") else "envi"


def envi_paths(path: Path) -> tuple[Path, Path]:
    """(header, data file) for an ENVI output named by either of them.

    ``out.hdr`` → data ``out.img``; ``out.img``/``out.dat``/``out.bsq``/``out`` → header
    ``out.hdr`` (the data file keeps the given name).
    """
    if path.suffix.lower() == ".hdr":
        return path, path.with_suffix(".img")
    return (path.with_suffix(".hdr") if path.suffix else Path(f"{path}.hdr")), path


class SceneWriter(ABC):
    """Write a scene window by window; commit atomically or leave nothing behind."""

    path: Path
    meta: SceneMeta
    #: storage block (rows, cols): windows aligned to it (see iter_windows) keep
    #: compressed files compact and GDAL's block cache small
    block_shape: tuple[int, int] = (1, 1)

    def __init__(self, path: Path, meta: SceneMeta) -> None:
        self.path = path
        self.meta = meta
        self._done = False

    def write(self, window: Window, data: np.ndarray) -> None:
        """Write ``data`` of shape ``(window.height, window.width, bands)``.

        Values are cast to ``meta.dtype`` as they are (round/clip beforehand when
        writing floats to an integer type).
        """
        h, w = int(window.height), int(window.width)
        if data.shape != (h, w, self.meta.bands):
            raise ValueError(f"data shape {data.shape} does not match window {h}x{w}x{self.meta.bands}")
        r0, c0 = int(window.row_off), int(window.col_off)
        if r0 < 0 or c0 < 0 or r0 + h > self.meta.rows or c0 + w > self.meta.cols:
            raise ValueError(f"window {window} is outside the {self.meta.rows}x{self.meta.cols} output")
        self._write(r0, c0, np.asarray(data).astype(self.meta.dtype, copy=False))

    @abstractmethod
    def _write(self, r0: int, c0: int, data: np.ndarray) -> None: ...

    @abstractmethod
    def _finish(self) -> list[tuple[Path, Path]]:
        """Flush and close; return (temporary, final) pairs to rename, in order."""

    @abstractmethod
    def _temps(self) -> list[Path]: ...

    def commit(self) -> Path:
        """Finish the file and move it to its final name; returns the final path."""
        if self._done:
            return self.path
        renames = self._finish()
        for tmp, final in renames:
            os.replace(tmp, final)
        self._done = True
        return self.path

    def abort(self) -> None:
        """Discard everything written; the final path is left as it was."""
        if self._done:
            return
        self._done = True
        try:
            self._finish()
        except Exception:  # noqa: BLE001 - best effort, the temp files go anyway
            pass
        for tmp in self._temps():
            tmp.unlink(missing_ok=True)

    def __enter__(self) -> SceneWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def envi_header_fields(meta: SceneMeta) -> dict:
    """ENVI header fields (SPy metadata dict) describing ``meta``."""
    from hsrcli.io.geo import map_info_from_geo

    md: dict = {}
    if meta.description:
        md["description"] = meta.description
    if meta.scale_factor is not None:
        md["reflectance scale factor"] = _num(meta.scale_factor)
    if meta.map_info is not None:
        md["map info"] = list(meta.map_info)
    elif meta.transform is not None:
        md["map info"] = map_info_from_geo(meta.transform, meta.crs)
    if meta.crs:
        md["coordinate system string"] = "{" + meta.crs + "}"
    if meta.wavelengths is not None:
        md["wavelength units"] = "Nanometers"
        md["wavelength"] = [_num(w) for w in meta.wavelengths]
    if meta.fwhm is not None:
        md["fwhm"] = [_num(w) for w in meta.fwhm]
    if meta.band_names is not None:
        md["band names"] = [n.replace(",", ";").replace("{", "(").replace("}", ")") for n in meta.band_names]
    if meta.bbl is not None:
        md["bbl"] = [str(int(b)) for b in meta.bbl]
    if meta.nodata is not None:
        md["data ignore value"] = _num(meta.nodata)
    if meta.history:
        md["history"] = [h.replace(",", ";").replace("{", "(").replace("}", ")") for h in meta.history]
    for k, v in meta.extra.items():
        md.setdefault(k, v)
    return md


class EnviWriter(SceneWriter):
    """ENVI header + raw data file, written through per-window memmaps (SPy)."""

    def __init__(self, path: Path, meta: SceneMeta, overwrite: bool = False, interleave: str = "bsq") -> None:
        from spectral.io import envi

        from hsrcli.io.envi import DTYPE_TO_ENVI

        if meta.dtype not in DTYPE_TO_ENVI:
            raise HsrInputError(f"ENVI cannot store data type {meta.dtype.name}")
        interleave = Interleave.check(interleave, "interleave")
        hdr, data = envi_paths(path)
        _check_target([hdr, data], overwrite)
        self._tmp_hdr = _temp_name(hdr)
        self._tmp_data = self._tmp_hdr.with_suffix(data.suffix) if data.suffix else self._tmp_hdr.with_suffix("")
        self._final = (hdr, data)
        out_meta = meta.replace(format="envi", interleave=interleave)
        super().__init__(hdr, out_meta)
        try:
            img = envi.create_image(
                str(self._tmp_hdr), envi_header_fields(out_meta),
                shape=(meta.rows, meta.cols, meta.bands), dtype=meta.dtype,
                interleave=interleave, ext=data.suffix, force=True,
            )
        except Exception:
            self.abort()
            raise
        img._memmap = None  # writes go through per-window memmaps (bounded RSS)
        self._img = img

    def _write(self, r0: int, c0: int, data: np.ndarray) -> None:
        mm = self._img.open_memmap(interleave="bip", writable=True)
        try:
            mm[r0:r0 + data.shape[0], c0:c0 + data.shape[1], :] = data
            mm.flush()
        finally:
            del mm

    def _finish(self) -> list[tuple[Path, Path]]:
        self._img = None
        # Data first, header last: a header on disk always has its complete data.
        return [(self._tmp_data, self._final[1]), (self._tmp_hdr, self._final[0])]

    def _temps(self) -> list[Path]:
        return [self._tmp_data, self._tmp_hdr]


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
        try:
            with gdal_env(), warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                self._ds = rasterio.open(self._tmp, "w", **profile)
            self._write_tags(out_meta)
        except Exception:
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


def open_writer(
    path: str | Path,
    meta: SceneMeta,
    fmt: str | None = None,
    *,
    overwrite: bool = False,
    interleave: str = "bsq",
) -> SceneWriter:
    """Create a streaming writer for ``meta`` at ``path``.

    Args:
        path: output file (ENVI: header or data file name; GeoTIFF: ``.tif``).
        meta: shape, dtype and metadata of the output (e.g. ``scene.meta.rescaled(4)``).
        fmt: ``"envi"`` or ``"gtiff"``; default from the file name.
        overwrite: replace an existing output (only once the new one is complete).
        interleave: ENVI interleave (``bsq``, ``bil``, ``bip``).
    """
    p = Path(path)
    fmt = fmt or format_for_path(p)
    if fmt == "envi":
        return EnviWriter(p, meta, overwrite=overwrite, interleave=interleave)
    if fmt == "gtiff":
        return GeoTiffWriter(p, meta, overwrite=overwrite)
    Format.check(fmt, "output format")
    raise AssertionError(f"format {fmt!r} is declared but has no writer")
