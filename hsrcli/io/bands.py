"""Parse band selections given on the command line."""

from __future__ import annotations

import numpy as np

from hsrcli.errors import HsrInputError
from hsrcli.io.meta import SceneMeta


def parse_band_selection(spec: str, meta: SceneMeta) -> list[int]:
    """0-based band indices from a user selection.

    Forms (comma-separated, combinable): band numbers counted **from 1** as in ENVI
    and GDAL (``5``, ``1-30``), or wavelength ranges in nm (``450-700nm``, needs
    wavelengths). Order is kept; duplicates are dropped.
    """
    out: list[int] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        try:
            if part.lower().endswith("nm"):
                if meta.wavelengths is None:
                    raise HsrInputError(f"band selection {part!r} needs wavelengths, and the scene has none")
                lo_s, _, hi_s = part[:-2].partition("-")
                lo, hi = float(lo_s), float(hi_s or lo_s)
                idx = np.flatnonzero((meta.wavelengths >= lo) & (meta.wavelengths <= hi)).tolist()
                if not idx:
                    raise HsrInputError(f"no band between {lo:g} and {hi:g} nm")
            else:
                lo_s, _, hi_s = part.partition("-")
                lo, hi = int(lo_s), int(hi_s or lo_s)
                if not 1 <= lo <= hi <= meta.bands:
                    raise HsrInputError(f"band range {part!r} outside 1-{meta.bands}")
                idx = list(range(lo - 1, hi))
        except HsrInputError:
            raise
        except ValueError:
            raise HsrInputError(f"bad band selection {part!r} (use e.g. 1-30,40 or 450-700nm)") from None
        out.extend(i for i in idx if i not in out)
    if not out:
        raise HsrInputError(f"empty band selection {spec!r}")
    return out


#: Band centres closer than this (nm) are the same band when scenes are lined up by wavelength.
SAME_BAND_NM = 0.01


def bands_by_wavelength(part: SceneMeta, whole: SceneMeta) -> list[int]:
    """The bands of ``whole`` (0-based) at the wavelengths of ``part``'s bands, in ``part``'s order: how a
    scene made of some bands of another (``hsr upscale --bands``) lines up with it. Refused
    (:class:`HsrInputError`) when either has no wavelengths or a band of ``part`` has no band of
    ``whole`` within :data:`SAME_BAND_NM`."""
    if part.wavelengths is None or whole.wavelengths is None:
        raise HsrInputError(f"{part.bands} bands against {whole.bands}, and without wavelengths on both the bands "
                            "cannot be matched")
    out = []
    for w in part.wavelengths:
        k = int(np.argmin(np.abs(whole.wavelengths - w)))
        if abs(whole.wavelengths[k] - w) > SAME_BAND_NM:
            raise HsrInputError(f"{part.bands} bands against {whole.bands}: no band at {w:g} nm in the scene with "
                                f"{whole.bands}, so the bands cannot be matched by wavelength")
        out.append(k)
    return out
