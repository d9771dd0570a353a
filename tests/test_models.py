"""Model core: shapes, LKCA-LR by SVD, parameter formula, CoarSR partition, FineSR, lkca-g blending."""

from __future__ import annotations

import itertools

import pytest
import torch

from hsrcli.models import build, names, spec
from hsrcli.models.coarsr import neighbour_bands
from hsrcli.models.finesr import finesr, finesr_weight
from hsrcli.models.lkca import ChannelAttention, lkca_lr_from_lkca, polyphase_depthwise
from hsrcli.models.lkca_g import blend_weights, group_starts
from hsrcli.models.resample import bicubic_resize
from hsrcli.models.upsampler import lowrank_param_count
from hsrcli.ops.imresize import upsample_phases

SCALES = (2, 3, 4, 8)
#: Tiny widths: shapes do not depend on them, and the full-size models are built in their own tests.
TINY = {"lkca": {"channels": 6, "blocks": 1}, "lkca-lr": {"channels": 6, "blocks": 1, "lr_rank": 2},
        "lkca-g": {"channels": 6, "blocks": 1}, "coarsr": {"feats": 8, "blocks": 1, "modules": 1}}


def _shape_cases():
    for name in ("bicubic", "lkca", "lkca-lr", "lkca-g", "coarsr"):
        bands = (5, 31, 102, 224) + ((7, 300) if name in ("coarsr", "lkca-g") else ())
        for b in bands:
            for s in SCALES:
                yield name, b, s


@pytest.mark.parametrize("name,bands,scale", list(_shape_cases()))
def test_shapes(name, bands, scale):
    torch.manual_seed(0)
    model = build(name, bands, scale, **TINY.get(name, {})).eval()
    x = torch.rand(2, bands, 4, 5)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, bands, 4 * scale, 5 * scale)
    assert torch.isfinite(y).all()


def test_registry_errors_and_metadata():
    assert set(names()) == {"bicubic", "lkca", "lkca-lr", "lkca-g", "coarsr"}
    assert spec("lkca-g").band_agnostic and not spec("lkca").band_agnostic
    with pytest.raises(KeyError, match="unknown model 'nope'"):
        build("nope", 31, 4)
    with pytest.raises(ValueError, match="supports scales"):
        build("lkca", 31, 5)
    with pytest.raises(ValueError, match="at least 5 bands"):
        build("coarsr", 4, 4)
    with pytest.raises(TypeError, match="no option"):
        build("lkca", 31, 4, depth=3)


