"""``hsr metrics SR REF``: PSNR, SSIM, SAM, ERGAS, RMSE, CC of a result against its reference."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from hsrcli import choices
from hsrcli.cli.errors import reports_bad_input
from hsrcli.cli.options import Json, Layout, Quiet, Var

_ROWS = [("psnr", "PSNR (dB, mean of bands)", "{:.4f}"), ("psnr_global", "PSNR (dB, global)", "{:.4f}"),
         ("ssim", "SSIM", "{:.5f}"), ("sam", "SAM (degrees)", "{:.4f}"), ("ergas", "ERGAS", "{:.4f}"),
         ("rmse", "RMSE (/ data range)", "{:.6f}"), ("cc", "CC", "{:.5f}")]


def _table(d: dict) -> str:
    lines = []
    for key, label, fmt in _ROWS:
        v = d[key]
        if v is None:
            text = "n/a (needs --scale)" if key == "ergas" else "n/a"
        else:
            text = fmt.format(v)
        lines.append(f"{label:<26} {text}")
    lines.append("")
    lines.append(
        f"data range {d['data_range']:g} ({d['data_range_source']}), {d['bands']} bands, {d['pixels']} pixels, "
        f"border {d['border']}, SR {'clipped to [0, data range]' if d['clipped'] else 'not clipped'}"
        + (f", {d['sam_skipped']} zero-norm pixels skipped by SAM" if d["sam_skipped"] else "")
        + (f"; the SR's {len(d['ref_bands'])} bands matched to the reference's by wavelength"
           if d.get("ref_bands") else "")
    )
    return "\n".join(lines)


def _write_csv(path: Path, d: dict, wavelengths, overwrite: bool) -> None:
    import csv

    from hsrcli.io.atomic import atomic_path

    with atomic_path(path, overwrite) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["band", "wavelength_nm", "psnr", "ssim", "cc", "rmse"])
        ssim = d["ssim_per_band"] or [None] * d["bands"]
        for k, b in enumerate(d["band_indices"]):
            wl = "" if wavelengths is None else f"{wavelengths[b]:.4f}"
            w.writerow([b + 1, wl, d["psnr_per_band"][k], ssim[k], d["cc_per_band"][k], d["rmse_per_band"][k]])


@reports_bad_input
def metrics(
    sr: Annotated[str, typer.Argument(help="Super-resolved scene (any readable format, or a remote "
                                      "GeoTIFF/COG URL or /vsi path).", show_default=False)],
    ref: Annotated[str, typer.Argument(help="Reference (ground truth) scene, same shape (or more bands: "
                                       "those at the SR's wavelengths are compared).", show_default=False)],
    scale: Annotated[float | None, typer.Option("--scale", "-s", help="SR factor (for ERGAS = 100/s ...).")] = None,
    as_json: Json = False,
    per_band: Annotated[Path | None, typer.Option("--per-band", help="Write per-band metrics to this CSV.")] = None,
    data_range: Annotated[
        float | None,
        typer.Option("--data-range", help="Value of white in the reference's units "
                     "(default: its reflectance scale factor, else its maximum)."),
    ] = None,
    border: Annotated[int, typer.Option("--border", help="Pixels cropped from each side first.")] = 0,
    bands: Annotated[str | None, typer.Option("--bands", help="Bands to use: 1-30,40 or 450-700nm "
                                                 "(default: bands the reference's bbl marks good).")] = None,
    clip: Annotated[bool, typer.Option("--clip/--no-clip", help="Clip SR to [0, data range] first.")] = True,
    var: Var = None,
    layout: Layout = choices.Layout.auto,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --per-band CSV.")] = False,
    quiet: Quiet = False,
) -> None:
    """Quality of a super-resolved scene against its reference, streamed over the scene.

    PSNR is the mean of per-band PSNR (psnr_global: over the whole cube); SSIM uses
    an 11x11 Gaussian window (sigma 1.5) per band; SAM is in degrees (zero-norm
    pixels skipped); ERGAS uses 100/scale; RMSE is divided by the data range; CC is
    the mean per-band Pearson correlation.
    """
    from tqdm import tqdm

    from hsrcli.io import HsrInputError, open_scene
    from hsrcli.io.atomic import check_targets
    from hsrcli.io.bands import bands_by_wavelength, parse_band_selection
    from hsrcli.io.remote import as_input
    from hsrcli.io.view import BandSubset
    from hsrcli.metrics import stream_metrics

    if per_band is not None:
        check_targets([per_band], overwrite, [Path(sr), Path(ref)])  # fail before the (long) computation
    if scale is not None and scale <= 0:
        raise HsrInputError(f"--scale must be positive, got {scale:g}")
    with (open_scene(as_input(sr), var=var, layout=layout) as s,
          open_scene(as_input(ref), var=var, layout=layout) as r):
        matched = None  # an SR of some of the reference's bands (hsr upscale --bands): those, by wavelength
        if s.meta.bands < r.meta.bands and (s.meta.rows, s.meta.cols) == (r.meta.rows, r.meta.cols):
            matched = bands_by_wavelength(s.meta, r.meta)
            r = BandSubset(r, matched)
        band_idx = None if bands is None else parse_band_selection(bands, r.meta)

        def bar(items):
            return tqdm(items, desc="metrics", unit="strip", disable=quiet, leave=False)

        d = stream_metrics(s, r, data_range=data_range, scale=scale, border=border, bands=band_idx,
                           clip=clip, progress=bar)
        wavelengths = r.meta.wavelengths
    d["sr"], d["ref"] = str(sr), str(ref)
    if d["ref_outside_clip"]:
        share = d["ref_outside_clip"] / (d["pixels"] * d["bands"])
        typer.echo(f"hsr: warning: {ref}: {d['ref_outside_clip']} reference values ({share:.2%}) lie outside "
                   f"[0, {d['data_range']:g}], where the clipped SR cannot follow them (negative reflectances?); "
                   "--no-clip compares the values as stored", err=True)
    d["ref_bands"] = matched  # the reference's bands the SR's were matched to (0-based), or None: the same bands
    if per_band is not None:
        _write_csv(per_band, d, wavelengths, overwrite)
    if as_json:
        typer.echo(json.dumps(d, indent=2))
    else:
        typer.echo(_table(d))
