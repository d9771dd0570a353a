"""The ``hsr`` command line: a Typer app that only wires commands.

Each command lives in its own module and imports its heavy dependencies (torch,
rasterio, spectral) inside the command body, so ``hsr --help`` and
``hsr --version`` stay instant.
"""

from __future__ import annotations

from typing import Annotated, NoReturn

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
    from hsrcli.omp import choose_wait_policy

    retain_freed_memory()  # large tensors reused instead of page-faulted in again (see hsrcli.allocator)
    choose_wait_policy()  # OpenMP threads sleep instead of spinning where other processes are busy


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


def main() -> NoReturn:
    """Console-script entry point (``hsr``).

    SIGTERM (``kill``, a batch scheduler's time limit) exits through Python's normal
    unwinding, so temporary outputs are removed as on any error; SIGKILL cannot be
    caught: its leftovers are removed by the next run writing to that folder. The process
    then ends without the interpreter's teardown (:func:`_exit`).
    """
    import signal

    signal.signal(signal.SIGTERM, _terminate)
    try:
        app(prog_name="hsr")  # standalone: ends in SystemExit with the exit code
        code = 0
    except SystemExit as exc:
        code = exc.code
    _exit(code)


def _exit(code: int | str | None) -> NoReturn:
    """End the process with ``code`` as :class:`SystemExit` would, once the command has returned:
    the ``atexit`` handlers run and standard streams are flushed, but the interpreter's module
    teardown is skipped (``os._exit``) — with PyTorch imported it takes ~0.4 s on 2 cores, 10–15 %
    of a whole ``hsr upscale`` of the shipped sample. Nothing is left to it: every output has been
    committed (renamed into place) or removed, and thread pools are idle, by the time a command returns."""
    import atexit
    import os
    import sys

    if code is not None and not isinstance(code, int):  # SystemExit("message"): printed, status 1
        print(code, file=sys.stderr)
        code = 1
    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a closed pipe (hsr ... | head) or stream
                pass
        os._exit(code or 0)
