"""``hsr train``, ``hsr evaluate`` and ``hsr plot-training``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from hsrcli import choices
from hsrcli.cli.errors import reports_bad_input
from hsrcli.cli.options import Amp, Device, Figure, Overwrite, Quiet, floats


def _model_args(items: list[str] | None) -> dict:
    """``KEY=VALUE`` pairs; values parsed as JSON when possible (numbers, true/false, null)."""
    from hsrcli.io import HsrInputError

    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise HsrInputError(f"bad --model-arg {item!r} (use KEY=VALUE, e.g. channels=48)")
        try:
            out[key.strip().replace("-", "_")] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip().replace("-", "_")] = value
    return out


@reports_bad_input
def train(
    datasets: Annotated[list[Path], typer.Argument(help="Data set folder(s) made by 'hsr prepare' (several only for "
                                                   "band-agnostic models; validation uses the first).",
                                              show_default=False)],
    model: Annotated[str, typer.Option("--model", "-m", help="lkca, lkca-lr, lkca-g or coarsr.",
                                       show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="Run folder (last.pt, best.pt, log.csv, "
                                         "config.json).", show_default=False)],
    epochs: Annotated[int, typer.Option("--epochs", help="Epochs to train in total (with --minutes: at most).")] = 100,
    minutes: Annotated[float | None, typer.Option("--minutes", help="Wall-time budget: after each epoch the "
                                                     "number of epochs is refitted to the time left, and the "
                                                     "cosine schedule and KD weight follow.")] = None,
    iters_per_epoch: Annotated[int | None, typer.Option("--iters-per-epoch", help="Batches per epoch "
                                                           "(default: one pass over the patches).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Patches per batch (per process).")] = 16,
    lr: Annotated[float, typer.Option("--lr", help="Adam learning rate.")] = 1e-4,
    schedule: Annotated[choices.Schedule,
                        typer.Option("--schedule", help="LR schedule (per epoch).")] = choices.Schedule.step,
    lr_step: Annotated[int, typer.Option("--lr-step", help="Epochs between LR decays (step).")] = 30,
    lr_gamma: Annotated[float, typer.Option("--lr-gamma", help="LR factor at each decay (step).")] = 0.5,
    loss: Annotated[choices.Loss,
                    typer.Option("--loss", help="l1, or hloss (L1 + 0.3 SAM + 0.1 gradient).")] = choices.Loss.l1,
    clip_grad: Annotated[float | None, typer.Option("--clip-grad", help="Max gradient norm.")] = None,
    ema: Annotated[float | None, typer.Option("--ema", metavar="DECAY", help="Keep a moving average of the "
                                              "weights, this decay per step (e.g. 0.999; warmed up over the "
                                              "first steps): validation and checkpoints use it.")] = None,
    teacher: Annotated[Path | None, typer.Option("--teacher", help="lkca checkpoint to distil into an "
                                                    "lkca-lr student (LKCA-KD).")] = None,
    init_from_teacher: Annotated[bool, typer.Option("--init-from-teacher", help="Start the student from the "
                                                    "teacher (backbone + SVD of its upsampler).")] = False,
    init_from: Annotated[str | None, typer.Option("--init-from", metavar="CHECKPOINT|NAME",
                                                     help="Fine-tune: start from the weights of a checkpoint "
                                                     "or a bundled model (same model and --model-arg; fresh "
                                                     "optimiser and schedule).")] = None,
    after: Annotated[str | None, typer.Option("--after", metavar="CHECKPOINT|NAME",
                                                 help="Train the later stage of a cascade: every LR patch first "
                                                 "goes through this frozen model, and the model learns the "
                                                 "rest of the data set's scale from its output (x8 data, "
                                                 "--after lkca-g_x4: a x2 model for -m lkca-g_x4+RUN/best.pt)."
                                                 )] = None,
    kd_decay: Annotated[choices.KDDecay,
                        typer.Option("--kd-decay", help="Teacher weight decay.")] = choices.KDDecay.linear,
    kd_weight: Annotated[float, typer.Option("--kd-weight", help="Initial teacher weight w0.")] = 1.0,
    coarsr_step: Annotated[choices.CoarSRStep,
                           typer.Option("--coarsr-step", help="CoarSR: one optimiser step per batch, or per band "
                                        "(published code).")] = choices.CoarSRStep.batch,
    model_arg: Annotated[list[str] | None, typer.Option("--model-arg", help="Model option KEY=VALUE "
                                                           "(see 'hsr models'); repeatable.")] = None,
    band_crop: Annotated[int | None, typer.Option("--band-crop", help="Band-agnostic models: train on random "
                                                     "windows of this many bands (default: the group size when "
                                                     "several data sets are given).")] = None,
    band_stride: Annotated[int, typer.Option("--band-stride", help="Band-agnostic models: windows of every "
                                             "j-th band, j drawn from 1..N (coarser spectral sampling, as "
                                             "of other sensors); 1: adjacent bands.")] = 1,
    gain: Annotated[str | None, typer.Option("--gain", metavar="LOW,HIGH", help="Multiply each training patch "
                                             "pair by a gain drawn log-uniformly from [LOW, HIGH] (e.g. 0.25,2): "
                                             "robustness to scenes brighter or dimmer than their normalisation "
                                             "puts them.")] = None,
    device: Device = "auto",
    amp: Amp = choices.Amp.bf16,
    seed: Annotated[int, typer.Option("--seed", help="Seed (sampling, augmentation, initialisation).")] = 0,
    workers: Annotated[int, typer.Option("--workers", help="DataLoader worker processes.")] = 0,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from RUN_DIR/last.pt.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Start afresh in a run folder that has "
                                            "checkpoints.")] = False,
    quiet: Quiet = False,
) -> None:
    """Train a model on a prepared data set: validation every epoch, best/last checkpoints, resumable.

    Distributed: torchrun --nproc_per_node N -m hsrcli train ...
    """
    import os

    from tqdm import tqdm

    from hsrcli.train.config import TrainConfig, loss_weights
    from hsrcli.train.loop import train as run

    lambda_spec, lambda_grad = loss_weights(loss)
    cfg = TrainConfig(
        dataset=str(datasets[0]), extra_datasets=[str(d) for d in datasets[1:]], band_crop=band_crop,
        band_stride=band_stride, gain=None if gain is None else floats(gain, "--gain"),
        model=model, out=str(output), model_kwargs=_model_args(model_arg), epochs=epochs,
        minutes=minutes, iters_per_epoch=iters_per_epoch, batch_size=batch_size, lr=lr, schedule=schedule,
        lr_step=lr_step,
        lr_gamma=lr_gamma, lambda_spec=lambda_spec, lambda_grad=lambda_grad,
        clip_grad=clip_grad, ema=ema, teacher=str(teacher) if teacher else None, init_from_teacher=init_from_teacher,
        init_from=init_from, after=after,
        kd_decay=kd_decay, kd_w0=kd_weight, coarsr_step=coarsr_step, device=device, amp=amp, seed=seed,
        workers=workers,
    )
    show = not quiet and int(os.environ.get("RANK", "0")) == 0

    def bar(loader, epoch):
        return tqdm(loader, desc=f"epoch {epoch + 1}" + ("" if minutes else f"/{epochs}"), unit="it",
                    disable=not show, leave=False)

    summary = run(cfg, resume=resume, progress=bar, overwrite=overwrite)
    if show:
        val = summary.get("val") or {}
        psnr = val.get("psnr")
        typer.echo(f"epoch {summary.get('epoch')}: loss {summary.get('train_loss', float('nan')):.5f}"
                   + (f", val PSNR {psnr:.3f} dB" if psnr is not None else "")
                   + (f", best {summary['best_psnr']:.3f} dB" if summary.get("best_psnr") is not None else "")
                   + f"; checkpoints in {output}", err=True)


@reports_bad_input
def evaluate(
    dataset: Annotated[Path, typer.Argument(help="Data set folder made by 'hsr prepare'.", show_default=False)],
    model: Annotated[list[str], typer.Option("--model", "-m", help="Checkpoint, bundled name or bicubic; "
                                             "A+B: A then B (a cascade, scales multiply); X,Y: their average; "
                                             "A@B: A refined by FineSR with the x s/2 model B (A@lr at x2); "
                                             "repeatable.", show_default=False)],
    split: Annotated[choices.Split, typer.Option("--split", help="Which images to score.")] = choices.Split.test,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="Also write the table as CSV.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of Markdown.")] = False,
    as_upscale: Annotated[bool, typer.Option("--as-upscale", help="Follow every normalising model (not A@B) "
                                             "with hsr upscale's default output steps: spectral subspace "
                                             "'auto' and one LR back-projection pass, per image.")] = False,
    device: Device = "auto",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing --csv file.")] = False,
    quiet: Quiet = False,
) -> None:
    """Every model on the test split: PSNR, SSIM, SAM, ERGAS, RMSE, CC and seconds per image (Markdown)."""
    import csv

    from tqdm import tqdm

    from hsrcli.io.atomic import atomic_path, check_targets
    from hsrcli.runtime import resolve_device
    from hsrcli.train.evaluate import evaluate as run
    from hsrcli.train.evaluate import markdown_table

    if csv_out is not None:
        check_targets([csv_out], overwrite)  # fail before the (long) evaluation

    def bar(items, label):
        return tqdm(items, desc=label, unit="image", disable=quiet, leave=False)

    rows = run(str(dataset), model, split.value, resolve_device(device), bar, as_upscale)
    if csv_out is not None:
        with atomic_path(csv_out, overwrite) as tmp, open(tmp, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
    typer.echo(json.dumps(rows, indent=2) if as_json else markdown_table(rows))


@reports_bad_input
def plot_training(
    run_dir: Annotated[Path, typer.Argument(help="Run folder of 'hsr train'.", show_default=False)],
    output: Figure = Path("curves.png"),
    overwrite: Overwrite = False,
) -> None:
    """Loss and validation curves of a training run."""
    from hsrcli.io.atomic import atomic_path
    from hsrcli.plot.training import plot_training as draw

    with atomic_path(output, overwrite) as tmp:
        draw(run_dir, tmp)
