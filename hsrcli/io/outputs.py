"""Where ``hsr upscale`` writes a result, and in which format (no I/O here)."""

from __future__ import annotations

from pathlib import Path

from hsrcli.choices import Format


def output_format(requested: str | None, scene_format: str) -> str:
    """The requested :class:`~hsrcli.choices.Format`, else GeoTIFF for GeoTIFF input and ENVI for the rest."""
    if requested is not None:
        return Format.check(requested, "--format")
    return Format.gtiff.value if scene_format == "gtiff" else Format.envi.value


def default_output_path(path: Path, scale: int, fmt: str) -> Path:
    """``<stem>_x<s>.hdr`` / ``.tif`` next to the input (folders: named after the folder)."""
    stem = path.name if path.is_dir() else path.stem
    return path.parent / f"{stem}_x{scale}{'.hdr' if fmt == Format.envi else '.tif'}"
