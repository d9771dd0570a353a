"""Every fixed set of values an option can take, declared once.

The command line declares each option with its enum (Typer turns it into a
``click.Choice``: the values appear in ``--help`` and a bad value exits 2 before
the command runs); the library checks the same enum when called from Python
(:meth:`Choice.check`), so a rule such as "the LR schedules are step, cosine,
coarsr-code and constant" lives here and nowhere else. No dependencies: the CLI
imports this module at start-up.
"""

from __future__ import annotations

import re
from enum import Enum

from hsrcli.errors import HsrInputError

#: Super-resolution factors the toolkit supports (data preparation, models, upscale).
SCALES: tuple[int, ...] = (2, 3, 4, 8)
#: Sizes of the geometric self-ensemble of ``hsr upscale --ensemble`` (:mod:`hsrcli.models.ensemble`).
ENSEMBLE_SIZES: tuple[int, ...] = (1, 2, 4, 8)


_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def check_device(spec: str) -> str:
    """``--device`` normalised (``auto``, ``cpu``, ``cuda`` or ``cuda:N``), or :class:`HsrInputError`.

    Only the form is checked here; whether the device exists is checked when it is
    opened (:func:`hsrcli.runtime.resolve_device`).
    """
    norm = str(spec).strip().lower()
    if not _DEVICE.fullmatch(norm):
        raise HsrInputError(f"unknown device {spec!r} (use auto, cpu, cuda or cuda:N)")
    return norm


class Choice(str, Enum):
    """A string enum whose members are the accepted values of one option."""

    def __str__(self) -> str:
        return self.value

    @classmethod
    def values(cls) -> tuple[str, ...]:
        """The accepted values, in declaration order."""
        return tuple(m.value for m in cls)

    @classmethod
    def check(cls, value: str, option: str) -> str:
        """``value`` as a plain string, or :class:`HsrInputError` naming ``option`` and the choices."""
        try:
            return cls(value).value
        except ValueError:
            *head, last = cls.values()
            use = f"{', '.join(head)} or {last}" if head else last
            raise HsrInputError(f"unknown {option} {value!r} (use {use})") from None


class Schedule(Choice):
    """Learning-rate schedule of ``hsr train`` (per epoch)."""

    step = "step"
    cosine = "cosine"
    coarsr_code = "coarsr-code"
    constant = "constant"


class Loss(Choice):
    """Training loss: L1, or HLoss (L1 + 0.3 SAM + 0.1 gradient)."""

    l1 = "l1"
    hloss = "hloss"


class KDDecay(Choice):
    """How the LKCA-KD teacher weight decays over training."""

    linear = "linear"
    cosine = "cosine"
    exp = "exp"


class CoarSRStep(Choice):
    """CoarSR optimiser steps: one per batch, or one per band (the published code)."""

    batch = "batch"
    band = "band"


class Amp(Choice):
    """Mixed precision on CUDA."""

    bf16 = "bf16"
    fp16 = "fp16"
    off = "off"


class Split(Choice):
    """Which images of a prepared data set to evaluate on."""

    test = "test"
    val = "val"


class Energy(Choice):
    """Energy of singular values in ``hsr models rank``: cumulative σ or σ²."""

    sv = "sv"
    sv2 = "sv2"


class Kernel(Choice):
    """Degradation kernel of ``hsr prepare``."""

    bicubic = "bicubic"
    gaussian = "gaussian"


class Bicubic(Choice):
    """Bicubic downsampling implementation: MATLAB ``imresize`` (exact) or torch (antialiased)."""

    matlab = "matlab"
    torch = "torch"


class Sampling(Choice):
    """How training patches are drawn: on a grid (stride) or at random."""

    grid = "grid"
    random = "random"


class Layout(Choice):
    """Axis order of .mat/.npy arrays."""

    auto = "auto"
    hwc = "hwc"
    chw = "chw"


class Format(Choice):
    """Output raster format of ``hsr upscale``."""

    envi = "envi"
    gtiff = "gtiff"
    cog = "cog"  # Cloud-Optimised GeoTIFF: GDAL's COG driver (tiles, overviews, header first)


class Compression(Choice):
    """Block compression of GeoTIFF and COG outputs (:mod:`hsrcli.io.geotiff_writer`)."""

    deflate = "deflate"  # level 1, the default: read everywhere GeoTIFF is
    zstd = "zstd"  # level 1: ~2x faster still, about as small; needs GDAL >= 2.3 (or libtiff >= 4.0.10) to read
    lzw = "lzw"
    none = "none"  # fastest, largest


class OutputDtype(Choice):
    """Data type of ``hsr upscale`` output (``input``: the input's type, rounded and clipped)."""

    float32 = "float32"
    float64 = "float64"
    input = "input"
    uint8 = "uint8"
    uint16 = "uint16"
    int16 = "int16"
    int32 = "int32"


class Interleave(Choice):
    """ENVI interleave of written files."""

    bsq = "bsq"
    bil = "bil"
    bip = "bip"


#: ``hsr upscale --consistency`` default: LR back-projection passes (:mod:`hsrcli.infer.consistency`).
CONSISTENCY_PASSES = 1

#: ``hsr upscale --subspace auto``: the share of the LR spectra's variance the kept directions hold.
SUBSPACE_ENERGY = 0.9999


def check_subspace(spec: str) -> float | int | None:
    """``--subspace``: ``auto`` (:data:`SUBSPACE_ENERGY`), ``off`` (None), a rank (integer ≥ 1) or a
    share of variance in (0, 1) such as ``0.999``; anything else is :class:`HsrInputError`."""
    norm = str(spec).strip().lower()
    if norm == "auto":
        return SUBSPACE_ENERGY
    if norm == "off":
        return None
    if re.fullmatch(r"\d+", norm) and int(norm) >= 1:
        return int(norm)
    try:
        share = float(norm)
    except ValueError:
        share = None
    if share is not None and 0 < share < 1:  # whole numbers were ranks above (or 0, refused)
        return share
    raise HsrInputError(f"unknown --subspace {spec!r} (use auto, off, a rank >= 1 or a share of variance "
                        f"in (0, 1) such as 0.999)")
