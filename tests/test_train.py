"""``hsr train``: end-to-end on a tiny data set, exact resume, atomic checkpoints, KD, DDP, evaluate."""

from __future__ import annotations

import csv
import itertools
import json
import os
import subprocess
import sys
from contextlib import nullcontext

import pytest
import torch
from rasters import ROOT

from hsrcli.checkpoint import make_checkpoint, read_checkpoint, save_checkpoint
from hsrcli.cli import app
from hsrcli.errors import HsrInputError
from hsrcli.models import build
from hsrcli.train.schedule import kd_weight

TINY = ["--model-arg", "channels=6", "--model-arg", "blocks=1"]


def _prepared(tmp, scale: int):
    """A tiny data set of one 48 x 48 x 6 scene at ``scale``, 16-pixel HR patches."""
    import numpy as np
    from rasters import write_raw_envi
    from typer.testing import CliRunner

    g = np.random.default_rng(0)
    base = g.random((48, 48, 1)) * np.linspace(0.3, 1, 6)[None, None]
    cube = (base + 0.05 * g.random((48, 48, 6))).astype(np.float32)
    hdr = write_raw_envi(tmp, cube, header={"wavelength": [450, 500, 550, 600, 650, 700]})
    out = tmp / "ds"
    res = CliRunner().invoke(app, ["prepare", str(hdr), "-o", str(out), "-s", str(scale), "--patch", "16",
                                   "--stride", "4", "--test-fraction", "0.25", "--val-fraction", "0.25", "--guard",
                                   "2", "-q"])
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """A tiny prepared data set: 48 x 48 x 6 scene, x2, 16-pixel patches."""
    return _prepared(tmp_path_factory.mktemp("ds"), 2)


def _train(runner, dataset, out, *extra, model="lkca", epochs=2):
    args = ["train", str(dataset), "-m", model, "-o", str(out), "--epochs", str(epochs), "--batch-size", "4",
            "--iters-per-epoch", "3", "--device", "cpu", "-q", *extra]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    return res


def _log(out):
    return list(csv.DictReader((out / "log.csv").open()))


def test_train_two_epochs_then_resume_epoch_three(runner, dataset, tmp_path):
    run = tmp_path / "run"
    _train(runner, dataset, run, *TINY)
    assert [r["epoch"] for r in _log(run)] == ["1", "2"]
    for name in ("last.pt", "best.pt", "config.json"):
        assert (run / name).exists()
    ckpt = torch.load(run / "best.pt", weights_only=True)
    assert ckpt["model"]["name"] == "lkca" and ckpt["model"]["bands"] == 6 and ckpt["model"]["scale"] == 2
    assert ckpt["meta"]["normalization"]["kind"] == "max" and ckpt["meta"]["wavelengths_nm"][0] == 450
    assert float(_log(run)[-1]["val_psnr"]) > 10
    res = runner.invoke(app, ["train", str(dataset), "-m", "lkca", "-o", str(run), "--epochs", "2", "-q"])
    assert res.exit_code == 2 and "--resume" in res.stderr  # refuses to clobber a run
    _train(runner, dataset, run, *TINY, "--resume", epochs=3)
    assert [r["epoch"] for r in _log(run)] == ["1", "2", "3"]


@pytest.mark.parametrize("model,extra", [("lkca", TINY), ("coarsr", ["--model-arg", "feats=4"]),
                                         ("lkca-g", TINY), ("lkca-g", [*TINY, "--ema", "0.9"])])
def test_killed_and_resumed_run_equals_uninterrupted(runner, dataset, tmp_path, model, extra):
    straight, resumed = tmp_path / "a", tmp_path / "b"
    _train(runner, dataset, straight, *extra, model=model, epochs=3)
    _train(runner, dataset, resumed, *extra, model=model, epochs=2)  # "killed" after epoch 2
    _train(runner, dataset, resumed, *extra, "--resume", model=model, epochs=3)
    a, b = read_checkpoint(straight / "last.pt"), read_checkpoint(resumed / "last.pt")
    pairs = [(a.state_dict, b.state_dict)]
    if "--ema" in extra:  # the average and the trained weights both continue exactly
        pairs.append((a.state["train_weights"], b.state["train_weights"]))
        assert a.state["ema_updates"] == b.state["ema_updates"] == 9
    for x, y in pairs:
        assert x.keys() == y.keys()
        for k in x:
            assert torch.equal(x[k], y[k]), k


