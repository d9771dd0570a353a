"""The training loop behind ``hsr train`` (plain PyTorch; DDP under torchrun).

* Configuration and run folder checked first (:mod:`hsrcli.train.config`); data from
  :mod:`hsrcli.train.data`; each epoch's batches and validation in :mod:`hsrcli.train.steps`.
* Optimiser Adam (β 0.9/0.999), per-epoch LR schedule, optional gradient clipping,
  ``torch.autocast`` (bf16, or fp16 with a GradScaler) on CUDA.
* Optional moving average of the weights (``--ema``, :mod:`hsrcli.train.ema`): validation and
  the checkpoints' weights are then the average's.
* Optional frozen first stage (``--after``, :mod:`hsrcli.train.stage`): the model is trained as the
  later stage of a cascade, on that stage's output, for the data set's scale over the stage's.
* Every epoch: validation PSNR/SSIM/SAM, ``log.csv``, ``last.pt`` (atomic) and ``best.pt``
  (by PSNR). Randomness is re-seeded from (seed, epoch) at the start of each epoch, so a run
  resumed from ``last.pt`` ends with the same weights as an uninterrupted one (CPU, same seed).
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from hsrcli import dist as ddp
from hsrcli.checkpoint import (
    check_compatible,
    cpu_weights,
    make_checkpoint,
    model_from_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from hsrcli.data.dataset import ImageDataset
from hsrcli.data.manifest import load_manifest
from hsrcli.errors import HsrInputError
from hsrcli.models import build, spec
from hsrcli.runtime import amp_dtype, resolve_device, seed_everything
from hsrcli.train.config import TrainConfig, check_resumable, open_run_folder
from hsrcli.train.data import checkpoint_meta, epoch_loader, mixed, training_data
from hsrcli.train.ema import make_ema
from hsrcli.train.schedule import fit_epochs, kd_weight, make_scheduler, set_total_epochs
from hsrcli.train.stage import FirstStage
from hsrcli.train.steps import train_epoch, unwrap, validate

LOG_FIELDS = ["epoch", "lr", "train_loss", "kd_weight", "val_psnr", "val_ssim", "val_sam", "seconds"]


def _teacher(cfg: TrainConfig, bands: int, scale: int, device: torch.device) -> nn.Module:
    """The frozen KD teacher: a checkpoint of the model ``spec(cfg.model).teacher``, same data shape."""
    ckpt = read_checkpoint(cfg.teacher)
    m = ckpt.model
    want = spec(cfg.model).teacher
    if m.name != want:
        raise HsrInputError(f"{cfg.teacher}: the teacher of {cfg.model!r} must be a {want!r} checkpoint, "
                            f"not {m.name!r}")
    if m.bands != bands or m.scale != scale:
        raise HsrInputError(f"{cfg.teacher}: teacher is {m.bands} bands x{m.scale}, the data set is "
                            f"{bands} bands x{scale}")
    teacher = model_from_checkpoint(ckpt).to(device).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher


def _initial_weights(cfg: TrainConfig, bands: int, scale: int) -> dict:
    """The ``state_dict`` of ``--init-from`` (a checkpoint or bundled name): same model, options and scale."""
    from hsrcli.weights import require_checkpoint

    ckpt = read_checkpoint(require_checkpoint(cfg.init_from, "--init-from"))
    m = ckpt.model
    if m.name != cfg.model:
        raise HsrInputError(f"--init-from {cfg.init_from}: holds a {m.name!r} model, not {cfg.model!r}")
    if m.kwargs != cfg.model_kwargs:
        given = " ".join(f"--model-arg {k}={v}" for k, v in m.kwargs.items()) or "no --model-arg"
        raise HsrInputError(f"--init-from {cfg.init_from}: was built with other model options "
                            f"({m.kwargs} vs {cfg.model_kwargs}); train with {given}")
    check_compatible(ckpt, bands, scale, "the data set", prepared=True)
    return ckpt.state_dict


def train(cfg: TrainConfig, resume: bool = False, progress: Callable | None = None, overwrite: bool = False) -> dict:
    """Run (or resume) a training; returns a summary with the best validation metrics.

    The configuration and the run folder are checked before anything is created
    (:meth:`TrainConfig.validate`, :func:`open_run_folder`): a fresh run never
    replaces another one unless ``overwrite``.
    """
    cfg.validate()
    open_run_folder(Path(cfg.out), resume, overwrite)
    device = resolve_device(cfg.device)
    info = ddp.init_from_env(device.type)
    if info.enabled and device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
        torch.cuda.set_device(device)
    try:
        return _train(cfg, resume, progress, device, info)
    finally:
        ddp.shutdown(info)


@dataclass
class _State:
    """What an epoch changes: the optimisation state and the run's progress."""

    model: nn.Module
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    ema: AveragedModel | None = None  # the moving average of the trained weights (--ema)
    start: int = 0  # first epoch to train (0-based)
    best: float = float("-inf")  # best validation PSNR so far
    n_epochs: int = 0  # total epochs (refitted under --minutes)
    trained_s: float = 0.0  # seconds trained so far, all sessions


