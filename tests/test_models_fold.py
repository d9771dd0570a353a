"""Inference folding (:mod:`hsrcli.models.fold`): weight and batch norms folded; CoarSR's CPU layout."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from hsrcli.infer.resolve import resolve_model
from hsrcli.models import build
from hsrcli.models.fold import fold_for_inference


def _coarsr_with_statistics(scale: int = 2) -> nn.Module:
    """A small CoarSR whose batch norms hold running statistics and affine terms far from identity."""
    torch.manual_seed(0)
    model = build("coarsr", 8, scale, feats=8, blocks=1, modules=1)
    for bn in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        with torch.no_grad():
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.2, 0.2)
    return model.eval()


def test_folding_coarsr_keeps_its_output_and_leaves_no_norm_layer():
    model = _coarsr_with_statistics()
    x = torch.rand(2, 8, 9, 7)
    with torch.no_grad():
        ref = model(x)
        folded = fold_for_inference(model)
        y = folded(x)
    assert folded is model
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert not any(parametrize.is_parametrized(m) for m in model.modules())
    assert torch.allclose(y, ref, atol=1e-5, rtol=0)
    with torch.no_grad():
        again = fold_for_inference(model)(x)  # folding twice changes nothing
    assert torch.equal(again, y)


def test_folded_coarsr_on_the_cpu_runs_its_lr_convolutions_channels_last():
    """``fit_tile`` on the CPU: encoder weights channels-last, the HR tail's as they were; same output."""
    model = fold_for_inference(_coarsr_with_statistics(scale=4))
    x = torch.rand(1, 8, 10, 9)
    with torch.no_grad():
        ref = model(x)
        model.fit_tile(10)
        y = model(x)
    wide = [c for c in model.modules() if isinstance(c, nn.Conv2d) and c.weight.shape[1] > 1 and c.kernel_size[0] > 1]
    tail = set(model.tail.modules())
    assert all(c.weight.is_contiguous(memory_format=torch.channels_last) != (c in tail) for c in wide)
    assert any(c in tail for c in wide)
    assert torch.allclose(y, ref, atol=1e-5, rtol=0)


def test_a_model_in_training_mode_is_not_folded():
    model = _coarsr_with_statistics().train()
    with pytest.raises(ValueError, match="eval mode"):
        fold_for_inference(model)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def test_bundled_coarsr_for_inference_matches_the_trained_network_and_resolve_keeps_it_trainable():
    """``hsr adapt`` trains ``resolve_model``'s network: only ``for_inference`` folds (in place)."""
    resolved = resolve_model("coarsr_x2", 6, 2)
    net = resolved.model
    assert any(parametrize.is_parametrized(m) for m in net.modules())
    x = torch.rand(1, 6, 10, 12)
    with torch.no_grad():
        ref = net(x)
        y = resolved.for_inference("cpu")(x)
    assert resolved.model is net and not any(parametrize.is_parametrized(m) for m in net.modules())
    assert torch.allclose(y, ref, atol=2e-5 * float(ref.abs().max()), rtol=0)