def test_ema_run_validates_and_saves_the_average(runner, dataset, tmp_path):
    from hsrcli.checkpoint import model_from_checkpoint
    from hsrcli.data.dataset import ImageDataset
    from hsrcli.train.steps import validate

    run = tmp_path / "run"
    _train(runner, dataset, run, *TINY, "--ema", "0.9", "--lr", "1e-2", model="lkca-g", epochs=2)
    last = read_checkpoint(run / "last.pt")
    trained = last.state["train_weights"]
    assert any(not torch.equal(w, trained[k]) for k, w in last.state_dict.items())  # the average is saved
    best = read_checkpoint(run / "best.pt")
    assert "train_weights" not in best.state and "optimizer" not in best.state
    val = validate(model_from_checkpoint(last), ImageDataset(str(dataset), "val"), torch.device("cpu"), nullcontext)
    assert val["psnr"] == pytest.approx(float(_log(run)[-1]["val_psnr"]), rel=1e-9)  # validated: the average
    res = runner.invoke(app, ["train", str(dataset), "-m", "lkca-g", "-o", str(tmp_path / "bad"), "--ema", "1.5",
                              "--device", "cpu", "-q"])
    assert res.exit_code == 2 and "--ema must be in (0, 1)" in res.stderr and not (tmp_path / "bad").exists()


def test_gain_augmentation_changes_the_training_and_is_recorded(runner, dataset, tmp_path):
    plain, gained = tmp_path / "plain", tmp_path / "gain"
    _train(runner, dataset, plain, *TINY, "--seed", "3", model="lkca-g", epochs=1)
    _train(runner, dataset, gained, *TINY, "--seed", "3", "--gain", "0.2,0.5", model="lkca-g", epochs=1)
    assert json.loads((gained / "config.json").read_text())["gain"] == [0.2, 0.5]
    assert read_checkpoint(gained / "last.pt").config["gain"] == [0.2, 0.5]
    assert json.loads((plain / "config.json").read_text())["gain"] is None
    # dimmer patches: a smaller L1 loss than the same batches at their own intensities
    assert float(_log(gained)[0]["train_loss"]) < float(_log(plain)[0]["train_loss"])
    res = runner.invoke(app, ["train", str(dataset), "-m", "lkca-g", "-o", str(tmp_path / "bad"), "--gain", "1,x",
                              "--device", "cpu", "-q"])
    assert res.exit_code == 2 and "bad --gain '1,x'" in res.stderr and not (tmp_path / "bad").exists()


