"""Shared ``Annotated`` option types for the ``hsr`` commands.

Options with a fixed set of values are declared with their enum from
:mod:`hsrcli.choices` (``--help`` lists the values; a bad value exits 2 before the
command runs); options with a checked form (``--device``, figure paths) validate
in a callback, so that nothing is created before the value is known to be good.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hsrcli import choices
from hsrcli.errors import HsrInputError

#: File types a figure can be written as (matplotlib picks the backend from the suffix).
FIGURE_TYPES = (".png", ".pdf", ".svg")


def _device(value: str) -> str:
    try:
        return choices.check_device(value)
    except HsrInputError as exc:
        raise typer.BadParameter(str(exc)) from None


def floats(spec: str, what: str) -> list[float]:
    """Comma-separated numbers of option ``what`` (``0.25,2``); :class:`HsrInputError` if one is not."""
    try:
        return [float(v) for v in spec.split(",") if v.strip()]
    except ValueError:
        raise HsrInputError(f"bad {what} {spec!r} (comma-separated numbers)") from None


def at_least(low: int):
    """Callback refusing an integer option below ``low``, naming the value (None passes: the default)."""
    def check(value: int | None) -> int | None:
        if value is not None and value < low:
            raise typer.BadParameter(f"{value} (must be >= {low})")
        return value
    return check


def one_of(values: tuple[int, ...]):
    """Callback refusing an integer option outside ``values``, naming both (None passes: the default)."""
    def check(value: int | None) -> int | None:
        if value is not None and value not in values:
            raise typer.BadParameter(f"{value} is not one of {', '.join(map(str, values))}")
        return value
    return check


def _subspace(value: str) -> str:
    try:
        choices.check_subspace(value)
    except HsrInputError as exc:
        raise typer.BadParameter(str(exc)) from None
    return value


def _figure(value: Path | None) -> Path | None:
    if value is not None and value.suffix.lower() not in FIGURE_TYPES:
        raise typer.BadParameter(f"{value}: figure type must be {', '.join(FIGURE_TYPES[:-1])} or {FIGURE_TYPES[-1]}")
    return value


#: a scene argument: kept a string so that URLs keep their // (hsrcli.io.remote.as_input converts it)
InputPath = Annotated[
    str,
    typer.Argument(
        help="Scene: ENVI .hdr (or its data file), GeoTIFF, folder of per-band images, .mat or .npy; or a "
        "remote GeoTIFF/COG: https://, s3://, gs:// URL or /vsicurl/, /vsis3/, ... path.",
        show_default=False,
    ),
]
Var = Annotated[str | None, typer.Option("--var", help="Variable inside a .mat file (default: largest 3-D array).")]
Layout = Annotated[choices.Layout, typer.Option("--layout", help="Axis order of .mat/.npy arrays.")]
Wavelengths = Annotated[
    str | None,
    typer.Option(
        "--wavelengths",
        help="Override wavelengths: START:STEP, START:STOP:STEP, a comma list or a file (nm; <30 read as µm).",
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output.")]
Device = Annotated[str, typer.Option("--device", help="auto, cpu, cuda or cuda:N.", callback=_device)]
Ensemble = Annotated[int, typer.Option(
    "--ensemble", callback=one_of(choices.ENSEMBLE_SIZES), metavar="1|2|4|8",
    help="Geometric self-ensemble: run the model on this many flips and rotations of each tile and "
         "average (n times the compute; 1: off).")]
Subspace = Annotated[str, typer.Option(
    "--subspace", callback=_subspace,
    help="Keep the detail the model adds to bicubic within the scene's own spectral subspace: auto (the "
    "principal directions holding 99.99 % of the LR spectra's variance), a share such as 0.999, a rank, "
    "or off.")]
Consistency = Annotated[int, typer.Option(
    "--consistency", callback=at_least(0), metavar="PASSES",
    help="LR back-projection passes: y += bicubic_up(x - down(y)), so that the output reduced by the "
    "scale (down: MATLAB bicubic, or the --degrade PSF) reproduces the input's spectra (0: off; not "
    "applied to bicubic or with FineSR).")]
Amp = Annotated[choices.Amp, typer.Option("--amp", help="Mixed precision on CUDA (ignored on CPU).")]
Figure = Annotated[Path, typer.Option("--output", "-o", help="Figure file: .png, .pdf or .svg.", callback=_figure)]
Scale = Annotated[int, typer.Option("--scale", "-s", help="SR factor: 2, 3, 4 or 8.", show_default=False,
                                    callback=one_of(choices.SCALES))]
