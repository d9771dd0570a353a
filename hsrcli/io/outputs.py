"""Where ``hsr upscale`` writes a result, and in which format (no I/O here)."""

from __future__ import annotations

from pathlib import Path

from hsrcli.choices import Format
from hsrcli.errors import HsrInputError

#: Output names that say their format (``.img`` is left out: ERDAS Imagine uses it too).
NAMED_FORMATS = {".hdr": Format.envi.value, ".tif": Format.gtiff.value, ".tiff": Format.gtiff.value}
#: Output names that say a format ``hsr upscale`` does not write (pictures, arrays, other rasters):
#: refused rather than given an ENVI data file under a misleading name.
FOREIGN_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".jp2", ".pdf", ".svg", ".vrt",
                              ".nc", ".h5", ".hdf", ".hdf5", ".he5", ".mat", ".npy", ".npz", ".zarr", ".csv",
                              ".json"})


def output_format(requested: str | None, scene_format: str, path: Path | None = None) -> str:
    """The output format: ``requested`` (a :class:`~hsrcli.choices.Format`), else the one the output
    name says (``.hdr``: ENVI; ``.tif``/``.tiff``: GeoTIFF), else GeoTIFF for GeoTIFF input and ENVI for
    the rest. A name that says another format than the requested one, or one that ``upscale`` does not
    write (``.png``, ``.nc``, ``.npy``, …: :data:`FOREIGN_SUFFIXES`), is refused."""
    if path is not None and path.suffix.lower() in FOREIGN_SUFFIXES:
        raise HsrInputError(f"{path}: hsr upscale writes ENVI (name it .hdr, .img, .dat or with no extension) or "
                            f"GeoTIFF (.tif), not {path.suffix}; for pictures of a result use hsr compare or "
                            "hsr plot-spectra")
    named = None if path is None else NAMED_FORMATS.get(path.suffix.lower())
    if requested is not None:
        fmt = Format.check(requested, "--format")
        if named is not None and (named == Format.envi.value) != (fmt == Format.envi.value):
            raise HsrInputError(f"{path}: the name says {named}, but --format is {fmt}; rename the output "
                                "or leave --format out")
        return fmt
    if named is not None:
        return named
    return Format.gtiff.value if scene_format == "gtiff" else Format.envi.value


def default_output_path(path: Path, scale: int, fmt: str) -> Path:
    """``<stem>_x<s>.hdr`` / ``.tif`` next to the input (folders: named after the folder)."""
    stem = path.name if path.is_dir() else path.stem
    return path.parent / f"{stem}_x{scale}{'.hdr' if fmt == Format.envi else '.tif'}"
