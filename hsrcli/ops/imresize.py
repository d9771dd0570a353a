"""MATLAB-compatible bicubic ``imresize`` (a small port; ECOSYSTEM.md §C8 says to write our own).

Every published HSI super-resolution table made its LR images with MATLAB's
``imresize(x, 1/s, 'bicubic')``: Keys' cubic kernel with a = −0.5 and, when
shrinking, *antialiasing* — the kernel is stretched by 1/scale (and its height
scaled by ``scale``) so it also low-pass filters. Borders are handled by mirror
("symmetric") indexing, and each dimension is resized separately, the dimension
with the smaller scale first.

``torch.nn.functional.interpolate(mode="bicubic", antialias=True)`` is close but
not identical (it uses a = −0.75 and clamps at the borders); see
:func:`hsrcli.data.degrade.downsample` for the switch and the tests for how far
apart they are.

The weighted sums run tap by tap in a fixed order, so results are bit-for-bit
reproducible on a given machine.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F


def cubic(x: torch.Tensor) -> torch.Tensor:
    """Keys' cubic convolution kernel with a = −0.5 (MATLAB's ``cubic``)."""
    ax = x.abs()
    ax2, ax3 = ax * ax, ax * ax * ax
    near = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return near + far


def contributions(in_len: int, out_len: int, scale: float, antialias: bool = True,
                  mirrored: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights and 0-based source indices, each ``(out_len, taps)``, as MATLAB computes them.

    With ``mirrored=False`` the indices are left unmirrored (they may fall outside
    ``[0, in_len)``), which the convolution path uses.
    """
    width = 4.0
    if scale < 1 and antialias:
        def kernel(d: torch.Tensor) -> torch.Tensor:
            return scale * cubic(scale * d)
        width = width / scale
    else:
        kernel = cubic
    x = torch.arange(1, out_len + 1, dtype=torch.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)  # 1-based input coordinate of each output centre
    left = torch.floor(u - width / 2.0)
    taps = math.ceil(width) + 2
    idx = left.unsqueeze(1) + torch.arange(taps, dtype=torch.float64).unsqueeze(0)  # 1-based
    weights = kernel(u.unsqueeze(1) - idx)
    weights = weights / weights.sum(dim=1, keepdim=True)
    keep = weights.abs().sum(dim=0) > 0  # drop all-zero tap columns (as MATLAB does)
    if not mirrored:
        return weights[:, keep], (idx - 1).to(torch.long)[:, keep]
    return weights[:, keep], mirror(idx - 1, in_len)[:, keep]


def mirror(index: torch.Tensor, length: int) -> torch.Tensor:
    """Symmetric (MATLAB) mirroring of 0-based indices: … 1 0 | 0 1 … n−1 | n−1 n−2 …"""
    period = 2 * length
    m = torch.remainder(index, period)
    return torch.where(m < length, m, period - 1 - m).to(torch.long)


def mirror_pad(x: torch.Tensor, pad: int) -> torch.Tensor:
    """``(…, h, w)`` mirrored ``pad`` px past every border (:func:`mirror`: edge pixel repeated), as ``hsr
    upscale`` pads a scene."""
    if pad == 0:
        return x
    h, w = x.shape[-2:]
    rows = mirror(torch.arange(-pad, h + pad), h).to(x.device)
    cols = mirror(torch.arange(-pad, w + pad), w).to(x.device)
    return x.index_select(-2, rows).index_select(-1, cols)