def test_checkpoint_write_is_atomic(dataset, tmp_path, monkeypatch):
    from hsrcli import checkpoint as ck

    path = tmp_path / "last.pt"
    ck.save_checkpoint({"format": ck.FORMAT, "x": torch.ones(3)}, path)
    before = path.read_bytes()

    def broken_save(obj, f, *a, **k):
        with open(f, "wb") as fh:
            fh.write(b"half a checkpoint")
        raise KeyboardInterrupt("killed while saving")

    monkeypatch.setattr(ck.torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        ck.save_checkpoint({"format": ck.FORMAT, "x": torch.zeros(3)}, path)
    assert path.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_kd_weight_schedules():
    assert kd_weight(0, 10) == 1.0 and kd_weight(5, 10) == 0.5 and kd_weight(10, 10) == 0.0
    assert kd_weight(5, 10, "cosine") == pytest.approx(0.5) and kd_weight(0, 10, "cosine") == 1.0
    assert kd_weight(3, 10, "exp", gamma=0.5) == 0.125
    with pytest.raises(HsrInputError, match="unknown --kd-decay 'stairs'"):
        kd_weight(1, 10, "stairs")


def test_distillation_logs_the_weight_and_adds_the_kd_term(runner, dataset, tmp_path):
    teacher = tmp_path / "teacher"
    _train(runner, dataset, teacher, *TINY, epochs=1)
    losses = {}
    for w0 in ("1.0", "0.0"):
        run = tmp_path / f"student{w0}"
        _train(runner, dataset, run, *TINY, "--model-arg", "lr_rank=2", "--teacher", str(teacher / "best.pt"),
               "--kd-weight", w0, "--init-from-teacher", model="lkca-lr", epochs=2)
        log = _log(run)
        assert [float(r["kd_weight"]) for r in log] == ([1.0, 0.5] if w0 == "1.0" else [0.0, 0.0])
        losses[w0] = float(log[0]["train_loss"])
    assert losses["1.0"] > losses["0.0"]  # same data and seed: the difference is the KD term
    res = runner.invoke(app, ["train", str(dataset), "-m", "lkca", "-o", str(tmp_path / "x"), "--teacher",
                              str(teacher / "best.pt"), "-q"])
    assert res.exit_code == 2 and "lkca-lr" in res.stderr


def test_init_from_fine_tunes_a_checkpoint_and_refuses_another_model(runner, dataset, tmp_path):
    base = tmp_path / "base"
    _train(runner, dataset, base, *TINY, epochs=1)
    start = read_checkpoint(base / "best.pt").state_dict
    tuned, fresh = tmp_path / "tuned", tmp_path / "fresh"
    # Adam moves every weight by about --lr per step: at 1e-9 the run keeps its starting point.
    _train(runner, dataset, tuned, *TINY, "--init-from", str(base / "best.pt"), "--lr", "1e-9", epochs=1)
    _train(runner, dataset, fresh, *TINY, "--lr", "1e-9", epochs=1)
    for name, w in read_checkpoint(tuned / "best.pt").state_dict.items():
        assert torch.allclose(w, start[name], atol=1e-6), name
    fresh_weights = read_checkpoint(fresh / "best.pt").state_dict.items()
    assert any(not torch.allclose(w, start[n], atol=1e-6) for n, w in fresh_weights)
    assert read_checkpoint(tuned / "best.pt").config["init_from"] == str(base / "best.pt")
    other = save_checkpoint(make_checkpoint(build("lkca", 7, 2, channels=6, blocks=1), "lkca", 7, 2,
                                            {"channels": 6, "blocks": 1}, {"wavelengths_nm": [400.0 + 50 * k for k in range(7)]}),
                            tmp_path / "seven.pt")
    for extra, init, msg in [
            (["-m", "lkca-g"], str(base / "best.pt"), "holds a 'lkca' model, not 'lkca-g'"),
            (["-m", "lkca", "--model-arg", "channels=6"], str(base / "best.pt"),
             "train with --model-arg channels=6 --model-arg blocks=1"),
            (["-m", "lkca-g"], "lkca-g_x4", ("not x2 as the data set; prepare a x4 data set ('hsr prepare -s 4') "
                                                         "or use a x2 model")),
            (["-m", "lkca", *TINY], str(other), ("expects 7 bands (400-700 nm) but the data set has 6; prepare a data "
                                                "set of those bands ('hsr prepare --bands 400-700nm')"))]:
        out = tmp_path / "refused"
        res = runner.invoke(app, ["train", str(dataset), *extra, "-o", str(out), "--init-from", init,
                                  "--device", "cpu", "-q"])
        assert res.exit_code == 2 and msg in res.stderr, res.output
        assert not out.exists()


def test_evaluate_and_plot_training(runner, dataset, tmp_path):
    run = tmp_path / "run"
    _train(runner, dataset, run, *TINY, epochs=2)
    res = runner.invoke(app, ["evaluate", str(dataset), "-m", "bicubic", "-m", str(run / "best.pt"), "--device",
                              "cpu", "-q", "--csv", str(tmp_path / "t.csv")])
    assert res.exit_code == 0, res.output
    assert "| bicubic |" in res.stdout and "best.pt" in res.stdout and "PSNR" in res.stdout
    assert len(list(csv.DictReader((tmp_path / "t.csv").open()))) == 2
    for extra, code, rows in [([], 2, 2), (["--overwrite"], 0, 1)]:  # replaced only with --overwrite
        res = runner.invoke(app, ["evaluate", str(dataset), "-m", "bicubic", "--device", "cpu", "-q", "--csv",
                                  str(tmp_path / "t.csv"), *extra])
        assert res.exit_code == code, res.output
        assert len(list(csv.DictReader((tmp_path / "t.csv").open()))) == rows
    out = tmp_path / "curves.png"
    res = runner.invoke(app, ["plot-training", str(run), "-o", str(out)])
    assert res.exit_code == 0 and out.read_bytes().startswith(b"\x89PNG")
    res = runner.invoke(app, ["evaluate", str(dataset), "-m", "nope.pt"])
    assert res.exit_code == 2 and "unknown model 'nope.pt'" in res.stderr


def test_evaluate_refined_and_composite_models(runner, dataset):
    """``A@lr``: FineSR with the LR input at x2; ``X,Y``: an average; ``A+B`` is a cascade (x4 here: refused)."""
    res = runner.invoke(app, ["evaluate", str(dataset), "-m", "lkca-g_x2", "-m", "lkca-g_x2@lr", "-m",
                              "lkca-g_x2,lkca-g_x2", "--device", "cpu", "-q", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["model"]: r for r in json.loads(res.stdout)}
    assert rows["lkca-g_x2@lr"]["arch"] == "lkca-g+finesr"
    assert rows["lkca-g_x2,lkca-g_x2"]["psnr"] == pytest.approx(rows["lkca-g_x2"]["psnr"], abs=1e-4)
    res = runner.invoke(app, ["evaluate", str(dataset), "-m", "lkca-g_x2+lkca-g_x2", "--device", "cpu", "-q"])
    assert res.exit_code == 2 and "upscales x4, not x2" in res.stderr


def test_evaluate_as_upscale_follows_normalising_models_with_the_upscale_steps(runner, dataset):
    """--as-upscale: the subspace and back-projection after lkca-g (a different score), not after bicubic
    nor FineSR rows; the table says which rows."""
    args = ["evaluate", str(dataset), "-m", "bicubic", "-m", "lkca-g_x2", "-m", "lkca-g_x2@lr", "--device", "cpu",
            "-q", "--json"]
    plain = {r["model"]: r for r in json.loads(runner.invoke(app, args).stdout)}
    res = runner.invoke(app, [*args, "--as-upscale"])
    assert res.exit_code == 0, res.output
    steps = {r["model"]: r for r in json.loads(res.stdout)}
    assert [steps[m]["as_upscale"] for m in ("bicubic", "lkca-g_x2", "lkca-g_x2@lr")] == [False, True, False]
    assert steps["bicubic"]["psnr"] == plain["bicubic"]["psnr"]
    assert steps["lkca-g_x2@lr"]["psnr"] == plain["lkca-g_x2@lr"]["psnr"]
    assert steps["lkca-g_x2"]["psnr"] != pytest.approx(plain["lkca-g_x2"]["psnr"], abs=1e-6)
    table = runner.invoke(app, [*args[:-1], "--as-upscale"]).stdout
    assert "| lkca-g_x2 (as upscale) |" in table and "| bicubic |" in table


def test_evaluate_as_upscale_runs_a_cascade_stage_by_stage(runner, dataset_x4):
    """As ``hsr upscale`` runs it: each stage with the output steps, on the previous stage's output."""
    from hsrcli.data.dataset import ImageDataset
    from hsrcli.infer.resolve import resolve_model
    from hsrcli.infer.whole import upscale_image
    from hsrcli.metrics import compute_metrics

    res = runner.invoke(app, ["evaluate", str(dataset_x4), "-m", "lkca-g_x2+lkca-g_x2", "--as-upscale", "--device",
                              "cpu", "-q", "--json"])
    assert res.exit_code == 0, res.output
    got = json.loads(res.stdout)[0]
    stage = resolve_model("lkca-g_x2", 6, 2)
    net, psnrs = stage.for_inference("cpu"), []
    for _, lr, hr, valid in ImageDataset(str(dataset_x4), "test"):
        sr = lr.unsqueeze(0)
        for _ in range(2):
            sr = upscale_image(net, sr, 2, pad=stage.border)
        psnrs.append(compute_metrics(sr[0].clamp(0, 1).numpy(), hr.numpy(), 1.0, 4, valid)["psnr"])
    assert got["as_upscale"] and got["psnr"] == pytest.approx(sum(psnrs) / len(psnrs), abs=1e-6)


def test_ddp_two_gloo_processes(dataset, tmp_path):
    run = tmp_path / "ddp"
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "hsrcli",
           "train", str(dataset), "-m", "lkca", "-o", str(run), "--epochs", "1", "--batch-size", "2",
           "--iters-per-epoch", "2", "--device", "cpu", "-q", *TINY]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in run.iterdir()) == ["best.pt", "config.json", "last.pt", "log.csv"]
    assert [r["epoch"] for r in _log(run)] == ["1"]


