"""Overlapping windows along one axis (spatial tiles, spectral groups)."""

from __future__ import annotations


def overlapping_starts(length: int, size: int, overlap: int) -> list[int]:
    """Start offsets of same-size windows covering ``[0, length)``, neighbours sharing ``overlap``.

    The last window is moved back to end at ``length``; one window when ``size >= length``.
    """
    if size >= length:
        return [0]
    step = size - overlap
    if step < 1:
        raise ValueError(f"overlap {overlap} must be smaller than the window {size}")
    starts = list(range(0, length - size + 1, step))
    if starts[-1] + size < length:
        starts.append(length - size)
    return starts