def _periodic(w: torch.Tensor, idx: torch.Tensor, period: int) -> int | None:
    """The input stride if weights repeat every ``period`` outputs and the taps advance evenly, else None."""
    n = w.shape[0]
    if period < 1 or n % period or n < 2 * period:
        return None
    if not torch.equal(w, w[:period].repeat(n // period, 1)):
        return None
    steps = idx[period:] - idx[:-period]
    if not bool((steps == steps[0, 0]).all()):
        return None
    return int(steps[0, 0])


def _dense_taps(w: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, int]:
    """Weights ``w`` of some outputs at source indices ``idx`` (each ``(outputs, taps)``) as one dense
    ``(outputs, k)`` float64 kernel over the sources ``base … base + k − 1``, and ``base``."""
    base = int(idx.min())
    kernel = torch.zeros(w.shape[0], int(idx.max()) - base + 1, dtype=torch.float64)
    for p in range(w.shape[0]):
        kernel[p, (idx[p] - base).tolist()] = w[p]
    return kernel, base


def _resize_dim_conv(x: torch.Tensor, dim: int, w: torch.Tensor, idx: torch.Tensor, period: int, stride: int,
                     in_len: int) -> torch.Tensor:
    """Periodic resize as a strided depthwise convolution with one kernel per output phase (fast,
    deterministic): every other dimension is a channel (``groups``), so the convolution runs on the
    array in place instead of on millions of one-channel rows.

    ``idx`` holds the unmirrored source index of every (output, tap); taps need not be contiguous.
    """
    kernel, base = _dense_taps(w[:period], idx[:period])
    k_len = kernel.shape[1]
    kernel = kernel.unsqueeze(1)  # (period, 1, k_len)
    q = w.shape[0] // period
    idx = mirror(torch.arange(base, base + (q - 1) * stride + k_len), in_len).to(x.device)
    dim = dim % x.ndim
    xt = x.index_select(dim, idx)
    other = xt.shape[-1] if dim == x.ndim - 2 else xt.shape[-2]  # the other spatial dimension
    flat = xt.reshape(1, -1, *xt.shape[-2:])  # (1, lead, H, W): lead = every dimension before H, W
    lead = flat.shape[1]
    k = kernel.to(device=x.device, dtype=x.dtype).repeat(lead, 1, 1)  # (lead·period, 1, k_len)
    if dim == x.ndim - 1:
        y = torch.nn.functional.conv2d(flat, k.unsqueeze(2), stride=(1, stride), groups=lead)  # (1, lead·p, H, q)
        y = y.view(lead, period, other, q).permute(0, 2, 3, 1)  # (lead, H, q, p)
    else:
        y = torch.nn.functional.conv2d(flat, k.unsqueeze(3), stride=(stride, 1), groups=lead)  # (1, lead·p, q, W)
        y = y.view(lead, period, q, other).permute(0, 2, 1, 3)  # (lead, q, p, W)
    shape = list(x.shape)
    shape[dim] = q * period
    return y.reshape(shape)


def _resize_dim(x: torch.Tensor, dim: int, out_len: int, scale: float, antialias: bool) -> torch.Tensor:
    in_len = x.shape[dim]
    w, idx = contributions(in_len, out_len, scale, antialias, mirrored=False)
    for period in sorted({1, round(scale)} if scale >= 1 else {1}):
        stride = _periodic(w, idx, period)
        if stride is not None:
            return _resize_dim_conv(x, dim, w, idx, period, stride, in_len)
    src = mirror(idx, in_len)
    w = w.to(device=x.device, dtype=x.dtype)
    src = src.to(x.device)
    xt = x.movedim(dim, -1)
    out = None
    for t in range(w.shape[1]):  # fixed order: reproducible sums
        term = xt.index_select(-1, src[:, t]) * w[:, t]
        out = term if out is None else out + term
    return out.movedim(-1, dim)


def output_size(in_size: tuple[int, int], scale: float) -> tuple[int, int]:
    """MATLAB's output size for a scale factor: ``ceil(scale · size)``."""
    return (math.ceil(in_size[0] * scale - 1e-9), math.ceil(in_size[1] * scale - 1e-9))


def imresize(
    x: torch.Tensor,
    scale: float | None = None,
    size: tuple[int, int] | None = None,
    antialias: bool = True,
) -> torch.Tensor:
    """Resize the last two dimensions of ``x`` (…, H, W) like MATLAB ``imresize(..., 'bicubic')``.

    Give either ``scale`` (the factor MATLAB is given; output size ``ceil(scale·H)``)
    or ``size`` (``(H', W')``; the factor per dimension is then ``H'/H``, ``W'/W``).
    Floating dtypes are kept (compute in float64 for reference accuracy). Integer
    inputs behave as in MATLAB: each one-dimensional pass is computed in float64,
    rounded half away from zero and saturated to the integer type, and the result
    has the input's dtype (this reproduces MATLAB's uint8 outputs exactly).
    """
    if (scale is None) == (size is None):
        raise ValueError("give exactly one of scale or size")
    int_dtype = None if x.is_floating_point() else x.dtype
    if int_dtype is not None:
        x = x.to(torch.float64)
    h, w = x.shape[-2:]
    if size is None:
        size = output_size((h, w), scale)
        scales = (float(scale), float(scale))
    else:
        scales = (size[0] / h, size[1] / w)
    order = sorted(range(2), key=lambda k: scales[k])  # smaller scale first (MATLAB)
    out = x
    for k in order:
        if (size[k], scales[k]) != (x.shape[-2 + k], 1.0):
            out = _resize_dim(out, out.ndim - 2 + k, size[k], scales[k], antialias)
            if int_dtype is not None:
                info = torch.iinfo(int_dtype)
                out = (torch.sign(out) * torch.floor(out.abs() + 0.5)).clamp(info.min, info.max)
    return out if int_dtype is None else out.to(int_dtype)


@functools.cache
def _phase_kernel(scale: int) -> tuple[torch.Tensor, int]:
    """MATLAB's bicubic ×``scale`` as ``(scale, k)`` float64 weights — row ``i`` makes the output
    ``i`` of every LR pixel — and the LR offset of tap 0 (negative: taps start before the pixel)."""
    n = 8  # any length: upsampling weights repeat every ``scale`` outputs; take those of LR pixel 4
    w, idx = contributions(n, n * scale, float(scale), mirrored=False)
    return _dense_taps(w[4 * scale:5 * scale], idx[4 * scale:5 * scale] - 4)


def upsample_phases(x: torch.Tensor, scale: int) -> torch.Tensor:
    """MATLAB bicubic ×``scale`` (integer) of ``x`` ``(N, B, h, w)``, in LR layout ``(N, B·s², h, w)``:
    channel ``b·s² + i·s + j`` holds the output pixels at offset (i, j) of each LR pixel, as
    :func:`torch.nn.functional.pixel_shuffle` takes them (``pixel_shuffle(·, s)`` equals
    ``imresize(x, scale)`` to float rounding: the same taps, mirrored borders and pass order).

    Two depthwise convolutions on the mirrored LR input, so a network can add it to its own
    LR-layout output and shuffle once (no HR-sized base, no HR temporaries). An input whose
    channels are innermost (channels-last, as the CPU path runs) gives a channels-last result:
    adding tensors of different memory formats is ~10× slower than of the same.
    """
    kernel, lo = _phase_kernel(int(scale))
    k = kernel.shape[1]
    b, h, w = x.shape[1:]
    rows = mirror(torch.arange(lo, h + lo + k - 1), h).to(x.device)
    cols = mirror(torch.arange(lo, w + lo + k - 1), w).to(x.device)
    xp = x.index_select(-2, rows).index_select(-1, cols)  # (N, B, h + k − 1, w + k − 1)
    if b > 1 and x.stride(1) == 1:
        xp = xp.contiguous(memory_format=torch.channels_last)
    kern = kernel.to(device=x.device, dtype=x.dtype)
    y = F.conv2d(xp, kern.repeat(b, 1).view(b * scale, 1, k, 1), groups=b)  # rows: (N, B·s, h, w + k − 1)
    return F.conv2d(y, kern.repeat(b * scale, 1).view(b * scale * scale, 1, 1, k), groups=b * scale)
