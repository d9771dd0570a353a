"""``hsr adapt SCENE... -s S -o ADAPTED.pt``: fit a model to the user's own scenes, no HR truth needed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from hsrcli import choices
from hsrcli.cli.errors import reports_bad_input
from hsrcli.cli.options import Device, Layout, Overwrite, Quiet, Scale, Var, Wavelengths

Steps = Annotated[int, typer.Option("--steps", help="Optimiser steps (the default budget: ~2 min on 2 CPU "
                                    "cores for a 25 x 25 x 190 scene).")]
Minutes = Annotated[float | None, typer.Option("--minutes", help="Also stop after this much wall time.")]
Crop = Annotated[int | None, typer.Option("--crop", help="Training crop in scene pixels, a multiple of the "
                                             "scale (default 12; 16 at x8).")]
Degrade = Annotated[choices.Kernel, typer.Option("--degrade", help="How the scene is degraded once more: "
                                                 "MATLAB bicubic, or a Gaussian PSF (--sigma).")]
Sigma = Annotated[float, typer.Option("--sigma", help="Gaussian sigma in scene pixels (your sensor's MTF; "
                                      "with --degrade bicubic, a blur before it).")]

#: The :class:`~hsrcli.train.adapt.AdaptConfig` field of an option, where their names differ.
CONFIG_FIELDS = {"model": "base", "degrade": "kernel", "min_gain": "min_gain_db"}


def adapt_config(model: str, scale: int, steps: int, minutes: float | None, crop: int | None, degrade: str,
                 sigma: float, device: str, seed: int):
    """The :class:`~hsrcli.train.adapt.AdaptConfig` of the shared ``adapt``/``upscale --adapt`` options."""
    from hsrcli.train.adapt import AdaptConfig

    return AdaptConfig(base=model, scale=scale, steps=steps, minutes=minutes, crop=crop, kernel=str(degrade),
                       sigma=sigma, device=device, seed=seed).validate()


@reports_bad_input
def adapt(
    ctx: typer.Context,
    scenes: Annotated[list[Path], typer.Argument(help="Your scenes (any readable format): the model is fitted "
                                                 "to them.", show_default=False)],
    scale: Scale,
    output: Annotated[Path, typer.Option("--output", "-o", help="Adapted checkpoint to write (.pt).",
                                         show_default=False)],
    model: Annotated[str | None, typer.Option("--model", "-m", help="Base: checkpoint or bundled name "
                                                 "(default: the bundled model that fits).")] = None,
    steps: Steps = 300,
    minutes: Minutes = None,
    crop: Crop = None,
    batch: Annotated[int, typer.Option("--batch", help="Crops per step.")] = 16,
    lr: Annotated[float, typer.Option("--lr", help="Adam learning rate.")] = 1e-5,
    degrade: Degrade = choices.Kernel.bicubic,
    sigma: Sigma = 0.0,
    val_fraction: Annotated[float, typer.Option("--val-fraction", help="Strip of each scene (along its longer "
                                                "side) held back to choose the weights.")] = 0.2,
    min_gain: Annotated[float, typer.Option("--min-gain", help="Keep adapted weights only if they beat the base "
                                            "by this much on the validation strip (dB).")] = 0.1,
    device: Device = "auto",
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the crops.")] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the adaptation saved in --output with "
                                         "its settings (the same scenes; raise --steps; --minutes and "
                                         "--device may change).")] = False,
    var: Var = None,
    layout: Layout = choices.Layout.auto,
    wavelengths: Wavelengths = None,
    overwrite: Overwrite = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    quiet: Quiet = False,
) -> None:
    """Self-supervised adaptation: each scene, degraded once more by x s, teaches the model to restore
    the scene itself. The weights kept are the best on a held-back strip of the scenes, never worse
    than the base model there. Use the result with 'hsr upscale -m ADAPTED.pt'."""
    from dataclasses import replace

    from tqdm import tqdm

    from hsrcli.io import open_scene
    from hsrcli.train.adapt import adapt as run
    from hsrcli.train.adapt import resumable, saved_config
    from hsrcli.weights import default_model

    open_kw = {"var": var, "layout": layout, "wavelengths": wavelengths}
    previous = resumable(output) if resume else None
    if previous is not None:  # the saved settings, changed only by the options given on the command line
        values = {"model": model, "scale": scale, "steps": steps, "minutes": minutes, "crop": crop, "batch": batch,
                  "lr": lr, "degrade": str(degrade), "sigma": sigma, "val_fraction": val_fraction,
                  "min_gain": min_gain, "device": device, "seed": seed}
        given = {CONFIG_FIELDS.get(k, k): v for k, v in values.items()
                 if ctx.get_parameter_source(k).name != "DEFAULT"}  # click's, or the copy typer >= 0.17 ships
        cfg = replace(saved_config(previous), **({"device": device} | given)).validate()  # the device: this machine's
    else:
        if model is None:
            with open_scene(scenes[0], **open_kw) as sc:
                model = default_model(sc.meta.bands, scale)
        cfg = replace(adapt_config(model, scale, steps, minutes, crop, degrade, sigma, device, seed), batch=batch,
                      lr=lr, val_fraction=val_fraction, min_gain_db=min_gain).validate()

    def bar(items, **kw):
        return tqdm(items, disable=quiet, leave=False, **kw)

    summary = run(scenes, output, cfg, previous=previous, overwrite=overwrite, progress=bar, open_kw=open_kw)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    elif not quiet:
        verdict = (f"validation PSNR {summary['val_psnr_base']:.3f} -> {summary['val_psnr_adapted']:.3f} dB "
                   f"(best at step {summary['best_step']})" if summary["improved"] else
                   f"no step beat the base model by {cfg.min_gain_db:g} dB on the validation strip "
                   f"({summary['val_psnr_base']:.3f} dB): the base weights are kept")
        typer.echo(f"wrote {summary['output']}: {summary['base']} adapted for {summary['steps']} steps in "
                   f"{summary['seconds']:.0f} s; {verdict}", err=True)
