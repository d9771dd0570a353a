"""The configuration of a training run, its checks, and the rules of a run folder.

:class:`TrainConfig` is what a run depends on (saved as ``config.json`` and inside
every checkpoint). :meth:`TrainConfig.validate` refuses bad values before anything
is created on disk; :func:`open_run_folder` decides whether a folder may receive a
run (fresh, ``--resume`` or ``--overwrite``); :func:`check_resumable` refuses to
continue a run under a configuration that would change what is being trained.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from hsrcli.choices import Amp, CoarSRStep, KDDecay, Loss, Schedule, check_device
from hsrcli.errors import HsrInputError
from hsrcli.io.atomic import remove_stale

#: HLoss weights (CST defaults): L1 + 0.3·SAM/π + 0.1·gradient; also the LKCA-KD alignment terms.
HLOSS_SPEC, HLOSS_GRAD = 0.3, 0.1

#: Settings that may differ when a run is resumed (where and how long it runs, not what it learns).
RESUMABLE_CHANGES = frozenset({"dataset", "extra_datasets", "out", "epochs", "minutes", "device", "workers",
                               "val_every", "teacher"})


def loss_weights(loss: str) -> tuple[float, float]:
    """``(lambda_spec, lambda_grad)`` of a :class:`~hsrcli.choices.Loss`: l1 → (0, 0), hloss → (0.3, 0.1)."""
    return (HLOSS_SPEC, HLOSS_GRAD) if Loss.check(loss, "--loss") == Loss.hloss else (0.0, 0.0)


@dataclass
class TrainConfig:
    """Everything a run depends on (saved as ``config.json`` and inside checkpoints)."""

    dataset: str
    model: str
    out: str
    model_kwargs: dict = field(default_factory=dict)
    extra_datasets: list[str] = field(default_factory=list)
    band_crop: int | None = None
    band_stride: int = 1  # band-agnostic: windows of every j-th band, j drawn from 1..band_stride
    epochs: int = 100
    minutes: float | None = None
    iters_per_epoch: int | None = None
    batch_size: int = 16
    lr: float = 1e-4
    schedule: str = "step"
    lr_step: int = 30
    lr_gamma: float = 0.5
    lambda_spec: float = 0.0
    lambda_grad: float = 0.0
    clip_grad: float | None = None
    ema: float | None = None  # decay of the weights' moving average (hsrcli.train.ema); None: off
    #: each patch's intensities × a gain drawn log-uniformly from [low, high] (hsrcli.data.augment.random_gain)
    gain: list[float] | None = None
    teacher: str | None = None
    init_from_teacher: bool = False
    init_from: str | None = None
    after: str | None = None  # frozen first stage of a cascade (hsrcli.train.stage); None: train a whole model
    kd_decay: str = "linear"
    kd_w0: float = 1.0
    kd_lambda_spec: float = HLOSS_SPEC
    kd_lambda_grad: float = HLOSS_GRAD
    coarsr_step: str = "batch"
    device: str = "auto"
    amp: str = "bf16"
    seed: int = 0
    workers: int = 0
    val_every: int = 1

    def validate(self) -> TrainConfig:
        """Check every field (:class:`HsrInputError` naming the option); choice values are normalised.

        Touches nothing on disk, so a bad configuration leaves no trace.
        """
        from hsrcli.models import registry

        self.schedule = Schedule.check(self.schedule, "--schedule")
        self.kd_decay = KDDecay.check(self.kd_decay, "--kd-decay")
        self.coarsr_step = CoarSRStep.check(self.coarsr_step, "--coarsr-step")
        self.amp = Amp.check(self.amp, "--amp")
        self.device = check_device(self.device)
        try:
            spec = registry.spec(self.model)
        except KeyError:
            spec = None
        if spec is None or not spec.trainable:
            raise HsrInputError(f"cannot train {self.model!r} (trainable: {', '.join(registry.trainable())})")
        if self.teacher and spec.teacher is None:
            students = [n for n in registry.trainable() if registry.spec(n).teacher]
            raise HsrInputError(f"--teacher (distillation) trains a student model ({', '.join(students)}), "
                                f"not {self.model!r}")
        if self.init_from_teacher and not self.teacher:
            raise HsrInputError("--init-from-teacher needs --teacher")
        from hsrcli.weights import require_checkpoint

        if self.init_from is not None:
            if self.init_from_teacher:
                raise HsrInputError("--init-from and --init-from-teacher exclude each other")
            require_checkpoint(self.init_from, "--init-from")
        if self.after is not None:
            if self.teacher:
                raise HsrInputError("--after and --teacher exclude each other")
            require_checkpoint(self.after, "--after")
        if (self.extra_datasets or self.band_crop is not None or self.band_stride != 1) and not spec.band_agnostic:
            raise HsrInputError(f"several data sets / --band-crop / --band-stride need a band-agnostic model, "
                                f"not {self.model!r}")
        positive = {"--epochs": self.epochs, "--batch-size": self.batch_size, "--lr": self.lr,
                    "--lr-step": self.lr_step, "--val-every": self.val_every,
                    "--minutes": self.minutes, "--iters-per-epoch": self.iters_per_epoch,
                    "--clip-grad": self.clip_grad, "--band-crop": self.band_crop, "--band-stride": self.band_stride}
        for option, value in positive.items():
            if value is not None and not value > 0:
                raise HsrInputError(f"{option} must be > 0, got {value}")
        if self.ema is not None and not 0 < self.ema < 1:
            raise HsrInputError(f"--ema must be in (0, 1) (e.g. 0.999), got {self.ema}")
        if self.gain is not None:
            self.gain = [float(v) for v in self.gain]
            if len(self.gain) != 2 or not 0 < self.gain[0] <= self.gain[1]:
                raise HsrInputError(f"--gain takes LOW,HIGH with 0 < LOW <= HIGH (e.g. 0.25,2), got {self.gain}")
        if self.workers < 0:
            raise HsrInputError(f"--workers must be >= 0, got {self.workers}")
        if self.kd_w0 < 0 or self.lambda_spec < 0 or self.lambda_grad < 0:
            raise HsrInputError("loss and teacher weights must be >= 0")
        return self

    def to_dict(self) -> dict:
        """Plain JSON-able dict (``config.json``, checkpoint ``config``)."""
        return asdict(self)


def open_run_folder(out: Path, resume: bool, overwrite: bool) -> None:
    """Check that ``out`` may receive the run (nothing is created; leftovers of killed runs are removed).

    Fresh folder: must not hold a run (``last.pt``) — use ``resume`` or ``overwrite``.
    ``resume``: ``last.pt`` must exist. With ``overwrite`` the new run replaces the old one's
    files as it writes them (nothing is deleted up front).
    """
    if out.exists() and not out.is_dir():
        raise HsrInputError(f"{out}: exists and is not a folder")
    has_run = (out / "last.pt").exists()
    if resume and overwrite:
        raise HsrInputError("--resume and --overwrite exclude each other")
    if resume and not has_run:
        raise HsrInputError(f"{out}: no last.pt to resume from")
    if has_run and not (resume or overwrite):
        raise HsrInputError(f"{out}: holds a run already (use --resume to continue or --overwrite to restart)")
    if out.is_dir():
        remove_stale(out)  # checkpoints half-written by a killed run


def check_resumable(saved: dict, cfg: TrainConfig, where: Path) -> None:
    """Refuse to resume when a setting outside :data:`RESUMABLE_CHANGES` differs from the saved run's."""
    current = cfg.to_dict()
    changed = sorted(k for k in current if k not in RESUMABLE_CHANGES and k in saved and saved[k] != current[k])
    if changed:
        detail = "; ".join(f"{k}: {saved[k]!r} -> {current[k]!r}" for k in changed)
        raise HsrInputError(f"{where}: cannot resume with a different configuration ({detail}); "
                            f"start a new run or use --overwrite")
