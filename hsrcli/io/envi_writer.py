"""ENVI output (header by SPy + raw data written through small per-window memmaps); see :mod:`hsrcli.io.writers`."""

from __future__ import annotations

import functools
import mmap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from hsrcli.choices import Interleave
from hsrcli.errors import HsrInputError
from hsrcli.io import resources
from hsrcli.io.atomic import check_targets as _check_target
from hsrcli.io.atomic import reserve
from hsrcli.io.atomic import temp_name as _temp_name
from hsrcli.io.geo import format_number as _num
from hsrcli.io.meta import SceneMeta
from hsrcli.io.rpc import envi_rpc_info
from hsrcli.io.writers import SceneWriter, envi_paths


def envi_header_fields(meta: SceneMeta) -> dict[str, Any]:
    """ENVI header fields (SPy metadata dict) describing ``meta``."""
    from hsrcli.io.geo import GEO_POINTS_CRS, crs_to_wkt, geo_points_from_gcps, map_info_from_geo

    md: dict[str, Any] = {}
    if meta.description:
        md["description"] = meta.description
    if meta.scale_factor is not None:
        md["reflectance scale factor"] = _num(meta.scale_factor)
    if meta.map_info is not None:
        md["map info"] = list(meta.map_info)
    elif meta.transform is not None:
        md["map info"] = map_info_from_geo(meta.transform, meta.crs)
    if meta.transform is None and meta.gcps and meta.crs:  # georeferenced by ground control points
        md["geo points"] = geo_points_from_gcps(meta.gcps, meta.crs)
        md["coordinate system string"] = "{" + crs_to_wkt(GEO_POINTS_CRS) + "}"  # the points' (lat/lon)
    elif meta.crs:
        md["coordinate system string"] = "{" + meta.crs + "}"
    if meta.rpcs is not None:
        md["rpc info"] = envi_rpc_info(meta.rpcs)
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


#: Threads that copy a block into the output file: numpy releases the GIL while it copies, and the
#: page faults of a new file, most of the cost, run in parallel (512 MB of int16 tile cores on 2 cores,
#: small pages: 0.6 s, against 0.8 s in one thread and 1.1 s by one positioned write per band row;
#: with :data:`HUGE_PAGES` 0.2 s, against 0.25 s in one thread).
COPY_THREADS = min(4, resources.usable_cpus())
#: Each thread maps and fills at most about this many bytes of whole rows of the file at a time (the
#: pages it touches count towards this process's memory until they are unmapped).
MAPPED_BYTES = 4 << 20
#: ``madvise`` advice for the mapped slabs (0: none): transparent huge pages, so that the kernel fills
#: a new file with large page-cache folios instead of one 4 KiB page fault at a time.
HUGE_PAGES = getattr(mmap, "MADV_HUGEPAGE", 0)
#: The axes of the ENVI interleaves, in file order.
FILE_AXES = {"bsq": ("bands", "rows", "cols"), "bil": ("rows", "bands", "cols"), "bip": ("rows", "cols", "bands")}


