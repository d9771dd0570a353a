"""Device selection, mixed precision and seeding shared by training and inference."""

from __future__ import annotations

import random

import numpy as np
import torch

from hsrcli.choices import Amp, check_device
from hsrcli.errors import HsrInputError

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto`` → CUDA when present, else CPU; ``cpu``, ``cuda``, ``cuda:N`` as given (checked here)."""
    spec = check_device(spec)
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(spec)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise HsrInputError(f"device {spec!r} requested but CUDA is not available on this machine")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise HsrInputError(f"device {spec!r}: only {torch.cuda.device_count()} CUDA device(s) present")
    return dev


def amp_dtype(spec: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for ``--amp`` (``bf16``, ``fp16``, ``off``/``none``); None = full precision.

    Mixed precision is used on CUDA only; on CPU it is always off.
    """
    spec = Amp.check((spec or "off").lower(), "--amp")
    if spec == Amp.off:
        return None
    return AMP_DTYPES[spec] if device.type == "cuda" else None


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
