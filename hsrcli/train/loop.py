"""The training loop behind ``hsr train`` (plain PyTorch; DDP under torchrun).

* Data: :class:`~hsrcli.data.dataset.PatchDataset` (augmented on the fly) and the
  validation images of a data set made by ``hsr prepare``; its normaliser and
  wavelengths go into every checkpoint.
* Optimiser Adam (β 0.9/0.999), per-epoch LR schedule, optional gradient clipping,
  ``torch.autocast`` (bf16, or fp16 with a GradScaler) on CUDA.
* Loss: L1 (optionally HLoss terms); with ``teacher`` the LKCA-KD loss with a
  decaying weight; CoarSR band by band with a detached recurrent state, one
  optimiser step per batch (gradients accumulated band by band, so memory holds
  one band) or one per band (``coarsr_step="band"``, the published code).
* Every epoch: validation PSNR/SSIM/SAM with :mod:`hsrcli.metrics`, ``log.csv``,
  ``last.pt`` (atomic) and ``best.pt`` (by PSNR). Randomness is re-seeded from
  (seed, epoch) at the start of each epoch, so a run resumed from ``last.pt`` ends
  with the same weights as an uninterrupted one (CPU, same seed).
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from hsrcli.checkpoint import make_checkpoint, model_from_checkpoint, read_checkpoint, save_checkpoint
from hsrcli.data.dataset import ImageDataset, PatchDataset, load_manifest
from hsrcli.errors import HsrInputError
from hsrcli.metrics import compute_metrics
from hsrcli.models import build, spec
from hsrcli.runtime import amp_dtype, resolve_device, seed_everything
from hsrcli.train import dist as ddp
from hsrcli.train.config import TrainConfig, check_resumable, open_run_folder
from hsrcli.train.losses import hloss, kd_loss
from hsrcli.train.schedule import fit_epochs, kd_weight, make_scheduler, set_total_epochs

LOG_FIELDS = ["epoch", "lr", "train_loss", "kd_weight", "val_psnr", "val_ssim", "val_sam", "seconds"]


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def _coarsr_batch(model: nn.Module, lr: torch.Tensor, hr: torch.Tensor, cfg: TrainConfig, opt, scaler, autocast):
    """One batch of CoarSR band by band; returns the mean L1 over bands."""
    from contextlib import nullcontext

    bands = lr.shape[1]
    state, total = None, 0.0
    if cfg.coarsr_step == "batch":
        opt.zero_grad(set_to_none=True)
    for i in range(bands):
        if cfg.coarsr_step == "band":
            opt.zero_grad(set_to_none=True)
        # Under DDP, accumulate band gradients locally and synchronise on the last band only.
        sync = cfg.coarsr_step == "band" or i == bands - 1 or not hasattr(model, "no_sync")
        with nullcontext() if sync else model.no_sync():
            with autocast():
                y, state = model(lr, band=i, state=state)
                loss = F.l1_loss(y.float(), hr[:, i:i + 1])
            state = state.detach()  # no back-propagation through the recurrence (published protocol)
            scaler.scale(loss / bands if cfg.coarsr_step == "batch" else loss).backward()
        if cfg.coarsr_step == "band":
            _step(model, opt, scaler, cfg)
        total += float(loss.detach())
    if cfg.coarsr_step == "batch":
        _step(model, opt, scaler, cfg)
    return total / bands


def _step(model: nn.Module, opt, scaler, cfg: TrainConfig) -> None:
    if cfg.clip_grad:
        scaler.unscale_(opt)
        nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad)
    scaler.step(opt)
    scaler.update()


@torch.no_grad()
def validate(model: nn.Module, images: ImageDataset, device: torch.device, autocast) -> dict:
    """Mean PSNR/SSIM/SAM over validation images (SR clipped to [0, 1], data range 1)."""
    net = _unwrap(model).eval()
    rows = []
    for _, lr, hr in images:
        with autocast():
            sr = net(lr.unsqueeze(0).to(device)).float()
        rows.append(compute_metrics(sr[0].clamp(0, 1).cpu(), hr, 1.0, scale=None))
    if not rows:
        return {"psnr": None, "ssim": None, "sam": None}
    mean = {}
    for k in ("psnr", "ssim", "sam"):
        vals = [r[k] for r in rows if r[k] is not None]
        mean[k] = sum(vals) / len(vals) if vals else None
    return mean


def _teacher(cfg: TrainConfig, bands: int, scale: int, device: torch.device):
    ckpt = read_checkpoint(cfg.teacher)
    m = ckpt["model"]
    want = spec(cfg.model).teacher
    if m["name"] != want:
        raise HsrInputError(f"{cfg.teacher}: the teacher of {cfg.model!r} must be a {want!r} checkpoint, "
                            f"not {m['name']!r}")
    if m["bands"] != bands or m["scale"] != scale:
        raise HsrInputError(f"{cfg.teacher}: teacher is {m['bands']} bands x{m['scale']}, the data set is "
                            f"{bands} bands x{scale}")
    teacher = model_from_checkpoint(ckpt).to(device).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher, m


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


def _train(cfg: TrainConfig, resume: bool, progress, device: torch.device, info: ddp.DistInfo) -> dict:
    out = Path(cfg.out)
    manifest = load_manifest(cfg.dataset)
    bands, scale = int(manifest["bands"]["count"]), int(manifest["scale"])
    model_spec = spec(cfg.model)
    seed_everything(cfg.seed)  # the initial weights depend on --seed alone
    try:
        model = build(cfg.model, bands, scale, **cfg.model_kwargs)
    except (ValueError, TypeError) as exc:
        raise HsrInputError(str(exc)) from None
    teacher = None
    if cfg.teacher:
        teacher, tinfo = _teacher(cfg, bands, scale, device)
        if cfg.init_from_teacher and not resume:
            from hsrcli.models.lkca import lkca_lr_from_lkca

            kw = cfg.model_kwargs
            init = lkca_lr_from_lkca(teacher.cpu(), kw.get("lr_groups"), kw.get("lr_rank", 16))
            teacher.to(device)
            model.load_state_dict(init.state_dict())
    model.to(device)
    if info.is_main:
        out.mkdir(parents=True, exist_ok=True)
    dtype = amp_dtype(cfg.amp, device)

    def autocast():
        return torch.autocast(device.type, dtype=dtype, enabled=dtype is not None)

    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, betas=(0.9, 0.999), eps=1e-8)
    sched = make_scheduler(opt, cfg.schedule, cfg.epochs, cfg.lr_step, cfg.lr_gamma)
    start, best = 0, float("-inf")
    n_epochs, trained_s = cfg.epochs, 0.0  # total epochs (refitted under --minutes); seconds trained so far
    if resume:
        last = out / "last.pt"
        ckpt = read_checkpoint(last, map_location="cpu")
        check_resumable(ckpt.get("config", {}), cfg, last)
        saved = ckpt.get("model", {})
        if (saved.get("bands"), saved.get("scale")) != (bands, scale):
            raise HsrInputError(f"{last}: was trained for {saved.get('bands')} bands x{saved.get('scale')}, the data "
                                f"set has {bands} bands x{scale}")
        model.load_state_dict(ckpt["state_dict"])
        opt.load_state_dict(ckpt["optimizer"])
        sched.load_state_dict(ckpt["scheduler"])
        if ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
        start, best = int(ckpt["epoch"]) + 1, float(ckpt.get("best_psnr", float("-inf")))
        if cfg.minutes:
            n_epochs, trained_s = int(ckpt.get("epochs_total", cfg.epochs)), float(ckpt.get("seconds", 0.0))
        if start >= n_epochs:
            raise HsrInputError(f"{last}: already trained for {start} epochs"
                                + ("; raise --minutes to continue" if cfg.minutes else "; raise --epochs to continue"))
    if info.enabled:
        # CoarSR's first band does not use the recurrence weights: let DDP tolerate that.
        model = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None,
                                                    find_unused_parameters=model_spec.band_steps)

    data = PatchDataset(cfg.dataset)
    mixed = bool(cfg.extra_datasets) or cfg.band_crop is not None
    if mixed:
        from torch.utils.data import ConcatDataset

        from hsrcli.data.dataset import BandCropDataset

        crop = cfg.band_crop or int(cfg.model_kwargs.get("group_bands", 8))
        parts = [data] + [PatchDataset(d) for d in cfg.extra_datasets]
        for d, p in zip([cfg.dataset, *cfg.extra_datasets], parts):
            m2 = p.manifest
            if int(m2["scale"]) != scale:
                raise HsrInputError(f"{d}: made for x{m2['scale']}, the first data set for x{scale}")
            if int(m2["bands"]["count"]) < crop:
                raise HsrInputError(f"{d}: has {m2['bands']['count']} bands, fewer than --band-crop {crop}")
        # Patch sizes may differ between data sets: crop every item to the smallest (LR pixels).
        lr_patch = min(int(p.manifest["patches"]["size_lr"]) for p in parts)
        data = ConcatDataset([BandCropDataset(p, crop, lr_patch, scale) for p in parts])
    val = ImageDataset(cfg.dataset, "val")
    sources = [s["name"] for s in manifest["sources"]]
    for d in cfg.extra_datasets:
        sources += [s["name"] for s in load_manifest(d)["sources"]]
    norm = dict(manifest["normalization"])
    if model_spec.band_agnostic:
        norm["per_scene"] = True  # band-agnostic weights serve other sensors: normalise each scene by itself
    meta = {"normalization": norm,
            "wavelengths_nm": None if mixed else manifest["bands"]["wavelengths_nm"],
            "dataset": {"path": str(cfg.dataset), "extra": cfg.extra_datasets, "sources": sources,
                        "degradation": manifest["degradation"]},
            "training": cfg.to_dict()}
    if info.is_main:
        (out / "config.json").write_text(json.dumps(cfg.to_dict() | {"bands": bands, "scale": scale}, indent=2) + "\n")
        log_path = out / "log.csv"
        if not resume or not log_path.exists():
            with open(log_path, "w", newline="") as f:
                csv.writer(f).writerow(LOG_FIELDS)
    summary: dict = {"best_psnr": best if best > float("-inf") else None}
    session_t0, session_s0 = time.perf_counter(), trained_s
    epoch = start
    while epoch < n_epochs:
        t0 = time.perf_counter()
        seed_everything(cfg.seed * 1000 + epoch)  # epoch-deterministic: exact resume
        if info.enabled:
            sampler = DistributedSampler(data, num_replicas=info.world_size, rank=info.rank, shuffle=True,
                                         seed=cfg.seed, drop_last=True)
            sampler.set_epoch(epoch)
        else:
            g = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
            n = None if cfg.iters_per_epoch is None else cfg.iters_per_epoch * cfg.batch_size
            sampler = RandomSampler(data, replacement=n is not None and n > len(data), num_samples=n, generator=g)
        loader = DataLoader(data, batch_size=cfg.batch_size, sampler=sampler, num_workers=cfg.workers,
                            drop_last=len(data) >= cfg.batch_size)
        w = kd_weight(epoch, n_epochs, cfg.kd_decay, cfg.kd_w0) if teacher is not None else 0.0
        model.train()
        total, steps = 0.0, 0
        batches = loader if progress is None or not info.is_main else progress(loader, epoch)
        for lr, hr in batches:
            lr, hr = lr.to(device, non_blocking=True), hr.to(device, non_blocking=True)
            if model_spec.band_steps:
                loss_value = _coarsr_batch(model, lr, hr, cfg, opt, scaler, autocast)
            else:
                opt.zero_grad(set_to_none=True)
                with autocast():
                    if teacher is not None:
                        sr, s_res, base = model(lr, return_parts=True)
                        with torch.no_grad():
                            _, t_res, _ = teacher.forward_parts(lr)
                        loss = hloss(sr.float(), hr, cfg.lambda_spec, cfg.lambda_grad)
                        if w > 0:
                            loss = loss + w * kd_loss(s_res.float(), t_res.float(), base.float(),
                                                      cfg.kd_lambda_spec, cfg.kd_lambda_grad)
                    else:
                        sr = model(lr)
                        loss = hloss(sr.float(), hr, cfg.lambda_spec, cfg.lambda_grad)
                scaler.scale(loss).backward()
                _step(model, opt, scaler, cfg)
                loss_value = float(loss.detach())
            total += loss_value
            steps += 1
            if hasattr(batches, "set_postfix"):
                batches.set_postfix(loss=f"{loss_value:.5f}")
            if cfg.iters_per_epoch and info.enabled and steps >= cfg.iters_per_epoch:
                break
        epoch_lr = opt.param_groups[0]["lr"]  # the rate this epoch trained with
        trained_s = session_s0 + ddp.all_mean(time.perf_counter() - session_t0, info, device)
        if cfg.minutes:  # fit the remaining epochs (and so the cosine schedule) to the time left
            n_epochs = fit_epochs(epoch + 1, trained_s, cfg.minutes * 60.0, cfg.epochs)
            set_total_epochs(sched, n_epochs)
        sched.step()
        train_loss = ddp.all_mean(total / max(1, steps), info, device)
        metrics = {"psnr": None, "ssim": None, "sam": None}
        if info.is_main and ((epoch + 1) % cfg.val_every == 0 or epoch + 1 == n_epochs):
            metrics = validate(model, val, device, autocast)
        if info.is_main:
            seconds = time.perf_counter() - t0
            row = [epoch + 1, epoch_lr, train_loss, w, metrics["psnr"], metrics["ssim"],
                   metrics["sam"], round(seconds, 3)]
            with open(out / "log.csv", "a", newline="") as f:
                csv.writer(f).writerow(row)
            net = _unwrap(model)
            improved = metrics["psnr"] is not None and metrics["psnr"] > best
            if improved:
                best = metrics["psnr"]
            epoch_meta = meta | {"epoch": epoch + 1, "metrics": metrics}
            ckpt = make_checkpoint(net, cfg.model, bands, scale, cfg.model_kwargs, epoch_meta,
                                   config=cfg.to_dict(), epoch=epoch, best_psnr=best, epochs_total=n_epochs,
                                   seconds=trained_s,
                                   optimizer=opt.state_dict(), scheduler=sched.state_dict(),
                                   scaler=scaler.state_dict() if scaler.is_enabled() else None)
            save_checkpoint(ckpt, out / "last.pt")
            if improved or not (out / "best.pt").exists():
                best_ckpt = {k: v for k, v in ckpt.items() if k not in ("optimizer", "scheduler", "scaler")}
                save_checkpoint(best_ckpt, out / "best.pt")
            summary = {"epoch": epoch + 1, "train_loss": train_loss, "val": metrics,
                       "best_psnr": None if best == float("-inf") else best}
        ddp.barrier(info)
        epoch += 1
    return summary
