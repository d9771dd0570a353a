"""Turn bad input into one line on stderr and exit code 2 (never a traceback)."""

from __future__ import annotations

import errno
import functools
import sys
from collections.abc import Callable
from typing import TypeVar

import typer

F = TypeVar("F", bound=Callable)

EXIT_BAD_INPUT = 2


def fail(message: str) -> typer.Exit:
    """Print ``hsr: error: message`` to stderr; return the exit to raise."""
    print(f"hsr: error: {message}", file=sys.stderr)
    return typer.Exit(EXIT_BAD_INPUT)


def reports_bad_input(func: F) -> F:
    """Decorator for commands: bad-input exceptions become a one-line error, exit 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        from hsrcli.errors import HsrInputError, PeerFailed

        try:
            return func(*args, **kwargs)
        except PeerFailed:  # torchrun: another rank failed and said why
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except HsrInputError as exc:
            raise fail(str(exc)) from None
        except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as exc:
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            raise fail(f"{where}{exc.strerror or exc}") from None
        except MemoryError:
            raise fail("out of memory; use smaller windows/tiles") from None
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
            raise fail(f"{where}no space left on the device (or over quota) for the output; nothing was "
                       "kept — free some or write elsewhere") from None

    return wrapper  # type: ignore[return-value]
