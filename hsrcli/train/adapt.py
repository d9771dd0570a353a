"""``hsr adapt``: fit a trained model to the user's own sensor and scene, with no HR truth.

Self-supervised "internal learning" (ZSSR, Shocher et al. 2018, and its hyperspectral
followers): the scene itself, degraded once more by ×s the way ``hsr prepare`` degrades
(MATLAB bicubic, or a Gaussian PSF with ``sigma``), is the LR of a training pair whose HR
is the scene. Random crops under the 8 dihedral transforms (and, for band-agnostic models,
random windows of adjacent bands) fine-tune the base model; the crops' LR inputs are
mirrored past their borders by the receptive radius exactly as ``hsr upscale`` mirrors a
scene, so that training sees what inference will see.

Early stopping: a strip of the scene is held back (:mod:`hsrcli.train.adapt_data`); its own
pairs are scored (PSNR, normalised units) before training and every ``val_every`` steps, and
the weights kept are the best scored — the base weights themselves unless a step beat them by
at least ``min_gain_db`` (on the airborne benchmark, gains of a few hundredths of a dB on
a 12-px strip did not carry over to the real ×4 task).

The result is an ordinary checkpoint (the base model's record and metadata, the adapted
weights) that ``hsr upscale -m`` takes; its ``meta["adapted"]`` names the base model, the
scenes (SHA-256) and the settings, and its training state lets ``--resume`` continue.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from hsrcli.checkpoint import Checkpoint, check_compatible, read_checkpoint, save_checkpoint
from hsrcli.choices import Kernel
from hsrcli.data.augment import N_TRANSFORMS, dihedral
from hsrcli.data.degrade import degrade
from hsrcli.errors import HsrInputError
from hsrcli.infer.resolve import ResolvedModel, resolve_model
from hsrcli.io import open_scene
from hsrcli.io.atomic import check_targets
from hsrcli.io.view import BandSubset
from hsrcli.models import spec
from hsrcli.ops.imresize import mirror_pad
from hsrcli.runtime import resolve_device, seed_everything
from hsrcli.train.adapt_data import AdaptScene, load_scene
from hsrcli.train.data import band_window


def default_crop(scale: int) -> int:
    """Training crop (scene px): 12 up to ×4 (an LR input of 12/s px), 16 at ×8."""
    return max(12, 2 * scale) // scale * scale


@dataclass
class AdaptConfig:
    """Settings of one adaptation (scene pixels; learning rate of Adam)."""

    base: str
    scale: int
    steps: int = 300
    minutes: float | None = None
    crop: int | None = None
    batch: int = 16
    lr: float = 1e-5
    kernel: str = "bicubic"
    sigma: float = 0.0
    val_fraction: float = 0.2
    val_every: int = 25
    min_gain_db: float = 0.1
    device: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.crop is None:
            self.crop = default_crop(self.scale)

    def validate(self) -> AdaptConfig:
        """Refuse impossible settings (:class:`HsrInputError`) before anything is read or written."""
        Kernel.check(self.kernel, "--degrade")
        if self.steps < 1 or self.batch < 1 or self.val_every < 1:
            raise HsrInputError("--steps, --batch and the validation interval must be >= 1")
        if self.minutes is not None and not self.minutes > 0:
            raise HsrInputError("--minutes must be > 0")
        if self.crop % self.scale or self.crop < 2 * self.scale:
            raise HsrInputError(f"--crop must be a multiple of the scale {self.scale} and at least {2 * self.scale}")
        if not self.lr > 0 or not 0 < self.val_fraction < 0.5 or self.min_gain_db < 0:
            raise HsrInputError("--lr must be > 0, --val-fraction in (0, 0.5) and --min-gain >= 0")
        if self.kernel == Kernel.gaussian and not self.sigma > 0:
            raise HsrInputError("--degrade gaussian needs --sigma > 0 (the PSF's sigma in scene pixels)")
        return self

    def to_dict(self) -> dict:
        return asdict(self)


def super_resolve(model: torch.nn.Module, x: torch.Tensor, pad: int, scale: int) -> torch.Tensor:
    """``model`` on LR ``x`` (N, B, h, w) mirrored by ``pad``, the border cut off: (N, B, s·h, s·w)."""
    y = model(mirror_pad(x, pad))
    p = pad * scale
    return y[..., p:y.shape[-2] - p, p:y.shape[-1] - p]


class _Pairs:
    """Random self-supervised pairs from the training areas of the scenes."""

    def __init__(self, scenes: list[AdaptScene], cfg: AdaptConfig, window: int | None, device: torch.device) -> None:
        self.scenes, self.cfg, self.window, self.device = scenes, cfg, window, device
        self.g = torch.Generator().manual_seed(cfg.seed)

    def _int(self, n: int) -> int:
        return int(torch.randint(n, (1,), generator=self.g))

    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(lr (N, b, crop/s, crop/s), hr (N, b, crop, crop))`` on the device."""
        c, ys = self.cfg.crop, []
        for _ in range(self.cfg.batch):
            sc = self.scenes[self._int(len(self.scenes))]
            r, col = sc.starts[self._int(len(sc.starts))]
            y = sc.cube[:, r:r + c, col:col + c]
            if self.window is not None:
                if y.shape[0] < self.window:  # as the band-agnostic model pads a narrow scene
                    y = torch.cat([y, y[-1:].expand(self.window - y.shape[0], c, c)])
                b0 = self._int(y.shape[0] - self.window + 1)
                y = y[b0:b0 + self.window]
            ys.append(dihedral(y, self._int(N_TRANSFORMS)))
        hr = torch.stack(ys).to(self.device)
        return _degrade(hr, self.cfg), hr


