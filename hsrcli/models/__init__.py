"""The shared model core: pure ``nn.Module`` s (no I/O) and an explicit registry.

``build(name, bands, scale, **kwargs)`` makes any registered model:
``lkca``, ``lkca-lr``, ``lkca-g``, ``coarsr``, ``bicubic``. FineSR is the function
:func:`hsrcli.models.finesr.finesr`.
"""

from hsrcli.models.registry import build, names, spec

__all__ = ["build", "names", "spec"]
