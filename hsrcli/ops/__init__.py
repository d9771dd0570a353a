"""Numeric operations shared by several layers (torch only, no I/O, no models).

* :mod:`hsrcli.ops.imresize` — MATLAB-compatible bicubic ``imresize`` (degradation in
  ``data``, the residual base in ``models``, FineSR's resizes).
"""
