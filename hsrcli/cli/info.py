"""``hsr info FILE``: shape, type, wavelengths, georeferencing (and band statistics)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from hsrcli import choices
from hsrcli.cli.errors import reports_bad_input
from hsrcli.cli.options import InputPath, Json, Layout, Quiet, Var, Wavelengths


def _range(values) -> str:
    return f"{values[0]:.1f} – {values[-1]:.1f} nm" if len(values) > 1 else f"{values[0]:.1f} nm"


def _human(path: str, d: dict, crs_label: str | None) -> str:
    lines = [
        ("File", path),
        ("Format", d["format"] + (f" ({d['interleave']})" if d["interleave"] else "")),
        ("Shape", f"{d['rows']} rows × {d['cols']} cols × {d['bands']} bands"),
        ("Data type", d["dtype"]),
        ("Wavelengths", _range(d["wavelengths"]) if d["wavelengths"] else "unknown"),
    ]
    if d["fwhm"]:
        lines.append(("FWHM", f"{min(d['fwhm']):.2f} – {max(d['fwhm']):.2f} nm"))
    if d["bbl"] is not None:
        lines.append(("Bad bands", f"{d['bbl'].count(0)} of {d['bands']} flagged in bbl"))
    lines.append(("CRS", crs_label or "none"))
    if d["transform"]:
        c, _, _, f, _, _ = d["transform"]
        lines.append(("Pixel size", f"{d['pixel_size'][0]:g} × {d['pixel_size'][1]:g} (map units)"))
        lines.append(("Upper left", f"{c:.6f}, {f:.6f}"))
    elif d["gcps"]:
        lines.append(("Georeference", f"{len(d['gcps'])} ground control points"))
    elif not d["rpcs"]:
        lines.append(("Georeference", "none"))
    if d["rpcs"]:
        lines.append(("RPCs", "rational polynomial coefficients (sensor model; longitude/latitude)"))
    lines.append(("Nodata", "none" if d["nodata"] is None else f"{d['nodata']:g}"))
    if d["scale_factor"] is not None:
        lines.append(("Scale factor", f"{d['scale_factor']:g} (reflectance = value / factor)"))
    for key, value in d["source_info"].items():
        lines.append((key.capitalize(), value))
    width = max(len(k) for k, _ in lines)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in lines)


def _stats_table(stats: list[dict]) -> str:
    out = [f"{'band':>5} {'wavelength':>11} {'min':>12} {'max':>12} {'mean':>12} {'valid':>10}"]
    for s in stats:
        wl = "" if s["wavelength"] is None else f"{s['wavelength']:.1f}"
        vals = ["" if s[k] is None else f"{s[k]:.6g}" for k in ("min", "max", "mean")]
        out.append(f"{s['band'] + 1:>5} {wl:>11} {vals[0]:>12} {vals[1]:>12} {vals[2]:>12} {s['valid']:>10}")
    empty = sum(1 for s in stats if not s["valid"])
    flat = sum(1 for s in stats if s["valid"] and s["min"] == s["max"])
    if empty or flat:  # what hsr upscale leaves out of band-agnostic models (hsrcli.infer.nodata)
        parts = [f"{flat} flat (one value)"] * bool(flat) + [f"{empty} without data"] * bool(empty)
        out.append(f"\n{' and '.join(parts)} of {len(stats)} bands")
    return "\n".join(out)


@reports_bad_input
def info(
    file: InputPath,
    as_json: Json = False,
    stats: Annotated[bool, typer.Option("--stats", help="Per-band min/max/mean (streamed over the scene).")] = False,
    var: Var = None,
    layout: Layout = choices.Layout.auto,
    wavelengths: Wavelengths = None,
    quiet: Quiet = False,
) -> None:
    """Describe a scene: shape, data type, wavelengths, CRS, pixel size, nodata.

    JSON keys: rows, cols, bands, dtype, format, wavelengths (nm), crs (WKT),
    transform (GDAL order: x0, dx, rx, y0, ry, dy), nodata, and more.
    """
    from tqdm import tqdm

    from hsrcli.io import open_scene
    from hsrcli.io.geo import crs_label
    from hsrcli.io.remote import as_input
    from hsrcli.io.stats import band_stats

    with open_scene(as_input(file), var=var, layout=layout, wavelengths=wavelengths) as scene:
        d = scene.meta.to_dict()
        d["path"] = str(file)
        d["variable"] = scene.meta.source_info.get("variable")
        d["crs_name"] = crs_label(scene.meta.crs)
        if stats:
            def bar(items):
                return tqdm(items, desc="stats", unit="window", disable=quiet, leave=False)

            d["stats"] = band_stats(scene, progress=bar)
    if as_json:
        typer.echo(json.dumps(d, indent=2))
        return
    typer.echo(_human(str(file), d, d["crs_name"]))
    if stats:
        typer.echo("")
        typer.echo(_stats_table(d["stats"]))
