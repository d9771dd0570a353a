"""Georeferencing helpers: affine transforms, ENVI ``map info`` and CRS.

Conventions:

* Transforms are :class:`affine.Affine` objects mapping (col, row) of a pixel's
  *upper-left corner* (0-based) to map coordinates, as in rasterio/GDAL.
* ENVI ``map info`` is ``{projection, ref_x, ref_y, easting, northing, x_size,
  y_size, [zone, North|South], [datum], [units=...], [rotation=deg]}``, where the
  reference pixel ``(ref_x, ref_y)`` is **1-based** and ``(1.0, 1.0)`` is the
  upper-left corner of the upper-left pixel (ENVI's convention, also GDAL's).
* Super-resolving by a factor ``s`` keeps the scene's footprint: pixel sizes are
  divided by ``s``; the tie point keeps its map coordinates while its pixel
  coordinate becomes ``(ref - 1) * s + 1``.

* ENVI ``geo points`` is ``{x1, y1, lat1, lon1, x2, …}``: ground control points in geographic latitude
  and longitude at **1-based** pixel coordinates (``(1.0, 1.0)`` the upper-left corner of the
  upper-left pixel), read by GDAL as GCPs at ``(x − 1, y − 1)``; coordinate conversions are
  rasterio's (``rasterio.warp.transform``).

Only this small part of georeferencing is hand-written (ECOSYSTEM.md §C4);
CRS parsing is rasterio's.
"""

from __future__ import annotations

import math
import re

from affine import Affine

from hsrcli.errors import HsrInputError

_UTM_EPSG = re.compile(r"^EPSG:(326|327)(\d\d)$")


def transform_for_scale(transform: Affine, scale: float) -> Affine:
    """Geotransform of the same footprint sampled ``scale`` times finer.

    Equal to ``transform * Affine.scale(1 / scale)`` but computed by division, so
    that e.g. 30 m / 3 gives exactly 10 m. The upper-left corner is unchanged.
    """
    t = transform
    return Affine(t.a / scale, t.b / scale, t.c, t.d / scale, t.e / scale, t.f)


def format_number(x: float) -> str:
    """Shortest string that reads back as the same float (ints without '.0')."""
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(float(x))


def parse_map_info(value: str | list[str]) -> list[str]:
    """Split an ENVI ``map info`` value into stripped fields (at least 7)."""
    fields = value if isinstance(value, list) else value.strip().strip("{}").split(",")
    fields = [f.strip() for f in fields]
    if len(fields) < 7:
        raise HsrInputError(f"malformed ENVI 'map info' (needs at least 7 fields): {value!r}")
    try:
        [float(f) for f in fields[1:7]]
    except ValueError:
        raise HsrInputError(f"malformed ENVI 'map info' (fields 2-7 must be numbers): {value!r}") from None
    return fields


def _rotation(fields: list[str]) -> float:
    for f in fields[7:]:
        key, _, val = f.partition("=")
        if key.strip().lower() == "rotation":
            return float(val)
    return 0.0


def map_info_to_transform(fields: list[str]) -> Affine:
    """Affine transform equivalent to ENVI ``map info``, exactly as GDAL reads it.

    Without rotation: origin = tie point's map coordinates minus ``(ref - 1)`` pixels.
    With ``rotation=θ`` (degrees) GDAL's interpretation is followed to the bit:
    ``a = px·cos θ, b = px·sin θ, d = py·sin θ, e = −py·cos θ`` and the origin offset
    ignores the rotation (tests compare with GDAL).
    """
    ref_x, ref_y, east, north, px, py = (float(f) for f in fields[1:7])
    theta = _rotation(fields)
    if theta == 0.0:
        cos_t, sin_t = 1.0, 0.0
    else:
        cos_t, sin_t = math.cos(math.radians(theta)), math.sin(math.radians(theta))
    c = east - (ref_x - 1.0) * px
    f = north + (ref_y - 1.0) * py
    return Affine(px * cos_t, px * sin_t, c, py * sin_t, -py * cos_t, f)


def rescale_map_info(fields: list[str], scale: float) -> list[str]:
    """``map info`` of the same footprint sampled ``scale`` times finer.

    Pixel sizes are divided by ``scale``; the tie point keeps its easting/northing and
    its pixel coordinate becomes ``(ref - 1) * scale + 1``; every other field
    (projection, zone, datum, units, rotation) is kept verbatim.
    """
    out = list(fields)
    ref_x, ref_y, _, _, px, py = (float(f) for f in fields[1:7])
    out[1] = format_number((ref_x - 1.0) * scale + 1.0)
    out[2] = format_number((ref_y - 1.0) * scale + 1.0)
    out[5] = format_number(px / scale)
    out[6] = format_number(py / scale)
    return out


