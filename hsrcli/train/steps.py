"""One optimiser step, one epoch and one validation pass of ``hsr train``.

* :func:`train_epoch` — every batch of a loader: L1/HLoss, the LKCA-KD term with the
  epoch's teacher weight, or band-by-band steps for models trained that way (CoarSR);
  returns the mean loss.
* :func:`validate` — mean PSNR/SSIM/SAM over the validation images.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim.swa_utils import AveragedModel

from hsrcli.data.augment import random_gain
from hsrcli.data.dataset import ImageDataset
from hsrcli.metrics import compute_metrics
from hsrcli.train.config import TrainConfig
from hsrcli.train.losses import hloss, kd_loss
from hsrcli.train.stage import FirstStage


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a DistributedDataParallel wrapper (or the model itself)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def optimizer_step(model: nn.Module, opt, scaler, cfg: TrainConfig) -> None:
    """Optional gradient clipping (``--clip-grad``), then the (scaled) optimiser step."""
    if cfg.clip_grad:
        scaler.unscale_(opt)
        nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad)
    scaler.step(opt)
    scaler.update()


def band_by_band_batch(model: nn.Module, lr: torch.Tensor, hr: torch.Tensor, cfg: TrainConfig, opt, scaler,
                       autocast: Callable) -> float:
    """One batch band by band with a detached recurrent state (CoarSR); returns the mean L1 over bands.

    ``coarsr_step="batch"``: the bands in spans of the model's ``band_chunk`` (one encoder and
    tail pass per span, :meth:`~hsrcli.models.coarsr.CoarSR.forward_span`), gradients accumulated
    over the spans, one step; ``"band"``: a step per band (the published code).
    """
    bands = lr.shape[1]
    per_batch = cfg.coarsr_step == "batch"
    width = max(1, int(getattr(unwrap(model), "band_chunk", 1))) if per_batch else 1
    spans = [(b, min(bands, b + width)) for b in range(0, bands, width)]
    state, total = None, lr.new_zeros(())
    if per_batch:
        opt.zero_grad(set_to_none=True)
    for start, stop in spans:
        if not per_batch:
            opt.zero_grad(set_to_none=True)
        # Under DDP, accumulate span gradients locally and synchronise on the last span only.
        sync = not per_batch or stop == bands or not hasattr(model, "no_sync")
        with nullcontext() if sync else model.no_sync():
            with autocast():
                y, state = model(lr, band=(start, stop), state=state)
                loss = F.l1_loss(y.float(), hr[:, start:stop])  # forward_span detaches the state it takes in
            scaler.scale(loss * ((stop - start) / bands) if per_batch else loss).backward()
        if not per_batch:
            optimizer_step(model, opt, scaler, cfg)
        total += loss.detach() * (stop - start)
    if per_batch:
        optimizer_step(model, opt, scaler, cfg)
    return float(total) / bands


def joint_batch(model: nn.Module, lr: torch.Tensor, hr: torch.Tensor, cfg: TrainConfig, opt, scaler,
                autocast: Callable, teacher: nn.Module | None, kd_w: float) -> float:
    """One batch through the whole model: HLoss (L1 when its weights are 0) + ``kd_w`` × KD term."""
    opt.zero_grad(set_to_none=True)
    with autocast():
        if teacher is not None:
            sr, s_res, base = model(lr, return_parts=True)
            with torch.no_grad():
                _, t_res, _ = teacher.forward_parts(lr)
            loss = hloss(sr.float(), hr, cfg.lambda_spec, cfg.lambda_grad)
            if kd_w > 0:
                loss = loss + kd_w * kd_loss(s_res.float(), t_res.float(), base.float(), cfg.kd_lambda_spec,
                                             cfg.kd_lambda_grad)
        else:
            loss = hloss(model(lr).float(), hr, cfg.lambda_spec, cfg.lambda_grad)
    scaler.scale(loss).backward()
    optimizer_step(model, opt, scaler, cfg)
    return float(loss.detach())


def train_epoch(model: nn.Module, batches: Iterable, cfg: TrainConfig, opt, scaler, autocast: Callable,
                device: torch.device, band_steps: bool, teacher: nn.Module | None = None, kd_w: float = 0.0,
                max_steps: int | None = None, ema: AveragedModel | None = None,
                first: FirstStage | None = None) -> float:
    """Train on every ``(lr, hr)`` batch (at most ``max_steps``), moving ``ema`` (:mod:`hsrcli.train.ema`)
    after each; with ``cfg.gain`` (``--gain``) each patch pair is scaled by a random gain first; with
    ``first`` (``--after``) the model learns from that frozen stage's output on the LR patches. Mean
    loss of the batches."""
    model.train()
    total, steps = 0.0, 0
    for lr, hr in batches:
        lr, hr = lr.to(device, non_blocking=True), hr.to(device, non_blocking=True)
        if cfg.gain is not None:
            lr, hr = random_gain(lr, hr, *cfg.gain)
        if first is not None:
            lr, hr = first.patches(lr, hr, autocast)
        if band_steps:
            value = band_by_band_batch(model, lr, hr, cfg, opt, scaler, autocast)
        else:
            value = joint_batch(model, lr, hr, cfg, opt, scaler, autocast, teacher, kd_w)
        if ema is not None:
            ema.update_parameters(unwrap(model))
        total += value
        steps += 1
        if hasattr(batches, "set_postfix"):
            batches.set_postfix(loss=f"{value:.5f}")
        if max_steps and steps >= max_steps:
            break
    return total / max(1, steps)


@torch.no_grad()
def validate(model: nn.Module, images: ImageDataset, device: torch.device, autocast: Callable,
             first: FirstStage | None = None) -> dict:
    """Mean PSNR/SSIM/SAM over validation images (SR clipped to [0, 1], data range 1, their valid pixels); with ``first``,
    of the cascade: that frozen stage on the whole LR image, then the model."""
    net = unwrap(model).eval()
    rows = []
    for _, lr, hr, valid in images:
        x = lr.unsqueeze(0).to(device)
        if first is not None:
            x = first.image(x, autocast)
        with autocast():
            sr = net(x).float()
        rows.append(compute_metrics(sr[0].clamp(0, 1).cpu().numpy(), hr.numpy(), 1.0, scale=None, valid=valid))
    if not rows:
        return {"psnr": None, "ssim": None, "sam": None}
    mean = {}
    for k in ("psnr", "ssim", "sam"):
        vals = [r[k] for r in rows if r[k] is not None]
        mean[k] = sum(vals) / len(vals) if vals else None
    return mean
