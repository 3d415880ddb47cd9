"""Training configuration: presets, files, flags, validation."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from contrique_training.config import PRESETS, TrainConfig, build_config, read_config_file
from contrique_training.errors import ConfigError, ConfigFileError


def test_paper_defaults_and_presets() -> None:
    paper = build_config("paper", overrides={"data": "x"})
    assert (paper.arch, paper.batch_size, paper.crop_size, paper.projection_dim) == ("resnet50", 1024, 256, 128)
    assert (paper.base_lr, paper.momentum, paper.weight_decay, paper.temperature) == (0.6, 0.9, 1e-4, 0.1)
    assert (paper.epochs, paper.warmup_fraction, paper.patch_grid) == (25, 0.1, 2)
    assert paper.peak_lr == pytest.approx(0.6)
    small = build_config("small")
    assert small.arch == "resnet18" and small.peak_lr == pytest.approx(0.6 * 32 / 256)
    assert (small.images_per_class, build_config("smoke").images_per_class, paper.images_per_class) == (4, 4, 0)
    assert build_config("smoke").crop_size == 64
    assert set(PRESETS) == {"paper", "small", "smoke", "cpu", "cpu-fast"}
    # the paper stays faithful: contrastive loss only, SGD, the whole ResNet, no NSS, no averaging
    assert (paper.rank_weight, paper.contrastive_weight, paper.optimizer) == (0.0, 1.0, "sgd")
    assert (paper.stages, paper.nss, paper.ema_decay, paper.keep_every) == (4, False, 0.0, 0)
    cpu = build_config("cpu")
    assert (cpu.arch, cpu.stages, cpu.nss, cpu.optimizer, cpu.batch_size % 6) == ("resnet18", 3, True, "adamw", 0)
    assert cpu.rank_weight > 0 and cpu.peak_lr == pytest.approx(1e-3)


def test_ranking_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="whole series of 6 images"):
        TrainConfig.from_dict({"rank_weight": 1.0, "batch_size": 32})
    with pytest.raises(ConfigError, match="one of them > 0"):
        TrainConfig.from_dict({"contrastive_weight": 0.0})
    with pytest.raises(ConfigError, match="series batches"):
        TrainConfig.from_dict({"rank_weight": 1.0, "batch_size": 48, "images_per_class": 4, "variants_per_image": 126})
    with pytest.raises(ConfigError, match="pristine photos only"):
        TrainConfig.from_dict({"rank_weight": 1.0, "batch_size": 48, "data_authentic": "ugc"})
    with pytest.raises(ConfigError, match="optimizer 'adam'"):
        TrainConfig.from_dict({"optimizer": "adam"})
    with pytest.raises(ConfigError, match="stages must be 1..4"):
        TrainConfig.from_dict({"stages": 5})
    with pytest.raises(ConfigError, match="nss_pairs needs nss"):
        TrainConfig.from_dict({"nss_pairs": True})
    assert TrainConfig.from_dict({"nss": True, "nss_pairs": True}).model_config.name == "resnet50+nss2"
    with pytest.raises(ConfigError, match="ema_decay"):
        TrainConfig.from_dict({"ema_decay": 1.0})
    with pytest.raises(ConfigError, match="proxy_weight 1.0 must be >= 0, and needs series training"):
        TrainConfig.from_dict({"proxy_weight": 1.0})
    with pytest.raises(ConfigError, match="max_side 100 is smaller than crop_size 128"):
        TrainConfig.from_dict({"max_side": 100, "crop_size": 128})
    assert build_config("cpu-fast").max_side == 512 and build_config("cpu-fast").proxy_weight > 0


def test_layers_file_over_preset_flags_over_file(tmp_path: Path) -> None:
    toml = tmp_path / "run.toml"
    toml.write_text('crop_size = 96\nbatch_size = 16\ndata = "photos"\nbase_lr = 1\n')
    config = build_config("small", toml, {"batch_size": 8})
    assert (config.crop_size, config.batch_size, config.arch, config.data) == (96, 8, "resnet18", "photos")
    assert config.base_lr == 1.0 and isinstance(config.base_lr, float)
    as_json = tmp_path / "run.json"
    as_json.write_text(json.dumps(config.to_dict()))
    assert TrainConfig.from_dict(read_config_file(as_json)) == config


def test_invalid_settings_are_named() -> None:
    with pytest.raises(ConfigError, match="unknown key.*learning_rate"):
        TrainConfig.from_dict({"learning_rate": 0.1})
    with pytest.raises(ConfigError, match="batch_size must be int"):
        TrainConfig.from_dict({"batch_size": "64"})
    with pytest.raises(ConfigError, match="unknown architecture 'vgg16'"):
        TrainConfig.from_dict({"arch": "vgg16"})
    with pytest.raises(ConfigError, match="multiple of grad_accum"):
        TrainConfig.from_dict({"batch_size": 10, "grad_accum": 4})
    with pytest.raises(ConfigError, match="images_per_class 4 needs variants_per_image 126"):
        TrainConfig.from_dict({"images_per_class": 4})  # the paper's 5 variants: random classes, cannot be grouped
    with pytest.raises(ConfigError, match="images_per_class must be >= 0"):
        TrainConfig.from_dict({"images_per_class": -1, "variants_per_image": 126})
    with pytest.raises(ConfigError, match="preset 'huge'"):
        build_config("huge")


def test_bad_config_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        read_config_file(tmp_path / "missing.toml")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match="cannot be read as JSON"):
        read_config_file(broken)


@pytest.mark.parametrize("name", ["base_lr", "temperature", "contrastive_weight", "rank_weight", "weight_decay",
                                  "momentum", "proxy_weight"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_numbers_are_refused(name: str, value: float) -> None:
    with pytest.raises(ConfigError, match=f"{name} must be a finite number, got {value}"):
        TrainConfig.from_dict({name: value})


def test_a_learning_rate_that_overflows_is_refused() -> None:
    with pytest.raises(ConfigError, match="not a finite learning rate"):
        TrainConfig.from_dict({"base_lr": 1e308, "batch_size": 2048})


@pytest.mark.parametrize(("name", "content", "reason"), [
    ("pipe.toml", None, r"named pipe \(FIFO\)"),
    ("binary.toml", b"a = '\x91\xff'\n", "not UTF-8"),
    ("latin1.json", '{"data": "caf\u00e9"}'.encode("latin-1"), "not UTF-8"),
    ("deep.json", b"[" * 5000 + b"]" * 5000, "nested 5000 levels deep"),
    ("deep.toml", b"a = " + b"[" * 5000 + b"]" * 5000, "nested too deep"),
    ("bigint.json", b'{"steps": ' + b"9" * 5000 + b"}", "integer of 5000 digits"),
    ("bigint.toml", b"steps = " + b"9" * 5000, "cannot be read as TOML"),
    ("twice.json", b'{"steps": 1, "steps": 2}', "key 'steps' twice"),
    ("big.toml", b"#" * (16 * 1024 * 1024 + 1), "is more than the 16777216 bytes a config file may have"),
    ("big.json", b" " * (16 * 1024 * 1024 + 1), "is 16777217 bytes, more than the 16777216 a JSON file may have"),
])
def test_hostile_config_files_are_clean_errors_naming_the_file(tmp_path: Path, name: str, content: bytes | None,
                                                                 reason: str) -> None:
    path = tmp_path / name
    if content is None:
        os.mkfifo(path)  # refused, never waited on
    else:
        path.write_bytes(content)
    with pytest.raises(ConfigFileError, match=reason) as caught:
        read_config_file(path)
    assert caught.value.path == str(path) and str(caught.value).startswith(f"{path}: ")


def test_a_seed_numpy_or_torch_refuses_is_a_config_error() -> None:
    # -5 failed in the data workers (numpy: "expected non-negative integer"), 2**70 in torch.manual_seed
    for seed in (-5, 2**70):
        with pytest.raises(ConfigError, match=rf"^seed must be from 0 to 4294967295, got {seed}$"):
            build_config("smoke", overrides={"seed": seed})
    assert build_config("smoke", overrides={"seed": 2**32 - 1}).seed == 2**32 - 1


@pytest.mark.parametrize(("overrides", "message"), [
    ({"momentum": -5.0}, r"^momentum must be in \[0, 1\), got -5.0$"),  # torch's ValueError in the optimizer
    ({"momentum": 1.0}, r"^momentum must be in \[0, 1\), got 1.0$"),
    ({"weight_decay": -1.0}, r"^weight_decay must be >= 0, got -1.0$"),  # was accepted silently
    ({"crop_size": 1}, r"^crop_size must be >= 32 \(the smallest input"),  # torch.gradient failed in a distortion
    ({"patch_grid": 1000}, r"^patch_grid 1000 is more than the 2 x 2 feature map of a 64 px crop after 4 stage\(s\)"),
    ({"crop_size": 32, "stages": 2, "patch_grid": 5}, "more than the 4 x 4 feature map of a 32 px crop after 2"),
])
def test_settings_torch_refuses_are_config_errors(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_config("smoke", overrides=overrides)


def test_the_largest_patch_grid_and_smallest_crop_are_accepted() -> None:
    config = build_config("smoke", overrides={"crop_size": 32, "stages": 2, "patch_grid": 4, "momentum": 0.0,
                                              "weight_decay": 0.0})
    assert (config.crop_size, config.patch_grid) == (32, 4)


def test_a_toml_file_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "bom.toml"
    path.write_bytes("\ufeffsteps = 2\n".encode())  # was "Invalid statement (at line 1, column 1)"
    assert read_config_file(path) == {"steps": 2}
