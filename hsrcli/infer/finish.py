"""The last step of ``hsr upscale``: nodata restored where the LR input was missing, values cast.

* :func:`output_dtype`, :func:`output_nodata` — the output's storage type (``--dtype``) and nodata value
  (``--nodata``, else the input's), refused when the type cannot hold it.
* :class:`Finisher` — the one rule, for band-planar output blocks ``(b, h, w)``: band ranges of a tile
  as models produce them, or HR strips of every band as the accumulators hand them over.
  An HR pixel is missing in band *k* when its LR pixel is missing in band *k* (nodata or NaN); it
  becomes the output's nodata (else NaN in float outputs, which the runner then tags as their nodata,
  and 0 in integer ones). A flat band (one value in every valid LR pixel) holds that value exactly.
  Integer outputs are rounded and clipped to the type's range.
* :class:`CoreWriter` — tile cores written straight into the output, band range by band range, by
  writers that take windows in any order (:attr:`~hsrcli.io.writers.SceneWriter.band_writes`): the
  default grids' cores partition the scene, so nothing needs to be summed, stored and read back.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from rasterio.windows import Window

from hsrcli.choices import OutputDtype
from hsrcli.errors import HsrInputError
from hsrcli.io.meta import SceneMeta
from hsrcli.io.scene import Scene
from hsrcli.io.writers import SceneWriter

#: Integer output types that :meth:`Finisher.cast_early` casts on the model's device.
EARLY_CAST = frozenset(np.dtype(t) for t in ("int8", "uint8", "int16", "int32", "int64"))


def output_dtype(spec: str, meta: SceneMeta) -> np.dtype:
    """Output storage type: float32 (default), float64, the input's type, or a named integer type."""
    spec = OutputDtype.check(spec, "--dtype")
    return meta.dtype if spec == OutputDtype.input else np.dtype(spec)


def output_nodata(requested: float | None, meta: SceneMeta, dtype: np.dtype) -> float | None:
    """The output's nodata value: ``requested`` (``--nodata``), else the input's, else None (then the
    runner tags NaN in float outputs with holes). Refused when the output type cannot store it."""
    value, origin = (requested, "--nodata") if requested is not None else (meta.nodata, "the input's nodata")
    if value is None:
        return None
    if np.issubdtype(dtype, np.integer):
        limits = np.iinfo(dtype)
        if np.isnan(value) or value != round(value) or not limits.min <= value <= limits.max:
            hint = "" if requested is not None else "; choose another with --nodata"
            raise HsrInputError(f"{origin} {value:g} does not fit the output type {dtype.name}{hint}")
    elif np.isfinite(value) and abs(value) > float(np.finfo(dtype).max):
        raise HsrInputError(f"{origin} {value:g} does not fit the output type {dtype.name}")
    return float(value)


