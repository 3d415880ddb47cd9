"""Shared fixtures: the tiny bundle, one ResNet-18 exported once for the session, the fake Hub, and
the location of the shared reference data."""

from __future__ import annotations

import shutil
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fake_hub import FakeHub
from reference import OFFICIAL, PHOTOS
from tiny_bundle import write_photos, write_tiny_bundle


@pytest.fixture(scope="session")
def tiny_bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid tiny bundle folder, shared by the session: copy it before altering it."""
    return write_tiny_bundle(tmp_path_factory.mktemp("bundle") / "tiny")


@dataclass(frozen=True)
class ResNet18:
    """A ResNet-18 ``ContriqueNet`` (seed 4, projection 32) saved as checkpoints, with three heads.

    Attributes:
        root: Its folder; ``val/a``, ``val/b`` (2 photos each) and ``calib`` (3) hold small photos.
        model: The network (eval mode).
        checkpoint: A contrique-train checkpoint of it (step 10, training data :attr:`data`).
        official: The same weights as an official-format checkpoint (a plain state dict).
        heads: Head files: ``mos`` (nr), ``dmos`` (nr, lower is better), ``pair`` (fr).
        data: The training-data record of :attr:`checkpoint`.
    """

    root: Path
    model: Any
    checkpoint: Path
    official: Path
    heads: dict[str, Path]
    data: dict[str, str]


@pytest.fixture(scope="session")
def resnet18(tmp_path_factory: pytest.TempPathFactory) -> ResNet18:
    """The session's ResNet-18 checkpoints (needs torch: skips without it)."""
    torch = pytest.importorskip("torch")
    from contrique_export.model import build_model
    from contrique_infer.head import Head
    from contrique_infer.manifest import HeadInfo

    root = tmp_path_factory.mktemp("resnet18")
    torch.manual_seed(4)
    model = build_model("resnet18", projection_dim=32).eval()
    data = {"description": "test photos made by tests/conftest.py", "license": "CC0-1.0"}
    checkpoint = root / "r18-step10.pt"
    torch.save(
        {"format": "contrique-checkpoint", "format_version": 1, "model_config": model.config.to_dict(),
         "model": model.state_dict(), "config": {}, "step": 10, "epoch": 1, "data": data},
        checkpoint,
    )
    official = root / "plain-r18.tar"
    torch.save(model.state_dict(), official)
    rng = np.random.default_rng(8)
    heads = {}
    for name, kind, better in (("mos", "nr", True), ("dmos", "nr", False), ("pair", "fr", False)):
        info = HeadInfo(name, f"heads/{name}.json", kind, "synthetic", "MOS", better, "test")
        heads[name] = Head(info, rng.standard_normal(1024), 10.0).save(root / f"{name}-head.json")
    write_photos(root / "val" / "a", 2, 2)  # photos in subfolders (as in ../shared/photos/val): found recursively
    write_photos(root / "val" / "b", 2, 3)
    write_photos(root / "calib", 3, 1)
    return ResNet18(root, model, checkpoint, official, heads, data)


@pytest.fixture(scope="session")
def resnet18_bundle(resnet18: ResNet18) -> Path:
    """The session's ResNet-18 exported once, as every test that needs a real export reads it:
    ``export_bundle`` of :attr:`ResNet18.checkpoint` with its heads, fp32 (ONNX opset 18), int8
    (calibrated on ``calib``) and fp16, parity and fidelity on ``val``, licence Apache-2.0."""
    from contrique_export.exporter import export_bundle

    return export_bundle(
        resnet18.checkpoint, resnet18.root / "bundle", heads=resnet18.heads, variants=("int8", "fp16"),
        calibration=resnet18.root / "calib", parity_images=resnet18.root / "val", license="Apache-2.0",
        opset=18, progress=False,
    )


@pytest.fixture()
def reuse_resnet18_graph(resnet18_bundle: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Exports of the session's ResNet-18 weights (either checkpoint) copy its exported fp32 graph
    instead of running the ONNX exporter again: for tests of the export's other steps."""
    from contrique_export import exporter

    def export_onnx(model: Any, path: Path, **kwargs: Any) -> Path:
        shutil.copyfile(resnet18_bundle / "encoder.onnx", path)
        return path

    monkeypatch.setattr(exporter, "export_onnx", export_onnx)


@pytest.fixture()
def one_torch_thread() -> Iterator[None]:
    """One torch intra-op thread for a test: on a busy shared CPU, OpenMP spin-waiting of several
    threads makes training steps far slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def official_dir() -> Path:
    """The official reference data in ../shared; skips where it is absent."""
    if not OFFICIAL.is_dir():
        pytest.skip(f"reference data not found at {OFFICIAL}")
    return OFFICIAL


@pytest.fixture(scope="session")
def photos_dir() -> Path:
    """The shared photos; skips where they are absent."""
    if not PHOTOS.is_dir():
        pytest.skip(f"photos not found at {PHOTOS}")
    return PHOTOS


@pytest.fixture()
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    """A running fake Hub (a real HTTP server on 127.0.0.1) that huggingface_hub talks to, with a
    fresh default cache."""
    from huggingface_hub import constants
    from huggingface_hub.utils import close_session

    server = FakeHub()
    server.start()
    endpoint = server.endpoint
    monkeypatch.setenv("HF_ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "ENDPOINT", endpoint)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-home" / "hub"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_IMPLICIT_TOKEN", True)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    # huggingface_hub backs off up to ~23 s between retries of failed requests: skip the waiting.
    no_sleep = types.SimpleNamespace(**{n: getattr(time, n) for n in dir(time) if not n.startswith("_")})
    no_sleep.sleep = lambda seconds: None
    monkeypatch.setattr("huggingface_hub.utils._http.time", no_sleep)
    monkeypatch.setattr("huggingface_hub.file_download.time", no_sleep)
    close_session()  # no pooled connection to an earlier test's server
    yield server
    server.stop()
    close_session()