def _degrade(hr: torch.Tensor, cfg: AdaptConfig) -> torch.Tensor:
    return degrade(hr, cfg.scale, kernel=cfg.kernel, sigma=cfg.sigma).float()


@torch.no_grad()
def validation_psnr(model: torch.nn.Module, scenes: list[AdaptScene], cfg: AdaptConfig, pad: int,
                    device: torch.device) -> float:
    """PSNR (dB, normalised units) of the model on the validation strips' own ×s pairs."""
    model.eval()
    sq, n = 0.0, 0
    c = cfg.crop
    for sc in scenes:
        hr = torch.stack([sc.cube[:, r:r + c, col:col + c] for r, col in sc.val_tiles]).to(device)
        err = super_resolve(model, _degrade(hr, cfg), pad, cfg.scale).float() - hr
        sq += float(err.double().pow(2).sum())
        n += err.numel()
    model.train()
    return 10 * math.log10(1.0 / max(sq / n, 1e-20))


def _base(cfg: AdaptConfig, paths: list[Path], open_kw: dict) -> tuple[ResolvedModel, int]:
    """The base model (checked adaptable for every scene) and the border pad (LR px)."""
    metas = []
    for p in paths:
        with open_scene(p, **open_kw) as sc:
            metas.append(sc.meta)
    resolved = resolve_model(cfg.base, metas[0].bands, cfg.scale, "cpu", source=str(paths[0]))
    if resolved.parts:
        raise HsrInputError(f"{cfg.base}: adapt fine-tunes one model, not a combination of models")
    ms = spec(resolved.name)
    if not ms.trainable or ms.band_steps:
        raise HsrInputError(f"{cfg.base}: adapt fine-tunes one-pass trainable models (lkca, lkca-lr, lkca-g), "
                            f"not {resolved.name}")
    for p, m in zip(paths[1:], metas[1:]):  # the band check of resolve_model, for every scene
        check_compatible(resolved.checkpoint, m.bands, cfg.scale, str(p))
    return resolved, resolved.border  # as hsr upscale mirrors a scene


def resumable(out: Path) -> Checkpoint:
    """The adaptation saved in ``out``, read once, with the training state that ``--resume`` continues
    (its settings: :func:`saved_config`)."""
    out = Path(out)
    if not out.is_file():
        raise HsrInputError(f"{out}: nothing to resume (no such adapted checkpoint)")
    previous = read_checkpoint(out)
    if "adapt" not in previous.state:
        raise HsrInputError(f"{out}: not an adapted checkpoint with a training state (hsr adapt writes them)")
    return previous


def saved_config(previous: Checkpoint) -> AdaptConfig:
    """The settings of a resumable adaptation (from :func:`resumable`)."""
    return AdaptConfig(**previous.state["adapt"]["config"])