class Finisher:
    """Nodata and cast for the HR output of ``scene`` at ``scale``, stored as ``dtype`` (HR pixels)."""

    def __init__(self, scene: Scene, scale: int, dtype: np.dtype, nodata: float | None,
                 complete: bool = False, constants: Mapping[int, float] | None = None) -> None:
        """``complete``: the scene is known to miss no value (its statistics counted every pixel
        valid), so no LR window is read back for the mask. ``constants``: band → the one value every
        valid LR pixel of that band holds (a flat band), written as it is where not missing — not the
        float rounding of its upsampling (0.7499999 for 0.75), which a later stage of a cascade would
        no longer see as flat."""
        self.scene, self.scale, self.dtype, self.nodata = scene, scale, np.dtype(dtype), nodata
        self.complete = complete
        self.constants = dict(constants or {})
        self._window: tuple[int, int, int, int] | None = None  # the last LR window read, and its mask
        self._bad: np.ndarray | None = None

    def _missing(self, r0: int, c0: int, h: int, w: int, bands: slice = slice(None)) -> np.ndarray | None:
        """Missing-value mask ``(h, w, b)`` of the HR window at (r0, c0) in ``bands`` (None if no LR pixel
        under it is missing). The LR window last read is kept: a tile's band ranges share it."""
        if self.complete:
            return None
        s = self.scale
        lr0, lr1, lc0, lc1 = r0 // s, -(-(r0 + h) // s), c0 // s, -(-(c0 + w) // s)
        if self._window != (lr0, lr1, lc0, lc1):
            raw = self.scene.read(Window(lc0, lr0, lc1 - lc0, lr1 - lr0))
            bad = self.scene.meta.missing_mask(raw)
            self._window, self._bad = (lr0, lr1, lc0, lc1), bad if bad.any() else None
        if self._bad is None:
            return None
        dr, dc = r0 - lr0 * s, c0 - lc0 * s
        return np.repeat(np.repeat(self._bad[:, :, bands], s, axis=0), s, axis=1)[dr:dr + h, dc:dc + w]

    def _fill(self) -> np.float32:
        if self.nodata is not None:
            return np.float32(self.nodata)
        return np.float32(np.nan if np.issubdtype(self.dtype, np.floating) else 0)

    def _cast(self, block: np.ndarray) -> np.ndarray:
        """``block`` float32 as the output type: integers rounded half to even, clipped to the type's
        range (±inf to its limits), NaN to 0 — in place when ``block`` is float32 (it is consumed)."""
        if not np.issubdtype(self.dtype, np.integer):
            return block.astype(self.dtype, copy=False)
        return self._cast_tensor(torch.from_numpy(block)).numpy()

    def _cast_tensor(self, t: torch.Tensor) -> torch.Tensor:
        """Float tensor ``t`` as the integer output type (native byte order; writers swap), on its device."""
        info = np.iinfo(self.dtype)
        # float32 cannot hold the limits of 32/64-bit types (2**31 − 1 rounds up and overflows)
        t = t.to(torch.float32 if info.bits <= 16 else torch.float64)
        t.round_().clamp_(info.min, info.max).nan_to_num_(0.0)  # torch: vectorised, on every core
        native = self.dtype.newbyteorder("=")
        return t.to(torch.from_numpy(np.empty(0, native)).dtype)  # exact: whole numbers in range

    def cast_early(self, t: torch.Tensor) -> torch.Tensor:
        """Tile output ``t`` (float, on the model's device) already cast there when the output type is
        an integer type torch handles on every device (int8, uint8, int16, int32, int64): less to copy
        to the host, no cast on it; else ``t`` as it is. :meth:`planes` takes either; ``t`` is consumed."""
        if self.dtype.newbyteorder("=") not in EARLY_CAST:
            return t
        return self._cast_tensor(t)

    def _finish(self, block: np.ndarray, bad: np.ndarray | None) -> np.ndarray:
        """``block`` with the output's fill where ``bad``, cast (unless :meth:`cast_early` did)."""
        if not np.issubdtype(block.dtype, np.integer):
            return self._cast(block if bad is None else np.where(bad, self._fill(), block))
        if bad is None:  # cast on the model's device already
            return block
        return np.where(bad, self._cast(np.array([self._fill()], dtype=np.float32))[0], block)  # the fill cast alike

    def planes(self, block: np.ndarray, r0: int, c0: int, band0: int) -> np.ndarray:
        """Bands ``band0:band0+b`` of ``block`` (b, h, w) at HR offset (r0, c0), float32 or already cast by
        :meth:`cast_early`, finished and cast (``block`` is consumed)."""
        b, h, w = block.shape
        for band, value in self.constants.items():
            if band0 <= band < band0 + b:  # an integer block was cast early: the value is cast alike
                block[band - band0] = value if block.dtype.kind == "f" else self._cast(np.float32([value]))[0]
        bad = self._missing(r0, c0, h, w, slice(band0, band0 + b))
        return self._finish(block, None if bad is None else bad.transpose(2, 0, 1))


class CoreWriter:
    """Tile cores finished and written as they come (the accumulators' ``add`` without a canvas)."""

    def __init__(self, writer: SceneWriter, finisher: Finisher) -> None:
        if not writer.band_writes:
            raise ValueError(f"{type(writer).__name__} cannot write band ranges of any window")
        self.writer, self.finisher = writer, finisher

    def add(self, r0: int, c0: int, values: np.ndarray, weight: np.ndarray | None = None, band0: int = 0,
            add_weight: bool = True) -> None:
        """Bands ``band0:band0+b`` of one tile core ``values`` (b, h, w) at HR offset (r0, c0)."""
        if weight is not None:
            raise ValueError("CoreWriter stores unweighted cores only")
        self.writer.write_bands(r0, c0, band0, self.finisher.planes(values, r0, c0, band0))

    def close(self) -> None:
        """Nothing to release: the writer is committed or aborted by its owner."""
