"""Write any output file atomically: temp name in the target folder, rename when done."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hsrcli.errors import HsrInputError, OutputExistsError


def check_targets(targets: list[Path], overwrite: bool) -> None:
    """Refuse outputs whose folder is missing/unwritable, or that exist without ``overwrite``."""
    for t in targets:
        parent = t.parent
        if not parent.is_dir():
            raise HsrInputError(f"{parent}: output folder does not exist")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise HsrInputError(f"{parent}: output folder is not writable")
        if t.is_dir():
            raise HsrInputError(f"{t}: is a folder, expected an output file name")
        if t.exists() and not overwrite:
            raise OutputExistsError(f"{t}: output exists (use --overwrite to replace it)")


def temp_name(path: Path, tag: str | None = None) -> Path:
    """Hidden sibling of ``path`` that keeps its extension (``.name.<tag>.partial.ext``)."""
    tag = tag or uuid.uuid4().hex[:8]
    return path.parent / f".{path.stem}.{tag}.partial{path.suffix}"


@contextmanager
def atomic_path(path: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write; it replaces ``path`` only if the block succeeds.

    On any exception the temporary file is removed and ``path`` is untouched.
    """
    final = Path(path)
    check_targets([final], overwrite)
    tmp = temp_name(final)
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
