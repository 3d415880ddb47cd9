"""Checkpoint reading: official plain state dicts, ours, DDP prefixes, resuming, and every kind of bad file."""

from __future__ import annotations

import os
import pickle
import re
import zipfile
from pathlib import Path

import numpy as np
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


@pytest.mark.filterwarnings("ignore:Validating sparse tensor invariants")  # torch.load of the sparse case
def test_resuming_refuses_weights_that_are_not_dense_real_tensors(tmp_path, r18_state):
    # was: read as they were, for torch to fail on later in the run (a sparse or complex weight), or
    # an AttributeError on a model that is not a dict
    for name, model, said in (
        ("sparse", {**r18_state, "encoder.0.weight": r18_state["encoder.0.weight"].to_sparse()},
         r"1 keys of the wrong type: encoder\.0\.weight \(sparse_coo float32 tensor on cpu\); .*resume from another"),
        ("number", {**r18_state, "encoder.0.weight": 5}, r"encoder\.0\.weight \(int\)"),
        ("list", [1.0, 2.0], r"its model is a list, not a dict of weights: .*resume from another checkpoint$"),
    ):
        payload = {k: v for k, v in ours(r18_state).items() if k not in ("format", "format_version")}
        payload["rng"] = rng_state()
        path = save_checkpoint(tmp_path / f"{name}.pt", {**payload, "model": model})
        with pytest.raises(CheckpointError, match=said):
            load_training_checkpoint(path)


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
    with pytest.raises(CheckpointError, match=r"notes.txt: is truncated or not a PyTorch checkpoint \(24 bytes; it "
                                              r"does not begin as the zip archive torch.save writes\); pass a "):
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


def test_weights_that_are_not_finite_are_refused(tmp_path, r18_state):
    state = dict(r18_state)
    state["encoder.0.weight"] = r18_state["encoder.0.weight"].clone()
    state["encoder.0.weight"].view(-1)[:3] = float("nan")
    state["encoder.0.weight"].view(-1)[3] = float("inf")
    state["projector.0.weight"] = torch.full_like(r18_state["projector.0.weight"], float("-inf"))
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(save(ours(state), tmp_path / "diverged.pt"))
    assert str(info.value) == (
        f"{tmp_path / 'diverged.pt'}: 3 of the 9408 weights of encoder.0.weight are NaN and 1 of the 9408 weights "
        "of encoder.0.weight are infinite (1 more tensors hold values that are not finite): the checkpoint is "
        "damaged or its training diverged; export an earlier checkpoint of the run")
    with pytest.raises(CheckpointError, match="weights of projector.0.weight are infinite"):  # official too
        load_checkpoint(save({**r18_state, "projector.0.weight": state["projector.0.weight"]}, tmp_path / "p.tar"),
                        arch="resnet18")


@pytest.mark.parametrize(
    ("model_config", "message"),
    [
        ({"nss": "false"}, "nss must be true or false, got 'false' (str)"),
        ({"projection_dim": 64.9}, "projection_dim must be an integer, got 64.9 (float)"),
        ({"projection_dim": 10**30}, f"projection_dim must be 1..16384, got {10**30}"),
    ],
)
def test_model_config_of_the_wrong_type_or_range_is_refused(tmp_path, r18_state, model_config, message):
    raw = ours(r18_state)
    raw["model_config"].update(model_config)
    with pytest.raises(CheckpointError, match=re.escape(f"bad.pt: field 'model_config' is invalid: {message}")):
        load_checkpoint(save(raw, tmp_path / "bad.pt"))


def test_a_projection_that_would_allocate_terabytes_is_refused_before_allocating(tmp_path, r18_state):
    # a stride-0 tensor: a few bytes in the file, 10**11 x 512 on the meta device's shape check
    huge = torch.zeros(1).expand(10**11, 512)
    with pytest.raises(CheckpointError, match=r"projector.3.weight does not fit the network: projection_dim must be "
                                              r"1..16384, got 100000000000"):
        load_checkpoint(save({**r18_state, "projector.3.weight": huge}, tmp_path / "stride0.tar"), arch="resnet18")
    raw = ours(r18_state, projection_dim=10**11)
    raw["model"] = {**r18_state, "projector.3.weight": huge}
    with pytest.raises(CheckpointError, match="projection_dim must be 1..16384"):
        load_checkpoint(save(raw, tmp_path / "stride0.pt"))