def test_band_agnostic_training_on_data_sets_with_different_band_counts(runner, dataset, tmp_path):
    import numpy as np
    from rasters import write_raw_envi

    g = np.random.default_rng(1)
    cube = (g.random((48, 48, 1)) * np.linspace(0.2, 1, 11)[None, None] + 0.05 * g.random((48, 48, 11)))
    hdr = write_raw_envi(tmp_path, cube.astype(np.float32))
    other = tmp_path / "ds11"
    res = runner.invoke(app, ["prepare", str(hdr), "-o", str(other), "-s", "2", "--patch", "12", "--stride", "4",
                              "--test-fraction", "0.25", "--guard", "2", "-q"])
    assert res.exit_code == 0, res.output
    # patches of 16 and 12 HR px: each batch from one data set, at its own size (not cropped to 12)
    from hsrcli.dist import DistInfo
    from hsrcli.train.config import TrainConfig
    from hsrcli.train.data import epoch_loader, training_data

    cfg = TrainConfig(dataset=str(dataset), model="lkca-g", out="", extra_datasets=[str(other)], batch_size=4,
                      iters_per_epoch=40, band_crop=5)
    data = training_data(cfg, 2)
    sides = {(lr.shape[-1], hr.shape[-1], lr.shape[1]) for lr, hr in epoch_loader(data, cfg, 0, DistInfo())}
    assert sides == {(8, 16, 5), (6, 12, 5)}
    run = tmp_path / "g"
    res = runner.invoke(app, ["train", str(dataset), str(other), "-m", "lkca-g", "-o", str(run), "--epochs", "1",
                              "--batch-size", "4", "--iters-per-epoch", "2", "--device", "cpu", "-q",
                              "--model-arg", "channels=6", "--model-arg", "blocks=1", "--band-crop", "5"])
    assert res.exit_code == 0, res.output
    ckpt = read_checkpoint(run / "best.pt")
    assert ckpt.normalization["per_scene"] is True and ckpt.meta["wavelengths_nm"] is None
    res = runner.invoke(app, ["train", str(dataset), str(other), "-m", "lkca", "-o", str(tmp_path / "h"), "-q"])
    assert res.exit_code == 2 and "band-agnostic" in res.stderr


