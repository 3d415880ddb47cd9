"""The OpenCV implementations of the common types: the same degradation, rising with the level."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from contrique_training.alternates import ALTERNATES, alternate_image
from contrique_training.distortions import LEVELS, TYPE_INDEX, WIDE_TYPES, distort_image


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    """Detail at several scales, 192 x 128 (no per-pixel noise, which the mildest blur already removes)."""
    rng = np.random.default_rng(0)
    layers = [np.asarray(Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
                         .resize((192, 128), Image.Resampling.BICUBIC), np.float64) for h, w in ((5, 7), (17, 25), (49, 73))]
    return Image.fromarray(np.clip(sum(layers) / 3 * 1.5 - 64, 0, 255).astype(np.uint8))


def _error(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)).mean())


@pytest.mark.parametrize("name", sorted(ALTERNATES))
def test_every_alternate_degrades_more_at_every_level(name: str, photo: Image.Image) -> None:
    values = WIDE_TYPES[TYPE_INDEX[name]].values("wide")
    for seed in (0, 1, 2):
        out = [ALTERNATES[name](photo, values[level], seed) for level in range(LEVELS)]
        assert all(image.mode == "RGB" and image.size == photo.size for image in out)
        errors = [_error(image, photo) for image in out]
        assert errors[0] > 0 and errors == sorted(errors), (name, seed, errors)
        assert _error(ALTERNATES[name](photo, values[2], seed), out[2]) == 0  # a seed fixes every choice


@pytest.mark.parametrize(("name", "level"), [("gaussian_blur", 2), ("white_noise", 2), ("resolution_loss", 3)])
def test_alternates_match_the_strength_of_the_training_implementation(name: str, level: int, photo: Image.Image) -> None:
    """The same parameter means the same strength: the error from the photo is within a factor 1.5."""
    value = WIDE_TYPES[TYPE_INDEX[name]].values("wide")[level - 1]
    ours = np.mean([_error(distort_image(photo, name, level, seed=s), photo) for s in range(4)])
    theirs = np.mean([_error(ALTERNATES[name](photo, value, s), photo) for s in range(4)])
    assert ours / 1.5 < theirs < ours * 1.5, (ours, theirs)


def test_alternate_blur_is_not_the_training_implementation(photo: Image.Image) -> None:
    value = WIDE_TYPES[TYPE_INDEX["gaussian_blur"]].values("wide")[1]
    ours = distort_image(photo, "gaussian_blur", 2)
    assert 0 < _error(ALTERNATES["gaussian_blur"](photo, value, 0), ours) < _error(ours, photo)


def test_alternate_image_reads_the_wide_level(photo: Image.Image) -> None:
    value = WIDE_TYPES[TYPE_INDEX["jpeg"]].values("wide")[3]
    assert _error(alternate_image(photo, "jpeg", 4, 5), ALTERNATES["jpeg"](photo, value, 5)) == 0
    for name, level in (("darken", 1), ("jpeg", 0), ("jpeg", LEVELS + 1)):
        with pytest.raises(ValueError, match="no second implementation"):
            alternate_image(photo, name, level, 0)
