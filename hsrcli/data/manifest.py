"""``manifest.json`` of a data set made by ``hsr prepare``, as a typed record.

:class:`Manifest` holds the fields the code reads (scale, bands, normaliser, patch size,
array and image files…) checked once when the file is read; ``raw`` keeps the whole
document (provenance, split, parameters) for writing it back and for display.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from hsrcli.errors import HsrInputError

#: Format of the manifest.json that ``hsr prepare`` writes (and the only one this version reads).
MANIFEST_FORMAT = "hsrcli-dataset/1"


@dataclass(frozen=True)
class Manifest:
    """A prepared data set: ``scale``, ``bands`` (count), wavelengths (nm), normaliser, files."""

    scale: int
    bands: int
    wavelengths_nm: list[float] | None
    normalization: dict
    degradation: dict
    source_names: list[str]
    lr_patch: int
    augment: bool
    train_count: int
    arrays: dict[str, str]
    images: dict[str, list[dict]]
    raw: dict = field(repr=False)

    @classmethod
    def from_dict(cls, d: dict, where: str = "manifest") -> Manifest:
        """Check the format version and the fields used; :class:`HsrInputError` naming ``where`` otherwise."""
        fmt = str(d.get("format", ""))
        if fmt != MANIFEST_FORMAT:
            hint = "; upgrade hsrcli or re-run 'hsr prepare'" if fmt.startswith("hsrcli-dataset/") else ""
            raise HsrInputError(f"{where}: unknown data set format {d.get('format')!r} "
                                f"(this version reads {MANIFEST_FORMAT!r}){hint}")
        try:
            return cls(
                scale=int(d["scale"]), bands=int(d["bands"]["count"]),
                wavelengths_nm=d["bands"].get("wavelengths_nm"), normalization=dict(d["normalization"]),
                degradation=dict(d["degradation"]), source_names=[s["name"] for s in d["sources"]],
                lr_patch=int(d["patches"]["size_lr"]), augment=bool(d["augmentation"]["enabled"]),
                train_count=int(d["counts"]["train"]), arrays=dict(d["arrays"]),
                images={k: list(v) for k, v in d["images"].items()}, raw=d)
        except (KeyError, TypeError, ValueError) as exc:
            raise HsrInputError(f"{where}: corrupt manifest (bad or missing {exc})") from None

    def to_dict(self) -> dict:
        """The document as written (``manifest.json``)."""
        return self.raw


def load_manifest(root: str | Path) -> Manifest:
    """The manifest of a prepared data set (clear error when it is not one)."""
    path = Path(root) / "manifest.json"
    if not path.is_file():
        raise HsrInputError(f"{root}: not a data set made by 'hsr prepare' (no manifest.json)")
    try:
        d = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise HsrInputError(f"{path}: corrupt manifest ({exc.msg})") from None
    if not isinstance(d, dict):
        raise HsrInputError(f"{path}: corrupt manifest (not a JSON object)")
    return Manifest.from_dict(d, str(path))
