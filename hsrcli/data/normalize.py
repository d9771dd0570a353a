"""Invertible intensity normalisation whose statistics travel with data sets and checkpoints.

Kinds (``--normalize``):

* ``max`` (default): divide by the global maximum of the training scenes (SSPSR);
* ``percentile[:P]``: divide band b by its P-th percentile (default 99.9);
* ``fixed:VALUE``: divide by VALUE (e.g. ``fixed:65535`` for CAVE, ``fixed:10000``
  for reflectance × 10⁴).

``normalised = stored / divisor`` where the divisor is one number or one per band.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from hsrcli.errors import HsrInputError


@dataclass
class Normalizer:
    """Divide by a global or per-band value; serialisable to the manifest/checkpoints."""

    kind: str
    divisor: list[float] = field(default_factory=list)  # 1 value, or one per band
    percentile: float | None = None

    @classmethod
    def parse(cls, spec: str) -> Normalizer:
        """Kind from a CLI string; ``divisor`` is filled later by :meth:`fit` (except ``fixed``)."""
        kind, _, arg = spec.partition(":")
        kind = kind.strip().lower()
        try:
            if kind == "max" and not arg:
                return cls("max")
            if kind == "percentile":
                p = float(arg) if arg else 99.9
                if not 0 < p <= 100:
                    raise ValueError
                return cls("percentile", percentile=p)
            if kind == "fixed":
                v = float(arg)
                if not v > 0:
                    raise ValueError
                return cls("fixed", [v])
        except ValueError:
            pass
        raise HsrInputError(f"bad --normalize {spec!r} (use max, percentile[:P] or fixed:VALUE)")

    def fit(self, maxima: np.ndarray, samples: np.ndarray | None = None) -> None:
        """Set the divisor from per-band maxima ``(B,)`` or sampled pixels ``(N, B)``."""
        if self.kind == "max":
            m = float(np.max(maxima))
            if not m > 0:
                raise HsrInputError("the scenes' maximum is not positive; use --normalize fixed:VALUE")
            self.divisor = [m]
        elif self.kind == "percentile":
            assert samples is not None
            p = np.percentile(samples, self.percentile, axis=0)
            self.divisor = [float(v) if v > 0 else 1.0 for v in p]

    def array(self, bands: int) -> np.ndarray:
        """Divisor broadcastable to ``(bands, 1, 1)`` (float64)."""
        d = np.asarray(self.divisor, dtype=np.float64)
        if d.size not in (1, bands):
            raise HsrInputError(f"normaliser has {d.size} values for {bands} bands")
        return np.broadcast_to(d, (bands,)).reshape(bands, 1, 1)

    def to_dict(self) -> dict:
        return {"kind": self.kind, "divisor": self.divisor, "percentile": self.percentile}

    @classmethod
    def from_dict(cls, d: dict) -> Normalizer:
        return cls(d["kind"], list(d["divisor"]), d.get("percentile"))
