"""Checkpoint reading: official plain state dicts, ours, DDP prefixes, resuming, and every kind of bad file."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from contrique_export.checkpoint import OFFICIAL_TRAINING_DATA, load_checkpoint, load_training_checkpoint
from contrique_export.errors import CheckpointError, ModelConfigError
from contrique_export.model import build_model
from contrique_export.model_config import NSS_DIM, ModelConfig
from contrique_training.checkpoint import rng_state, save_checkpoint


@pytest.fixture(scope="module")
def r18_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return build_model("resnet18", projection_dim=64).state_dict()


def ours(state: dict, *, arch: str = "resnet18", projection_dim: int = 64, **extra) -> dict:
    return {
        "format": "contrique-checkpoint",
        "format_version": 1,
        "model_config": {"arch": arch, "projection_dim": projection_dim},
        "model": state,
        "config": {"lr": 0.1, "batch_size": 8},
        "step": 10,
        "epoch": 1,
        "optimizer": {},
        "scheduler": {},
        "scaler": None,
        "rng": {},
        "data": {"description": "photos of shared/photos/train (CC0 and others)", "license": "CC-BY-4.0"},
        **extra,
    }


def save(obj, path: Path) -> Path:
    torch.save(obj, path)
    return path


def test_official_plain_state_dict(tmp_path, r18_state):
    ckpt = load_checkpoint(save(r18_state, tmp_path / "plain.tar"), arch="resnet18")
    assert ckpt.kind == "official"
    assert ckpt.config == ModelConfig("resnet18", 64)  # projection size read from the weights
    assert ckpt.training_data == OFFICIAL_TRAINING_DATA
    assert len(ckpt.sha256) == 64
    model = ckpt.build_model()
    assert not model.training
    for key, value in model.state_dict().items():
        assert torch.equal(value, r18_state[key]), key


def test_ddp_prefix_is_stripped(tmp_path, r18_state):
    ddp = {f"module.{k}": v for k, v in r18_state.items()}
    ckpt = load_checkpoint(save(ddp, tmp_path / "ddp.pt"), arch="resnet18")
    assert set(ckpt.state_dict) == set(r18_state)
    ckpt = load_checkpoint(save(ours(ddp), tmp_path / "ours_ddp.pt"))
    assert set(ckpt.state_dict) == set(r18_state)


def test_ours_records_arch_and_data(tmp_path, r18_state):
    ckpt = load_checkpoint(save(ours(r18_state), tmp_path / "ours.pt"))
    assert ckpt.kind == "contrique"
    assert ckpt.config == ModelConfig("resnet18", 64)
    assert ckpt.training_data == "photos of shared/photos/train (CC0 and others)"
    assert ckpt.data_license == "CC-BY-4.0"
    assert ckpt.training_config == {"lr": 0.1, "batch_size": 8}


def test_training_package_checkpoint_is_read(tmp_path, r18_state):
    payload = {k: v for k, v in ours(r18_state).items() if k not in ("format", "format_version")}
    payload["rng"] = rng_state()
    path = save_checkpoint(tmp_path / "trained.pt", payload)
    ckpt = load_checkpoint(path)
    assert ckpt.kind == "contrique" and ckpt.config.arch == "resnet18"
    resumable = load_training_checkpoint(path)
    assert resumable["step"] == 10 and set(resumable["model"]) == set(r18_state)


def test_only_complete_training_checkpoints_resume(tmp_path, r18_state):
    with pytest.raises(CheckpointError, match="not a 'contrique-checkpoint' file; an official checkpoint cannot be"):
        load_training_checkpoint(save(r18_state, tmp_path / "official.tar"))
    with pytest.raises(CheckpointError, match="format_version 2 is not supported"):
        load_training_checkpoint(save(ours(r18_state, format_version=2), tmp_path / "v2.pt"))
    partial = {k: v for k, v in ours(r18_state).items() if k not in ("optimizer", "rng")}
    with pytest.raises(CheckpointError, match="lacks field\\(s\\) optimizer, rng, so it cannot be resumed"):
        load_training_checkpoint(save(partial, tmp_path / "partial.pt"))
    assert load_checkpoint(tmp_path / "partial.pt").kind == "contrique"  # export needs only the network


def test_ours_arch_mismatch(tmp_path, r18_state):
    path = save(ours(r18_state), tmp_path / "ours.pt")
    with pytest.raises(CheckpointError, match="records architecture 'resnet18' but 'resnet50' was requested"):
        load_checkpoint(path, arch="resnet50")


def test_wrong_arch_suggests_the_right_one(tmp_path, r18_state):
    path = save(r18_state, tmp_path / "plain.tar")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)  # default resnet50
    message = str(info.value)
    assert str(path) in message and "ContriqueNet(resnet50)" in message
    assert "pass --arch resnet18" in message
    assert "missing keys" in message and "wrong shapes" in message


def test_missing_unexpected_and_wrong_shape_keys_are_listed(tmp_path, r18_state):
    state = dict(r18_state)
    del state["encoder.1.running_mean"]
    state["extra.weight"] = torch.zeros(3)
    state["projector.0.weight"] = torch.zeros(5, 5)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(save(state, tmp_path / "bad.tar"), arch="resnet18")
    message = str(info.value)
    assert "1 missing keys: encoder.1.running_mean" in message
    assert "1 unexpected keys: extra.weight" in message
    assert "1 wrong shapes: projector.0.weight (5, 5) (expected (512, 512))" in message


def test_not_a_checkpoint(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello, not a checkpoint\n")
    with pytest.raises(CheckpointError, match=r"notes.txt: is not a readable PyTorch checkpoint"):
        load_checkpoint(text)
    with pytest.raises(CheckpointError, match="no such checkpoint file"):
        load_checkpoint(tmp_path / "missing.tar")
    with pytest.raises(CheckpointError, match="holds a list, not a state dict"):
        load_checkpoint(save([1, 2, 3], tmp_path / "list.pt"))
    with pytest.raises(CheckpointError, match=r"holds a dict with keys epoch, optimizer"):
        load_checkpoint(save({"epoch": 3, "optimizer": {}}, tmp_path / "dict.pt"))


class Payload:
    """A class that weights_only loading must refuse to rebuild."""

    def __reduce__(self):
        return (Path, ("/tmp",))


@pytest.mark.parametrize("load", [load_checkpoint, load_training_checkpoint])  # export, and --resume
def test_objects_are_refused_not_loaded(tmp_path, load):
    path = tmp_path / "objects.pt"
    with open(path, "wb") as fh:
        torch.save({"format": "contrique-checkpoint", "model": Payload()}, fh, pickle_module=pickle)
    with pytest.raises(CheckpointError, match="safe loading \\(weights_only=True\\) refuses") as info:
        load(path)
    assert "pathlib" in str(info.value) and "weights_only=False" not in str(info.value)


def test_ours_bad_version_and_fields(tmp_path, r18_state):
    with pytest.raises(CheckpointError, match="format_version 2 is not supported"):
        load_checkpoint(save(ours(r18_state, format_version=2), tmp_path / "v2.pt"))
    with pytest.raises(CheckpointError, match="field 'model_config' is invalid: unknown architecture 'vgg'"):
        load_checkpoint(save(ours(r18_state, arch="vgg"), tmp_path / "vgg.pt"))
    bad = ours(r18_state)
    del bad["model"]
    with pytest.raises(CheckpointError, match="field 'model' is missing"):
        load_checkpoint(save(bad, tmp_path / "nomodel.pt"))


def test_model_config_errors_are_export_errors():
    with pytest.raises(ModelConfigError, match="unknown architecture 'resnet101'"):
        ModelConfig("resnet101")
    with pytest.raises(ValueError):  # still a ValueError for callers that catch that
        ModelConfig(projection_dim=0)
    config = ModelConfig("resnet18", stages=3, nss=True)
    assert ModelConfig.from_dict(config.to_dict()) == config and config.name == "resnet18-3stages+nss"
    assert (config.channels, config.feature_dim) == (256, 256 + NSS_DIM)