def map_assign(path: Path, offset: int, dtype: np.dtype, shape: tuple[int, int, int], key: tuple[slice, slice, slice],
               data: np.ndarray) -> None:
    """``file[key] = data`` for a raw file of ``shape`` (in file order) at byte ``offset``, in slabs that
    :data:`COPY_THREADS` threads map alone, fill and unmap: whole indices of the first axis, or one
    index and a range of the second where one index spans more than :data:`MAPPED_BYTES` of whole
    rows (the bytes a slab's mapping can hold resident: every touched page, huge pages whole, see
    :data:`HUGE_PAGES`). ``key`` (unit-step slices) and ``data`` are in file order too."""
    (o0, o1, _), (m0, m1, _) = key[0].indices(shape[0]), key[1].indices(shape[1])
    if o1 <= o0 or m1 <= m0 or data.size == 0:  # nothing to write (and a 0-byte mmap maps the whole file)
        return
    row = shape[2] * dtype.itemsize  # bytes of one index of the second axis
    span = (m1 - m0) * row  # bytes of whole rows one index of the first axis touches
    if span <= MAPPED_BYTES:
        per = max(1, MAPPED_BYTES // span)
        slabs = [(a, min(a + per, o1), m0, m1) for a in range(o0, o1, per)]
    else:
        per = max(1, MAPPED_BYTES // row)
        slabs = [(a, a + 1, m, min(m + per, m1)) for a in range(o0, o1) for m in range(m0, m1, per)]

    def fill(slab: tuple[int, int, int, int]) -> None:
        a, b, s0, s1 = slab
        start = offset + (a * shape[1] + s0) * row
        end = offset + ((b - 1) * shape[1] + s1) * row
        lead = start % mmap.ALLOCATIONGRANULARITY  # a mapping starts on a granule
        with open(path, "r+b") as f, mmap.mmap(f.fileno(), lead + end - start, offset=start - lead) as mm:
            if HUGE_PAGES:
                try:  # large page-cache folios: far fewer page faults (512 MB: 0.2 s, not 0.6 s)
                    mm.madvise(HUGE_PAGES)
                except OSError:  # a kernel without transparent huge pages: small pages
                    pass
            flat = np.frombuffer(mm, dtype=dtype, count=(end - start) // dtype.itemsize, offset=lead)
            view = np.lib.stride_tricks.as_strided(flat, (b - a, s1 - s0, shape[2]),
                                                   (shape[1] * row, row, dtype.itemsize))
            try:
                view[:, :, key[2]] = data[a - o0:b - o0, s0 - m0:s1 - m0]
            finally:
                del flat, view  # the mapping closes on exit: dirty pages stay in the page cache, not here

    if min(COPY_THREADS, len(slabs)) < 2:
        for slab in slabs:
            fill(slab)
        return
    list(_copy_pool(COPY_THREADS).map(fill, slabs))


@functools.cache
def _copy_pool(threads: int) -> ThreadPoolExecutor:
    """``threads`` copy threads, started once per process (a tile's cores come in many band ranges:
    a pool per call started ~90 threads for a 512² scene)."""
    return ThreadPoolExecutor(threads, thread_name_prefix="hsr-envi-copy")


class EnviWriter(SceneWriter):
    """ENVI header + raw data file (created by SPy), written through per-window memmaps (:func:`map_assign`)."""

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
        self._file_axes = FILE_AXES[interleave]  # the data file's axis order
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
        try:  # the data file's blocks now: a full disk is an error here, not a SIGBUS in a mapped write
            with open(self._tmp_data, "r+b") as f:
                reserve(f.fileno(), img.offset + meta.rows * meta.cols * meta.bands * meta.dtype.itemsize)
        except BaseException:
            self.abort()
            raise

    band_writes = True  # a fixed-layout file: any window, any bands, in place

    def _write_bands(self, r0: int, c0: int, band0: int, data: np.ndarray) -> None:
        """Any interleave, band-planar ``data`` ``(b, h, w)``: see :meth:`_assign`."""
        b, h, w = data.shape
        self._assign("bsq", (slice(band0, band0 + b), slice(r0, r0 + h), slice(c0, c0 + w)), data)

    def _write_planes(self, r0: int, c0: int, data: np.ndarray) -> None:
        """All bands, band-planar ``(B, h, w)``: see :meth:`_assign`."""
        self._write_bands(r0, c0, 0, data)

    def _write(self, r0: int, c0: int, data: np.ndarray) -> None:
        self._assign("bip", (slice(r0, r0 + data.shape[0]), slice(c0, c0 + data.shape[1]),
                             slice(0, self.meta.bands)), data)

    def _assign(self, axes: str, key: tuple[slice, slice, slice], data: np.ndarray) -> None:
        """``file[key] = data`` with ``key`` and ``data`` in the axis order of interleave ``axes`` (bsq:
        bands, rows, cols; bip: rows, cols, bands), through :func:`map_assign` (bounded mappings,
        a few threads)."""
        view, file = FILE_AXES[axes], self._file_axes
        i, j, k = (view.index(a) for a in file)
        size = {"bands": self.meta.bands, "rows": self.meta.rows, "cols": self.meta.cols}
        shape = (size[file[0]], size[file[1]], size[file[2]])
        map_assign(self._tmp_data, self._img.offset, np.dtype(self._img.dtype), shape, (key[i], key[j], key[k]),
                   data.transpose(i, j, k))

    def _finish(self) -> list[tuple[Path, Path]]:
        self._img = None
        # Data first, header last: a header on disk always has its complete data.
        return [(self._tmp_data, self._final[1]), (self._tmp_hdr, self._final[0])]

    def _temps(self) -> list[Path]:
        return [self._tmp_data, self._tmp_hdr]
