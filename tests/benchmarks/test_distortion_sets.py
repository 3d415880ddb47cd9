"""benchmarks/distortion_sets.py: the sets' registry, set f's seeding of a library that draws from NumPy's
global generator, and set g's seeding of ImageMagick's."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
distortion_sets = pytest.importorskip("distortion_sets", reason="needs the bench extra (scipy)")


def _photo() -> Image.Image:
    rng = np.random.default_rng(3)
    gradient = np.linspace(0, 255, 96)[None, :, None] * np.ones((64, 1, 3))
    return Image.fromarray(np.clip(gradient + rng.normal(0, 20, (64, 96, 3)), 0, 255).astype(np.uint8))


def test_a_run_without_sets_leaves_out_the_set_installed_by_hand() -> None:
    assert distortion_sets.DEFAULT_SETS == ("a", "b", "c", "d", "e")
    assert set(distortion_sets.SETS) == {"a", "b", "c", "d", "e", "f", "g", "h"}


def test_set_f_is_seeded_per_series_and_leaves_the_global_generator_alone() -> None:
    pytest.importorskip("imagecorruptions", reason="set f's package is installed by hand")
    made = distortion_sets.SETS["f"]()
    assert "impulse_noise" not in made.kinds  # scikit-image draws it from an unseeded generator
    photo = _photo()
    np.random.seed(11)
    before = np.random.random()
    np.random.seed(11)
    first = np.asarray(made.make(photo, "gaussian_noise", 2, 5))
    assert np.random.random() == before  # the global state was restored
    assert np.array_equal(first, np.asarray(made.make(photo, "gaussian_noise", 2, 5)))
    assert not np.array_equal(first, np.asarray(made.make(photo, "gaussian_noise", 2, 6)))
    # the same noise field at every level of a series: level 5's error grows from level 1's, it is not a new draw
    pixels = np.asarray(photo, dtype=float)
    mild, strong = (np.asarray(made.make(photo, "gaussian_noise", level, 5), dtype=float) - pixels for level in (1, 5))
    assert np.corrcoef(mild.ravel(), strong.ravel())[0, 1] > 0.5
    for kind in made.kinds:
        levels = [np.abs(np.asarray(made.make(photo, kind, level, 5), dtype=float) - pixels).mean() for level in (1, 5)]
        assert 0 < levels[0] < levels[1], kind


def test_set_g_is_seeded_per_series_and_every_kind_grows_with_the_level() -> None:
    # exc_type: Wand (in the bench extra) raises a plain ImportError where the MagickWand library is missing
    pytest.importorskip("wand.image", reason="set g needs Wand and ImageMagick's MagickWand library (apt-get install "
                        "libmagickwand-6.q16-6)", exc_type=ImportError)
    made = distortion_sets.SETS["g"]()
    assert len(made.kinds) == 12
    photo = _photo().resize((288, 192), Image.Resampling.NEAREST)  # a 1-degree turn moves 96x64 px by under a pixel
    pixels = np.asarray(photo, dtype=float)
    for kind in ("gaussian_noise", "poisson_noise", "impulse_noise", "spread", "motion_blur"):  # the random kinds
        first = np.asarray(made.make(photo, kind, 3, 5))
        assert np.array_equal(first, np.asarray(made.make(photo, kind, 3, 5))), kind  # the seed decides the draw
        assert not np.array_equal(first, np.asarray(made.make(photo, kind, 3, 6))), kind
    mild, strong = (np.asarray(made.make(photo, "gaussian_noise", level, 5), dtype=float) - pixels for level in (1, 5))
    assert np.corrcoef(mild.ravel(), strong.ravel())[0, 1] > 0.5  # one noise field per series, scaled by the level
    for kind in made.kinds:
        distorted = [np.asarray(made.make(photo, kind, level, 5)) for level in (1, 5)]
        assert all(d.shape == pixels.shape and d.dtype == np.uint8 for d in distorted), kind
        errors = [np.abs(d.astype(float) - pixels).mean() for d in distorted]
        assert 0 < errors[0] < errors[1], kind


def test_set_h_is_seeded_per_series_keeps_odd_sizes_and_every_kind_grows_with_the_level() -> None:
    pytest.importorskip("imageio_ffmpeg", reason="set h needs imageio-ffmpeg (the bench extra)")
    made = distortion_sets.SETS["h"]()
    assert len(made.kinds) == 12
    # odd sides (4:2:0 frames need even ones); noise a third of _photo's, which the mildest denoising leaves as it is
    photo = Image.blend(_photo(), _photo().filter(ImageFilter.GaussianBlur(3)), 0.67)
    photo = photo.resize((97, 65), Image.Resampling.BICUBIC)
    pixels = np.asarray(photo, dtype=float)
    first = np.asarray(made.make(photo, "noise", 3, 5))
    assert np.array_equal(first, np.asarray(made.make(photo, "noise", 3, 5)))  # the seed decides the draw
    assert not np.array_equal(first, np.asarray(made.make(photo, "noise", 3, 6)))
    for kind in made.kinds:
        distorted = [np.asarray(made.make(photo, kind, level, 5)) for level in (1, 5)]
        assert all(d.shape == pixels.shape and d.dtype == np.uint8 for d in distorted), kind
        errors = [np.abs(d.astype(float) - pixels).mean() for d in distorted]
        assert 0 < errors[0] < errors[1], kind
    assert np.array_equal(np.asarray(made.make(photo, "h264", 1, 5)), np.asarray(made.make(photo, "h264", 1, 9)))
