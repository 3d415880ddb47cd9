"""End-to-end training on a tiny generated photo folder: checkpoint format, resume, DDP, export."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from PIL import Image

from contrique_export.errors import CheckpointError
from contrique_export.model import ContriqueNet
from contrique_export.model_config import NSS_DIM, ModelConfig
from contrique_training.config import TrainConfig, build_config
from contrique_training.errors import ConfigError
from contrique_training.runlog import read_log
from contrique_training.train import ema_update, param_groups, train

PLAIN = (str, int, float, bool, type(None))


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six small synthetic 'photos' of odd sizes (smooth colour fields with edges)."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for i, (w, h) in enumerate([(97, 80), (80, 80), (130, 71), (50, 41), (88, 120), (64, 64)]):
        coarse = rng.integers(0, 256, (h // 8 + 2, w // 8 + 2, 3), dtype=np.uint8)
        image = Image.fromarray(coarse).resize((w, h), Image.Resampling.BICUBIC)
        image.save(folder / (f"p{i}.png" if i % 2 else f"p{i}.jpg"))
    return folder


def smoke(photos: Path, **overrides) -> TrainConfig:
    return build_config("smoke", overrides={"data": str(photos), **overrides})


def test_smoke_run_writes_the_checkpoint_format(photos: Path, tmp_path: Path) -> None:
    config = smoke(photos, data_license="CC0")
    path = train(config, tmp_path / "run", progress=False)
    assert path == tmp_path / "run" / "checkpoint.pt"
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    assert set(ckpt) == {"format", "format_version", "model_config", "model", "config", "step", "epoch",
                         "optimizer", "scheduler", "scaler", "rng", "data", "trainer", "run_id", "photos"}
    assert ckpt["format"] == "contrique-checkpoint" and ckpt["format_version"] == 1
    assert ckpt["model_config"] == {"arch": "resnet18", "projection_dim": 128, "stages": 4, "nss": False,
                                   "nss_pairs": False}
    trainer_net = {k[len("net."):]: v for k, v in ckpt["trainer"].items() if k.startswith("net.")}
    assert set(trainer_net) == set(ckpt["model"])  # no average: the trainer's network is the model
    assert all(torch.equal(trainer_net[k], v) for k, v in ckpt["model"].items())
    reference = ContriqueNet(ModelConfig("resnet18", 128)).state_dict()
    assert list(ckpt["model"]) == list(reference)  # official key layout and order, no "module." prefix
    assert all(ckpt["model"][k].shape == v.shape for k, v in reference.items())
    assert ckpt["config"] == config.to_dict() and all(isinstance(v, PLAIN) for v in ckpt["config"].values())
    assert ckpt["step"] == 4 and isinstance(ckpt["epoch"], int)
    assert ckpt["scheduler"]["total_steps"] == 4 and ckpt["scheduler"]["step"] == 4
    assert set(ckpt["rng"]) == {"torch", "cuda", "numpy", "python", "sampler"}
    assert ckpt["data"]["license"] == "CC0" and "6 pristine photos" in ckpt["data"]["description"]
    rows = read_log(tmp_path / "run" / "log.csv")
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    assert all(np.isfinite(float(r["loss"])) and float(r["loss"]) > 0 for r in rows)
    assert (tmp_path / "run" / "loss.png").stat().st_size > 1000
    torch.manual_seed(0)
    fresh = ContriqueNet(ModelConfig("resnet18", 128)).state_dict()
    assert not torch.equal(ckpt["model"]["encoder.0.weight"], fresh["encoder.0.weight"])  # it trained


def test_resume_continues_exactly(photos: Path, tmp_path: Path) -> None:
    config = smoke(photos, steps=3)
    straight = torch.load(train(config, tmp_path / "a", progress=False), weights_only=True)
    train(config, tmp_path / "b", progress=False, stop_at=2)
    interrupted = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=True)
    assert interrupted["step"] == 2
    resumed = torch.load(train(config, tmp_path / "b", resume=tmp_path / "b" / "checkpoint.pt", progress=False),
                         weights_only=True)
    assert resumed["step"] == 3
    for key, value in straight["model"].items():
        torch.testing.assert_close(resumed["model"][key], value, atol=1e-6, rtol=0, msg=key)
    assert [int(r["step"]) for r in read_log(tmp_path / "b" / "log.csv")] == [1, 2, 3]
    assert not torch.equal(interrupted["model"]["encoder.0.weight"], resumed["model"]["encoder.0.weight"])


def series(photos: Path, **overrides) -> TrainConfig:
    """The ranking recipe in small: 2 series of 6 images of 32 px, a 2-stage encoder with NSS."""
    return smoke(photos, **{"rank_weight": 1.0, "contrastive_weight": 0.5, "batch_size": 12, "crop_size": 32,
                            "stages": 2, "nss": True, "optimizer": "adamw", "base_lr": 1e-3, "lr_reference_batch": 12,
                            "ema_decay": 0.5, "variants_per_image": 2, "images_per_class": 0, **overrides})


def test_series_run_trains_a_head_and_averages_weights(photos: Path, tmp_path: Path) -> None:
    path = train(series(photos, keep_every=2), tmp_path / "run", progress=False)
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    assert {"trainer", "ema", "head"} <= set(ckpt)
    assert ckpt["model_config"] == {"arch": "resnet18", "projection_dim": 128, "stages": 2, "nss": True,
                                   "nss_pairs": False}
    assert ckpt["head"]["coef"].shape == (2 * (128 + NSS_DIM),) and isinstance(ckpt["head"]["intercept"], float)
    live = {k[len("net."):]: v for k, v in ckpt["trainer"].items() if k.startswith("net.")}
    average = {k[len("module.net."):]: v for k, v in ckpt["ema"].items() if k.startswith("module.net.")}
    assert set(live) == set(ckpt["model"]) == set(average)
    assert all(torch.equal(ckpt["model"][k], average[k]) for k in live)  # the checkpoint's model is the average
    assert not torch.equal(ckpt["model"]["encoder.0.weight"], live["encoder.0.weight"])
    rows = read_log(tmp_path / "run" / "log.csv")
    assert all(0 <= float(r["pair_accuracy"]) <= 1 and float(r["rank_loss"]) > 0 for r in rows)
    assert sorted(p.name for p in (tmp_path / "run").glob("checkpoint-*.pt")) == ["checkpoint-000002.pt",
                                                                                  "checkpoint-000004.pt"]


def test_frozen_stages_keep_their_initialisation(photos: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    initial = ContriqueNet(ModelConfig("resnet18", 128, stages=2, nss=True)).state_dict()
    path = train(series(photos, steps=2, freeze_stages=1), tmp_path / "run", progress=False)
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    frozen = [k for k in initial if k.startswith(("encoder.0.", "encoder.1.", "encoder.4."))]  # stem and layer1
    assert frozen and all(torch.equal(ckpt["model"][k], initial[k]) for k in frozen)  # BatchNorm statistics too
    assert not torch.equal(ckpt["model"]["encoder.5.0.conv1.weight"], initial["encoder.5.0.conv1.weight"])
    with pytest.raises(ConfigError, match="freeze_stages 2 must be in 0..1"):
        series(photos, freeze_stages=2)


def test_fixed_norm_keeps_the_initial_batchnorm_statistics_and_trains_the_rest(photos: Path, tmp_path: Path) -> None:
    torch.manual_seed(0)
    initial = ContriqueNet(ModelConfig("resnet18", 128, stages=2, nss=True)).state_dict()
    ckpt = torch.load(train(series(photos, steps=2, fixed_norm=True), tmp_path / "run", progress=False),
                      map_location="cpu", weights_only=True)["model"]
    statistics = [k for k in ckpt if k.startswith("encoder.") and k.endswith(("running_mean", "running_var"))]
    assert statistics and all(torch.equal(ckpt[k], initial[k]) for k in statistics)  # mean 0, variance 1
    assert torch.equal(initial["encoder.1.running_var"], torch.ones(64))
    for name in ("encoder.0.weight", "encoder.1.weight", "encoder.1.bias"):  # a conv, a BatchNorm's scale and shift
        assert not torch.equal(ckpt[name], initial[name])
    plain = torch.load(train(series(photos, steps=2), tmp_path / "plain", progress=False), map_location="cpu",
                       weights_only=True)["model"]
    assert not torch.equal(plain["encoder.1.running_var"], initial["encoder.1.running_var"])  # what it prevents


def test_init_from_starts_a_new_run_from_a_checkpoints_encoder(photos: Path, tmp_path: Path) -> None:
    first = train(series(photos, steps=2), tmp_path / "first", progress=False)
    start = torch.load(first, map_location="cpu", weights_only=True)["model"]
    # fixed_norm and lr 1e-12: the encoder is the checkpoint's after the steps, up to the rounding of a tiny step
    # (the projector's BatchNorm statistics move: training uses it in train mode)
    path = train(series(photos, steps=2, init_from=str(first), fixed_norm=True, base_lr=1e-12, nss_pairs=True),
                 tmp_path / "tuned", progress=False)
    tuned = torch.load(path, map_location="cpu", weights_only=True)
    assert tuned["step"] == 2 and tuned["config"]["init_from"] == str(first)
    assert set(tuned["model"]) == set(start)
    encoder = [key for key in start if key.startswith("encoder.")]
    for key in encoder:  # not a random initialisation: every weight is the checkpoint's
        torch.testing.assert_close(tuned["model"][key], start[key], rtol=1e-6, atol=1e-6)
    scratch = torch.load(train(series(photos, steps=2, fixed_norm=True, base_lr=1e-12), tmp_path / "scratch",
                               progress=False), map_location="cpu", weights_only=True)["model"]
    assert not torch.allclose(scratch["encoder.0.weight"], start["encoder.0.weight"])
    with pytest.raises(CheckpointError, match="not the resnet18-1stages.*--init-from"):
        train(series(photos, steps=2, stages=1, init_from=str(first)), tmp_path / "other", progress=False)
    assert not (tmp_path / "other").exists()  # refused before the run folder is made


def test_freeze_norm_at_keeps_the_running_statistics_from_then_on(photos: Path, tmp_path: Path) -> None:
    def statistics(path: Path) -> dict[str, torch.Tensor]:
        state = torch.load(path, map_location="cpu", weights_only=True)["trainer"]  # the live weights
        return {k: v for k, v in state.items() if k.endswith(("running_mean", "running_var"))}

    train(series(photos, steps=4, keep_every=2, freeze_norm_at=0.5), tmp_path / "run", progress=False)
    half, end = (statistics(tmp_path / "run" / f"checkpoint-00000{n}.pt") for n in (2, 4))
    used = [k for k in half if k.startswith(("net.encoder.", "norm."))]  # the encoder's and the ranking head's
    assert "norm.running_var" in used and len(used) > 10
    assert all(torch.equal(half[k], end[k]) for k in used)  # steps 3 and 4 normalised with them, as inference does
    assert not all(torch.equal(half[k], end[k]) for k in half if k.startswith("net.projector."))  # not used there
    train(series(photos, steps=4, keep_every=2), tmp_path / "plain", progress=False)
    half, end = (statistics(tmp_path / "plain" / f"checkpoint-00000{n}.pt") for n in (2, 4))
    assert not torch.equal(half["net.encoder.1.running_var"], end["net.encoder.1.running_var"])  # what it prevents
    with pytest.raises(ConfigError, match="freeze_norm_at 1.0 must be in"):
        series(photos, freeze_norm_at=1.0)
    with pytest.raises(ConfigError, match="cannot go with fixed_norm"):
        series(photos, freeze_norm_at=0.5, fixed_norm=True)


@pytest.mark.parametrize("freeze_norm_at", [0.0, 0.5])  # 0.5: the statistics freeze at the resumed step
def test_series_run_resumes_exactly_with_the_average(photos: Path, tmp_path: Path, freeze_norm_at: float) -> None:
    config = series(photos, steps=3, freeze_norm_at=freeze_norm_at)
    straight = torch.load(train(config, tmp_path / "a", progress=False), weights_only=True)
    train(config, tmp_path / "b", progress=False, stop_at=2)
    resumed = torch.load(train(config, tmp_path / "b", resume=tmp_path / "b" / "checkpoint.pt", progress=False),
                         weights_only=True)
    for part in ("model", "trainer", "ema"):
        for key, value in straight[part].items():
            torch.testing.assert_close(resumed[part][key], value, atol=1e-6, rtol=0, msg=f"{part} {key}")
    torch.testing.assert_close(resumed["head"]["coef"], straight["head"]["coef"], atol=1e-6, rtol=0)


def test_accumulation_with_authentic_photos(photos: Path, tmp_path: Path) -> None:
    # 2 synthetic images per micro-batch: one class-group of 2
    authentic = shutil.copytree(photos, tmp_path / "authentic")  # one folder as both kinds is refused
    config = smoke(photos, steps=2, grad_accum=2, data_authentic=str(authentic), images_per_class=2)
    ckpt = torch.load(train(config, tmp_path / "run", progress=False), weights_only=True)
    assert ckpt["step"] == 2 and ckpt["config"]["grad_accum"] == 2
    # 6 photos, 2 per micro-batch: 3 per epoch; 2 steps x 2 micro-batches = 1 epoch and 1 batch
    assert ckpt["rng"]["sampler"]["authentic"] == {"epoch": 1, "batches_done": 1}
    assert "6 authentic photos" in ckpt["data"]["description"]


def test_weight_average_warms_up() -> None:
    update = ema_update(0.998)
    average, counter = [torch.zeros(3)], [torch.tensor(0)]
    update(average, [torch.ones(3)], torch.tensor(1))  # decay min(0.998, 2 / 11): mostly the new weights
    torch.testing.assert_close(average[0], torch.full((3,), 9 / 11))
    update(average, [torch.ones(3)], torch.tensor(10_000))  # warmed up: the configured decay
    torch.testing.assert_close(average[0], torch.full((3,), 9 / 11 + 0.002 * 2 / 11))
    update(counter, [torch.tensor(7)], torch.tensor(5))
    assert int(counter[0]) == 7  # integer buffers (BatchNorm counters) take the latest value


def test_weight_decay_skips_batchnorm_and_biases() -> None:
    net = ContriqueNet(ModelConfig("resnet18", 16))
    decay, no_decay = param_groups(net, 1e-4)
    batchnorms = [m for m in net.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    norms = {id(p) for m in batchnorms for p in m.parameters()}
    assert {id(p) for p in no_decay["params"]} == norms
    assert decay["weight_decay"] == 1e-4 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in decay["params"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_train(rank: int, port: int, data: str, out: str) -> None:
    os.environ.update({"WORLD_SIZE": "2", "RANK": str(rank), "LOCAL_RANK": str(rank),
                       "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)})
    torch.set_num_threads(1)
    train(build_config("smoke", overrides={"data": data, "steps": 2}), out, progress=False)


@pytest.mark.slow
def test_two_process_ddp_run(photos: Path, tmp_path: Path) -> None:
    mp.spawn(_ddp_train, args=(_free_port(), str(photos), str(tmp_path / "run")), nprocs=2, join=True)
    ckpt = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert ckpt["step"] == 2 and not any(k.startswith("module.") for k in ckpt["model"])
    assert ckpt["rng"]["sampler"]["synthetic"]["batches_done"] == 2


@pytest.mark.slow
def test_checkpoint_exports_to_a_bundle_that_scores(photos: Path, tmp_path: Path) -> None:
    from contrique_export.exporter import export_bundle
    from contrique_infer import QualityScorer
    from contrique_infer.head import Head
    from contrique_infer.manifest import HeadInfo

    ckpt = train(smoke(photos, data_license="CC0"), tmp_path / "run", progress=False)
    coef = np.random.default_rng(0).standard_normal(1024)  # resnet18: 2 scales x 512
    head = Head(HeadInfo("probe", "heads/probe.json", "nr", "test", "arbitrary", True), coef, 3.0)
    head.save(tmp_path / "probe.json")
    bundle = export_bundle(ckpt, tmp_path / "bundle", heads={"probe": tmp_path / "probe.json"}, progress=False)
    scorer = QualityScorer.from_pretrained(bundle, head="probe", device="cpu")
    # the torch reference: the trained encoder's inference feature (full scale, then PIL-bicubic half)
    net = ContriqueNet(ModelConfig("resnet18", 128)).eval()
    net.load_state_dict(torch.load(ckpt, weights_only=True)["model"])
    image = Image.open(photos / "p2.jpg").convert("RGB")
    half = image.resize((image.width // 2, image.height // 2), Image.Resampling.BICUBIC)
    with torch.no_grad():
        feature = torch.cat([net(torch.from_numpy(np.asarray(im, dtype=np.float32) / 255).permute(2, 0, 1)[None])[0]
                             for im in (image, half)]).numpy()
    assert scorer.features(photos / "p2.jpg") == pytest.approx(feature, abs=1e-4)
    assert scorer.score(photos / "p2.jpg") == pytest.approx(float(feature @ coef + 3.0), abs=1e-3)


@pytest.mark.slow
def test_series_checkpoint_exports_its_trained_head(photos: Path, tmp_path: Path) -> None:
    from contrique_export.exporter import export_bundle
    from contrique_infer import QualityScorer

    ckpt_path = train(series(photos), tmp_path / "run", progress=False)
    bundle = export_bundle(ckpt_path, tmp_path / "bundle", variants=("fp32", "int8"), parity_images=photos,
                           progress=False)
    scorer = QualityScorer.from_pretrained(bundle, head="rank", variant="fp32", device="cpu")
    head = torch.load(ckpt_path, weights_only=True)["head"]
    info = scorer.resolve_head("rank")
    assert info.higher_is_better and info.kind == "nr" and scorer.manifest.architecture == "resnet18-2stages+nss"
    feature = np.asarray(scorer.features(photos / "p4.jpg"))
    assert feature.shape == (2 * (128 + NSS_DIM),)
    expected = float(feature @ head["coef"].double().numpy() + head["intercept"])
    assert scorer.score(photos / "p4.jpg") == pytest.approx(expected, abs=1e-6)
    int8 = QualityScorer.from_pretrained(bundle, head="rank", variant="int8", device="cpu")
    nss = slice(128, 128 + NSS_DIM)  # the NSS statistics of the full scale stay float32 in the int8 graph
    np.testing.assert_allclose(np.asarray(int8.features(photos / "p4.jpg"))[nss], feature[nss], atol=1e-4)


def test_checkpoint_rng_round_trip_and_errors(tmp_path: Path) -> None:
    import random

    from contrique_export.checkpoint import TRAINING_FIELDS, load_training_checkpoint
    from contrique_export.errors import CheckpointError
    from contrique_training.checkpoint import rng_state, save_checkpoint, set_rng_state

    state = rng_state()
    expected = (torch.rand(3), np.random.rand(3), random.random())
    path = save_checkpoint(tmp_path / "c.pt", {key: state if key == "rng" else {} for key in TRAINING_FIELDS})
    set_rng_state(load_training_checkpoint(path)["rng"])  # weights_only load of every RNG state
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1]) and random.random() == expected[2]
    assert [p.name for p in tmp_path.iterdir()] == ["c.pt"]  # no temporary file left behind
    with pytest.raises(CheckpointError, match="missing field"):
        save_checkpoint(tmp_path / "d.pt", {"model": {}})
    assert not (tmp_path / "d.pt").exists()


def test_a_new_run_refuses_a_folder_that_is_not_empty_and_outs_that_are_not_folders(photos: Path,
                                                                                     tmp_path: Path) -> None:
    from contrique_training.errors import RunFolderError

    config = smoke(photos)
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "log.csv").write_text("precious\n")
    with pytest.raises(RunFolderError, match=r"old: is not empty .* --resume .*old/checkpoint.pt"):
        train(config, tmp_path / "old", progress=False)
    assert (tmp_path / "old" / "log.csv").read_text() == "precious\n" and len(list((tmp_path / "old").iterdir())) == 1
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunFolderError, match="file: exists and is not a folder"):
        train(config, tmp_path / "file", progress=False)
    with pytest.raises(RunFolderError, match="run: cannot be created"):
        train(config, tmp_path / "file" / "run", progress=False)


def test_a_loss_that_is_not_finite_stops_the_run_before_a_checkpoint(photos: Path, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import contrique_training.train as train_module
    from contrique_training.errors import DivergedError

    monkeypatch.setattr(train_module, "contrastive_loss", lambda z, labels, temperature: z.sum() * float("nan"))
    with pytest.raises(DivergedError, match="the loss is nan at step 1: training diverged"):
        train(smoke(photos, arch="mobilenet_v3_small", stages=1, steps=2), tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_a_kept_copy_is_never_left_half_written(photos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    def interrupted_copy(source: BinaryIO, target: BinaryIO) -> None:
        target.write(source.read(100))
        raise KeyboardInterrupt

    monkeypatch.setattr(shutil, "copyfileobj", interrupted_copy)
    with pytest.raises(KeyboardInterrupt):
        train(smoke(photos, arch="mobilenet_v3_small", stages=1, steps=1, keep_every=1), tmp_path / "run",
              progress=False)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["checkpoint.pt", "config.json", "log.csv"]


@pytest.fixture(scope="module")
def resumable(photos: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainConfig, dict]:
    """A one-step run of a tiny network, and its checkpoint."""
    config = smoke(photos, arch="mobilenet_v3_small", stages=1, steps=2)
    path = train(config, tmp_path_factory.mktemp("resumable") / "run", progress=False, stop_at=1)
    return config, torch.load(path, weights_only=True)


def _damaged(ckpt: dict, damage: str) -> dict:
    import copy

    ckpt = copy.deepcopy(ckpt)
    if damage == "rng empty":
        ckpt["rng"] = {}
    elif damage == "sampler":
        ckpt["rng"]["sampler"] = {"epoch": "x"}
    elif damage == "sampler negative":
        ckpt["rng"]["sampler"]["synthetic"] = {"epoch": 0, "batches_done": -5}
    elif damage == "step text":
        ckpt["step"] = "abc"
    elif damage == "step negative":
        ckpt["step"] = -100
    elif damage == "optimizer":
        ckpt["optimizer"] = {"state": {}, "param_groups": []}
    elif damage == "trainer shape":
        ckpt["trainer"][next(iter(ckpt["trainer"]))] = torch.zeros(2)
    elif damage == "torch rng":
        ckpt["rng"]["torch"] = torch.zeros(3, dtype=torch.uint8)
    elif damage == "numpy rng":
        ckpt["rng"]["numpy"] = "seed"
    return ckpt


@pytest.mark.parametrize("damage", ["rng empty", "sampler", "sampler negative", "step text", "step negative",
                                    "optimizer", "trainer shape", "torch rng", "numpy rng"])
def test_a_damaged_checkpoint_is_one_checkpoint_error_naming_it(resumable: tuple[TrainConfig, dict], tmp_path: Path,
                                                                damage: str) -> None:
    from contrique_export.errors import CheckpointError

    config, ckpt = resumable
    bad = tmp_path / "bad.pt"
    torch.save(_damaged(ckpt, damage), bad)
    with pytest.raises(CheckpointError, match="damaged") as caught:
        train(config, tmp_path / "run", resume=bad, progress=False)
    assert caught.value.path == str(bad)


def test_photos_that_cannot_be_read_stop_a_run_before_any_work(photos: Path, tmp_path: Path) -> None:
    """A photo that cannot be read is met at the step that first draws it: hours into a long run (its steps
    lost, a resume meeting it again), or never in a short one, which then finished with it in its data."""
    import shutil

    from contrique_training.errors import DataError

    data = tmp_path / "data"
    shutil.copytree(photos, data)
    (data / "zz_empty.jpg").write_bytes(b"")
    (data / "sub").mkdir()
    (data / "sub" / "notes.png").write_text("not a photo")
    with pytest.raises(DataError, match=r"data: 2 of 8 photos cannot be read, so nothing was made; mend or remove "
                                        r"each and run again: \(1\) .*notes\.png: is not an image file .* "
                                        r"\(2\) .*zz_empty\.jpg: is empty \(0 bytes\); remove or replace the file"):
        train(smoke(data, steps=1), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
    with pytest.raises(DataError, match=r"authentic: 1 of 1 photos cannot be read, so nothing was made"):
        (tmp_path / "authentic").mkdir()
        (tmp_path / "authentic" / "a.jpg").write_bytes(b"\xff\xd8")
        train(smoke(photos, steps=1, data_authentic=str(tmp_path / "authentic")), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_a_resume_that_cannot_rewrite_the_log_leaves_it_whole(photos: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A resume rewrites log.csv with the rows up to its checkpoint; a full disk (or a kill) during that left it
    cut, and the next resume went on from the cut log without a word: the rows after the cut lost, the row at
    the cut kept with a value cut short."""
    import csv
    import errno

    from contrique_training.errors import RunFolderError

    config = smoke(photos, steps=3, arch="mobilenet_v3_small", stages=1)
    train(config, tmp_path / "run", progress=False, stop_at=2)
    before = (tmp_path / "run" / "log.csv").read_bytes()
    real = csv.DictWriter.writerows

    def full_disk(self: csv.DictWriter, rows: list) -> None:
        real(self, rows[:1])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(csv.DictWriter, "writerows", full_disk)
    with pytest.raises(RunFolderError, match=r"run: cannot be written \(No space left on device\); free some space "
                                             r".* and resume again: its log.csv and config.json are as they were"):
        train(config, tmp_path / "run", resume=tmp_path / "run" / "checkpoint.pt", progress=False)
    assert (tmp_path / "run" / "log.csv").read_bytes() == before
    assert not [p for p in (tmp_path / "run").iterdir() if p.name.endswith(".tmp")]
    monkeypatch.setattr(csv.DictWriter, "writerows", real)
    train(config, tmp_path / "run", resume=tmp_path / "run" / "checkpoint.pt", progress=False)
    assert [int(r["step"]) for r in read_log(tmp_path / "run" / "log.csv")] == [1, 2, 3]
