"""``hsr plot-spectra`` and ``hsr compare``: the pictures analysts look at."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hsrcli import choices
from hsrcli.cli.errors import reports_bad_input
from hsrcli.cli.options import Figure, Layout, Overwrite, Quiet, Var

Rgb = Annotated[
    str | None,
    typer.Option("--rgb", help="False-colour bands: wavelengths in nm (640,550,460) or b<N> band numbers."),
]


@reports_bad_input
def plot_spectra(
    ref: Annotated[Path, typer.Argument(help="Reference scene: pixel positions are on its grid.", show_default=False)],
    others: Annotated[list[Path] | None, typer.Argument(help="More scenes (LR inputs, SR results...).",
                                                           show_default=False)] = None,
    output: Figure = Path("spectra.png"),
    pixel: Annotated[list[str] | None, typer.Option("--pixel", "-p", help="ROW,COL on the reference grid "
                                                       "(0-based); repeat for more.")] = None,
    random: Annotated[int, typer.Option("--random", help="Add N random pixels.")] = 0,
    seed: Annotated[int, typer.Option("--seed", help="Seed for --random.")] = 0,
    preview: Annotated[bool, typer.Option("--preview/--no-preview",
                                          help="False-colour preview with the pixels.")] = True,
    rgb: Rgb = None,
    title: Annotated[str | None, typer.Option("--title", help="Figure title.")] = None,
    var: Var = None,
    layout: Layout = choices.Layout.auto,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """Spectral curves of chosen pixels in every input, one panel per pixel.

    Inputs on another grid (e.g. the LR scene) are sampled at the pixel covering
    the same ground. x is the wavelength in nm when known, else the band number.
    """
    from contextlib import ExitStack

    from hsrcli.io import open_scene
    from hsrcli.io.atomic import atomic_path, check_targets
    from hsrcli.plot.spectra import parse_pixels
    from hsrcli.plot.spectra import plot_spectra as draw

    paths = [ref, *(others or [])]
    check_targets([output], overwrite, paths)
    with ExitStack() as stack:
        scenes = [stack.enter_context(open_scene(p, var=var, layout=layout)) for p in paths]
        pixels = parse_pixels(pixel or [], random, scenes[0].meta, seed)
        with atomic_path(output, overwrite) as tmp:
            draw(scenes, [p.name for p in paths], pixels, tmp, preview=preview, rgb=rgb, title=title)
    if not quiet:
        typer.echo(f"wrote {output}", err=True)


@reports_bad_input
def compare(
    ref: Annotated[Path, typer.Argument(help="Reference (ground truth) scene.", show_default=False)],
    results: Annotated[list[Path], typer.Argument(help="SR results on the reference grid.", show_default=False)],
    output: Figure = Path("compare.png"),
    crop: Annotated[str | None, typer.Option("--crop", help="ROW,COL,SIZE of the shown crop "
                                                "(default: centre, 256 px).")] = None,
    data_range: Annotated[float | None, typer.Option("--data-range", help="Value of white "
                                                        "(default as in hsr metrics).")] = None,
    rgb: Rgb = None,
    var: Var = None,
    layout: Layout = choices.Layout.auto,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """Side-by-side false-colour crops, SAM error maps and per-band PSNR curves."""
    from contextlib import ExitStack

    from tqdm import tqdm

    from hsrcli.io import open_scene
    from hsrcli.io.atomic import atomic_path, check_targets
    from hsrcli.plot.compare import parse_crop, plot_compare

    check_targets([output], overwrite, [ref, *results])

    def bar(items):
        return tqdm(items, desc="metrics", unit="strip", disable=quiet, leave=False)

    with ExitStack() as stack:
        r = stack.enter_context(open_scene(ref, var=var, layout=layout))
        xs = [stack.enter_context(open_scene(p, var=var, layout=layout)) for p in results]
        box = parse_crop(crop, r.meta.rows, r.meta.cols)
        with atomic_path(output, overwrite) as tmp:
            plot_compare(r, xs, [p.name for p in [ref, *results]], tmp, crop=box, data_range=data_range,
                         rgb=rgb, progress=bar)
    if not quiet:
        typer.echo(f"wrote {output}", err=True)
