"""The protocol on real photos distorted by the training package's distortions.

Gaussian blur removes high-frequency energy monotonically, so two sharpness statistics of each
image (log variance of the Laplacian, log mean gradient, at full and half scale) must let the
content-separated protocol rank the blur levels of photos it never saw. The encoders' own figures
on such data are measured in the evaluation report, not asserted here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from contrique_training.evaluation.protocol import ProtocolConfig, run_protocol

distortions = pytest.importorskip("contrique_training.distortions", reason="needs torch (the train extra)")


def sharpness(img: Image.Image) -> list[float]:
    out = []
    for scale in (img, img.resize((img.width // 2, img.height // 2), Image.BICUBIC)):
        g = np.asarray(scale.convert("L"), dtype=np.float64)
        lap = 4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
        out += [np.log(lap.var() + 1.0), np.log(np.abs(np.diff(g, axis=1)).mean() + 1e-3)]
    return out


def test_protocol_ranks_blur_levels_of_unseen_photos(photos_dir: Path) -> None:
    photos = sorted((photos_dir / "val").rglob("*.*"))[:8]
    feats, scores, contents = [], [], []
    for photo in photos:
        with Image.open(photo) as im:
            img = im.convert("RGB")
        img.thumbnail((128, 128), Image.LANCZOS)
        for level in range(-1, distortions.LEVELS):  # -1: pristine
            out = img if level < 0 else distortions.distort_image(img, "gaussian_blur", level + 1, "kadid", seed=level)
            feats.append(sharpness(out))
            scores.append(100 - 20 * (level + 1))  # the documented score: pristine 100, level 5 -> 0
            contents.append(photo.name)
    x, y = np.array(feats), np.array(scores, dtype=float)
    config = ProtocolConfig(splits=5, folds=3, alphas=(0.01, 0.1, 1.0, 10.0))
    result = run_protocol(x, y, contents, config)
    assert result.contents == len(photos) and all(s.test.size == 12 for s in result.splits)
    assert result.summary()["srcc"]["median"] > 0.8
    shuffled = run_protocol(x, np.random.default_rng(0).permutation(y), contents, config)
    assert abs(shuffled.summary()["srcc"]["median"]) < 0.4
