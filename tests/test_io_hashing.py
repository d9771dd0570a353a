"""Content hashes (hsrcli/io/hashing.py): right, read once, and a changed file hashed again."""

from __future__ import annotations

import builtins
import hashlib
import os

from hsrcli.io.hashing import sha256_file, sha256_files


def test_a_file_is_read_once_until_it_changes(tmp_path, monkeypatch):
    p = tmp_path / "scene.img"
    p.write_bytes(b"abc" * 1000)
    opened = []
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda f, *a, **k: (opened.append(str(f)), real_open(f, *a, **k))[1])
    first = sha256_file(p)
    assert first == hashlib.sha256(b"abc" * 1000).hexdigest()
    assert sha256_file(p) == first and opened.count(str(p.resolve())) == 1  # remembered
    p.write_bytes(b"abd" * 1000)  # same size: the modification time tells
    os.utime(p, ns=(0, p.stat().st_mtime_ns + 10**9))
    assert sha256_file(p) == hashlib.sha256(b"abd" * 1000).hexdigest()
    assert opened.count(str(p.resolve())) == 2


def test_several_files_hash_names_and_contents(tmp_path):
    a, b = tmp_path / "a.hdr", tmp_path / "a.img"
    a.write_text("ENVI")
    b.write_bytes(b"\0" * 8)
    assert sha256_files([a]) == sha256_file(a)
    assert sha256_files([a, b]) != sha256_files([b, a])
