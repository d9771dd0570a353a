"""``hsrcli.runtime`` (device and mixed precision) and the ``--dtype`` rounding of upscale output."""

from __future__ import annotations

import pytest
import torch

from hsrcli.errors import HsrInputError
from hsrcli.runtime import amp_dtype, resolve_device


def test_devices():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(HsrInputError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(HsrInputError, match="CUDA is not available"):
            resolve_device("cuda:0")


def test_amp_is_cuda_only():
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert amp_dtype("bf16", cpu) is None and amp_dtype("off", cuda) is None
    assert amp_dtype("bf16", cuda) == torch.bfloat16 and amp_dtype("FP16", cuda) == torch.float16
    with pytest.raises(HsrInputError, match="unknown --amp"):
        amp_dtype("fp8", cuda)


def test_retain_freed_memory_on_glibc_and_a_no_op_elsewhere(monkeypatch):
    import platform

    from hsrcli import allocator

    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert allocator.retain_freed_memory() is True
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert allocator.retain_freed_memory() is False


def test_release_freed_memory_on_glibc_and_a_no_op_elsewhere(monkeypatch):
    from hsrcli import allocator

    assert isinstance(allocator.release_freed_memory(), bool)
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert allocator.release_freed_memory() is False
