"""The one reading interface every raster format implements.

A :class:`Scene` is an open, lazily read hyperspectral image. Ask it for its
:attr:`~Scene.meta` (shape, dtype, wavelengths, CRS, ...) and read any window of
rows × columns × bands; nothing is loaded until :meth:`Scene.read` is called, and
then only the requested window (the ``.mat`` v5 reader is the documented
exception: that format cannot be read partially).

Arrays are returned as ``(rows, cols, bands)`` (:meth:`Scene.read`) or band-major
``(bands, rows, cols)`` (:meth:`Scene.read_planes`) in the scene's storage dtype with
native byte order and raw stored values (the reflectance scale factor is reported in
the metadata, not applied).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

import numpy as np
from rasterio.windows import Window

from hsrcli.errors import HsrInputError
from hsrcli.io.meta import SceneMeta
from hsrcli.io.windows import DEFAULT_WINDOW_BYTES, iter_windows

if TYPE_CHECKING:
    from typing_extensions import Self  # typing.Self from Python 3.11


class Scene(ABC):
    """An open hyperspectral scene with lazy windowed reads."""

    #: the local file or folder, or the GDAL ``/vsi…`` path (a string) of a remote scene
    path: Path | str
    meta: SceneMeta
    #: storage block (rows, cols): windows are aligned to it (tiled GeoTIFFs)
    block_shape: tuple[int, int] = (1, 1)

    def __init__(self, path: Path | str, meta: SceneMeta) -> None:
        self.path = path
        self.meta = meta

    # -- reading ------------------------------------------------------------------
    def read(self, window: Window | None = None, bands: Sequence[int] | None = None) -> np.ndarray:
        """Read a window of the scene.

        Args:
            window: pixels to read (``None`` = the whole scene; beware of big scenes).
            bands: 0-based band indices in the order wanted (``None`` = all bands).

        Returns:
            Array of shape ``(window.height, window.width, len(bands))`` in
            ``meta.dtype`` (native byte order), raw stored values: a new array, which the caller
            may change (no reader hands out a view of a file or of a cached cube).
        """
        return np.ascontiguousarray(self._read(*self._region(window, bands)), dtype=self.meta.dtype)

    def read_planes(self, window: Window | None = None, bands: Sequence[int] | None = None) -> np.ndarray:
        """:meth:`read`, band-major: ``(len(bands), window.height, window.width)``, C-contiguous.

        Where the storage is band-sequential (ENVI BSQ, GeoTIFF band planes) no pixel is transposed
        twice (a 2048² × 64 float32 BSQ pair read in 16-row strips: two copies instead of three).
        """
        planes = self._read(*self._region(window, bands)).transpose(2, 0, 1)
        return np.ascontiguousarray(planes, dtype=self.meta.dtype)

    def _region(self, window: Window | None, bands: Sequence[int] | None
                ) -> tuple[int, int, int, int, list[int] | None]:
        """``(r0, r1, c0, c1, bands)`` of a checked request (bands None when all, in order)."""
        m = self.meta
        if window is None:
            window = Window(0, 0, m.cols, m.rows)
        r0, c0 = int(window.row_off), int(window.col_off)
        r1, c1 = r0 + int(window.height), c0 + int(window.width)
        if not (0 <= r0 <= r1 <= m.rows and 0 <= c0 <= c1 <= m.cols):
            raise HsrInputError(
                f"window rows {r0}:{r1}, cols {c0}:{c1} is outside the {m.rows} x {m.cols} scene"
            )
        band_list: list[int] | None = None
        if bands is not None:
            band_list = [int(b) for b in bands]
            bad = [b for b in band_list if not 0 <= b < m.bands]
            if bad:
                raise HsrInputError(f"band index {bad[0]} out of range (scene has {m.bands} bands)")
            if band_list == list(range(m.bands)):
                band_list = None
        return r0, r1, c0, c1, band_list

    @abstractmethod
    def _read(self, r0: int, r1: int, c0: int, c1: int, bands: list[int] | None) -> np.ndarray:
        """Read rows ``r0:r1``, cols ``c0:c1`` and ``bands`` (None = all) as (h, w, b): a new array (any
        memory layout), not a view of the file or of data the scene keeps."""

    def windows(self, max_bytes: int = DEFAULT_WINDOW_BYTES) -> Iterator[Window]:
        """Row-strip windows covering the scene, each at most ``max_bytes`` when read."""
        m = self.meta
        return iter_windows(m.rows, m.cols, m.bands, m.dtype.itemsize, max_bytes, self.block_shape)

    def files(self) -> list[Path]:
        """The local files that hold this scene (for provenance hashes; none for a remote scene)."""
        return [self.path] if isinstance(self.path, Path) else []

    # -- lifetime -----------------------------------------------------------------
    def close(self) -> None:
        """Release file handles (idempotent)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        m = self.meta
        return f"<{type(self).__name__} {self.path} {m.rows}x{m.cols}x{m.bands} {m.dtype.name}>"


def check_file(path: Path, what: str = "file") -> None:
    """Raise :class:`HsrInputError` unless ``path`` is an existing, readable file."""
    if not path.exists():
        raise HsrInputError(f"{path}: no such {what}")
    if path.is_dir():
        raise HsrInputError(f"{path}: is a folder, expected a {what}")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise HsrInputError(f"{path}: cannot open ({exc.strerror})") from None