def test_fit_epochs_fills_the_time_left_with_whole_epochs():
    from hsrcli.train.schedule import fit_epochs

    assert fit_epochs(0, 0.0, 60.0, 100) == 100  # nothing measured yet: the cap
    assert fit_epochs(2, 20.0, 60.0, 100) == 6  # 10 s per epoch, 40 s left: 4 more
    assert fit_epochs(2, 20.0, 60.0, 5) == 5  # never past --epochs
    assert fit_epochs(3, 90.0, 60.0, 100) == 3  # over budget: stop now


def test_cosine_schedule_refitted_to_a_new_length():
    from hsrcli.train.schedule import make_scheduler, set_total_epochs

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = make_scheduler(opt, "cosine", 100)
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5 * (1 + torch.cos(torch.tensor(torch.pi / 100)).item()))
    set_total_epochs(sched, 2)
    opt.step()
    sched.step()  # epoch 2 of 2: the end of the cosine
    assert opt.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
    state = sched.state_dict()
    assert state["lr_lambdas"][0]["total"] == 2  # saved with the run, so --resume keeps the fitted length


def test_minutes_budget_stops_early_and_resume_keeps_the_fitted_schedule(runner, dataset, tmp_path):
    run = tmp_path / "timed"
    # A budget of ~1 s at about a second per epoch on any machine: far fewer than the 200-epoch cap.
    _train(runner, dataset, run, *TINY, "--minutes", "0.02", "--schedule", "cosine", epochs=200)
    log = _log(run)
    ckpt = read_checkpoint(run / "last.pt")
    assert 1 <= len(log) < 200 and ckpt.state["epochs_total"] == len(log)
    assert ckpt.state["seconds"] > 0 and ckpt.config["minutes"] == 0.02
    res = runner.invoke(app, ["train", str(dataset), "-m", "lkca", "-o", str(run), "--epochs", "200", "--minutes",
                              "0.02", "--schedule", "cosine", "--batch-size", "4", "--iters-per-epoch", "3",
                              "--resume", "--device", "cpu", "-q", *TINY])
    assert res.exit_code == 2 and "--minutes" in res.stderr  # the budget is spent: nothing left to resume


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_train_on_cuda_with_bf16_autocast(runner, dataset, tmp_path):
    run = tmp_path / "cuda"
    res = runner.invoke(app, ["train", str(dataset), "-m", "lkca", "-o", str(run), "--epochs", "2", "--batch-size",
                              "4", "--iters-per-epoch", "3", "--device", "cuda", "--amp", "bf16", "-q", *TINY])
    assert res.exit_code == 0, res.output
    log = _log(run)
    assert len(log) == 2 and float(log[-1]["val_psnr"]) > 10
    assert float(log[1]["train_loss"]) < float(log[0]["train_loss"]) * 1.5  # finite, not diverging
    ckpt = read_checkpoint(run / "best.pt")  # weights come back to the CPU
    assert all(t.device.type == "cpu" for t in ckpt.state_dict.values())
    assert ckpt.meta["training"]["device"] == "cuda" and ckpt.meta["training"]["amp"] == "bf16"