def crs_from_map_info(fields: list[str]) -> str | None:
    """WKT of the CRS that ENVI ``map info`` names, when it is UTM/WGS-84 or lat/lon."""
    from rasterio.crs import CRS

    proj = fields[0].strip().lower()
    rest = [f.strip() for f in fields[7:]]
    datum = next((f for f in rest if "=" not in f and not _is_number(f) and f.lower() not in ("north", "south")), "")
    if proj == "utm" and len(rest) >= 2 and _is_number(rest[0]):
        if datum.replace("-", "").lower() not in ("wgs84", ""):
            return None
        zone = int(float(rest[0]))
        south = rest[1].lower().startswith("s")
        return CRS.from_epsg((32700 if south else 32600) + zone).to_wkt()
    if proj.startswith("geographic") and datum.replace("-", "").lower() in ("wgs84", ""):
        return CRS.from_epsg(4326).to_wkt()
    return None


def map_info_from_geo(transform: Affine, crs_wkt: str | None) -> list[str]:
    """ENVI ``map info`` fields for a transform and CRS (tie point at pixel 1, 1).

    UTM/WGS-84 and WGS-84 lat/lon are named as ENVI names them; other CRSs are
    written as ``Arbitrary`` and travel in ``coordinate system string`` (WKT).
    """
    t = transform
    # Inverse of map_info_to_transform (GDAL's reading of 'rotation=').
    px = math.hypot(t.a, t.b)
    py = math.hypot(t.d, t.e)
    rotation = math.degrees(math.atan2(t.b, t.a))
    name = "Arbitrary"
    tail: list[str] = []
    if crs_wkt:
        from rasterio.crs import CRS

        crs = CRS.from_user_input(crs_wkt)
        epsg = crs.to_epsg()
        m = _UTM_EPSG.match(f"EPSG:{epsg}") if epsg else None
        if m:
            name = "UTM"
            tail = [str(int(m.group(2))), "North" if m.group(1) == "326" else "South", "WGS-84", "units=Meters"]
        elif epsg == 4326:
            name = "Geographic Lat/Lon"
            tail = ["WGS-84", "units=Degrees"]
        elif crs.linear_units and crs.linear_units.lower() in ("metre", "meter"):
            tail = ["units=Meters"]
    fields = [name, "1", "1", format_number(t.c), format_number(t.f), format_number(px), format_number(py), *tail]
    if abs(rotation) > 1e-12:
        fields.append(f"rotation={format_number(rotation)}")
    return fields


def crs_to_wkt(user_input: str) -> str:
    """Normalise a CRS given as WKT/EPSG/PROJ string to WKT (rasterio)."""
    from rasterio.crs import CRS
    from rasterio.errors import CRSError

    try:
        return CRS.from_user_input(user_input).to_wkt()
    except CRSError as exc:
        raise HsrInputError(f"unreadable coordinate system: {exc}") from None


def crs_label(crs_wkt: str | None) -> str | None:
    """Short human label for a CRS (``EPSG:32611`` where possible, else its name)."""
    if not crs_wkt:
        return None
    from rasterio.crs import CRS

    crs = CRS.from_user_input(crs_wkt)
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg else (crs.to_dict().get("proj") or "custom WKT")


def _is_number(s: str) -> bool:
    try:
        float(s)
    except ValueError:
        return False
    return True


#: The CRS of ENVI ``geo points`` (geographic latitude/longitude, WGS 84).
GEO_POINTS_CRS = "EPSG:4326"


def gcps_from_geo_points(values: list[float], where: str) -> list[tuple[float, float, float, float, float]]:
    """Ground control points ``(row, col, lon, lat, 0)`` (0-based pixel corners, in :data:`GEO_POINTS_CRS`)
    of the numbers of an ENVI ``geo points`` field; a count that is not a multiple of 4 is refused."""
    if len(values) % 4:
        raise HsrInputError(f"{where}: corrupt ENVI header: 'geo points' holds {len(values)} numbers, "
                            "not groups of 4 (x, y, latitude, longitude)")
    return [(y - 1.0, x - 1.0, lon, lat, 0.0) for x, y, lat, lon in zip(*[iter(values)] * 4)]


def geo_points_from_gcps(gcps: list[tuple[float, float, float, float, float]], crs_wkt: str) -> list[str]:
    """The ENVI ``geo points`` field of ground control points ``(row, col, x, y, z)`` whose x, y are in
    ``crs_wkt``: converted to latitude/longitude (:data:`GEO_POINTS_CRS`; heights are not kept)."""
    from rasterio.crs import CRS
    from rasterio.warp import transform

    lon, lat = transform(CRS.from_wkt(crs_wkt), CRS.from_string(GEO_POINTS_CRS),
                         [p[2] for p in gcps], [p[3] for p in gcps])
    out: list[str] = []
    for (row, col, *_), la, lo in zip(gcps, lat, lon):
        out += [format_number(col + 1.0), format_number(row + 1.0), format_number(la), format_number(lo)]
    return out