@pytest.mark.parametrize("max_side", [-5, 3, 31, 65536, 10**40, "abc", 512.0, True])
def test_max_side_out_of_the_input_contract_is_refused_when_read(tmp_path, r18_state, max_side):
    raw = ours(r18_state)
    raw["config"] = {"max_side": max_side}
    with pytest.raises(CheckpointError, match=re.escape(
            f"side.pt: field 'config.max_side' must be 0 (photos not downscaled) or an integer from 32 (the smallest "
            f"side a bundle accepts) to 65535, got {max_side!r}")):
        load_checkpoint(save(raw, tmp_path / "side.pt"))


@pytest.mark.parametrize(("config", "expected"), [({}, None), ({"max_side": 0}, None), ({"max_side": None}, None),
                                                  ({"max_side": 32}, 32), ({"max_side": 512}, 512)])
def test_max_side_is_read(tmp_path, r18_state, config, expected):
    raw = ours(r18_state)
    raw["config"] = config
    assert load_checkpoint(save(raw, tmp_path / "side.pt")).max_side == expected


def _rezip(source: Path, target: Path, compression: int) -> Path:
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w", compression) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info.filename))
    return target


def test_torch_save_stores_its_records_uncompressed(tmp_path):
    # what the zip check relies on
    with zipfile.ZipFile(save({"a": torch.zeros(1000), "b": {"c": 1}}, tmp_path / "plain.pt")) as archive:
        assert {r.compress_type for r in archive.infolist()} == {zipfile.ZIP_STORED}


@pytest.mark.parametrize("load", [load_checkpoint, load_training_checkpoint])
def test_crafted_zip_archives_are_refused_before_loading(tmp_path, monkeypatch, load):
    # a torch.save output re-zipped with DEFLATE: 1 MB could inflate to gigabytes in torch.load
    plain = save({"format": "contrique-checkpoint", "junk": torch.zeros(1 << 18)}, tmp_path / "plain.pt")
    bomb = _rezip(plain, tmp_path / "bomb.pt", zipfile.ZIP_DEFLATED)
    assert bomb.stat().st_size < plain.stat().st_size / 50
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load must not read a crafted file"))
    with pytest.raises(CheckpointError, match=r"bomb.pt: holds 7 compressed record\(s\) .*torch.save never writes"):
        load(bomb)
    # a stored record whose directory entry claims more bytes than the file holds
    data = bytearray(_rezip(plain, tmp_path / "liar.pt", zipfile.ZIP_STORED).read_bytes())
    with zipfile.ZipFile(plain) as archive:
        name = next(r.filename for r in archive.infolist() if r.filename.endswith("data/0")).encode()
    entry = data.index(name, data.index(b"PK\x01\x02")) - 46  # this record's header in the central directory
    data[entry + 24:entry + 28] = (1 << 31).to_bytes(4, "little")  # its uncompressed size
    (tmp_path / "liar.pt").write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"liar.pt: its records claim \d+ bytes, more than the file's \d+"):
        load(tmp_path / "liar.pt")


@pytest.mark.parametrize("load", [load_checkpoint, load_training_checkpoint])  # export, and --resume
def test_legacy_format_is_refused_before_loading(tmp_path, monkeypatch, r18_state, load):
    # torch allocates the storage sizes a legacy file declares before reading its data
    default = save(r18_state, tmp_path / "default.pt")
    legacy = tmp_path / "legacy.pt"
    torch.save(r18_state, legacy, _use_new_zipfile_serialization=False)
    protocol4 = tmp_path / "protocol4.pt"
    torch.save(ours(r18_state), protocol4, _use_new_zipfile_serialization=False, pickle_protocol=4)
    appended = tmp_path / "appended.pt"  # a zip directory at its end, but torch.load reads it as the legacy format
    appended.write_bytes(legacy.read_bytes() + default.read_bytes())
    assert zipfile.is_zipfile(appended)
    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load must not read a legacy file"))
    for path in (legacy, protocol4, appended):
        with pytest.raises(CheckpointError, match=re.escape(f"{path.name}: is in torch's legacy (non-zip) format, "
                                                            "which is not loaded: ")) as info:
            load(path)
        assert str(info.value).endswith("load it where you trust it and save it again with torch.save (PyTorch 1.6 "
                                        "and later write the zip format)")


