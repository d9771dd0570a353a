"""Atomic outputs: write under a hidden temporary name in the target folder, rename when done.

Every temporary name carries the writing process (``.<name>.<pid>@<host>.<random>.partial``),
so a later run can tell a leftover of a killed process (SIGKILL, power loss: no
``finally`` ran) from the files of a run still in progress: :func:`remove_stale`
deletes the former — same host, process gone — and never touches the latter.
:func:`check_targets` runs it on every output folder before anything is written.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from hsrcli.errors import HsrInputError, OutputExistsError

_HOST = hashlib.sha1(socket.gethostname().encode()).hexdigest()[:4]
_TAG = re.compile(r"\.(?P<pid>\d+)@(?P<host>[0-9a-f]{4})\.[0-9a-f]{8}\.(partial|old)")


def process_tag() -> str:
    """``<pid>@<host>.<random>``: unique per call, and names the process that writes."""
    return f"{os.getpid()}@{_HOST}.{uuid.uuid4().hex[:8]}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def remove_stale(folder: Path) -> list[Path]:
    """Delete temporary files/folders in ``folder`` left by dead processes of this host; return them."""
    removed: list[Path] = []
    try:
        entries = list(folder.glob(".*"))
    except OSError:
        return removed
    for p in entries:
        m = _TAG.search(p.name)
        if not m or m["host"] != _HOST or _alive(int(m["pid"])):
            continue
        try:
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
            removed.append(p)
        except OSError:
            pass  # another process cleaned it, or no permission: leave it
    return removed


def check_targets(targets: list[Path], overwrite: bool, inputs: Iterable[Path] = ()) -> None:
    """Refuse outputs whose folder is missing/unwritable, that exist without ``overwrite``, or that are
    one of the command's ``inputs`` (files it reads; even with ``overwrite``: the input would be lost, or
    replaced before it is read).

    Also removes what killed runs left in those folders (:func:`remove_stale`).
    """
    existing = [f for f in inputs if f.is_file()]
    for t in targets:
        parent = t.parent
        if not parent.is_dir():
            raise HsrInputError(f"{parent}: output folder does not exist")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise HsrInputError(f"{parent}: output folder is not writable")
        if t.is_dir():
            raise HsrInputError(f"{t}: is a folder, expected an output file name")
        if t.exists():
            same = next((f for f in existing if t.samefile(f)), None)
            if same is not None:
                raise HsrInputError(f"{t}: is also an input ({same}); write the output elsewhere")
            if not overwrite:
                raise OutputExistsError(f"{t}: output exists (use --overwrite to replace it)")
    for parent in {t.parent for t in targets}:
        remove_stale(parent)


def reserve(fd: int, nbytes: int) -> None:
    """Give the open file ``fd`` its full size of ``nbytes`` on disk now (``posix_fallocate`` where the OS
    has it, else a sparse ``ftruncate``): a disk too small fails here with ``ENOSPC``, before any work,
    rather than as a SIGBUS in a memory-mapped write of a hole later. Allocated blocks read as zeros."""
    if hasattr(os, "posix_fallocate"):
        os.posix_fallocate(fd, 0, nbytes)
    else:
        os.ftruncate(fd, nbytes)


def temp_name(path: Path, tag: str | None = None, kind: str = "partial") -> Path:
    """Hidden sibling of ``path`` that keeps its extension (``.name.<pid>@<host>.<random>.partial.ext``)."""
    return path.parent / f".{path.stem}.{tag or process_tag()}.{kind}{path.suffix}"


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
