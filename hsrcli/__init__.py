"""hsrcli: hyperspectral image super-resolution from the command line.

The package is layered: ``hsrcli.cli`` (thin Typer commands) calls
``hsrcli.{train,infer,metrics,plot}``, which build on ``hsrcli.{models,data,io}``.
``hsrcli.io`` never imports torch, so ``hsr info`` and ``hsr --help`` stay fast.
"""

from __future__ import annotations

from hsrcli import omp  # noqa: F401  (first: the CPU-load window of `hsr` starts here, see hsrcli.omp)

__all__ = ["__version__"]

try:  # installed distribution (normal case)
    from importlib.metadata import PackageNotFoundError, version

    __version__ = version("hsrcli")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.1.0.dev0"