def test_files_that_are_not_checkpoints_say_what_they_are(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    with pytest.raises(CheckpointError, match=r"run: is a directory, not a regular file; .*pass the path of a "
                                              r"checkpoint file"):
        load_checkpoint(folder)
    fifo = tmp_path / "fifo.pt"
    os.mkfifo(fifo)  # no writer: opening it for reading would block for ever
    with pytest.raises(CheckpointError, match=r"fifo.pt: is a named pipe \(FIFO\), not a regular file"):
        load_checkpoint(fifo)
    (tmp_path / "zero.pt").write_bytes(b"")
    with pytest.raises(CheckpointError, match=re.escape("zero.pt: is empty (0 bytes), not a checkpoint")):
        load_checkpoint(tmp_path / "zero.pt")
    data = save({"w": torch.zeros(1000)}, tmp_path / "whole.pt").read_bytes()
    for name, part in (("half.pt", data[: len(data) // 2]), ("end.pt", data[:-10])):
        (tmp_path / name).write_bytes(part)
        with pytest.raises(CheckpointError, match=re.escape(f"{name}: is truncated or damaged ({len(part)} bytes): it "
                                                            "begins as the zip archive torch.save writes")):
            load_checkpoint(tmp_path / name)


@pytest.mark.parametrize(
    ("value", "described"),
    [
        (5, "int"),
        ("abc", "str"),
        ([1.0, 2.0], "list"),
        (torch.empty(64, 3, 7, 7, device="meta"), "strided float32 tensor on meta"),
        (torch.zeros(64, 3, 7, 7).to_sparse(), "sparse_coo float32 tensor on cpu"),
        (torch.full((64, 3, 7, 7), complex(float("nan"), 0.0)), "strided complex64 tensor on cpu"),
    ],
)
@pytest.mark.filterwarnings("ignore:Validating sparse tensor invariants")  # torch.load of the sparse case
def test_weights_that_are_not_dense_real_tensors_are_refused(tmp_path, r18_state, value, described):
    # was: AttributeError ('int' has no 'shape'), RuntimeError (meta), NotImplementedError (sparse); a complex
    # NaN passed the finiteness check and complex weights lost their imaginary part
    path = save(ours({**r18_state, "encoder.0.weight": value}), tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match=re.escape(f"1 keys of the wrong type: encoder.0.weight ({described}); "
                                                        "every weight must be a dense real")):
        load_checkpoint(path)


@pytest.mark.parametrize(
    ("coef", "described"),
    [
        (lambda dim: torch.zeros(dim).to_sparse(), "sparse_coo float32 tensor on cpu"),
        (lambda dim: torch.full((dim,), complex(0.5, 2.0)), "strided complex64 tensor on cpu"),
        (lambda dim: torch.empty(dim, device="meta"), "strided float32 tensor on meta"),
    ],
)
@pytest.mark.filterwarnings("ignore:Validating sparse tensor invariants")  # torch.load of the sparse case
def test_a_trained_head_that_is_not_a_dense_real_tensor_is_refused(tmp_path, r18_state, coef, described):
    # was: TypeError (sparse), NotImplementedError (meta) tracebacks; a complex coef lost its imaginary part
    dim = 2 * ModelConfig("resnet18", 64).feature_dim
    path = save(ours(r18_state, head={"coef": coef(dim), "intercept": 0.5}), tmp_path / "head.pt")
    with pytest.raises(CheckpointError, match=re.escape(f"field 'head' holds head.coef ({described}); its coef must "
                                                        "be a dense real tensor on the CPU")):
        load_checkpoint(path)


def test_a_trained_head_that_requires_grad_is_read(tmp_path, r18_state):
    # was: RuntimeError "Can't call numpy() on Tensor that requires grad"
    dim = 2 * ModelConfig("resnet18", 64).feature_dim
    coef = torch.linspace(-1, 1, dim, dtype=torch.float64).requires_grad_()
    path = save(ours(r18_state, head={"coef": coef, "intercept": 0.5}), tmp_path / "head.pt")
    head = load_checkpoint(path).trained_head
    assert head is not None and np.array_equal(head[0], coef.detach().numpy()) and head[1] == 0.5
