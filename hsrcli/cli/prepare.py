"""``hsr prepare``: build a reproducible LR/HR training data set from scenes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hsrcli import choices
from hsrcli.cli.errors import reports_bad_input
from hsrcli.cli.options import Layout, Overwrite, Quiet, Scale, Var, Wavelengths, floats


def _noise(spec: str | None) -> tuple[float | None, float | None]:
    """``0.01`` (σ on the normalised scale) or ``snr:30`` (dB)."""
    from hsrcli.io import HsrInputError

    if not spec:
        return None, None
    try:
        if spec.lower().startswith("snr:"):
            return None, float(spec[4:])
        return float(spec), None
    except ValueError:
        raise HsrInputError(f"bad --noise {spec!r} (a sigma like 0.01, or snr:30)") from None


@reports_bad_input
def prepare(
    scenes: Annotated[list[Path], typer.Argument(help="Input scenes (any readable format).", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Data set folder to create.", show_default=False)],
    scale: Scale,
    patch: Annotated[int | None, typer.Option("--patch", help="HR patch size (default 64; 63 for x3; "
                                                 "128 for x8).")] = None,
    stride: Annotated[int | None, typer.Option("--stride", help="HR patch stride (default patch/2).")] = None,
    test_fraction: Annotated[float, typer.Option("--test-fraction", help="Top strip of each scene held out "
                                                 "for test.")] = 0.0,
    test_region: Annotated[list[str] | None, typer.Option("--test-region", help="ROW0,COL0,ROW1,COL1 test "
                                                             "box (half-open; repeatable).")] = None,
    test_scenes: Annotated[str | None, typer.Option("--test-scenes", help="Whole scenes held out: names or a "
                                                       "count chosen with --seed.")] = None,
    val_fraction: Annotated[float, typer.Option("--val-fraction", help="Bottom strip of each training scene "
                                                "for validation.")] = 0.1,
    val_scenes: Annotated[str | None, typer.Option("--val-scenes", help="Whole scenes for validation "
                                                      "(names or a count).")] = None,
    guard: Annotated[int, typer.Option("--guard", help="HR pixels around test/val regions kept out of "
                                       "training.")] = 16,
    degrade_kernel: Annotated[choices.Kernel,
                              typer.Option("--degrade", help="Degradation kernel.")] = choices.Kernel.bicubic,
    sigma: Annotated[str, typer.Option("--sigma", help="Gaussian blur sigma(s) in HR pixels; a list gives "
                                       "several kernels.")] = "0",
    bicubic: Annotated[choices.Bicubic, typer.Option("--bicubic", help="matlab (imresize-exact) or torch "
                                                     "(interpolate antialias).")] = choices.Bicubic.matlab,
    noise: Annotated[str | None, typer.Option("--noise", help="Gaussian noise: sigma on the normalised "
                                                 "scale, or snr:DB.")] = None,
    scales: Annotated[str, typer.Option("--scales", help="Resize factors of the HR scene for patches "
                                        "(DualSR: 1,0.75,0.5).")] = "1",
    sampling: Annotated[choices.Sampling, typer.Option("--sampling", help="grid (stride) or random "
                                                       "patches.")] = choices.Sampling.grid,
    patches_per_image: Annotated[int, typer.Option("--patches-per-image", help="Random patches per scene "
                                                   "and factor.")] = 24,
    augment: Annotated[bool, typer.Option("--augment/--no-augment", help="Dihedral augmentation on the fly "
                                          "in training.")] = True,
    normalize: Annotated[str, typer.Option("--normalize", help="max, percentile[:P] or fixed:VALUE.")] = "max",
    bands: Annotated[str | None, typer.Option("--bands", help="Bands to keep: 1-30,40 or 450-700nm.")] = None,
    crop: Annotated[str | None, typer.Option("--crop", help="Use only ROW0,COL0,ROW1,COL1 (half-open) of "
                                                "every scene, before splitting.")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed for every random choice.")] = 0,
    var: Var = None,
    layout: Layout = choices.Layout.auto,
    wavelengths: Wavelengths = None,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """Build an LR/HR training data set: split, patches, degradation, normalisation, manifest.

    Test and validation regions (plus a guard band) never touch training patches; arrays
    are memory-mapped; manifest.json records sources (SHA-256), regions and parameters.
    Same inputs and seed give byte-identical arrays.
    """
    import json

    from tqdm import tqdm

    from hsrcli.data.prepare import PrepareOptions, prepare_dataset

    noise_sigma, noise_snr = _noise(noise)
    opts = PrepareOptions(
        scale=scale, patch=patch, stride=stride, test_fraction=test_fraction, test_regions=test_region or [],
        test_scenes=test_scenes, val_fraction=val_fraction, val_scenes=val_scenes, guard=guard,
        degrade=degrade_kernel, sigma=floats(sigma, "--sigma"), bicubic=bicubic, noise_sigma=noise_sigma,
        noise_snr=noise_snr, scales=floats(scales, "--scales"), sampling=sampling,
        patches_per_image=patches_per_image, augment=augment, normalize=normalize, bands=bands, crop=crop, seed=seed,
    )

    def bar(items, **kw):
        return tqdm(items, disable=quiet, leave=False, **kw)

    manifest = prepare_dataset(scenes, output, opts, overwrite=overwrite,
                               open_kw={"var": var, "layout": layout, "wavelengths": wavelengths}, progress=bar)
    c = manifest["counts"]
    if not quiet:
        typer.echo(f"wrote {output}: {c['train']} training patches, {c['val']} validation and {c['test']} test "
                   f"images, normalisation {json.dumps(manifest['normalization']['divisor'][:3])}"
                   f"{'...' if len(manifest['normalization']['divisor']) > 3 else ''}", err=True)
