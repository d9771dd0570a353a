"""Raster I/O behind one small interface (never imports torch).

* :func:`open_scene` — open ENVI, GeoTIFF, a per-band image folder, ``.mat`` or
  ``.npy`` lazily; returns a :class:`Scene` with ``.meta`` and ``.read(window, bands)``.
* :func:`open_writer` — streaming ENVI/GeoTIFF writer with atomic commit.
* :class:`SceneMeta` — shape, dtype, wavelengths (nm), CRS, transform, nodata, ...
* :class:`HsrInputError` — bad input; the CLI prints it and exits with code 2.
"""

from hsrcli.errors import HsrInputError, OutputExistsError
from hsrcli.io.copy import copy_scene
from hsrcli.io.meta import SceneMeta
from hsrcli.io.open import detect_format, open_scene
from hsrcli.io.scene import Scene
from hsrcli.io.windows import iter_windows
from hsrcli.io.writers import open_writer

__all__ = [
    "HsrInputError",
    "OutputExistsError",
    "Scene",
    "SceneMeta",
    "copy_scene",
    "detect_format",
    "iter_windows",
    "open_scene",
    "open_writer",
]
