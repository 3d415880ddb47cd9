"""Full-reference metrics against a pristine photo, and the mean-rank proxy that combines them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from contrique_training.fullref import METRICS, MIN_SIDE, FullReferenceError, full_reference, rank_proxy

SIDE = 192


@pytest.fixture(scope="module")
def photo(photos_dir: Path) -> np.ndarray:
    with Image.open(photos_dir / "val" / "skimage" / "astronaut.png") as image:
        return np.asarray(image.convert("RGB").resize((SIDE, SIDE), Image.Resampling.LANCZOS))


def _noisy(photo: np.ndarray, sigma: float) -> np.ndarray:
    noise = np.random.default_rng(0).normal(0, sigma, photo.shape)
    return np.clip(photo + noise, 0, 255).round().astype(np.uint8)


@pytest.mark.slow  # six piq metrics on a photo
def test_identical_image_gets_each_metrics_perfect_value(photo: np.ndarray) -> None:
    values = full_reference([photo], photo)
    assert set(values) == {m.name for m in METRICS}
    for metric in METRICS:
        assert values[metric.name][0] == pytest.approx(1.0 if metric.higher_is_better else 0.0, abs=1e-4)


@pytest.mark.slow
def test_every_metric_worsens_as_noise_grows(photo: np.ndarray) -> None:
    images = [photo] + [_noisy(photo, s) for s in (3, 10, 30)]
    values = full_reference(images, photo, batch_size=3)
    for metric in METRICS:
        oriented = values[metric.name] * (1 if metric.higher_is_better else -1)
        assert np.all(np.diff(oriented) < 0), (metric.name, values[metric.name])
    proxy = rank_proxy(values)
    assert proxy.tolist() == [4.0, 3.0, 2.0, 1.0]


@pytest.mark.slow
def test_batch_size_does_not_change_the_values(photo: np.ndarray) -> None:
    images = [_noisy(photo, s) for s in (5, 20, 40)]
    one, all_at_once = full_reference(images, photo, batch_size=1), full_reference(images, photo, batch_size=3)
    for name in one:
        np.testing.assert_allclose(one[name], all_at_once[name], rtol=1e-5, atol=1e-6)


def test_rank_proxy_orients_each_metric_and_averages_tied_ranks() -> None:
    proxy = rank_proxy({"mdsi": [0.1, 0.3, 0.2], "vsi": [0.9, 0.8, 0.8]})
    # mdsi, lower is better: ranks 3, 1, 2; vsi: 3 and a tie at 1.5
    assert proxy.tolist() == [3.0, 1.25, 1.75]



def test_rank_proxy_ranks_a_metric_over_the_images_it_has_values_for() -> None:
    # ms_ssim has no value for image 0 (too small): it ranks images 1..3, stretched to span 1..4
    proxy = rank_proxy({"mdsi": [0.1, 0.4, 0.3, 0.2], "ms_ssim": [float("nan"), 0.5, 0.7, 0.9]})
    # mdsi ranks 4, 1, 2, 3; ms_ssim 1, 2.5, 4 for images 1..3; image 0 keeps its mdsi rank alone
    assert proxy.tolist() == [4.0, 1.0, 2.25, 3.5]
    with pytest.raises(FullReferenceError, match="no value of any metric"):
        rank_proxy({"mdsi": [float("nan"), 0.1], "vsi": [float("nan"), 0.8]})


@pytest.mark.parametrize(
    "values",
    [{}, {"mdsi": [0.1], "psnr": [30.0]}, {"mdsi": [0.1, 0.2], "vsi": [0.9]}],
    ids=["none", "unknown metric", "different lengths"],
)
def test_rank_proxy_refuses_bad_input(values: dict[str, list[float]]) -> None:
    with pytest.raises(FullReferenceError, match="rank_proxy needs"):
        rank_proxy(values)


def test_refuses_images_it_cannot_compare(photo: np.ndarray) -> None:
    with pytest.raises(FullReferenceError, match="image 1 is uint8 \\(192, 191, 3\\)"):
        full_reference([photo, photo[:, :-1]], photo)
    with pytest.raises(FullReferenceError, match="image 0 is float64"):
        full_reference([photo / 255], photo)
    small = photo[: MIN_SIDE - 1]
    with pytest.raises(FullReferenceError, match=f"MS-SSIM needs both sides >= {MIN_SIDE}"):
        full_reference([small], small)
    without = [m for m in METRICS if m.name != "ms_ssim"]
    assert set(full_reference([small], small, metrics=without)) == {m.name for m in without}  # the others can
    with pytest.raises(FullReferenceError, match="pristine image must be uint8 RGB"):
        full_reference([photo], photo[..., 0])
