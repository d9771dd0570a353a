"""A cascade ``A+B`` run stage by stage over the whole scene, as ``hsr upscale -m A`` then ``-m B`` would.

Every stage but the last upscales the whole scene into a float32 ENVI intermediate in a hidden folder
beside the output (removed when the run ends, or by the next run's output checks if the process was
killed), with ``hsr upscale``'s own steps (the
spectral subspace, the LR back-projection onto its input), tiled, padded and normalised for that stage
alone; the next stage reads it as its input. Each stage's tiles then overlap by that stage's own radius
(in its own input's pixels), rather than every tile of the whole cascade carrying the later stages'
reach, the back-projection's and the first stage's at once: the ×8 default ``lkca-g_x4+lkca-g_x2`` on a
256² × 64 scene computed 1.7× the ×2 stage's pixels in one pass of tiles, 1.1× stage by stage (see
docs/EXPERIMENTS.md, "Composite models"). A cascade inside an average (``X,Y``), one refined by FineSR, or
one told of a PSF (``--degrade gaussian``, ``--sigma``: a PSF at the cascade's scale has no counterpart at
a stage's) runs as one model on each tile (:class:`~hsrcli.models.compose.Cascade`).

Under torchrun every rank runs every stage on its share of the tiles; rank 0 writes the intermediate and
the others read it once it is complete, so the output folder must be one that every rank sees.
"""

from __future__ import annotations

import shutil
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from hsrcli import dist as ddp
from hsrcli.allocator import release_freed_memory
from hsrcli.dist import DistInfo
from hsrcli.infer.finish import output_dtype
from hsrcli.infer.resolve import ResolvedModel
from hsrcli.io import open_scene
from hsrcli.io.atomic import temp_name
from hsrcli.io.scene import Scene
from hsrcli.io.view import Relabelled

if TYPE_CHECKING:
    from hsrcli.infer.runner import UpscaleOptions

#: Suffix of the hidden folder beside the output that holds the intermediate images
#: (``.<output stem>.<pid>@<host>.<random>.partial.stages``, :func:`~hsrcli.io.atomic.temp_name`).
STAGES_SUFFIX = ".stages"


def runs_staged(resolved: ResolvedModel, kernel: str, sigma: float, refine: bool = False) -> bool:
    """Whether ``hsr upscale`` runs ``resolved`` stage by stage (:mod:`hsrcli.infer.staged`): a cascade
    (not an average, whose members may be cascades), without FineSR (``refine``), its LR made by plain
    bicubic (``kernel``, ``sigma`` in HR px: :func:`~hsrcli.infer.runner.lr_degradation`)."""
    from hsrcli.models.compose import Cascade

    return isinstance(resolved.model, Cascade) and not refine and kernel == "bicubic" and not sigma


def upscale_stages(scene: Scene, out: Path, fmt: str, resolved: ResolvedModel, opts: UpscaleOptions,
                   run: Callable[..., dict], *,
                   overwrite: bool = False, progress: Callable[..., Iterable] | None = None,
                   info: DistInfo | None = None) -> dict:
    """``resolved`` (a cascade, :func:`runs_staged`) on ``scene`` stage by stage, each stage by ``run``
    (:func:`~hsrcli.infer.runner.upscale_scene`) with ``opts`` (``--tile`` and ``--overlap`` in each
    stage's input pixels), into ``out``; ``info``: torchrun, every rank calling it for the same scene (as
    :func:`~hsrcli.infer.runner.upscale_scene`). Returns the last stage's statistics with the run's
    totals (scale, seconds, tiles, phases) and ``stages``, every stage's own."""
    bar = progress or (lambda it, **_: it)
    ranks = info or DistInfo()  # (one process: no barrier, no exchange)
    parts, n = resolved.parts, len(resolved.parts)
    final = replace(opts, dtype=output_dtype(opts.dtype, scene.meta).name)  # "input": the scene's type
    t0 = time.perf_counter()
    folder = None
    if ranks.is_main:  # named after this process, like the output's temporary file: a killed run's is removed
        folder = temp_name(out.parent / f"{out.stem}{STAGES_SUFFIX}")  # by the next run's check_targets
        folder.mkdir()
    folder = Path(ddp.gather(None if folder is None else str(folder), ranks)[0])
    results: list[dict] = []
    current, zoom = scene, 1
    try:
        for k, part in enumerate(parts):
            last = k == n - 1
            target = out if last else folder / f"stage{k + 1}.hdr"
            stage = replace(part, label=f"{part.label} (stage {k + 1} of {resolved.label})")

            def stage_bar(items, desc: str = "", _k: int = k, **kw):
                return bar(items, desc=f"{desc} {_k + 1}/{n}", **kw)

            results.append(run(current, target, fmt if last else "envi", stage,
                               final if last else replace(opts, dtype="float32", nodata=None, compress=None),
                               overwrite=overwrite if last else False, progress=stage_bar, info=info))
            if not last:
                release_freed_memory()  # the next stage's tiles are another shape
                ddp.barrier(ranks)  # the intermediate is complete before any rank reads it
                zoom *= part.scale
                if current is not scene:
                    current.close()
                current = _intermediate(target, scene, zoom)
        ddp.barrier(ranks)  # no rank reads an intermediate any more
    finally:
        if current is not scene:
            current.close()
        if ranks.is_main:
            shutil.rmtree(folder, ignore_errors=True)
    return _combined(results, resolved, time.perf_counter() - t0)


def _intermediate(path: Path, scene: Scene, zoom: int) -> Scene:
    """A stage's output ``path`` as the next stage's input, described by ``scene``'s metadata upscaled by
    ``zoom`` (georeference, ground control points, spectral and source metadata, which an ENVI file
    would not all keep) with the stage's own type, nodata value and history."""
    stage = open_scene(path)
    m = stage.meta
    return Relabelled(stage, scene.meta.rescaled(zoom).replace(dtype=m.dtype, nodata=m.nodata, history=m.history))


def _combined(results: list[dict], resolved: ResolvedModel, seconds: float) -> dict:
    """The last stage's statistics, with the whole run's scale, model, seconds, tiles and phases, and every
    stage's own statistics under ``stages``."""
    phases: dict[str, float] = defaultdict(float)
    for r in results:
        for p, s in r["phases"].items():
            phases[p] += s
    last = results[-1]
    return {**last, "scale": resolved.scale, "model": " then ".join(r["model"] for r in results),
            "tiles": sum(r["tiles"] for r in results), "tiles_without_data": sum(r["tiles_without_data"] for r in results),
            "seconds": seconds, "phases": dict(phases),
            "mpx_bands_per_s": last["rows"] * last["cols"] * last["bands"] / 1e6 / max(seconds, 1e-9),
            "stages": results}

