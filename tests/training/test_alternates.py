"""The OpenCV implementations of the common types: the same degradation, rising with the level."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from contrique_training.alternates import ALTERNATES, BLOCK_SIZES, alternate_image, block_image, block_pixelate
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


@pytest.mark.parametrize("block", [2, 3, 6])
def test_block_pixelation_is_the_mean_of_each_square_on_a_shifted_grid(block: int, photo: Image.Image) -> None:
    x = np.asarray(photo, np.float64)
    h, w = x.shape[:2]
    phases = set()
    for seed in range(6):
        out = np.asarray(block_pixelate(photo, block, seed), np.float64)
        assert out.shape == x.shape
        # the grid's phase: the first row and column where a new block starts
        rows = [0] + [y for y in range(1, h) if not np.array_equal(out[y], out[y - 1])]
        cols = [0] + [c for c in range(1, w) if not np.array_equal(out[:, c], out[:, c - 1])]
        dy, dx = rows[1] % block, cols[1] % block
        phases.add((dy, dx))
        for y0 in range(dy, h - block, block):  # every whole square inside the photo holds its rounded mean
            for x0 in range(dx, w - block, block):
                square = out[y0 : y0 + block, x0 : x0 + block]
                assert np.all(square == square[0, 0])
                np.testing.assert_array_equal(square[0, 0], np.round(x[y0 : y0 + block, x0 : x0 + block].mean(axis=(0, 1))))
        assert np.array_equal(out, np.asarray(block_pixelate(photo, block, seed)))  # a seed fixes the phase
    assert len(phases) > 1


def test_block_pixelation_rises_with_the_level_and_refuses_bad_sizes(photo: Image.Image) -> None:
    errors = [_error(block_image(photo, level, 0), photo) for level in range(1, LEVELS + 1)]
    assert errors[0] > 0 and errors == sorted(errors)
    assert _error(block_image(photo, 3, 7), block_pixelate(photo, BLOCK_SIZES[2], 7)) == 0
    with pytest.raises(ValueError, match="at least 2 px"):
        block_pixelate(photo, 1, 0)
    for level in (0, LEVELS + 1):
        with pytest.raises(ValueError, match="no pixelation block"):
            block_image(photo, level, 0)
