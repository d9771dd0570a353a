"""Rational polynomial coefficients (RPCs): the sensor model of an unrectified scene.

An RPC model maps longitude, latitude and height to an image line and sample through ratios of
20-term cubic polynomials of the normalised ground coordinates; ``line = poly(...) · LINE_SCALE +
LINE_OFF`` and likewise for samples. RPCs are held as rasterio's :meth:`rasterio.rpc.RPC.to_dict`
(GDAL's ``RPC`` metadata domain, lower case: ``line_off``, ``samp_scale``, ``line_num_coeff`` (20
numbers), …; ``err_bias``/``err_rand`` may be None).

Conventions (GDAL's, checked against its RPC transformer in the tests):

* An RPC line or sample of 0 is the *centre* of the first pixel: GDAL adds 0.5 to reach its own
  corner-based pixel coordinates.
* Super-resolving by ``s`` keeps the footprint: a ground point at GDAL pixel ``p`` of the scene is
  at ``s · p`` of the output, so ``OFF' = s · OFF + (s − 1) / 2`` and ``SCALE' = s · SCALE``; the
  polynomials are unchanged.
* A crop starting at pixel (r0, c0) moves the offsets by −r0 and −c0.
* ENVI's ``rpc info`` is 90 numbers — LINE_OFF, SAMP_OFF, LAT_OFF, LONG_OFF, HEIGHT_OFF, LINE_SCALE,
  SAMP_SCALE, LAT_SCALE, LONG_SCALE, HEIGHT_SCALE, then the line numerator, line denominator, sample
  numerator and sample denominator coefficients — optionally followed by the row and column offset of
  the image within the full scene the RPCs describe and ENVI's RPC emulation flag (GDAL's
  ``TILE_ROW_OFFSET``, ``TILE_COL_OFFSET``, ``ENVI_RPC_EMULATION``).

Like the rest of georeferencing arithmetic (ECOSYSTEM.md §C4), this small part is hand-written; the
projection through the polynomials is GDAL's.
"""

from __future__ import annotations

from typing import Any

from hsrcli.errors import HsrInputError
from hsrcli.io.geo import format_number

#: The ten offsets and scales of an RPC model, in ENVI ``rpc info`` order.
ENVI_NUMBERS = ("line_off", "samp_off", "lat_off", "long_off", "height_off",
                "line_scale", "samp_scale", "lat_scale", "long_scale", "height_scale")
#: The four 20-term polynomials, in ENVI ``rpc info`` order.
COEFFICIENTS = ("line_num_coeff", "line_den_coeff", "samp_num_coeff", "samp_den_coeff")
#: The length of ENVI ``rpc info``: without and with the image's offsets and the emulation flag.
ENVI_LENGTHS = (90, 93)


def rescale_rpcs(rpcs: dict[str, Any], scale: float) -> dict[str, Any]:
    """The RPCs of the same footprint sampled ``scale`` times finer (see the module's conventions)."""
    out = dict(rpcs)
    for axis in ("line", "samp"):
        out[f"{axis}_off"] = scale * float(rpcs[f"{axis}_off"]) + (scale - 1) / 2
        out[f"{axis}_scale"] = scale * float(rpcs[f"{axis}_scale"])
    return out


def crop_rpcs(rpcs: dict[str, Any], r0: int, c0: int) -> dict[str, Any]:
    """The RPCs of the part of a scene whose first pixel is the scene's (r0, c0)."""
    return {**rpcs, "line_off": float(rpcs["line_off"]) - r0, "samp_off": float(rpcs["samp_off"]) - c0}


def rpcs_from_envi(values: list[float], where: str) -> dict[str, Any]:
    """RPCs from the numbers of an ENVI ``rpc info`` field (90, or 93 whose image offsets are folded into
    the line and sample offsets, as GDAL reads the chip they describe); other counts: :class:`HsrInputError`."""
    if len(values) not in ENVI_LENGTHS:
        raise HsrInputError(f"{where}: corrupt ENVI header: 'rpc info' has {len(values)} numbers "
                            f"(an RPC model has {' or '.join(map(str, ENVI_LENGTHS))})")
    rpcs: dict[str, Any] = dict(zip(ENVI_NUMBERS, (float(v) for v in values[:10]), strict=True))
    for i, name in enumerate(COEFFICIENTS):
        rpcs[name] = [float(v) for v in values[10 + 20 * i:30 + 20 * i]]
    rpcs["err_bias"] = rpcs["err_rand"] = None
    if len(values) == ENVI_LENGTHS[1]:
        rpcs = crop_rpcs(rpcs, int(values[90]), int(values[91]))
    return rpcs


def envi_rpc_info(rpcs: dict[str, Any]) -> list[str]:
    """The 90 numbers of ENVI ``rpc info`` for ``rpcs`` (the image's offsets within a larger scene and
    ENVI's emulation flag, optional, are left out: the RPCs describe the image itself)."""
    numbers = [float(rpcs[k]) for k in ENVI_NUMBERS] + [float(v) for k in COEFFICIENTS for v in rpcs[k]]
    return [format_number(v) for v in numbers]
