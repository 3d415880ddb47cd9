"""Shared fixtures: the tiny bundle, and the location of the shared reference data."""

from __future__ import annotations

from pathlib import Path

import pytest

from tiny_bundle import write_tiny_bundle

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
OFFICIAL = SHARED / "reference" / "contrique-official"
PHOTOS = SHARED / "photos"


@pytest.fixture(scope="session")
def tiny_bundle_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid tiny bundle folder, shared by the session: copy it before altering it."""
    return write_tiny_bundle(tmp_path_factory.mktemp("bundle") / "tiny")


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
