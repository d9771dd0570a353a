"""Reader for a folder of one-image-per-band files (the CAVE layout).

``<scene>_ms/<scene>_ms_01.png … <scene>_ms_31.png``: each file holds one band as
a grayscale 8- or 16-bit PNG/TIFF, numbered from 1 (or 0) without gaps. Files are
read lazily with rasterio, window by window.

Quirk handled: a band stored as 8-bit RGB(A) with R = G = B (CAVE's
``watercolors`` scene) is read from its first channel; when other bands of the
folder are 16-bit, 8-bit bands are rescaled 0–255 → 0–65535 (× 257).

Wavelengths come, in order of preference, from the ``wavelengths`` argument
(see :func:`hsrcli.io.wavelengths.parse_wavelength_spec`), a sidecar
``wavelengths.txt``/``wavelengths.json`` in the folder, or — for exactly 31 files
named ``*_ms_NN`` — the CAVE convention 400, 410, …, 700 nm.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from hsrcli.errors import HsrInputError
from hsrcli.io.meta import SceneMeta
from hsrcli.io.scene import Scene
from hsrcli.io.wavelengths import parse_wavelength_spec

BAND_EXTS = (".png", ".tif", ".tiff")
_NUMBERED = re.compile(r"^(?P<prefix>.*?)(?P<num>\d+)$")
SIDECARS = ("wavelengths.txt", "wavelengths.json")


def list_band_files(folder: Path) -> tuple[str, list[Path]]:
    """The numbered band files of ``folder`` in band order, and their common prefix.

    Raises :class:`HsrInputError` for an empty folder or missing band numbers.
    """
    found: dict[str, dict[int, Path]] = {}
    for p in folder.iterdir():
        if p.suffix.lower() in BAND_EXTS and p.is_file():
            m = _NUMBERED.match(p.stem)
            if m:
                found.setdefault(m.group("prefix"), {})[int(m.group("num"))] = p
    if not found:
        raise HsrInputError(f"{folder}: no numbered band images (*_01.png, ...) in this folder")
    prefix = Counter({k: len(v) for k, v in found.items()}).most_common(1)[0][0]
    numbered = found[prefix]
    first, last = min(numbered), max(numbered)
    if first not in (0, 1):
        raise HsrInputError(f"{folder}: band numbering starts at {first}; bands {1}..{first - 1} are missing")
    missing = [n for n in range(first, last + 1) if n not in numbered]
    if missing:
        width = len(numbered[last].stem) - len(prefix)
        names = ", ".join(f"{prefix}{n:0{width}d}" for n in missing[:5])
        more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        raise HsrInputError(f"{folder}: missing band file(s) {names}{more}")
    return prefix, [numbered[n] for n in range(first, last + 1)]


def _folder_wavelengths(folder: Path, prefix: str, n: int, spec: str | None) -> tuple[np.ndarray | None, str | None]:
    if spec:
        return parse_wavelength_spec(spec, n), "option"
    for name in SIDECARS:
        sidecar = folder / name
        if sidecar.is_file():
            return parse_wavelength_spec(str(sidecar), n), name
    if n == 31 and prefix.endswith("_ms_"):
        return 400.0 + 10.0 * np.arange(31), "CAVE convention"
    return None, None


class BandFolderScene(Scene):
    """A scene stored as one grayscale image file per band."""

    def __init__(self, folder: Path, wavelengths: str | None = None) -> None:
        import rasterio
        from rasterio.errors import NotGeoreferencedWarning, RasterioIOError

        if not folder.is_dir():
            raise HsrInputError(f"{folder}: no such folder")
        prefix, files = list_band_files(folder)
        self._files = files
        self._ds = []
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NotGeoreferencedWarning)
                for f in files:
                    try:
                        self._ds.append(rasterio.open(f))
                    except RasterioIOError:
                        raise HsrInputError(f"{f}: not a readable image") from None
            shapes = {(d.height, d.width) for d in self._ds}
            if len(shapes) != 1:
                raise HsrInputError(f"{folder}: band images differ in size {sorted(shapes)}")
            dtypes = {d.dtypes[0] for d in self._ds}
            if not dtypes <= {"uint8", "uint16"}:
                raise HsrInputError(f"{folder}: band images must be 8- or 16-bit, found {sorted(dtypes)}")
            dtype = np.dtype("uint16" if "uint16" in dtypes else "uint8")
            wl, source = _folder_wavelengths(folder, prefix, len(files), wavelengths)
        except Exception:
            self.close()
            raise
        rows, cols = shapes.pop()
        meta = SceneMeta(
            rows=rows,
            cols=cols,
            bands=len(files),
            dtype=dtype,
            format="band-folder",
            wavelengths=wl,
            wavelength_units=None if wl is None else "nm",
            band_names=[f.name for f in files],
            source_info={"files": f"{prefix}*", **({} if source is None else {"wavelength source": source})},
        )
        super().__init__(folder, meta)

    def _read_band(self, b: int, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
        from rasterio.windows import Window

        ds = self._ds[b]
        arr = ds.read(window=Window(c0, r0, c1 - c0, r1 - r0))
        if arr.shape[0] > 1:
            colour = arr[: min(3, arr.shape[0])]
            if not (colour == colour[0]).all():
                raise HsrInputError(f"{ds.name}: a colour image; band files must be grayscale (R = G = B)")
        band = arr[0]
        if band.dtype == np.uint8 and self.meta.dtype == np.uint16:
            band = band.astype(np.uint16) * 257
        return band

    def _read(self, r0: int, r1: int, c0: int, c1: int, bands: list[int] | None) -> np.ndarray:
        idx = range(self.meta.bands) if bands is None else bands
        out = np.empty((r1 - r0, c1 - c0, len(idx)), dtype=self.meta.dtype)
        for k, b in enumerate(idx):
            out[:, :, k] = self._read_band(b, r0, r1, c0, c1)
        return out

    def files(self) -> list[Path]:
        return list(self._files)

    def close(self) -> None:
        for d in getattr(self, "_ds", []):
            d.close()
        self._ds = []
