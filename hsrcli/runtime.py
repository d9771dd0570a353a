"""Device selection, mixed precision and seeding shared by training and inference."""

from __future__ import annotations

import random

import numpy as np
import torch

from hsrcli.io.errors import HsrInputError

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(spec: str = "auto") -> torch.device:
    """``auto`` → CUDA when present, else CPU; ``cpu``, ``cuda``, ``cuda:N`` as given (checked)."""
    spec = spec.strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(spec)
    except RuntimeError:
        raise HsrInputError(f"unknown device {spec!r} (use auto, cpu, cuda or cuda:N)") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise HsrInputError(f"device {spec!r} requested but CUDA is not available on this machine")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise HsrInputError(f"device {spec!r}: only {torch.cuda.device_count()} CUDA device(s) present")
    elif dev.type != "cpu":
        raise HsrInputError(f"unsupported device {spec!r} (use auto, cpu, cuda or cuda:N)")
    return dev


def amp_dtype(spec: str, device: torch.device) -> torch.dtype | None:
    """Autocast dtype for ``--amp`` (``bf16``, ``fp16``, ``off``/``none``); None = full precision.

    Mixed precision is used on CUDA only; on CPU it is always off.
    """
    spec = (spec or "off").lower()
    if spec in ("off", "none", "fp32", "no"):
        return None
    if spec not in AMP_DTYPES:
        raise HsrInputError(f"unknown --amp {spec!r} (use bf16, fp16 or off)")
    return AMP_DTYPES[spec] if device.type == "cuda" else None


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
