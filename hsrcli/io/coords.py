"""Pixel coordinates typed by users (``ROW,COL``, ``ROW,COL,SIZE``, ``ROW0,COL0,ROW1,COL1``).

One parser for every option that takes them (``--pixel``, ``--crop``, ``--test-region``), so
they accept the same spelling and fail with the same kind of message.
"""

from __future__ import annotations

from hsrcli.errors import HsrInputError


def parse_ints(spec: str, form: str, option: str, note: str = "0-based") -> tuple[int, ...]:
    """Comma-separated integers shaped like ``form`` (e.g. ``"ROW0,COL0,ROW1,COL1"``), else a clear error."""
    n = len(form.split(","))
    try:
        values = tuple(int(v) for v in str(spec).split(","))
    except ValueError:
        values = ()
    if len(values) != n:
        raise HsrInputError(f"bad {option} {spec!r} (use {form}, {note})")
    return values