def adapt(paths: list[Path], out: Path, cfg: AdaptConfig, *, previous: Checkpoint | None = None,
          overwrite: bool = False, progress: Callable | None = None, open_kw: dict | None = None) -> dict:
    """Adapt ``cfg.base`` to the scenes in ``paths`` and write the checkpoint ``out``; returns a summary.

    ``previous`` (:func:`resumable`, read from ``out``) continues that adaptation (``--resume``)."""
    cfg.validate()
    open_kw = open_kw or {}
    out = Path(out)
    if previous is None:
        check_targets([out], overwrite)
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    resolved, pad = _base(cfg, paths, open_kw)
    model = resolved.model.to(device).train()
    scenes = []
    for p in paths:
        with open_scene(p, **open_kw) as sc:
            scenes.append(load_scene(sc, resolved, cfg.crop, cfg.val_fraction))
    window = band_window(resolved.checkpoint.model.kwargs) if resolved.bands is None else None
    pairs = _Pairs(scenes, cfg, window, device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    base_psnr = validation_psnr(model, scenes, cfg, pad, device)
    best, best_step, best_state, step, spent = base_psnr, 0, copy.deepcopy(model.state_dict()), 0, 0.0
    if previous is not None:
        st = previous.state["adapt"]
        _check_resumable(st, cfg, scenes)
        model.load_state_dict(st["current"])
        opt.load_state_dict(st["optimizer"])
        pairs.g.set_state(st["generator"])
        base_psnr, best, best_step, step, spent = st["base_psnr"], st["best_psnr"], st["best_step"], st["step"], \
            st["seconds"]
        best_state = previous.state_dict
        if step >= cfg.steps:
            raise HsrInputError(f"{out}: already adapted for {step} steps; raise --steps to continue")
    bar = (progress or (lambda it, **_: it))(range(step, cfg.steps), desc="adapt", unit="step", initial=step,
                                             total=cfg.steps)
    t0 = time.perf_counter() - spent
    checked = step

    def check() -> None:  # score the held-back strip, keep the best weights, save (resumable)
        nonlocal best, best_step, best_state, checked
        v = validation_psnr(model, scenes, cfg, pad, device)
        if v > best and v >= base_psnr + cfg.min_gain_db:
            best, best_step, best_state = v, step, copy.deepcopy(model.state_dict())
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{loss.item():.4f}", val=f"{v:.2f}", best=f"{best:.2f}")
        checked = step
        _save(out, resolved, cfg, scenes, model, opt, pairs, best_state, base_psnr, best, best_step, step,
              time.perf_counter() - t0)

    for step in bar:
        if cfg.minutes is not None and time.perf_counter() - t0 > cfg.minutes * 60:
            break
        lr, hr = pairs.batch()
        loss = F.l1_loss(super_resolve(model, lr, pad, cfg.scale), hr)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        if step % cfg.val_every == 0:
            check()
    if checked != step:
        check()
    seconds = time.perf_counter() - t0
    return {"output": str(out), "base": resolved.label, "steps": step, "seconds": seconds,
            "val_psnr_base": base_psnr, "val_psnr_adapted": best, "best_step": best_step, "improved": best_step > 0,
            "scenes": [sc.name for sc in scenes]}


def _check_resumable(state: dict, cfg: AdaptConfig, scenes: list[AdaptScene]) -> None:
    saved = dict(state["config"])
    now = cfg.to_dict()
    for k in ("steps", "minutes", "device", "val_every"):  # may change between runs
        saved.pop(k, None)
        now.pop(k, None)
    if saved != now or state["scenes"] != [sc.sha256 for sc in scenes]:
        raise HsrInputError("--resume needs the same scenes and settings as the run it continues (only --steps, "
                            "--minutes and --device may change)")


def _save(out: Path, resolved: ResolvedModel, cfg: AdaptConfig, scenes: list[AdaptScene], model, opt, pairs: _Pairs,
          best_state: dict, base_psnr: float, best: float, best_step: int, step: int, seconds: float) -> None:
    """The adapted checkpoint: the best weights, the base's metadata plus ``adapted``, the resumable state."""
    from hsrcli import __version__

    base = resolved.checkpoint
    cpu = {k: v.detach().cpu() for k, v in best_state.items()}
    meta = dict(base.meta) | {
        "hsrcli_version": __version__, "torch_version": str(torch.__version__),
        "adapted": {"base": resolved.label, "base_training": base.meta.get("training"),
                    "scenes": [{"name": sc.name, "sha256": sc.sha256, "divisor": sc.divisor} for sc in scenes],
                    "config": cfg.to_dict(), "steps": step, "seconds": round(seconds, 1),
                    "validation_psnr": {"base": base_psnr, "adapted": best, "best_step": best_step}}}
    state = {"adapt": {"config": cfg.to_dict(), "scenes": [sc.sha256 for sc in scenes], "step": step,
                       "seconds": seconds, "base_psnr": base_psnr, "best_psnr": best, "best_step": best_step,
                       "current": {k: v.detach().cpu() for k, v in model.state_dict().items()},
                       "optimizer": opt.state_dict(), "generator": pairs.g.get_state()}}
    save_checkpoint(Checkpoint(base.model, cpu, meta, state), out)


def cache_path(paths: list[Path], cfg: AdaptConfig, open_kw: dict | None = None) -> Path:
    """Where ``hsr upscale --adapt`` keeps the adapted checkpoint of these scenes (opened with ``open_kw``,
    their band selection included) and settings:
    ``$HSR_CACHE_DIR`` or ``$XDG_CACHE_HOME/hsrcli`` (default ``~/.cache/hsrcli``), ``adapted/<key>.pt``."""
    from hsrcli.io.hashing import sha256_file

    h = hashlib.sha256()
    base = Path(cfg.base)
    h.update((sha256_file(base) if base.is_file() else cfg.base).encode())
    for p in paths:
        with open_scene(p, **(open_kw or {})) as sc:
            for f in sc.files():
                h.update(sha256_file(f).encode())
            if isinstance(sc, BandSubset):  # ``hsr upscale --bands``: fitted to those bands alone
                h.update(f"bands {sc.bands}".encode())
    settings = {k: v for k, v in cfg.to_dict().items() if k not in ("base", "device")}
    h.update(json.dumps(settings, sort_keys=True).encode())
    root = Path(os.environ.get("HSR_CACHE_DIR") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                / "hsrcli")
    return root / "adapted" / f"{h.hexdigest()[:20]}.pt"
