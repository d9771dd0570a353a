"""ENVI reader (header + raw data file) built on Spectral Python (SPy).

SPy parses the header and maps the data file; this module only translates header
fields into :class:`~hsrcli.io.meta.SceneMeta` and checks the things SPy lets
through (unknown data types, missing or short data files, malformed values).

Supported: BSQ/BIL/BIP, little and big endian (``byte order``), ENVI data types
1, 2, 3, 4, 5, 12, 13, 14, 15, ``header offset``, ``data ignore value``,
``reflectance scale factor``, ``bbl``, ``wavelength``, ``fwhm``, ``geo points`` (as GCPs),
``rpc info`` (as RPCs, :mod:`hsrcli.io.rpc`), ``wavelength units`` (nm/µm), ``band names``, ``map info`` and
``coordinate system string``. Other header fields are carried in ``meta.extra``.

Reads go through fresh memory maps (``numpy.memmap``), one per few rows of a window, each dropped before
the next (:func:`~hsrcli.io.mapped.copy_mapped`), so the file pages a read maps stay bounded whatever the
file and window size.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from hsrcli.errors import HsrInputError
from hsrcli.io.geo import (
    GEO_POINTS_CRS,
    crs_from_map_info,
    crs_to_wkt,
    gcps_from_geo_points,
    map_info_to_transform,
    parse_map_info,
)
from hsrcli.io.mapped import copy_mapped
from hsrcli.io.meta import SceneMeta
from hsrcli.io.rpc import rpcs_from_envi
from hsrcli.io.scene import Scene, check_file
from hsrcli.io.wavelengths import to_nm, wavelengths_from_names

#: ENVI ``data type`` codes this project reads and writes, with numpy dtypes.
ENVI_DTYPES: dict[int, np.dtype] = {
    1: np.dtype("uint8"),
    2: np.dtype("int16"),
    3: np.dtype("int32"),
    4: np.dtype("float32"),
    5: np.dtype("float64"),
    12: np.dtype("uint16"),
    13: np.dtype("uint32"),
    14: np.dtype("int64"),
    15: np.dtype("uint64"),
}
DTYPE_TO_ENVI = {v: k for k, v in ENVI_DTYPES.items()}

#: Data-file extensions tried next to a header, in order ('' = no extension).
DATA_EXTS = ("", ".img", ".dat", ".bsq", ".bil", ".bip", ".raw", ".sli")

#: Header keys that describe the file layout or that SceneMeta interprets.
_STRUCTURAL = {
    "samples", "lines", "bands", "header offset", "file type", "data type", "interleave",
    "byte order", "wavelength", "fwhm", "wavelength units", "band names", "bbl",
    "data ignore value", "reflectance scale factor", "map info", "coordinate system string",
    "description", "history", "file compression", "geo points", "rpc info",
}


def header_and_data_paths(path: Path) -> tuple[Path, Path]:
    """Locate the header and the data file of an ENVI image given either one.

    Raises :class:`HsrInputError` when the header or the data file is missing.
    """
    if path.suffix.lower() == ".hdr":
        check_file(path, "ENVI header")
        stem = path.with_suffix("")
        for ext in DATA_EXTS:
            for cand in {Path(f"{stem}{ext}"), Path(f"{stem}{ext.upper()}")}:
                if cand.is_file():
                    return path, cand
        tried = ", ".join(e or "(none)" for e in DATA_EXTS)
        raise HsrInputError(f"{path}: ENVI header without its data file (looked for extensions {tried})")
    check_file(path, "ENVI data file")
    for hdr in (Path(f"{path}.hdr"), path.with_suffix(".hdr"), path.with_suffix(".HDR")):
        if hdr.is_file() and hdr != path:
            return hdr, path
    raise HsrInputError(f"{path}: no ENVI header ({path.with_suffix('.hdr').name}) next to the data file")


def _int_field(h: dict[str, Any], key: str, hdr: Path, default: int | None = None) -> int:
    if key not in h:
        if default is not None:
            return default
        raise HsrInputError(f"{hdr}: corrupt ENVI header: '{key}' is missing")
    try:
        return int(str(h[key]).strip())
    except ValueError:
        raise HsrInputError(f"{hdr}: corrupt ENVI header: '{key} = {h[key]}' is not an integer") from None


def _numbers(h: dict[str, Any], key: str, hdr: Path) -> np.ndarray | None:
    """The numbers of header field ``key`` (None when absent); a value that is not one is a corrupt header."""
    if key not in h:
        return None
    vals = h[key] if isinstance(h[key], list) else [h[key]]
    try:
        return np.array([float(v) for v in vals if str(v).strip() != ""], dtype=np.float64)
    except ValueError:
        raise HsrInputError(f"{hdr}: corrupt ENVI header: '{key}' holds a value that is not a number") from None


def _floats(h: dict[str, Any], key: str, n: int, hdr: Path) -> np.ndarray | None:
    """:func:`_numbers` of ``key``, which must be ``n`` (one per band, or one)."""
    arr = _numbers(h, key, hdr)
    if arr is None:
        return None
    if arr.size != n:
        raise HsrInputError(f"{hdr}: corrupt ENVI header: '{key}' has {arr.size} values for {n} bands")
    return arr


def _header_text(value: str | list[str]) -> str:
    return ",".join(value) if isinstance(value, list) else str(value)


def read_header(hdr: Path) -> dict[str, Any]:
    """Parse an ENVI header with SPy; corrupt headers raise :class:`HsrInputError`."""
    from spectral.io import envi

    try:
        return envi.read_envi_header(str(hdr))
    except (envi.FileNotAnEnviHeader, envi.EnviHeaderParsingError, UnicodeDecodeError) as exc:
        raise HsrInputError(f"{hdr}: corrupt ENVI header ({type(exc).__name__})") from None


def meta_from_header(h: dict[str, Any], hdr: Path) -> SceneMeta:
    """Translate a parsed ENVI header into :class:`SceneMeta` (validating it)."""
    rows = _int_field(h, "lines", hdr)
    cols = _int_field(h, "samples", hdr)
    bands = _int_field(h, "bands", hdr)
    if min(rows, cols, bands) <= 0:
        raise HsrInputError(f"{hdr}: corrupt ENVI header: lines/samples/bands must be positive")
    code = _int_field(h, "data type", hdr)
    if code not in ENVI_DTYPES:
        raise HsrInputError(
            f"{hdr}: unknown or unsupported ENVI data type {code} "
            f"(supported: {', '.join(map(str, ENVI_DTYPES))})"
        )
    interleave = str(h.get("interleave", "bsq")).strip().lower()
    if interleave not in ("bsq", "bil", "bip"):
        raise HsrInputError(f"{hdr}: corrupt ENVI header: unknown interleave {interleave!r}")
    if str(h.get("file type", "ENVI Standard")).strip().lower() == "envi spectral library":
        raise HsrInputError(f"{hdr}: an ENVI spectral library, not an image")
    units = h.get("wavelength units")
    wl = _floats(h, "wavelength", bands, hdr)
    fwhm = _floats(h, "fwhm", bands, hdr)
    bbl = _floats(h, "bbl", bands, hdr)
    nodata = _floats(h, "data ignore value", 1, hdr)
    rsf = _floats(h, "reflectance scale factor", 1, hdr)
    names = h.get("band names")
    if names is not None and (not isinstance(names, list) or len(names) != bands):
        raise HsrInputError(f"{hdr}: corrupt ENVI header: 'band names' does not have {bands} entries")

    map_info = parse_map_info(h["map info"]) if "map info" in h else None
    transform = map_info_to_transform(map_info) if map_info else None
    crs = None
    if "coordinate system string" in h:
        crs = crs_to_wkt(_header_text(h["coordinate system string"]))
    elif map_info:
        crs = crs_from_map_info(map_info)
    points = _numbers(h, "geo points", hdr) if transform is None else None  # a map info georeferences alone
    gcps = None if points is None else gcps_from_geo_points(points.tolist(), str(hdr)) or None
    if gcps:
        crs = crs_to_wkt(GEO_POINTS_CRS)  # geo points are latitude/longitude
    rpc_info = _numbers(h, "rpc info", hdr)
    history = h.get("history", [])
    return SceneMeta(
        rows=rows,
        cols=cols,
        bands=bands,
        dtype=ENVI_DTYPES[code],
        format="envi",
        interleave=interleave,
        wavelengths=to_nm(wl, units) if wl is not None else wavelengths_from_names(names),
        fwhm=None if fwhm is None else to_nm(fwhm, units),
        wavelength_units=units,
        band_names=names,
        bbl=None if bbl is None else bbl.astype(np.int64),
        crs=crs,
        transform=transform,
        gcps=gcps,
        rpcs=None if rpc_info is None else rpcs_from_envi(rpc_info.tolist(), str(hdr)),
        nodata=None if nodata is None else float(nodata[0]),
        scale_factor=None if rsf is None else float(rsf[0]),
        map_info=map_info,
        description=h.get("description"),
        history=history if isinstance(history, list) else [str(history)],
        extra={k: (f"{{{', '.join(v)}}}" if isinstance(v, list) else str(v))
               for k, v in h.items() if k.lower() not in _STRUCTURAL},
    )


class EnviScene(Scene):
    """A lazily read ENVI image (header + data file)."""

    def __init__(self, path: Path) -> None:
        from spectral.io import envi

        hdr, data = header_and_data_paths(path)
        h = read_header(hdr)
        meta = meta_from_header(h, hdr)
        offset = _int_field(h, "header offset", hdr, default=0)
        byte_order = _int_field(h, "byte order", hdr, default=0)
        if byte_order not in (0, 1):
            raise HsrInputError(f"{hdr}: corrupt ENVI header: 'byte order = {byte_order}' (must be 0 or 1)")
        self._inflated: Path | None = None
        compression = _int_field(h, "file compression", hdr, default=0)
        if compression == 1:  # gzip (EnMAP-Box, ENVI): inflate once into a temporary file, then map it
            self._inflated = _gunzip(data)
        elif compression != 0:
            raise HsrInputError(f"{hdr}: unsupported 'file compression = {compression}' (0: none, 1: gzip)")
        need = offset + meta.rows * meta.cols * meta.bands * meta.dtype.itemsize
        raw = self._inflated or data  # what is mapped
        have = raw.stat().st_size
        if have < need:
            raise HsrInputError(
                f"{data}: data file is shorter than its header says ({have} bytes, expected {need})"
            )
        try:
            self._spy = envi.open(str(hdr), image=str(raw))
        except Exception as exc:  # noqa: BLE001 - SPy raises many types for unreadable files
            raise HsrInputError(f"{hdr}: cannot open ENVI image ({exc})") from None
        # SPy keeps a read-only memmap for its own reads; this class maps per window.
        self._spy._memmap = None
        self.header_path = hdr
        self.data_path = data
        super().__init__(hdr, meta)

    def _read(self, r0: int, r1: int, c0: int, c1: int, bands: list[int] | None) -> np.ndarray:
        m = self.meta
        return copy_mapped(lambda: self._spy.open_memmap(interleave="bip"), r0, r1, c0, c1, bands, m.dtype,
                           m.cols * m.bands * m.dtype.itemsize)

    def files(self) -> list[Path]:
        return [self.header_path, self.data_path]

    def close(self) -> None:
        self._spy = None
        self._drop_inflated()

    def __del__(self) -> None:
        self._drop_inflated()

    def _drop_inflated(self) -> None:
        inflated, self._inflated = getattr(self, "_inflated", None), None
        if inflated is not None:
            inflated.unlink(missing_ok=True)


def _gunzip(data: Path) -> Path:
    """Inflate a gzip-compressed ENVI data file into a temporary file (``$TMPDIR``); return its path."""
    import gzip
    import shutil
    import tempfile

    fd, name = tempfile.mkstemp(prefix="hsr-envi-", suffix=".raw")
    tmp = Path(name)
    try:
        with gzip.open(data, "rb") as src, os.fdopen(fd, "wb") as dst:
            shutil.copyfileobj(src, dst, 16 * 2**20)
    except (OSError, EOFError) as exc:
        tmp.unlink(missing_ok=True)
        raise HsrInputError(f"{data}: 'file compression = 1' but the data file is not valid gzip ({exc})") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp
