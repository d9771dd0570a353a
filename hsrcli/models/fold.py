"""Inference-only rewrites of a trained network that keep its numbers (to float rounding).

* Weight normalisation (:func:`torch.nn.utils.parametrizations.weight_norm`, CoarSR's every
  convolution) is folded into plain weights: a parametrised layer recomputes ``g · v / ‖v‖`` at every
  call, hundreds of small operations per band span.
* A :class:`~torch.nn.BatchNorm2d` that follows a :class:`~torch.nn.Conv2d` in an
  :class:`~torch.nn.Sequential` (CoarSR's ResBlocks, in eval mode: running statistics) is folded into
  the convolution (:func:`torch.nn.utils.fusion.fuse_conv_bn_eval`) and replaced by an identity.

The outputs differ by float rounding (under 1e-6 of the data range for the bundled CoarSR). The folded
network can no longer be trained as it was (its parametrisation and state-dict keys changed): only
inference (:meth:`hsrcli.infer.resolve.ResolvedModel.for_inference`) folds.
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.fusion import fuse_conv_bn_eval


def fold_for_inference(model: nn.Module) -> nn.Module:
    """``model`` (in eval mode) rewritten in place as above and returned; folding twice changes nothing."""
    if model.training:
        raise ValueError("only a model in eval mode can be folded (batch norms use running statistics)")
    for module in list(model.modules()):
        if parametrize.is_parametrized(module):
            for name in list(module.parametrizations):
                parametrize.remove_parametrizations(module, name, leave_parametrized=True)
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        for i in range(1, len(seq)):
            conv, bn = seq[i - 1], seq[i]
            if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d) and bn.track_running_stats:
                seq[i - 1], seq[i] = fuse_conv_bn_eval(conv, bn), nn.Identity()
    return model
