"""Shared ``Annotated`` option types for the ``hsr`` commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

InputPath = Annotated[
    Path,
    typer.Argument(
        help="Scene: ENVI .hdr (or its data file), GeoTIFF, folder of per-band images, .mat or .npy.",
        show_default=False,
    ),
]
Var = Annotated[Optional[str], typer.Option("--var", help="Variable inside a .mat file (default: largest 3-D array).")]
Layout = Annotated[
    str, typer.Option("--layout", help="Axis order of .mat/.npy arrays: hwc, chw or auto.")
]
Wavelengths = Annotated[
    Optional[str],
    typer.Option(
        "--wavelengths",
        help="Override wavelengths: START:STEP, START:STOP:STEP, a comma list or a file (nm; <30 read as µm).",
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]
