"""``hsrcli.train.config``: configuration checks, loss weights, run-folder and resume rules."""

from __future__ import annotations

import pytest

from hsrcli.errors import HsrInputError
from hsrcli.train.config import TrainConfig, check_resumable, loss_weights, open_run_folder


def _cfg(**kw) -> TrainConfig:
    return TrainConfig(dataset=kw.pop("dataset", "ds"), model=kw.pop("model", "lkca"), out="run", **kw)


def test_validate_normalises_choices_and_accepts_defaults():
    cfg = _cfg(schedule="cosine", amp="OFF".lower(), device=" CUDA:1 ").validate()
    assert (cfg.schedule, cfg.amp, cfg.device) == ("cosine", "off", "cuda:1")
    assert type(cfg.schedule) is str  # plain strings go into config.json and checkpoints


@pytest.mark.parametrize("kw,msg", [
    ({"schedule": "bogus"}, "unknown --schedule 'bogus'"),
    ({"kd_decay": "sqrt"}, "unknown --kd-decay"),
    ({"coarsr_step": "epoch"}, "unknown --coarsr-step"),
    ({"amp": "fp8"}, "unknown --amp"),
    ({"device": "tpu"}, "unknown device"),
    ({"model": "bicubic"}, "cannot train 'bicubic'"),
    ({"model": "nope"}, "trainable: coarsr, lkca, lkca-lr, lkca-g"),
    ({"teacher": "t.pt"}, "student model (lkca-lr)"),
    ({"init_from_teacher": True}, "--init-from-teacher needs --teacher"),
    ({"init_from": "no/such.pt"}, "--init-from 'no/such.pt': not a checkpoint file, and not a bundled model"),
    ({"init_from": "lkca_x4", "teacher": "t.pt", "init_from_teacher": True, "model": "lkca-lr"},
     "--init-from and --init-from-teacher exclude each other"),
    ({"band_crop": 8}, "band-agnostic model"),
    ({"band_stride": 2}, "band-agnostic model"),
    ({"band_stride": 0, "model": "lkca-g"}, "--band-stride must be > 0"),
    ({"epochs": 0}, "--epochs must be > 0"),
    ({"lr": -1e-4}, "--lr must be > 0"),
    ({"minutes": 0.0}, "--minutes must be > 0"),
    ({"workers": -1}, "--workers must be >= 0"),
    ({"gain": [2, 1]}, "--gain takes LOW,HIGH with 0 < LOW <= HIGH"),
    ({"gain": [0.5]}, "--gain takes LOW,HIGH"),
    ({"gain": [0, 1]}, "--gain takes LOW,HIGH"),
])
def test_validate_refuses_bad_values(kw, msg):
    with pytest.raises(HsrInputError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        _cfg(**kw).validate()


def test_loss_weights():
    assert loss_weights("l1") == (0.0, 0.0)
    assert loss_weights("hloss") == (0.3, 0.1)
    with pytest.raises(HsrInputError, match="unknown --loss"):
        loss_weights("l2")


def test_run_folder_rules(tmp_path):
    run = tmp_path / "run"
    open_run_folder(run, resume=False, overwrite=False)  # fresh: fine, and nothing is created
    assert not run.exists()
    with pytest.raises(HsrInputError, match="no last.pt to resume from"):
        open_run_folder(run, resume=True, overwrite=False)
    run.mkdir()
    (run / "last.pt").write_bytes(b"x")
    with pytest.raises(HsrInputError, match="holds a run already"):
        open_run_folder(run, resume=False, overwrite=False)
    open_run_folder(run, resume=True, overwrite=False)
    open_run_folder(run, resume=False, overwrite=True)
    assert (run / "last.pt").exists()  # overwrite replaces files as the new run writes them
    with pytest.raises(HsrInputError, match="exclude each other"):
        open_run_folder(run, resume=True, overwrite=True)
    (tmp_path / "file").write_text("x")
    with pytest.raises(HsrInputError, match="not a folder"):
        open_run_folder(tmp_path / "file", resume=False, overwrite=False)


def test_resume_allows_where_and_how_long_but_not_what(tmp_path):
    saved = _cfg(epochs=10, lr=1e-4).to_dict()
    check_resumable(saved, _cfg(epochs=20, lr=1e-4, device="cpu", workers=2, dataset="moved"), tmp_path)
    with pytest.raises(HsrInputError, match=r"lr: 0.0001 -> 0.001"):
        check_resumable(saved, _cfg(epochs=10, lr=1e-3), tmp_path)
    with pytest.raises(HsrInputError, match="model_kwargs"):
        check_resumable(saved, _cfg(epochs=10, model_kwargs={"channels": 8}), tmp_path)
    older = {k: v for k, v in saved.items() if k != "kd_lambda_grad"}  # a field older runs did not save
    check_resumable(older, _cfg(epochs=10), tmp_path)
