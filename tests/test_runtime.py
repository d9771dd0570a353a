"""``hsrcli.runtime`` (device and mixed precision) and the ``--dtype`` rounding of upscale output."""

from __future__ import annotations

import numpy as np
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


def test_integer_output_is_rounded_and_clipped(tmp_path):
    from rasters import write_geotiff

    from hsrcli.infer.runner import _finish
    from hsrcli.io import open_scene

    scene = open_scene(write_geotiff(tmp_path / "a.tif", np.ones((2, 2, 3), np.float32)))
    block = np.array([[[-3.2, 0.5, 1.49], [1.5, 70000.0, np.nan]]] * 4, dtype=np.float32).reshape(4, 2, 3)
    out = _finish(block[:2], scene, 0, 2, 0, 2, 1, np.dtype("uint16"), None)
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out[0], [[0, 0, 1], [2, 65535, 0]])  # round half to even, clip, NaN -> 0


def test_retain_freed_memory_on_glibc_and_a_no_op_elsewhere(monkeypatch):
    import platform

    from hsrcli import allocator

    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert allocator.retain_freed_memory() is True
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    assert allocator.retain_freed_memory() is False
