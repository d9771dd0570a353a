"""Format-independent description of a hyperspectral scene.

:class:`SceneMeta` is what every reader reports and every writer consumes. It holds
the shape, the storage dtype and every piece of metadata the project promises to
keep: wavelengths and FWHM (always in **nanometres**), band names, the bad-band
list, the CRS (WKT), the affine geotransform (or ground control points, or RPCs), nodata,
the reflectance scale factor, ENVI ``map info`` and free-form history lines.

Pixel coordinates follow rasterio: the transform maps (col, row) of a pixel's
upper-left corner to map coordinates.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from affine import Affine

from hsrcli.io.geo import rescale_map_info, transform_for_scale
from hsrcli.io.rpc import crop_rpcs, rescale_rpcs


@dataclass
class SceneMeta:
    """Shape, dtype and metadata of a scene (no pixel data).

    Attributes:
        rows, cols, bands: image size in pixels and number of spectral bands.
        dtype: storage data type of the pixel values (numpy dtype, native order).
        format: short name of the storage format (``"envi"``, ``"gtiff"``, ...).
        interleave: ``"bsq"``, ``"bil"``, ``"bip"`` or ``None`` when not applicable.
        wavelengths: band centres in nm, shape ``(bands,)``, or ``None`` if unknown.
        fwhm: band widths (full width at half maximum) in nm, or ``None``.
        wavelength_units: the unit the *source* stored wavelengths in (informative;
            :attr:`wavelengths` is always nm).
        band_names: one name per band, or ``None``.
        bbl: bad-band list, ``1`` = good band, ``0`` = bad band, or ``None``.
        crs: coordinate reference system as WKT, or ``None`` (that of :attr:`gcps` when the scene is
            georeferenced by ground control points).
        transform: affine pixel-to-map transform, or ``None`` if not georeferenced (or by GCPs).
        gcps: ground control points ``(row, col, x, y, z)``, ``row``/``col`` in pixels from the scene's
            upper-left corner (GDAL's convention: 0.5 is the first pixel's centre), ``x, y, z`` in
            :attr:`crs`; or ``None``. Only where there is no :attr:`transform`.
        rpcs: the rational polynomial coefficients of an unrectified scene (:mod:`hsrcli.io.rpc`:
            rasterio's ``RPC.to_dict()``, in the scene's pixels), or ``None``. Kept beside any other
            georeference.
        nodata: value marking missing pixels, or ``None``.
        scale_factor: ENVI ``reflectance scale factor`` (physical = stored / factor),
            or ``None``.
        map_info: the ENVI ``map info`` fields as strings (kept verbatim so ENVI
            projections GDAL cannot express survive), or ``None``.
        description: free text description, or ``None``.
        history: processing history, oldest first.
        extra: other header fields / tags worth carrying along (string values);
            writers copy them into the output.
        source_info: how the reader interpreted the source (``.mat`` variable,
            array layout, wavelength origin...); shown by ``hsr info``, never written.
    """

    rows: int
    cols: int
    bands: int
    dtype: np.dtype
    format: str = "unknown"
    interleave: str | None = None
    wavelengths: np.ndarray | None = None
    fwhm: np.ndarray | None = None
    wavelength_units: str | None = None
    band_names: list[str] | None = None
    bbl: np.ndarray | None = None
    crs: str | None = None
    transform: Affine | None = None
    gcps: list[tuple[float, float, float, float, float]] | None = None
    rpcs: dict[str, Any] | None = None
    nodata: float | None = None
    scale_factor: float | None = None
    map_info: list[str] | None = None
    description: str | None = None
    history: list[str] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)
    source_info: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.dtype = np.dtype(self.dtype).newbyteorder("=")
        for name in ("wavelengths", "fwhm"):
            value = getattr(self, name)
            if value is not None:
                arr = np.asarray(value, dtype=np.float64).reshape(-1)
                if arr.size != self.bands:
                    raise ValueError(f"{name} has {arr.size} values for {self.bands} bands")
                setattr(self, name, arr)
        if self.bbl is not None:
            self.bbl = np.asarray(self.bbl, dtype=np.int64).reshape(-1)
            if self.bbl.size != self.bands:
                raise ValueError(f"bbl has {self.bbl.size} values for {self.bands} bands")
        if self.band_names is not None:
            self.band_names = [str(n) for n in self.band_names]
            if len(self.band_names) != self.bands:
                raise ValueError(
                    f"band names has {len(self.band_names)} values for {self.bands} bands"
                )

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(rows, cols, bands)``."""
        return (self.rows, self.cols, self.bands)

    def replace(self, **changes: Any) -> SceneMeta:
        """A copy with some fields changed (lists and dicts are copied, not shared)."""
        base: dict[str, Any] = {
            "history": list(self.history),
            "extra": dict(self.extra),
            "source_info": dict(self.source_info),
            "map_info": None if self.map_info is None else list(self.map_info),
            "band_names": None if self.band_names is None else list(self.band_names),
            "gcps": None if self.gcps is None else list(self.gcps),
            "rpcs": None if self.rpcs is None else dict(self.rpcs),
        }
        base.update(changes)
        return dataclasses.replace(self, **base)

    def rescaled(self, scale: float) -> SceneMeta:
        """Metadata of this scene super-resolved by ``scale`` (LR → HR pixels).

        Rows and columns are multiplied by ``scale``; the geotransform's pixel size is
        divided by ``scale`` while the upper-left corner stays put; ENVI ``map info``
        gets the same treatment (pixel size / s, tie-point pixel rescaled), ground control
        points keep their map coordinates at ``scale`` × their pixel coordinates, RPCs map the
        ground to ``scale`` × their pixel coordinates (:func:`~hsrcli.io.rpc.rescale_rpcs`). Spectral
        metadata is unchanged.
        """
        rows = round(self.rows * scale)
        cols = round(self.cols * scale)
        if abs(rows - self.rows * scale) > 1e-9 or abs(cols - self.cols * scale) > 1e-9:
            raise ValueError(f"scale {scale} does not give a whole number of pixels")
        return self.replace(
            rows=rows,
            cols=cols,
            transform=None if self.transform is None else transform_for_scale(self.transform, scale),
            map_info=None if self.map_info is None else rescale_map_info(self.map_info, scale),
            gcps=None if self.gcps is None else [(r * scale, c * scale, *xyz) for r, c, *xyz in self.gcps],
            rpcs=None if self.rpcs is None else rescale_rpcs(self.rpcs, scale),
        )

    def cropped(self, r0: int, c0: int, r1: int, c1: int) -> SceneMeta:
        """Metadata of rows ``r0:r1`` and columns ``c0:c1`` (half-open) of this scene: the geotransform
        moved to the crop's upper-left corner, ground control points and RPCs to its pixels, ENVI ``map
        info`` kept only when the corner stays (writers re-derive it from the transform)."""
        return self.replace(
            rows=r1 - r0,
            cols=c1 - c0,
            transform=None if self.transform is None else self.transform * Affine.translation(c0, r0),
            gcps=None if self.gcps is None else [(r - r0, c - c0, *xyz) for r, c, *xyz in self.gcps],
            rpcs=None if self.rpcs is None else crop_rpcs(self.rpcs, r0, c0),
            map_info=None if (r0, c0) != (0, 0) else self.map_info,
        )

    def select_bands(self, bands: Sequence[int]) -> SceneMeta:
        """Metadata of the scene's bands ``bands`` (0-based, in that order): wavelengths, FWHM, band
        names, bbl and the per-band header lists carried in :attr:`extra` (those with one entry per
        band, e.g. ENVI ``data gain values``) follow the selection; ENVI ``default bands``, band
        numbers of the whole scene, is dropped."""
        idx = [int(b) for b in bands]
        if not idx or any(not 0 <= b < self.bands for b in idx):
            raise ValueError(f"band selection {idx} is not within the scene's {self.bands} bands")

        def pick(values: Sequence[Any] | np.ndarray | None) -> list[Any] | None:
            return None if values is None else [values[b] for b in idx]

        extra = {}
        for key, value in self.extra.items():
            if key.lower() == "default bands":
                continue
            items = _brace_list(value)
            extra[key] = value if items is None or len(items) != self.bands else "{" + ", ".join(items[b] for b in idx) + "}"
        return self.replace(
            bands=len(idx),
            wavelengths=pick(self.wavelengths),
            fwhm=pick(self.fwhm),
            band_names=pick(self.band_names),
            bbl=pick(self.bbl),
            extra=extra,
        )

    def missing_mask(self, block: np.ndarray) -> np.ndarray:
        """Boolean mask, shaped like ``block`` (stored values), of values that are missing.

        The one rule every command follows: a value is missing when it equals :attr:`nodata` *as
        stored* (the nodata value is cast to :attr:`dtype` first, so float32 files compare exactly) or
        when it is not finite (NaN, ±inf).
        """
        if np.issubdtype(block.dtype, np.floating):
            mask = ~np.isfinite(block)
        else:
            mask = np.zeros(block.shape, dtype=bool)
        if self.nodata is not None:
            with np.errstate(invalid="ignore", over="ignore"):
                stored = np.asarray(self.nodata).astype(self.dtype)
            mask |= block == stored
        return mask

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the keys ``hsr info --json`` prints)."""
        t = self.transform
        return {
            "rows": self.rows,
            "cols": self.cols,
            "bands": self.bands,
            "dtype": self.dtype.name,
            "format": self.format,
            "interleave": self.interleave,
            "wavelengths": None if self.wavelengths is None else [float(w) for w in self.wavelengths],
            "wavelength_units": "nm" if self.wavelengths is not None else None,
            "source_wavelength_units": self.wavelength_units,
            "fwhm": None if self.fwhm is None else [float(w) for w in self.fwhm],
            "band_names": self.band_names,
            "bbl": None if self.bbl is None else [int(b) for b in self.bbl],
            "crs": self.crs,
            "transform": None if t is None else [t.c, t.a, t.b, t.f, t.d, t.e],
            "pixel_size": None if t is None else [abs(t.a), abs(t.e)],
            "gcps": None if self.gcps is None else [list(p) for p in self.gcps],
            "rpcs": self.rpcs,
            "nodata": self.nodata,
            "scale_factor": self.scale_factor,
            "map_info": self.map_info,
            "description": self.description,
            "history": self.history,
            "extra": self.extra,
            "source_info": self.source_info,
        }


def _brace_list(value: str) -> list[str] | None:
    """The items of an ENVI-style ``{a, b, c}`` list (as :attr:`SceneMeta.extra` holds them), else None."""
    text = value.strip()
    if not (text.startswith("{") and text.endswith("}")):
        return None
    return [item.strip() for item in text[1:-1].split(",")]
