"""``hsr upscale INPUT... -s SCALE``: whole-scene super-resolution keeping georeferencing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from hsrcli import choices
from hsrcli.cli.errors import reports_bad_input
from hsrcli.cli.options import (
    Amp,
    Consistency,
    Device,
    Ensemble,
    Layout,
    Overwrite,
    Quiet,
    Scale,
    Subspace,
    Var,
    Wavelengths,
    at_least,
)


@reports_bad_input
def upscale(
    inputs: Annotated[list[str], typer.Argument(help="Scenes to super-resolve (ENVI, GeoTIFF, band folder, "
                                                ".mat, .npy; remote GeoTIFF/COG: https://, s3://, gs:// URL "
                                                "or /vsi path, with -o).", show_default=False)],
    scale: Scale,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Checkpoint, bundled name or bicubic; "
                                                 "A+B: A then B (a cascade: lkca-g_x2+lkca-g_x4 is x8); X,Y: the "
                                                 "average of models (default: the bundled model that fits).")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Output file (one input) or folder "
                                                   "(several); default <stem>_x<s> next to the input.")] = None,
    fmt: Annotated[choices.Format | None, typer.Option("--format", help="Output format (default: as the "
                                                          "-o name says, .hdr or .tif; else as the input; "
                                                          "other inputs: envi).")] = None,
    compress: Annotated[choices.Compression | None, typer.Option(
        "--compress", help="GeoTIFF/COG block compression (default: deflate, level 1); zstd: ~2x faster to write, "
        "as small, read by GDAL >= 2.3; none: fastest, largest.")] = None,
    tile: Annotated[int | None, typer.Option(
        "--tile", callback=at_least(1), help="Tile size in LR pixels (default: the fastest estimated among tiles "
        "of at most ~96 MB of output held (~256 MB with the spectral subspace's coefficients) and 288² LR px, "
        "512 px a side).")] = None,
    overlap: Annotated[int | None, typer.Option(
        "--overlap", callback=at_least(0), help="Overlap of tiles in LR pixels (default: 2 x the model's measured "
        "effective receptive radius; with --exact, 2 x its theoretical one).")] = None,
    exact: Annotated[bool, typer.Option("--exact", help="Tiles overlap by the model's whole theoretical "
                                        "receptive field: the output equals whole-image inference (to "
                                        "float rounding), at more compute.")] = False,
    batch: Annotated[int, typer.Option("--batch", help="Tiles per forward pass.")] = 1,
    device: Device = "auto",
    amp: Amp = choices.Amp.bf16,
    dtype: Annotated[choices.OutputDtype, typer.Option("--dtype", help="Output data type (input: the input's "
                                                       "type, rounded and clipped).")] = choices.OutputDtype.float32,
    nodata: Annotated[float | None, typer.Option("--nodata", metavar="VALUE", help="Output nodata value, written where input "
                                                  "values are missing and tagged (default: the input's; else NaN "
                                                  "in float outputs with holes). Must fit --dtype; valid values "
                                                  "equal to it read as missing.", show_default=False)] = None,
    refine: Annotated[bool, typer.Option("--refine", help="DualSR FineSR back-projection with a x s/2 "
                                         "model.")] = False,
    refine_model: Annotated[str | None, typer.Option("--refine-model", help="The x s/2 model for --refine "
                                                        "(default: the best fitting bundled x s/2 model; "
                                                        "DualSR uses coarsr_x2).")] = None,
    refine_check: Annotated[bool, typer.Option("--refine-check/--no-refine-check", help="Apply --refine only "
                                               "if it does not lower PSNR on the scene's own LR degraded "
                                               "once more (self-check).")] = True,
    subspace: Subspace = "auto",
    ensemble: Ensemble = 1,
    consistency: Consistency = choices.CONSISTENCY_PASSES,
    degrade: Annotated[choices.Kernel | None, typer.Option(
        "--degrade", help="How the input was degraded, for the LR back-projection: MATLAB bicubic, or a Gaussian "
        "point-spread function (--sigma) sampled every s-th pixel (default: as the model's training data; "
        "bicubic).", show_default=False)] = None,
    sigma: Annotated[float, typer.Option("--sigma", help="With --degrade gaussian: the PSF's sigma in output "
                                         "(HR) pixels; with --degrade bicubic: a Gaussian blur before it.")] = 0.0,
    adapt: Annotated[bool, typer.Option("--adapt", help="First fit the model to each scene (see 'hsr adapt', "
                                        "default settings); the adapted checkpoint is cached and reused "
                                        "($HSR_CACHE_DIR or ~/.cache/hsrcli/adapted).")] = False,
    adapt_steps: Annotated[int, typer.Option("--adapt-steps", help="Optimiser steps of --adapt.")] = 300,
    bands: Annotated[str | None, typer.Option("--bands", help="Super-resolve these bands only: band numbers "
                                              "from 1 (1-30,40) or wavelengths (450-700nm); the output holds "
                                              "them, in that order, with their wavelengths.",
                                              show_default=False)] = None,
    var: Var = None,
    layout: Layout = choices.Layout.auto,
    wavelengths: Wavelengths = None,
    overwrite: Overwrite = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print run statistics as JSON.")] = False,
    quiet: Quiet = False,
) -> None:
    """Super-resolve whole scenes tile by tile, streaming, keeping CRS, transform (pixel size / s),
    wavelengths, band names and nodata. Prints throughput at the end.

    Several scenes over several processes or GPUs: torchrun --nproc_per_node N -m hsrcli upscale ...
    """
    import os

    import torch
    from tqdm import tqdm

    from hsrcli import dist as ddp
    from hsrcli.infer.refine import Refinement
    from hsrcli.infer.resolve import resolve_model
    from hsrcli.infer.runner import UpscaleOptions, upscale_scene
    from hsrcli.io import HsrInputError, open_scene
    from hsrcli.runtime import amp_dtype, resolve_device
    from hsrcli.weights import default_model

    try:
        if (tile is not None and tile < 8) or batch < 1:
            raise HsrInputError("--tile must be >= 8 and --batch >= 1")
        if len(inputs) > 1 and output is not None and not output.is_dir():
            raise HsrInputError("with several inputs, -o must be an existing folder")
        if degrade == choices.Kernel.gaussian and not sigma > 0:
            raise HsrInputError("--degrade gaussian needs --sigma > 0 (the PSF's sigma in output pixels)")
        if sigma < 0 or (sigma and degrade is None):
            raise HsrInputError("--sigma needs --degrade (gaussian: the PSF's sigma; bicubic: a blur before it), "
                                "and >= 0")
        open_kw = {"var": var, "layout": layout, "wavelengths": wavelengths, "bands": bands}
        dev = resolve_device(device)
        plans = _plans(inputs, scale, output, fmt, overwrite, adapt, open_kw, compress)
    except HsrInputError:
        if int(os.environ.get("RANK", "0")) != 0:  # torchrun: every rank checks the same; rank 0 says it
            ddp.defer_to_main()
        raise
    opts = UpscaleOptions(tile=tile, overlap=overlap, exact=exact, batch=batch, device=dev, amp=amp_dtype(amp, dev),
                          dtype=dtype.value, nodata=nodata, subspace=choices.check_subspace(subspace),
                          ensemble=ensemble, consistency=consistency,
                          degrade=None if degrade is None else degrade.value, sigma=sigma,
                          compress=None if compress is None else compress.value)
    info = ddp.init_from_env(dev.type)  # under torchrun: scenes shared out over the ranks
    if info.enabled and dev.type == "cuda":
        dev = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(dev)
        opts.device = dev
    show = not quiet and info.is_main

    share_tiles = info.enabled and len(plans) < info.world_size  # fewer scenes than ranks: share their tiles

    def run_one(i: int) -> tuple[dict, str]:
        path, out, f, meta = plans[i]
        name = model or default_model(meta.bands, scale)
        if adapt:
            name = _adapted(path, name, scale, adapt_steps, device, not show, open_kw, degrade, sigma)
        source = str(path) if bands is None else f"the --bands selection of {path}"
        resolved = resolve_model(name, meta.bands, scale, dev, source=source, exact=exact)
        ref = None
        if refine:
            if scale not in (2, 4, 8):
                raise HsrInputError("--refine (FineSR) needs scale 2, 4 or 8")
            partner = None  # x2: the x1 "result" is the LR input itself
            if scale > 2:
                ref_name = refine_model or default_model(meta.bands, scale // 2)
                partner = resolve_model(ref_name, meta.bands, scale // 2, dev, source=source)
            ref = Refinement(partner, check=refine_check)
        if show and model is None:
            typer.echo(f"{path}: using model {name}", err=True)

        def bar(items, **kw):
            return tqdm(items, disable=not show, leave=False, **kw)

        with open_scene(path, **open_kw) as scene:
            stats = upscale_scene(scene, out, f, resolved, opts, overwrite=overwrite, refine=ref, progress=bar,
                                  info=info if share_tiles else None)
        return stats, name

    results = []
    try:
        rounds = (([(i, run_one(i))] for i in range(len(plans))) if share_tiles  # every rank on each scene
                  else ddp.map_rounds(len(plans), run_one, info, dev))
        for done in rounds:
            for i, (stats, name) in done:
                results.append(stats)
                path, _, f, meta = plans[i]
                if info.is_main and "refine" in stats and not stats["refine"]["applied"]:
                    typer.echo(f"hsr: warning: {path}: --refine {stats['refine']['reason']}", err=True)
                if info.is_main and meta.gcps and meta.transform is None and not meta.crs and f == "envi":
                    typer.echo(f"hsr: warning: {path}: its {len(meta.gcps)} ground control points have no CRS: ENVI "
                               "'geo points' are latitude/longitude, so they are not written; write a GeoTIFF "
                               "(-o NAME.tif) to keep them", err=True)
                if show and not share_tiles and i % info.world_size != 0 and model is None:  # said by another rank
                    typer.echo(f"{path}: used model {name}", err=True)
                if show:
                    typer.echo(f"wrote {stats['output']}: {stats['rows']} x {stats['cols']} x {stats['bands']} in "
                               f"{stats['seconds']:.1f} s ({stats['mpx_bands_per_s']:.2f} Mpx·bands/s, "
                               + ("; ".join(_tiles_text(s, k) for k, s in enumerate(stats["stages"])) if "stages" in stats
                                  else _tiles_text(stats))
                               + (f", {stats['tiles_without_data']} without data" if stats["tiles_without_data"] else "")
                               + ")",
                               err=True)
    finally:
        ddp.shutdown(info)
    if as_json and info.is_main:
        typer.echo(json.dumps(results if len(results) > 1 else results[0], indent=2))


def _tiles_text(stats: dict, stage: int | None = None) -> str:
    """``4 tiles of 288 LR px, overlap 32`` (``332 x 182``: rows x columns) for one run of the model, or
    ``stage 2: …`` for a stage of a cascade run stage by stage (the later stages' tiles are in their own
    input's pixels)."""
    rows, cols = stats["tile_shape"]
    side = str(rows) if rows == cols else f"{rows} x {cols}"
    unit = "LR px" if not stage else "px"
    return f"{'' if stage is None else f'stage {stage + 1}: '}{stats['tiles']} tiles of {side} {unit}, overlap {stats['overlap']}"


def _plans(inputs: list[str], scale: int, output: Path | None, fmt, overwrite: bool, adapt: bool,
           open_kw: dict, compress: choices.Compression | None = None) -> list[tuple]:
    """``(input, output, format, meta)`` of every scene, each input opened and every output checked before
    anything is computed (so that a bad one stops the command before any work: ``--compress`` for an ENVI
    output too)."""
    from hsrcli.io import HsrInputError, open_scene
    from hsrcli.io.atomic import check_targets
    from hsrcli.io.outputs import default_output_path, output_format
    from hsrcli.io.remote import as_input, is_remote, remote_name
    from hsrcli.io.writers import compression_for, envi_paths

    plans, read = [], []
    for path in map(as_input, inputs):
        remote = is_remote(path)
        if remote and output is None:  # several inputs: -o is a folder (checked before)
            raise HsrInputError(f"{path}: a remote input needs -o (a file, or a folder for several inputs)")
        if remote and adapt:
            raise HsrInputError(f"{path}: --adapt needs a local scene")
        with open_scene(path, **open_kw) as scene:
            meta = scene.meta
            read += [] if remote else scene.files()
        name = remote_name(path) if remote else path.name
        file_out = output is not None and not output.is_dir()
        f = output_format(fmt, meta.format, output if file_out else None)
        compression_for(f, None if compress is None else compress.value)
        out = default_output_path(path, scale, f) if output is None else (
            output if file_out else default_output_path(output / name, scale, f))
        plans.append((path, out, f, meta))
    if len({str(o) for _, o, _, _ in plans}) != len(plans):
        raise HsrInputError("two inputs would write the same output; use -o FOLDER or rename them")
    for _, out, f, _ in plans:  # once every input is known: an output must not replace a later input either
        check_targets(list(envi_paths(out)) if f == "envi" else [out], overwrite, read)
    return plans


def _adapted(path: Path, base: str, scale: int, steps: int, device: str, quiet: bool, open_kw: dict,
             degrade: choices.Kernel | None = None, sigma: float = 0.0) -> str:
    """The cached adapted checkpoint of ``base`` for the scene ``path`` (made now if missing), the scene
    degraded once more as ``--degrade``/``--sigma`` say (default bicubic)."""
    from tqdm import tqdm

    from hsrcli.cli.adapt import adapt_config
    from hsrcli.train.adapt import adapt, cache_path

    cfg = adapt_config(base, scale, steps, None, None, degrade or choices.Kernel.bicubic, sigma, device, 0)
    cached = cache_path([path], cfg, open_kw)
    if cached.is_file():
        if not quiet:
            typer.echo(f"{path}: using the adapted model {cached}", err=True)
        return str(cached)
    cached.parent.mkdir(parents=True, exist_ok=True)

    def bar(items, **kw):
        return tqdm(items, disable=quiet, leave=False, **kw)

    import os

    from hsrcli.io.atomic import temp_name

    partial = temp_name(cached)  # a fit cut short is never taken for a finished one
    try:
        summary = adapt([path], partial, cfg, progress=bar, open_kw=open_kw, overwrite=True)
        os.replace(partial, cached)
    finally:
        partial.unlink(missing_ok=True)
    if not quiet:
        typer.echo(f"{path}: {base} adapted in {summary['seconds']:.0f} s (validation PSNR "
                   f"{summary['val_psnr_base']:.2f} -> {summary['val_psnr_adapted']:.2f} dB), cached as {cached}",
                   err=True)
    return str(cached)
