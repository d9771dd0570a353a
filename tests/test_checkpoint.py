"""``hsrcli.checkpoint``: format versions are checked; newer formats are refused clearly."""

from __future__ import annotations

import json

import pytest
import torch

from hsrcli.checkpoint import FORMAT, make_checkpoint, read_checkpoint, save_checkpoint
from hsrcli.data.manifest import MANIFEST_FORMAT, load_manifest
from hsrcli.errors import HsrInputError
from hsrcli.models import build


def test_checkpoint_round_trip_and_newer_format_refused(tmp_path):
    model = build("lkca", 4, 2, channels=6, blocks=1)
    ckpt = make_checkpoint(model, "lkca", 4, 2, {"channels": 6, "blocks": 1}, {})
    back = read_checkpoint(save_checkpoint(ckpt, tmp_path / "a.pt"))
    assert back.model == ckpt.model and back.to_dict()["format"] == FORMAT
    assert torch.load(tmp_path / "a.pt", weights_only=True)["model"]["kwargs"] == {"channels": 6, "blocks": 1}
    torch.save(ckpt.to_dict() | {"format": "hsrcli-checkpoint/2"}, tmp_path / "b.pt")
    with pytest.raises(HsrInputError, match="format 'hsrcli-checkpoint/2' is not readable by this version"):
        read_checkpoint(tmp_path / "b.pt")
    torch.save({"weights": 1}, tmp_path / "c.pt")
    with pytest.raises(HsrInputError, match="not an hsrcli checkpoint"):
        read_checkpoint(tmp_path / "c.pt")
    torch.save({"format": FORMAT, "model": {"name": "lkca"}, "state_dict": {}}, tmp_path / "d.pt")
    with pytest.raises(HsrInputError, match="corrupt checkpoint"):
        read_checkpoint(tmp_path / "d.pt")


def test_newer_data_set_format_refused(tmp_path):
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "hsrcli-dataset/2"}))
    with pytest.raises(HsrInputError, match=f"this version reads '{MANIFEST_FORMAT}'.*upgrade hsrcli"):
        load_manifest(tmp_path)
