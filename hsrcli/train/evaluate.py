"""``hsr evaluate``: several models on the test split of a prepared data set → one table.

Models run on each whole test image as they are (the published convention), or with ``--as-upscale``
followed by ``hsr upscale``'s default output steps (spectral subspace, LR back-projection); a cascade
then runs stage by stage, as ``hsr upscale`` runs it (:mod:`hsrcli.infer.staged`).

A model spec ``A+B`` is DualSR's two stages: model A at the data set's scale s refined by
FineSR with model B at s/2 (``A+lr`` for s = 2: the LR input itself), always applied, with
one λ per image, as published.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from hsrcli.data.dataset import ImageDataset
from hsrcli.data.degrade import recorded
from hsrcli.errors import HsrInputError
from hsrcli.infer.resolve import resolve_model
from hsrcli.infer.staged import runs_staged
from hsrcli.infer.whole import upscale_image
from hsrcli.metrics import compute_metrics
from hsrcli.models.finesr import finesr

COLUMNS = ("psnr", "ssim", "sam", "ergas", "rmse", "cc")
#: ``A@B`` in a model list: A refined by FineSR with the ×s/2 model B (``A@lr`` at ×2); ``A+B`` is a cascade
REFINED = "@"


@torch.no_grad()
def evaluate(dataset: str, models: list[str], split: str = "test", device: torch.device | str = "cpu",
             progress: Callable | None = None, as_upscale: bool = False) -> list[dict]:
    """Mean metrics over the images of ``split`` for every model (SR clipped to [0, 1], data range 1, the
    images' valid pixels);
    ``as_upscale``: every normalising model without FineSR followed by ``hsr upscale``'s default output
    steps (:func:`~hsrcli.infer.whole.upscale_image`)."""
    images = ImageDataset(dataset, split)
    scale, bands = images.manifest.scale, images.manifest.bands
    kernel, psf = recorded(images.manifest.degradation)  # --as-upscale back-projects onto the data set's
    rows = []
    for spec in models:
        main, _, partner = spec.partition(REFINED)
        r = resolve_model(main, bands, scale, device, source="the data set")
        model = r.for_inference(device)
        v_model = None
        if partner:
            if scale not in (2, 4, 8):
                raise HsrInputError(f"{spec}: FineSR needs scale 2, 4 or 8, the data set is x{scale}")
            if (partner == "lr") != (scale == 2):
                raise HsrInputError(f"{spec}: the FineSR partner is 'lr' at x2 and a x{scale // 2} model at "
                                    f"x{scale}")
            if partner != "lr":
                v_model = resolve_model(partner, bands, scale // 2, device, source="the data set").for_inference(device)
        steps = as_upscale and r.normalised and not partner  # upscale's output steps (not FineSR's)
        # a cascade runs stage by stage there, each stage with those steps
        stages = [(p, p.for_inference(device)) for p in r.parts] if steps and runs_staged(r, kernel, psf) else [
            (r, model)]
        per_image, seconds = [], 0.0
        items = progress(images, spec) if progress else images
        for name, lr, hr, valid in items:
            x = lr.unsqueeze(0).to(device)
            if torch.device(device).type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            if steps:
                sr = x
                for stage, net in stages:
                    sr = upscale_image(net, sr, stage.scale, sigma=psf, kernel=kernel, pad=stage.border)
            else:
                sr = model(x).float()
            if partner:
                v = x if v_model is None else v_model(x).float()
                sr = finesr(sr.double(), v.double()).float()
            if torch.device(device).type == "cuda":
                torch.cuda.synchronize()
            seconds += time.perf_counter() - t0
            per_image.append(compute_metrics(sr[0].clamp(0, 1).cpu().numpy(), hr.numpy(), 1.0, scale, valid))
        n = max(1, len(per_image))
        row = {"model": spec, "arch": r.name + ("+finesr" if partner else ""), "images": len(per_image),
               "as_upscale": steps, "seconds_per_image": seconds / n}
        for k in COLUMNS:
            vals = [m[k] for m in per_image if m[k] is not None]
            row[k] = sum(vals) / len(vals) if vals else None
        rows.append(row)
    return rows


def markdown_table(rows: list[dict]) -> str:
    """The rows as a Markdown table."""
    head = "| model | PSNR (dB) | SSIM | SAM (°) | ERGAS | RMSE | CC | s / image |"
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        f = {k: ("-" if r[k] is None else v.format(r[k])) for k, v in
             {"psnr": "{:.3f}", "ssim": "{:.4f}", "sam": "{:.3f}", "ergas": "{:.3f}", "rmse": "{:.5f}",
              "cc": "{:.4f}"}.items()}
        label = r["model"] + (" (as upscale)" if r.get("as_upscale") else "")
        lines.append(f"| {label} | {f['psnr']} | {f['ssim']} | {f['sam']} | {f['ergas']} | {f['rmse']} | "
                     f"{f['cc']} | {r['seconds_per_image']:.3f} |")
    return "\n".join(lines)