def test_band_and_patch_windows_stay_aligned_between_lr_and_hr():
    from hsrcli.data.dataset import BandCropDataset

    lr = torch.arange(3 * 8 * 8, dtype=torch.float32).reshape(3, 8, 8)
    hr = lr.repeat_interleave(2, 1).repeat_interleave(2, 2)  # each LR pixel is a 2x2 HR block
    ds = BandCropDataset([(lr, hr)], bands=2, lr_patch=4, scale=2)
    torch.manual_seed(0)
    for _ in range(20):
        a, b = ds[0]
        assert a.shape == (2, 4, 4) and b.shape == (2, 8, 8)
        assert torch.equal(b[:, ::2, ::2], a)  # the HR window is exactly the LR window's footprint
    with pytest.raises(ValueError, match="smaller than the crop"):
        BandCropDataset([(lr[:, :8, :3], hr[:, :16, :6])], bands=2, lr_patch=4, scale=2)[0]


def test_strided_band_windows_take_every_jth_band_of_lr_and_hr_alike():
    from hsrcli.data.dataset import BandCropDataset

    lr = torch.arange(20, dtype=torch.float32).view(20, 1, 1).expand(20, 4, 4).clone()  # value = band index
    hr = lr.repeat_interleave(2, 1).repeat_interleave(2, 2)
    ds = BandCropDataset([(lr, hr)], bands=4, scale=2, max_stride=3)
    torch.manual_seed(0)
    strides = set()
    for _ in range(60):
        a, b = ds[0]
        bands = a[:, 0, 0].long().tolist()
        assert a.shape == (4, 4, 4) and b[:, 0, 0].long().tolist() == bands
        steps = {j - i for i, j in itertools.pairwise(bands)}
        assert len(steps) == 1 and bands[-1] < 20
        strides |= steps
    assert strides == {1, 2, 3}
    # a window of 8 bands with stride 3 needs 22: out of 20 bands the stride stays within 2
    wide = BandCropDataset([(lr, hr)], bands=8, scale=2, max_stride=3)
    assert {wide.window(20).step for _ in range(40)} <= {1, 2}
    # max_stride 1 draws exactly the contiguous windows of before (seeded runs unchanged)
    torch.manual_seed(5)
    got = [BandCropDataset([(lr, hr)], bands=4).window(20) for _ in range(10)]
    torch.manual_seed(5)
    assert got == [slice(s, s + 4, 1) for s in (int(torch.randint(17, (1,))) for _ in range(10))]


