"""Copy a scene to ENVI or GeoTIFF window by window (format conversion)."""

from __future__ import annotations

from pathlib import Path

from hsrcli.io.meta import SceneMeta
from hsrcli.io.scene import Scene
from hsrcli.io.windows import DEFAULT_WINDOW_BYTES, iter_windows
from hsrcli.io.writers import open_writer


def copy_scene(
    scene: Scene,
    path: str | Path,
    fmt: str | None = None,
    *,
    meta: SceneMeta | None = None,
    overwrite: bool = False,
    interleave: str = "bsq",
    max_bytes: int = DEFAULT_WINDOW_BYTES,
    progress: bool = False,
) -> Path:
    """Stream ``scene`` into a new file; returns the final path (the header for ENVI).

    ``meta`` overrides the metadata written (it must have the scene's shape);
    peak memory is about ``max_bytes`` whatever the scene size.
    """
    from tqdm import tqdm

    meta = meta or scene.meta
    if meta.shape != scene.meta.shape:
        raise ValueError(f"meta shape {meta.shape} differs from the scene's {scene.meta.shape}")
    with open_writer(path, meta, fmt, overwrite=overwrite, interleave=interleave) as writer:
        m = scene.meta
        block = max(scene.block_shape, writer.block_shape)
        windows = list(iter_windows(m.rows, m.cols, m.bands, m.dtype.itemsize, max_bytes, block))
        for window in tqdm(windows, desc="copy", unit="win", disable=not progress, leave=False):
            writer.write(window, scene.read(window))
    return writer.path
