"""Wavelength units and parsing of user-supplied wavelength lists.

Every reader reports wavelengths in **nanometres**. Sources store them in nm or µm
(ENVI ``wavelength units``, GDAL ``wavelength_units``, ``CENTRAL_WAVELENGTH_UM``).
When a source gives no unit, values below 30 are taken as µm (no imaging
spectrometer has bands below 30 nm), anything else as nm.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from hsrcli.errors import HsrInputError

_TO_NM = {
    "nm": 1.0,
    "nanometers": 1.0,
    "nanometer": 1.0,
    "nanometres": 1.0,
    "nanometre": 1.0,
    "um": 1000.0,
    "µm": 1000.0,
    "μm": 1000.0,
    "micrometers": 1000.0,
    "micrometer": 1000.0,
    "micrometres": 1000.0,
    "micrometre": 1000.0,
    "microns": 1000.0,
    "micron": 1000.0,
    "mm": 1e6,
    "millimeters": 1e6,
}

UNITLESS_UM_THRESHOLD = 30.0


def to_nm(values: np.ndarray | list[float], units: str | None) -> np.ndarray:
    """Convert wavelengths (or FWHM) from ``units`` to nm.

    ``units`` may be any common spelling (``Nanometers``, ``Micrometers``, ``µm``);
    ``None``/``Unknown`` falls back to the µm-below-30 rule of this module.
    Unit names that are not lengths (``Index``, ``wavenumber``) raise an error.
    """
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    key = (units or "").strip().lower()
    if key in ("", "unknown"):
        finite = arr[np.isfinite(arr)]
        return arr * 1000.0 if finite.size and finite.max() < UNITLESS_UM_THRESHOLD else arr
    if key not in _TO_NM:
        raise HsrInputError(f"unsupported wavelength units {units!r} (expected nm or µm)")
    return arr * _TO_NM[key]


_NAME_WAVELENGTH = re.compile(
    r"[(\[]?\s*(?P<value>[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)\s*(?P<unit>[a-zA-Zµμ]+)\s*[)\]]?\s*$")


def wavelengths_from_names(names: list[str] | None) -> np.ndarray | None:
    """Wavelengths in nm read from band names that end with a value and a unit, else None.

    GDAL writes ENVI headers whose wavelengths live only in ``band names``, e.g.
    ``band 1 (0.455400 Micrometers)``; ``Band 7: 552.3 nm`` works too. Every name must
    carry a length unit, otherwise nothing is inferred (a name such as ``B12`` is no wavelength).
    """
    if not names:
        return None
    out = []
    for name in names:
        m = _NAME_WAVELENGTH.search(str(name).strip())
        if not m or m["unit"].strip().lower() not in _TO_NM:
            return None
        out.append(float(m["value"]) * _TO_NM[m["unit"].strip().lower()])
    return np.asarray(out, dtype=np.float64)


def parse_wavelength_spec(spec: str, bands: int | None = None) -> np.ndarray:
    """Wavelengths in nm from a user option.

    Accepted forms: ``START:STEP`` (e.g. ``400:10``, needs ``bands``),
    ``START:STOP:STEP`` (inclusive stop, e.g. ``400:700:10``), a comma list
    (``450,550,650``), or a path to a text file (one value per line or
    whitespace/comma separated) or a JSON list. Values below 30 are read as µm.
    """
    spec = spec.strip()
    path = Path(spec)
    if path.is_file():
        text = path.read_text(encoding="utf-8")
        try:
            values = json.loads(text) if text.lstrip().startswith("[") else [
                float(v) for v in text.replace(",", " ").split()
            ]
        except ValueError as exc:
            raise HsrInputError(f"{path}: not a list of wavelengths ({exc})") from None
        arr: np.ndarray = np.asarray(values, dtype=np.float64)
    elif ":" in spec:
        try:
            parts = [float(p) for p in spec.split(":")]
        except ValueError:
            raise HsrInputError(f"bad wavelength range {spec!r} (use START:STEP or START:STOP:STEP)") from None
        if len(parts) == 2:
            if bands is None:
                raise HsrInputError(f"wavelength range {spec!r} needs the band count")
            arr = parts[0] + parts[1] * np.arange(bands)
        elif len(parts) == 3 and parts[2] != 0:
            n = round((parts[1] - parts[0]) / parts[2]) + 1
            arr = parts[0] + parts[2] * np.arange(n)
        else:
            raise HsrInputError(f"bad wavelength range {spec!r} (use START:STEP or START:STOP:STEP)")
    else:
        try:
            arr = np.asarray([float(v) for v in spec.split(",") if v.strip()], dtype=np.float64)
        except ValueError:
            raise HsrInputError(f"bad wavelength list {spec!r} (comma-separated numbers or a file)") from None
    if bands is not None and arr.size != bands:
        raise HsrInputError(f"{arr.size} wavelengths given for {bands} bands")
    return to_nm(arr, None)
