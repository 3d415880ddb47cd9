"""Shared fixtures: the tiny bundle, and the location of the shared reference data."""

from __future__ import annotations

import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from fake_hub import FakeHub
from reference import OFFICIAL, PHOTOS
from tiny_bundle import write_tiny_bundle


@pytest.fixture(scope="session")
def tiny_bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid tiny bundle folder, shared by the session: copy it before altering it."""
    return write_tiny_bundle(tmp_path_factory.mktemp("bundle") / "tiny")


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