def _build(cfg: TrainConfig, bands: int, scale: int, device: torch.device, resume: bool):
    """The model (seeded initialisation, the teacher's projection, or ``--init-from``) and the KD teacher."""
    seed_everything(cfg.seed)  # the initial weights depend on --seed alone
    try:
        model = build(cfg.model, bands, scale, **cfg.model_kwargs)
    except (ValueError, TypeError) as exc:
        raise HsrInputError(str(exc)) from None
    teacher = None
    if cfg.teacher:
        teacher = _teacher(cfg, bands, scale, device)
        if cfg.init_from_teacher and not resume:
            from hsrcli.models.lkca import lkca_lr_from_lkca

            kw = cfg.model_kwargs
            init = lkca_lr_from_lkca(teacher.cpu(), kw.get("lr_groups"), kw.get("lr_rank", 16))
            teacher.to(device)
            model.load_state_dict(init.state_dict())
    if cfg.init_from and not resume:  # fine-tuning: the weights of a checkpoint, a fresh optimiser and schedule
        model.load_state_dict(_initial_weights(cfg, bands, scale))
    return model.to(device), teacher


def _restore(state: _State, cfg: TrainConfig, last: Path, bands: int, scale: int) -> None:
    """Continue from ``last.pt``: same configuration (what is trained), same data shape."""
    ckpt = read_checkpoint(last, map_location="cpu")
    check_resumable(ckpt.config, cfg, last)
    if (ckpt.model.bands, ckpt.model.scale) != (bands, scale):
        raise HsrInputError(f"{last}: was trained for {ckpt.model.bands} bands x{ckpt.model.scale}, the data "
                            f"set has {bands} bands x{scale}")
    saved = ckpt.state
    if "optimizer" not in saved or "epoch" not in saved:
        raise HsrInputError(f"{last}: holds no training state to resume from")
    if state.ema is None:
        state.model.load_state_dict(ckpt.state_dict)
    else:  # the checkpoint's weights are the average; the trained ones travel beside them
        if "train_weights" not in saved or "ema_updates" not in saved:
            raise HsrInputError(f"{last}: holds no trained weights beside an average to resume --ema from")
        state.model.load_state_dict(saved["train_weights"])
        state.ema.module.load_state_dict(ckpt.state_dict)
        state.ema.n_averaged.fill_(int(saved["ema_updates"]))
    state.opt.load_state_dict(saved["optimizer"])
    state.sched.load_state_dict(saved["scheduler"])
    if saved.get("scaler"):
        state.scaler.load_state_dict(saved["scaler"])
    state.start, state.best = int(saved["epoch"]) + 1, float(saved.get("best_psnr", float("-inf")))
    if cfg.minutes:
        state.n_epochs, state.trained_s = int(saved.get("epochs_total", cfg.epochs)), float(saved.get("seconds", 0.0))
    if state.start >= state.n_epochs:
        raise HsrInputError(f"{last}: already trained for {state.start} epochs"
                            + ("; raise --minutes to continue" if cfg.minutes else "; raise --epochs to continue"))


def _held(state: _State) -> nn.Module:
    """The network validated and saved: the moving average with ``--ema``, else the trained one."""
    return unwrap(state.model) if state.ema is None else state.ema.module


def _save_epoch(state: _State, cfg: TrainConfig, out: Path, epoch: int, meta: dict, metrics: dict,
                bands: int, scale: int) -> None:
    """``last.pt`` every epoch, ``best.pt`` when the validation PSNR improved (both atomic)."""
    improved = metrics["psnr"] is not None and metrics["psnr"] > state.best
    if improved:
        state.best = metrics["psnr"]
    averaged = {}
    if state.ema is not None:
        averaged = {"train_weights": cpu_weights(unwrap(state.model)), "ema_updates": int(state.ema.n_averaged)}
    ckpt = make_checkpoint(_held(state), cfg.model, bands, scale, cfg.model_kwargs,
                           meta | {"epoch": epoch + 1, "metrics": metrics},
                           config=cfg.to_dict(), epoch=epoch, best_psnr=state.best, epochs_total=state.n_epochs,
                           seconds=state.trained_s, optimizer=state.opt.state_dict(),
                           scheduler=state.sched.state_dict(),
                           scaler=state.scaler.state_dict() if state.scaler.is_enabled() else None, **averaged)
    save_checkpoint(ckpt, out / "last.pt")
    if improved or not (out / "best.pt").exists():
        save_checkpoint(ckpt.weights_only(), out / "best.pt")


