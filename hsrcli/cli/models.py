"""``hsr models`` (registry, sizes, FLOPs) and ``hsr analyze-rank`` (upsampler low-rank evidence)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from hsrcli import choices
from hsrcli.cli.errors import reports_bad_input
from hsrcli.cli.options import Figure, Json, Overwrite, Quiet


def _fmt_m(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:.3f} M"


@reports_bad_input
def models(
    bands: Annotated[int, typer.Option("--bands", "-b", help="Band count to size the models for.")] = 31,
    scale: Annotated[int, typer.Option("--scale", "-s", help="SR factor.")] = 4,
    as_json: Json = False,
) -> None:
    """List the registry models with parameters, upsampler share and FLOPs per LR pixel."""
    from hsrcli.models.complexity import model_table
    from hsrcli.weights import bundled

    rows = model_table(bands, scale)
    low = next((r for r in rows if r["name"] == "lkca-lr" and r["supported"]), None)

    cards = bundled()
    result = {"bands": bands, "scale": scale, "models": rows, "bundled_weights": [c.to_dict() for c in cards]}
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    typer.echo(f"Models for {bands} bands, x{scale} (FLOPs = 2 x multiply-adds of convolutions per LR pixel)\n")
    typer.echo(f"{'model':<9} {'params':>10} {'upsampler':>11} {'share':>6} {'GFLOP/LR px':>12}  description")
    for r in rows:
        if not r["supported"]:
            typer.echo(f"{r['name']:<9} {'-':>10} {'-':>11} {'-':>6} {'-':>12}  ({r['reason']})")
            continue
        share = "-" if r["upsampler_share"] is None else f"{r['upsampler_share']:.0%}"
        typer.echo(f"{r['name']:<9} {_fmt_m(r['params']):>10} {_fmt_m(r['upsampler_params']):>11} {share:>6} "
                   f"{r['flops_per_lr_pixel'] / 1e9:>12.4f}  {r['summary']}")
    if low and "upsampler_reduction_vs_lkca" in low:
        typer.echo(f"\nlkca-lr upsampler is {low['upsampler_reduction_vs_lkca']:.1f}x smaller than lkca's "
                   f"(default groups = s^2 = {scale * scale}, rank 16 per group)")
    typer.echo("\nBundled weights: " + ("none yet" if not result["bundled_weights"] else
                                        "test metrics on the held-out scenes (benchmarks/protocol.py)"))
    width = max([15, *(len(c.name) for c in cards)])
    if result["bundled_weights"]:
        typer.echo(f"  {'name':<{width}} {'model':<8} {'scale':>5} {'bands':>5}  {'PSNR':>7} {'gain':>6} {'SSIM':>6} "
                   f"{'SAM':>6}  {'airborne gain':>13}  trained on")
    for w in cards:
        t, air = w.test or {}, w.test_airborne or {}

        def num(d, k, f):
            return f"{d[k]:{f}}" if d.get(k) is not None else "-"
        typer.echo(f"  {w.name:<{width}} {w.model:<8} {'x' + str(w.scale):>5} "
                   f"{'any' if w.band_agnostic else str(w.bands):>5}  {num(t, 'psnr', '.2f'):>7} "
                   f"{num(t, 'gain_db', '+.2f'):>6} {num(t, 'ssim', '.4f'):>6} {num(t, 'sam', '.2f'):>6}  "
                   f"{num(air, 'gain_db', '+.2f'):>13}  {w.trained_on}")


@reports_bad_input
def analyze_rank(
    checkpoint: Annotated[Path, typer.Argument(help="Checkpoint of an lkca / lkca-lr / lkca-g model.",
                                               show_default=False)],
    output: Figure = Path("rank.png"),
    energy: Annotated[choices.Energy,
                      typer.Option("--energy", help="sv: cumulative sigma; sv2: sigma^2.")] = choices.Energy.sv,
    as_json: Json = False,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
) -> None:
    """Cumulative normalised singular values of the learnable upsampler: r90/r95/r99, whole and per phase."""
    from hsrcli.checkpoint import load_model
    from hsrcli.io import HsrInputError
    from hsrcli.io.atomic import atomic_path, check_targets
    from hsrcli.models.rank import effective_weight, find_upsampler, rank_profile
    from hsrcli.plot.rank import plot_rank

    energy = energy.value
    check_targets([output], overwrite)
    model, ckpt = load_model(checkpoint)
    try:
        up = find_upsampler(model)
    except TypeError as exc:
        raise HsrInputError(f"{checkpoint}: {exc}") from None
    info = ckpt.model
    prof = rank_profile(effective_weight(up), up.scale, energy)
    with atomic_path(output, overwrite) as tmp:
        plot_rank(prof, tmp, f"{info.name} x{info.scale}, {up.bands} bands: upsampler {prof['full']['shape']}")
    summary = {"checkpoint": str(checkpoint), "model": info.name, "energy": energy,
               "full": {k: prof["full"][k] for k in ("shape", "n", "r90", "r95", "r99", "r90_fraction",
                                                     "r95_fraction", "r99_fraction")},
               "phases": [{k: p[k] for k in ("n", "r90", "r95", "r99")} for p in prof["phases"]]}
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
    else:
        f = summary["full"]
        typer.echo(f"upsampler matrix {f['shape'][0]} x {f['shape'][1]} (n = {f['n']}), energy {energy}")
        for k in ("r90", "r95", "r99"):
            per = [p[k] for p in summary["phases"]]
            typer.echo(f"  {k}: {f[k]:>5} ({f[k + '_fraction']:.1%} of n); per phase {min(per)}-{max(per)} "
                       f"of {summary['phases'][0]['n']}")
    if not quiet:
        typer.echo(f"wrote {output}", err=True)
