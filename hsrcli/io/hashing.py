"""Content hashes for provenance (data set manifests, model cards)."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path


def sha256_file(path: Path, chunk: int = 4 * 2**20) -> str:
    """Hex SHA-256 of one file, read in chunks; remembered for this process while the file's size,
    modification time and inode stay the same (``upscale --adapt`` names a scene by its hash for the
    cache, then records it in the adapted checkpoint: one read of the scene, not two)."""
    st = Path(path).stat()
    return _sha256(str(Path(path).resolve()), st.st_size, st.st_mtime_ns, st.st_ino, chunk)


@functools.lru_cache(maxsize=256)
def _sha256(path: str, size: int, mtime_ns: int, inode: int, chunk: int) -> str:
    """The hash of :func:`sha256_file`, keyed by what tells a changed file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_files(paths: list[Path]) -> str:
    """SHA-256 of a file, or for several files of their names and hashes in order."""
    if len(paths) == 1:
        return sha256_file(paths[0])
    h = hashlib.sha256()
    for p in paths:
        h.update(f"{p.name}\0{sha256_file(p)}\n".encode())
    return h.hexdigest()
