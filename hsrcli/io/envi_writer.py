"""ENVI output (header + raw data, written through per-window SPy memmaps); see :mod:`hsrcli.io.writers`."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from hsrcli.choices import Interleave
from hsrcli.errors import HsrInputError
from hsrcli.io.atomic import check_targets as _check_target
from hsrcli.io.atomic import temp_name as _temp_name
from hsrcli.io.geo import format_number as _num
from hsrcli.io.meta import SceneMeta
from hsrcli.io.writers import SceneWriter, envi_paths


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
        except BaseException:  # SIGTERM (SystemExit) and Ctrl-C too: no temporary file stays behind
            self.abort()
            raise
        img._memmap = None  # writes go through per-window memmaps (bounded RSS)
        self._img = img

    band_writes = True  # a fixed-layout file: any window, any bands, in place

    def _write_bands(self, r0: int, c0: int, band0: int, data: np.ndarray) -> None:
        """BSQ and BIL: one positioned write per band and row (no mapping, so nothing of the file counts
        towards this process's memory); BIP, where a pixel's bands are interleaved: a memmap."""
        b, h, w = data.shape
        if self.meta.interleave == Interleave.bip:
            self._assign("bsq", (slice(band0, band0 + b), slice(r0, r0 + h), slice(c0, c0 + w)), data)
            return
        rows, cols, bands = self.meta.rows, self.meta.cols, self.meta.bands
        data = np.ascontiguousarray(data, dtype=np.dtype(self._img.dtype))  # the file's byte order
        bsq = self.meta.interleave == Interleave.bsq
        fd = os.open(self._tmp_data, os.O_WRONLY)
        try:
            for j in range(b):
                for k in range(h):
                    row = ((band0 + j) * rows + r0 + k) if bsq else ((r0 + k) * bands + band0 + j)
                    os.pwrite(fd, data[j, k], self._img.offset + (row * cols + c0) * data.itemsize)
        finally:
            os.close(fd)

    def _write(self, r0: int, c0: int, data: np.ndarray) -> None:
        self._assign("bip", (slice(r0, r0 + data.shape[0]), slice(c0, c0 + data.shape[1])), data)

    def _assign(self, axes: str, key: tuple[slice, ...], data: np.ndarray) -> None:
        """``view[key] = data`` through a memmap of the file seen as ``axes`` (bip: rows, cols, bands;
        bsq: bands, rows, cols), unmapped at once."""
        mm = self._img.open_memmap(interleave=axes, writable=True)
        try:
            mm[key] = data
        finally:
            del mm  # unmapped: the dirty pages leave this process (the kernel writes them back)

    def _finish(self) -> list[tuple[Path, Path]]:
        self._img = None
        # Data first, header last: a header on disk always has its complete data.
        return [(self._tmp_data, self._final[1]), (self._tmp_hdr, self._final[0])]

    def _temps(self) -> list[Path]:
        return [self._tmp_data, self._tmp_hdr]
