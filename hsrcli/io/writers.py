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
* GeoTIFF (and COG, the same written through GDAL's COG driver: overviews, header first): tiled,
  DEFLATE-compressed (with predictor), BigTIFF when needed; CRS,
  transform, nodata, band descriptions; per band ``wavelength``,
  ``wavelength_units``, ``fwhm``, ``bbl`` items (GDAL's ENVI-driver names) and the
  ``IMAGERY`` domain's ``CENTRAL_WAVELENGTH_UM``/``FWHM_UM``; dataset tags
  ``reflectance_scale_factor``, ``description``, ``history``.
"""

from __future__ import annotations

import contextlib
import os
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import numpy as np
from rasterio.windows import Window

from hsrcli.choices import Compression, Format
from hsrcli.errors import HsrInputError
from hsrcli.io.meta import SceneMeta

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self from Python 3.11


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
    #: True when :meth:`write_bands` writes any band range of any window, in any order, without
    #: reading anything back (uncompressed, fixed layout: ENVI)
    band_writes: bool = False

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
        r0, c0 = self._origin(window, data, (h, w, self.meta.bands))
        self._write(r0, c0, np.asarray(data).astype(self.meta.dtype, copy=False))

    def write_planes(self, window: Window, data: np.ndarray) -> None:
        """:meth:`write` from band-planar ``data`` ``(bands, window.height, window.width)``: every band of
        the window, in the layout models produce, with no pixel interleaving in between where the
        writer takes planes (GeoTIFF: rasterio's own layout; ENVI: any interleave)."""
        h, w = int(window.height), int(window.width)
        r0, c0 = self._origin(window, data, (self.meta.bands, h, w))
        self._write_planes(r0, c0, np.asarray(data).astype(self.meta.dtype, copy=False))

    def _origin(self, window: Window, data: np.ndarray, shape: tuple[int, int, int]) -> tuple[int, int]:
        """``(row, col)`` of ``window`` once ``data`` has the ``shape`` it needs and the window lies inside
        the output (else ValueError)."""
        if data.shape != shape:
            raise ValueError(f"data shape {data.shape} does not match window {'x'.join(map(str, shape))}")
        h, w = int(window.height), int(window.width)
        r0, c0 = int(window.row_off), int(window.col_off)
        if r0 < 0 or c0 < 0 or r0 + h > self.meta.rows or c0 + w > self.meta.cols:
            raise ValueError(f"window {window} is outside the {self.meta.rows}x{self.meta.cols} output")
        return r0, c0

    def _write_planes(self, r0: int, c0: int, data: np.ndarray) -> None:
        """Band-planar ``data`` (B, h, w) at (r0, c0); default: pixel-interleaved, :meth:`_write`."""
        self._write(r0, c0, data.transpose(1, 2, 0))

    def write_bands(self, r0: int, c0: int, band0: int, data: np.ndarray) -> None:
        """Write bands ``band0:band0+b`` of the window at (r0, c0) from band-planar ``data`` ``(b, h, w)``,
        cast as :meth:`write` does; only writers with :attr:`band_writes`."""
        b, h, w = data.shape
        if min(r0, c0, band0) < 0 or r0 + h > self.meta.rows or c0 + w > self.meta.cols or band0 + b > self.meta.bands:
            raise ValueError(f"bands {band0}:{band0 + b} of rows {r0}:{r0 + h}, cols {c0}:{c0 + w} are outside the "
                             f"{self.meta.rows}x{self.meta.cols}x{self.meta.bands} output")
        self._write_bands(r0, c0, band0, np.asarray(data).astype(self.meta.dtype, copy=False))

    def _write_bands(self, r0: int, c0: int, band0: int, data: np.ndarray) -> None:
        raise NotImplementedError(f"{type(self).__name__} writes whole windows only")

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
        with contextlib.suppress(Exception):  # best effort, the temp files go anyway
            self._finish()
        for tmp in self._temps():
            tmp.unlink(missing_ok=True)

    def __enter__(self) -> Self:
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


def open_writer(
    path: str | Path,
    meta: SceneMeta,
    fmt: str | None = None,
    *,
    overwrite: bool = False,
    interleave: str = "bsq",
    compress: str | None = None,
) -> SceneWriter:
    """Create a streaming writer for ``meta`` at ``path``.

    Args:
        path: output file (ENVI: header or data file name; GeoTIFF: ``.tif``).
        meta: shape, dtype and metadata of the output (e.g. ``scene.meta.rescaled(4)``).
        fmt: ``"envi"``, ``"gtiff"`` or ``"cog"``; default from the file name (never cog).
        overwrite: replace an existing output (only once the new one is complete).
        interleave: ENVI interleave (``bsq``, ``bil``, ``bip``).
        compress: GeoTIFF/COG block compression (:func:`compression_for`).
    """
    from hsrcli.io.envi_writer import EnviWriter
    from hsrcli.io.geotiff_writer import CogWriter, GeoTiffWriter

    p = Path(path)
    fmt = fmt or format_for_path(p)
    codec = compression_for(fmt, compress)
    if codec is None:  # ENVI: uncompressed
        return EnviWriter(p, meta, overwrite=overwrite, interleave=interleave)
    if fmt == "gtiff":
        return GeoTiffWriter(p, meta, overwrite=overwrite, compress=codec)
    if fmt == "cog":
        return CogWriter(p, meta, overwrite=overwrite, compress=codec)
    Format.check(fmt, "output format")
    raise AssertionError(f"format {fmt!r} is declared but has no writer")


def compression_for(fmt: str, compress: str | None) -> str | None:
    """The block compression an output of format ``fmt`` gets from ``--compress`` ``compress``
    (:class:`~hsrcli.choices.Compression`): GeoTIFF and COG default to deflate; ENVI files are
    uncompressed, so any ``compress`` given for one is refused (:class:`HsrInputError`)."""
    if fmt == "envi":
        if compress is not None:
            raise HsrInputError(f"--compress {compress} applies to GeoTIFF and COG outputs; ENVI files are raw")
        return None
    return Compression.check(compress or Compression.deflate, "--compress")