def test_resume_with_a_changed_configuration_is_refused(runner, dataset, tmp_path):
    run = tmp_path / "run"
    _train(runner, dataset, run, *TINY, epochs=1)
    res = runner.invoke(app, ["train", str(dataset), "-m", "lkca", "-o", str(run), "--epochs", "2", "--batch-size",
                              "4", "--iters-per-epoch", "3", "--device", "cpu", "-q", "--resume", "--lr", "1e-3", *TINY])
    assert res.exit_code == 2 and "cannot resume with a different configuration (lr: 0.0001 -> 0.001)" in res.stderr
    assert [r["epoch"] for r in _log(run)] == ["1"]


def test_python_callers_cannot_overwrite_a_run(dataset, tmp_path):
    from hsrcli.train.config import TrainConfig
    from hsrcli.train.loop import train

    cfg = TrainConfig(dataset=str(dataset), model="lkca", out=str(tmp_path / "run"), epochs=1, batch_size=4,
                      iters_per_epoch=2, device="cpu", model_kwargs={"channels": 6, "blocks": 1})
    train(cfg)
    before = (tmp_path / "run" / "last.pt").read_bytes()
    with pytest.raises(HsrInputError, match="holds a run already"):
        train(cfg)
    assert (tmp_path / "run" / "last.pt").read_bytes() == before


@pytest.mark.parametrize("width", [3, 7])
def test_coarsr_trained_in_band_spans_gets_the_band_by_band_gradients(width):
    """coarsr_step=batch runs spans of band_chunk bands; without BatchNorm (whose batch statistics
    then cover a span) the loss and every gradient equal those of one band at a time."""
    from hsrcli.models import build
    from hsrcli.train.config import TrainConfig
    from hsrcli.train.steps import band_by_band_batch

    g = torch.Generator().manual_seed(0)
    lr = torch.rand(2, 7, 6, 5, generator=g, dtype=torch.float64)
    hr = torch.rand(2, 7, 12, 10, generator=g, dtype=torch.float64)
    torch.manual_seed(1)
    model = build("coarsr", 7, 2, feats=4, bn=False).double()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = TrainConfig(dataset="-", model="coarsr", out="-", coarsr_step="batch")
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    runs = []
    for chunk in (1, width):
        model.load_state_dict(state)
        model.band_chunk = chunk
        opt = torch.optim.SGD(model.parameters(), lr=0.0)  # keeps the weights: the gradients stay comparable
        loss = band_by_band_batch(model, lr, hr, cfg, opt, scaler, nullcontext)
        runs.append((loss, {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}))
    (loss1, g1), (loss2, g2) = runs
    assert loss1 == pytest.approx(loss2, rel=1e-12)
    assert g1.keys() == g2.keys() and len(g1) > 20
    for name in g1:
        assert torch.allclose(g1[name], g2[name], rtol=1e-9, atol=1e-12), name