@pytest.mark.parametrize("bands,scale", [(31, 4), (8, 2), (5, 3)])
def test_lkca_lr_by_svd_at_full_rank_reproduces_lkca(bands, scale):
    torch.manual_seed(1)
    teacher = build("lkca", bands, scale, channels=12, blocks=2).double().eval()
    full_rank = min(bands, 12 * 9)  # each phase group is B x (C k^2)
    student = lkca_lr_from_lkca(teacher, lr_rank=full_rank).double().eval()
    x = torch.rand(1, bands, 6, 7, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(student(x), teacher(x), atol=1e-5)
        low = lkca_lr_from_lkca(teacher, lr_rank=2).double().eval()
        assert not torch.allclose(low(x), teacher(x), atol=1e-5)  # truncation does change the output


@pytest.mark.parametrize("groups,rank", [(16, 4), (4, 16), (1, 24)])
def test_lowrank_upsampler_parameter_formula(groups, rank):
    model = build("lkca-lr", 128, 4, lr_groups=groups, lr_rank=rank)
    up = model.upsampler
    weights = up.basis.weight.numel() + up.expand.weight.numel()
    assert weights == lowrank_param_count(64, 128, 4, 3, groups, rank) == groups * rank * (64 * 9 + 128 * 16 // groups)
    assert up.expand.bias.numel() == 128 * 16


def test_lkca_upsampler_dominates_and_matches_spec_table():
    m = build("lkca", 128, 4)
    up = sum(p.numel() for p in m.upsampler.parameters())
    assert up == 64 * 128 * 16 * 9 + 128 * 16  # 1.18 M (ALGORITHMS.md §1.2 table)
    assert up / sum(p.numel() for p in m.parameters()) > 0.75


def test_coarsr_parameter_counts_match_published_model():
    published = {2: 2.240e6, 3: 2.425e6, 4: 2.388e6, 8: 2.536e6}
    for s, n in published.items():
        count = sum(p.numel() for p in build("coarsr", 31, s).parameters())
        assert abs(count - n) < 1e3, (s, count)


def test_coarsr_band_partition_matches_spec_table():
    L = 31
    assert neighbour_bands(0, L) == ((1, 0, 2), (3, 0, 4))
    assert neighbour_bands(1, L) == ((0, 1, 2), (3, 1, 4))
    assert neighbour_bands(10, L) == ((9, 10, 11), (8, 10, 12))
    assert neighbour_bands(L - 2, L) == ((L - 3, L - 2, L - 1), (L - 5, L - 2, L - 4))
    assert neighbour_bands(L - 1, L) == ((L - 2, L - 1, L - 3), (L - 4, L - 1, L - 5))
    with pytest.raises(ValueError):
        neighbour_bands(0, 4)


def test_coarsr_batched_bands_equal_band_by_band():
    torch.manual_seed(2)
    model = build("coarsr", 9, 2, feats=8).double().eval()
    x = torch.rand(2, 9, 5, 6, dtype=torch.float64)
    with torch.no_grad():
        model.band_chunk = 1
        a = model(x)
        model.band_chunk = 4
        b = model(x)
        state, bands = None, []
        for i in range(9):
            y, state = model.forward_band(x, i, state)
            bands.append(y)
    assert torch.allclose(a, b, atol=1e-10)
    assert torch.allclose(a, torch.cat(bands, dim=1), atol=1e-10)
    c = model(x)  # with gradients the tail runs on the span's bands together; without, band by band
    assert c.requires_grad and torch.allclose(c.detach(), b, atol=1e-10)
    assert model.bands_held(9, 5) == 2 and model.bands_held(9) == 4  # what fit_tile will leave, and now
    model.fit_tile(5)  # hsr upscale on the CPU: shorter spans, the same numbers
    assert model.band_chunk == 2
    with torch.no_grad():
        assert torch.allclose(model(x), b, atol=1e-10)
        pieces = list(model.forward_bands(x))  # streamed: one span at a time, the state carried
    assert [(b0, b1) for b0, b1, _ in pieces] == [(0, 2), (2, 4), (4, 6), (6, 8), (8, 9)]
    assert torch.allclose(torch.cat([y for _, _, y in pieces], 1), b, atol=1e-10)


def test_coarsr_streams_its_spans_so_many_band_scenes_get_the_tiles_few_bands_get():
    """hsr upscale holds one span of CoarSR's output, not a tile's every band: a 224-band scene is cut
    into tiles as large as a 31-band one (fewer LR pixels computed twice)."""
    import numpy as np

    from hsrcli.infer.resolve import resolve_model
    from hsrcli.infer.runner import UpscaleOptions, plan_grid
    from hsrcli.io.meta import SceneMeta

    shapes = {}
    for bands in (31, 224):
        r = resolve_model("coarsr_x4", bands, 4)
        grid = plan_grid(r.for_inference("cpu"), r, SceneMeta(512, 512, bands, np.dtype("float32")), None,
                         UpscaleOptions())
        shapes[bands] = grid.shape
    assert shapes[224] == shapes[31] and min(shapes[224]) >= 200


def test_finesr_identity_when_v_is_downscaled_u_and_weight_range():
    g = torch.Generator().manual_seed(3)
    u = torch.rand(2, 6, 16, 12, generator=g, dtype=torch.float64)
    v = bicubic_resize(u, 0.5)
    assert torch.allclose(finesr(u, v), u, atol=1e-12)
    lam = finesr_weight(u, v)
    assert ((lam >= 0) & (lam <= 1)).all() and lam.max() < 1e-3
    far = torch.rand(2, 6, 8, 6, generator=g, dtype=torch.float64)
    lam2 = finesr_weight(u, far)
    assert ((lam2 >= 0) & (lam2 <= 1)).all() and torch.allclose(lam2, torch.ones(2, dtype=torch.float64))
    refined = finesr(u, far)
    # one back-projection moves the downscaled result towards V
    assert (bicubic_resize(refined, 0.5) - far).abs().mean() < (bicubic_resize(u, 0.5) - far).abs().mean()
    with pytest.raises(ValueError, match="twice"):
        finesr(u, far[..., :5])


def test_lkca_g_same_weights_for_224_and_31_bands_and_blending():
    torch.manual_seed(4)
    model = build("lkca-g", 224, 4).eval()
    with torch.no_grad():
        for b in (224, 31, 5):
            assert model(torch.rand(1, b, 4, 4)).shape == (1, b, 16, 16)
        # with a zero upsampler the net is pure bicubic: blending must reproduce it exactly
        model.net.upsampler.conv.weight.zero_()
        model.net.upsampler.conv.bias.zero_()
        x = torch.rand(1, 37, 5, 4)
        assert torch.allclose(model(x), bicubic_resize(x, 4), atol=1e-5)
        const = torch.full((1, 37, 5, 4), 0.3)
        assert torch.allclose(model(const), torch.full((1, 37, 20, 16), 0.3), atol=1e-6)


@pytest.mark.parametrize("bands", [5, 21, 31, 64])
def test_lkca_g_group_chunks_do_not_change_the_output(bands):
    """Groups run a chunk at a time (fit_tile) with the overlap carried over: any chunk size gives
    the all-at-once result (21 bands: three groups share band 13)."""
    torch.manual_seed(5)
    model = build("lkca-g", bands, 2, channels=6, blocks=1).eval()
    x = torch.rand(2, bands, 9, 7)
    with torch.no_grad():
        model.group_batch = 1000
        ref = model(x)
        for chunk in (2, 4, 6):  # per-image chunks of 1, 2, 3 groups
            model.group_batch = chunk
            pieces = list(model.forward_bands(x))
            assert pieces[0][0] == 0 and pieces[-1][1] == bands
            assert all(a[1] == b[0] for a, b in itertools.pairwise(pieces))  # contiguous band ranges
            assert torch.allclose(torch.cat([p[2] for p in pieces], 1), ref, atol=1e-6)


@pytest.mark.parametrize("k,d", [(7, 2), (9, 3), (9, 4), (3, 2)])
@pytest.mark.parametrize("size", [(12, 12), (13, 10), (5, 3)])
def test_polyphase_depthwise_equals_the_dilated_convolution(k, d, size):
    torch.manual_seed(6)
    conv = torch.nn.Conv2d(5, 5, k, padding=d * (k // 2), dilation=d, groups=5)
    x = torch.rand(2, 5, *size, requires_grad=True)
    y = polyphase_depthwise(x, conv)
    assert torch.allclose(y, conv(x), atol=1e-6)
    y.sum().backward()  # trainable through the polyphase path (CPU training)
    assert x.grad is not None and conv.weight.grad is not None


@pytest.mark.parametrize("rows,channels_last", [(1, True), (3, False), (7, True)])
def test_the_ffn_by_bands_of_rows_is_the_ffn_on_the_whole_image(monkeypatch, rows, channels_last):
    """At inference on CPU an LKCA block's FFN runs over bands of rows (each with the row its 3×3
    depthwise conv reads past it): the block's output is the one-pass output, in either memory format."""
    from hsrcli.models import lkca

    torch.manual_seed(3)
    block = lkca.LKCABlock(12, branches=lkca.COMPACT_BRANCHES, pool=7).eval()
    x = torch.rand(2, 12, 23, 9)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        monkeypatch.setattr(lkca, "FFN_ROW_PIXELS", 10**9)
        whole = block(x)
        monkeypatch.setattr(lkca, "FFN_ROW_PIXELS", rows * 9)
        by_rows = block(x)
    assert torch.allclose(by_rows, whole, atol=1e-6)
    assert by_rows.is_contiguous(memory_format=torch.channels_last) == channels_last
    y = block(x.requires_grad_())  # training: the plain FFN, differentiable
    y.sum().backward()
    assert torch.allclose(y.detach(), whole, atol=1e-6)


@pytest.mark.parametrize("pool,size", [(7, (9, 13)), (3, (1, 5)), (5, (20, 4))])
def test_local_channel_attention_pool_is_the_square_mean_of_valid_pixels(pool, size):
    """SE attention squeezed by the k×k mean of each window's valid pixels (fewer at the borders);
    the mean is taken after the first 1×1 conv, which it commutes with."""
    torch.manual_seed(0)
    x = torch.rand(2, 6, *size, dtype=torch.float64)
    att = ChannelAttention(6, reduction=2, pool=pool).double().eval()
    square = torch.nn.functional.avg_pool2d(x, pool, stride=1, padding=pool // 2, count_include_pad=False)
    torch.testing.assert_close(att(x), x * torch.sigmoid(att.fc(square)), rtol=0, atol=1e-12)


@pytest.mark.parametrize("bands", [5, 8, 9, 31, 224, 300])
def test_group_blend_weights_sum_to_one(bands):
    starts = group_starts(bands, 8, 2)
    assert starts[0] == 0 and starts[-1] + 8 == max(bands, 8)
    w = blend_weights(bands, 8, starts)
    total = torch.zeros(max(bands, 8), dtype=torch.float64)
    for k, s in enumerate(starts):
        total[s:s + 8] += w[k]
    assert torch.allclose(total, torch.ones_like(total))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_reduced_precision_forward_on_cpu(dtype):
    model = build("lkca", 8, 2, channels=12, blocks=1).eval()
    x = torch.rand(1, 8, 6, 6)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
        y = model(x) if dtype == torch.bfloat16 else model.to(dtype)(x.to(dtype))
    assert torch.isfinite(y.float()).all()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_models_on_cuda_with_bf16():
    for name in ("lkca", "lkca-lr", "lkca-g", "coarsr"):
        model = build(name, 31, 4).cuda().eval()
        if name != "coarsr":  # CoarSR holds 3-D convolutions (rank-5 weights): no channels_last
            model = model.to(memory_format=torch.channels_last)
        x = torch.rand(1, 31, 16, 16, device="cuda")
        with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
            y = model(x)
        assert y.shape == (1, 31, 64, 64) and torch.isfinite(y.float()).all()


@pytest.mark.parametrize("name", ["bicubic", "lkca", "lkca-lr", "lkca-g", "coarsr"])
@pytest.mark.parametrize("crop", [(0, 0, 0, 0), (3, 1, 0, 2), (1, 1, 1, 1), (5, 4, 6, 3)])
@pytest.mark.parametrize("detail", [False, True])
def test_forward_bands_with_a_crop_is_the_trimmed_output(name, crop, detail, monkeypatch):
    """A crop leaves out a border the caller discards; the rest is the uncropped output — or, with
    ``detail``, that output less its bicubic, which the LKCA family then never computes."""
    from hsrcli.models import resample
    from hsrcli.models.crop import trim

    torch.manual_seed(0)
    scale = 3
    model = build(name, 7, scale, **TINY.get(name, {})).eval()
    x = torch.rand(2, 7, 13, 12)
    with torch.no_grad():
        full = torch.cat([y for _, _, y in model.forward_bands(x)], 1)
        calls = []
        monkeypatch.setattr(resample, "upsample_phases", lambda *a: calls.append(a) or upsample_phases(*a))
        pieces = list(model.forward_bands(x, crop, detail))
    assert pieces[0][0] == 0 and pieces[-1][1] == 7
    got = torch.cat([y for _, _, y in pieces], 1)
    assert got.shape == (2, 7, (13 - crop[0] - crop[1]) * scale, (12 - crop[2] - crop[3]) * scale)
    want = trim(full - bicubic_resize(x, scale) if detail else full, crop, scale)
    torch.testing.assert_close(got, want, rtol=0, atol=2e-6 if detail else 1e-6)
    if detail and name.startswith("lkca"):
        assert not calls
    if detail and name == "bicubic":
        assert got.abs().max() < 1e-5


def test_lkca_inference_sum_in_place_equals_the_training_parts():
    torch.manual_seed(0)
    model = build("lkca", 5, 4, **TINY["lkca"]).eval()
    x = torch.rand(1, 5, 9, 8)
    out, _, base = model(x, return_parts=True)
    with torch.no_grad():
        fast = model(x)
    assert torch.equal(fast, (out.detach()))
    torch.testing.assert_close(base.detach(), bicubic_resize(x, 4), rtol=0, atol=1e-6)
