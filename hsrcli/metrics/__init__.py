"""Quality metrics (PSNR, SSIM, SAM, ERGAS, RMSE, CC) for HSI super-resolution.

:mod:`~hsrcli.metrics.functional` holds the per-image functions used by training
validation; :mod:`~hsrcli.metrics.stream` computes the same numbers over whole scenes
window by window. Both are NumPy only (``hsr metrics`` never imports torch); CPU torch
tensors are accepted wherever an array is. Conventions are documented in ``functional``.
"""

from hsrcli.metrics.functional import compute_metrics, psnr_per_band, sam_map, ssim_map, ssim_per_band
from hsrcli.metrics.stream import MetricAccumulator, stream_metrics

__all__ = ["MetricAccumulator", "compute_metrics", "psnr_per_band", "sam_map", "ssim_map", "ssim_per_band",
           "stream_metrics"]