@pytest.fixture(scope="module")
def dataset_x4(tmp_path_factory):
    """The scene of ``dataset`` prepared for x4 (16-pixel HR patches, 4-pixel LR)."""
    return _prepared(tmp_path_factory.mktemp("ds4"), 4)


def test_after_trains_the_later_stage_of_a_cascade(runner, dataset, dataset_x4, tmp_path):
    """``--after A`` on x4 data with a x2 A: a x2 model, validated (and usable) as ``A+model``."""
    from hsrcli.checkpoint import model_from_checkpoint
    from hsrcli.data.dataset import ImageDataset
    from hsrcli.train.stage import FirstStage
    from hsrcli.train.steps import validate

    stage = tmp_path / "stage"
    _train(runner, dataset, stage, *TINY, model="lkca-g", epochs=1)
    first_ckpt = str(stage / "best.pt")
    run = tmp_path / "run"
    _train(runner, dataset_x4, run, *TINY, "--after", first_ckpt, model="lkca-g", epochs=2)
    best = read_checkpoint(run / "best.pt")
    assert best.model.scale == 2 and best.config["after"] == first_ckpt
    assert best.meta["after"] == {"spec": first_ckpt, "model": "lkca-g", "scale": 2}
    first = FirstStage(first_ckpt, 6, 4, torch.device("cpu"))
    assert (first.scale, first.rest) == (2, 2)
    images = ImageDataset(str(dataset_x4), "val")
    logged = float(_log(run)[-1]["val_psnr"])
    net = model_from_checkpoint(read_checkpoint(run / "last.pt"))
    assert validate(net, images, torch.device("cpu"), nullcontext, first)["psnr"] == pytest.approx(logged, rel=1e-9)
    # Patches: the central half of A's output (a quarter of the 4-pixel LR side cut from each side), with
    # the HR pixels under it.
    lr, hr = torch.rand(3, 6, 4, 4), torch.rand(3, 6, 16, 16)
    mid, target = first.patches(lr, hr, nullcontext)
    assert mid.shape == (3, 6, 4, 4) and target.shape == (3, 6, 8, 8)
    assert torch.equal(mid, first.image(lr, nullcontext)[..., 2:-2, 2:-2]) and torch.equal(target, hr[..., 4:-4, 4:-4])
    res = runner.invoke(app, ["evaluate", str(dataset_x4), "-m", f"{first_ckpt}+{run / 'best.pt'}", "--split",
                              "val", "--device", "cpu", "-q", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)[0]["psnr"] > 10


@pytest.mark.parametrize("extra,msg", [
    (["--after", "nope.pt"], "--after 'nope.pt': not a checkpoint file"),
    (["--after", "lkca-g_x4"], "upscales x4; the data set's x4 must be a larger multiple of it"),
    (["--after", "lkca-g_x3"], "upscales x3; the data set's x4 must be a larger multiple of it"),
    (["--after", "lkca_x4", "--band-stride", "2"], "cannot take the band windows"),
])
def test_after_refuses_stages_that_do_not_fit(runner, dataset_x4, tmp_path, extra, msg):
    out = tmp_path / "refused"
    res = runner.invoke(app, ["train", str(dataset_x4), "-m", "lkca-g", "-o", str(out), "--device", "cpu", "-q",
                              *extra])
    assert res.exit_code == 2 and msg in res.stderr, res.output
    assert not out.exists()


def test_after_and_teacher_exclude_each_other(runner, dataset_x4, tmp_path):
    res = runner.invoke(app, ["train", str(dataset_x4), "-m", "lkca-lr", "-o", str(tmp_path / "x"), "--after",
                              "lkca-g_x2", "--teacher", "lkca_x4", "-q"])
    assert res.exit_code == 2 and "--after and --teacher exclude each other" in res.stderr