def _train(cfg: TrainConfig, resume: bool, progress, device: torch.device, info: ddp.DistInfo) -> dict:
    out = Path(cfg.out)
    manifest = load_manifest(cfg.dataset)
    bands, data_scale = manifest.bands, manifest.scale
    # --after: a frozen first stage takes the data set's LR part of the way; the model does the rest
    first = FirstStage(cfg.after, bands, data_scale, device, mixed(cfg)) if cfg.after else None
    scale = data_scale if first is None else first.rest
    model_spec = spec(cfg.model)
    model, teacher = _build(cfg, bands, scale, device, resume)
    dtype = amp_dtype(cfg.amp, device)

    def autocast():
        return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)

    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.9, 0.999), eps=1e-8)
    state = _State(model, opt, make_scheduler(opt, cfg.schedule, cfg.epochs, cfg.lr_step, cfg.lr_gamma),
                   torch.amp.GradScaler(device.type, enabled=dtype == torch.float16), make_ema(model, cfg.ema),
                   n_epochs=cfg.epochs)
    if resume:
        _restore(state, cfg, out / "last.pt", bands, scale)
    data, val = training_data(cfg, data_scale), ImageDataset(cfg.dataset, "val")
    meta = checkpoint_meta(cfg, manifest, model_spec.band_agnostic)
    if first is not None:
        meta["after"] = first.describe()
    if info.enabled:
        # Band-by-band models do not use every weight on every band: let DDP tolerate that.
        state.model = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None,
            find_unused_parameters=model_spec.band_steps)
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(cfg.to_dict() | {"bands": bands, "scale": scale}, indent=2) + "\n")
        if not resume or not (out / "log.csv").exists():
            with open(out / "log.csv", "w", newline="") as f:
                csv.writer(f).writerow(LOG_FIELDS)
    summary: dict = {"best_psnr": state.best if state.best > float("-inf") else None}
    session_t0, session_s0 = time.perf_counter(), state.trained_s
    epoch = state.start
    while epoch < state.n_epochs:
        t0 = time.perf_counter()
        seed_everything(cfg.seed * 1000 + epoch)  # epoch-deterministic: exact resume
        loader = epoch_loader(data, cfg, epoch, info)
        w = kd_weight(epoch, state.n_epochs, cfg.kd_decay, cfg.kd_w0) if teacher is not None else 0.0
        batches = loader if progress is None or not info.is_main else progress(loader, epoch)
        loss = train_epoch(state.model, batches, cfg, opt, state.scaler, autocast, device, model_spec.band_steps,
                           teacher, w, cfg.iters_per_epoch if info.enabled else None, state.ema, first)
        epoch_lr = opt.param_groups[0]["lr"]  # the rate this epoch trained with
        state.trained_s = session_s0 + ddp.all_mean(time.perf_counter() - session_t0, info, device)
        if cfg.minutes:  # fit the remaining epochs (and so the cosine schedule) to the time left
            state.n_epochs = fit_epochs(epoch + 1, state.trained_s, cfg.minutes * 60.0, cfg.epochs)
            set_total_epochs(state.sched, state.n_epochs)
        state.sched.step()
        train_loss = ddp.all_mean(loss, info, device)
        metrics = {"psnr": None, "ssim": None, "sam": None}
        if info.is_main and ((epoch + 1) % cfg.val_every == 0 or epoch + 1 == state.n_epochs):
            metrics = validate(_held(state), val, device, autocast, first)
        if info.is_main:
            row = [epoch + 1, epoch_lr, train_loss, w, metrics["psnr"], metrics["ssim"], metrics["sam"],
                   round(time.perf_counter() - t0, 3)]
            with open(out / "log.csv", "a", newline="") as f:
                csv.writer(f).writerow(row)
            _save_epoch(state, cfg, out, epoch, meta, metrics, bands, scale)
            summary = {"epoch": epoch + 1, "train_loss": train_loss, "val": metrics,
                       "best_psnr": None if state.best == float("-inf") else state.best}
        ddp.barrier(info)
        epoch += 1
    return summary
