"""Fixtures of the proxy tests: a few photos, and one proxy set made from them for the session."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def skimage_dir(photos_dir: Path) -> Path:
    """5 validation photos: for tests only, never for a shipped head."""
    return photos_dir / "val" / "skimage"


@pytest.fixture(scope="session")
def proxy_dir(skimage_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A proxy set of :func:`skimage_dir`: 5 variants per photo, longer side 80, seed 3 (test_proxy_make.py
    checks these settings). Shared by the session: copy it before altering it."""
    from contrique_training.proxy.make import make_proxy_set

    folder = tmp_path_factory.mktemp("proxy") / "set"
    make_proxy_set(skimage_dir, folder, variants_per_photo=5, max_side=80, seed=3, progress=False)
    return folder
