"""The ``hsr`` command line: a Typer app that only wires commands.

Each command lives in its own module and imports its heavy dependencies (torch,
rasterio, spectral) inside the command body, so ``hsr --help`` and
``hsr --version`` stay instant.
"""

from __future__ import annotations

from typing import Annotated

import typer

from hsrcli.cli.adapt import adapt
from hsrcli.cli.info import info
from hsrcli.cli.metrics import metrics
from hsrcli.cli.models import analyze_rank, models
from hsrcli.cli.plots import compare, plot_spectra
from hsrcli.cli.prepare import prepare
from hsrcli.cli.train import evaluate, plot_training, train
from hsrcli.cli.upscale import upscale

app = typer.Typer(
    name="hsr",
    help="Hyperspectral image super-resolution: prepare data, train, upscale, measure, plot.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help and usage errors (one "Error: ..." line, like rio)
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from hsrcli import __version__

        typer.echo(f"hsr {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool | None,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit."),
    ] = None,
) -> None:
    """Hyperspectral image super-resolution toolkit."""
    from hsrcli.allocator import retain_freed_memory

    retain_freed_memory()  # large tensors reused instead of page-faulted in again (see hsrcli.allocator)


app.command("info")(info)
app.command("upscale")(upscale)
app.command("adapt")(adapt)
app.command("prepare")(prepare)
app.command("train")(train)
app.command("evaluate")(evaluate)
app.command("plot-training")(plot_training)
app.command("metrics")(metrics)
app.command("plot-spectra")(plot_spectra)
app.command("compare")(compare)
app.command("models")(models)
app.command("analyze-rank")(analyze_rank)


def _terminate(signum, frame) -> None:
    raise SystemExit(128 + signum)


def main() -> None:
    """Console-script entry point (``hsr``).

    SIGTERM (``kill``, a batch scheduler's time limit) exits through Python's normal
    unwinding, so temporary outputs are removed as on any error; SIGKILL cannot be
    caught: its leftovers are removed by the next run writing to that folder.
    """
    import signal

    signal.signal(signal.SIGTERM, _terminate)
    app(prog_name="hsr")
