"""The synthetic distortions: class ids, monotone quality in both level tables, chains, determinism, batching, codecs."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from contrique_training.distortions import (
    DISTORTIONS,
    LEVELS,
    NUM_CLASSES,
    SERIES_TYPES,
    TYPE_INDEX,
    WIDE_TYPES,
    apply_host,
    class_id,
    class_levels,
    disk_kernel,
    distort,
    distort_image,
    motion_kernels,
    split_class,
)

# Types that change global brightness or contrast: PSNR there mostly measures a global offset or
# gain, which SSIM separates into its luminance and contrast terms, so SSIM is the measure that
# follows perceived severity. Every other type (blur, noise, codecs, colour, spatial) uses PSNR.
SSIM_TYPES = {"brighten", "darken", "mean_shift", "contrast_change"}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM of the luma (Gaussian window 11 x 11, sigma 1.5; Wang et al. 2004 constants)."""
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64)
    x = (torch.from_numpy(a.astype(np.float64)) @ weights)[None, None]
    y = (torch.from_numpy(b.astype(np.float64)) @ weights)[None, None]
    t = torch.arange(11, dtype=torch.float64) - 5
    g = torch.exp(-(t**2) / (2 * 1.5**2))
    window = (g[:, None] * g[None, :] / g.sum() ** 2)[None, None]
    mu_x, mu_y = F.conv2d(x, window), F.conv2d(y, window)
    var_x = F.conv2d(x * x, window) - mu_x**2
    var_y = F.conv2d(y * y, window) - mu_y**2
    cov = F.conv2d(x * y, window) - mu_x * mu_y
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    s = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return float(s.mean())


@pytest.fixture(scope="module")
def photo(photos_dir) -> Image.Image:
    """A real photo from the validation set, centre-cropped to 128 x 128.

    Smaller, JPEG2000 at ratios 120 and 400 both hit the codec's minimum file size.
    """
    image = Image.open(photos_dir / "val" / "skimage" / "chelsea.png").convert("RGB")
    w, h = image.size
    return image.crop(((w - h) // 2, 0, (w - h) // 2 + h, h)).resize((128, 128), Image.Resampling.BICUBIC)


def test_class_ids_cover_126_classes() -> None:
    assert len(DISTORTIONS) == 25 and LEVELS == 5 and NUM_CLASSES == 126
    assert len({d.name for d in DISTORTIONS}) == 25
    assert all(len(d.levels) == LEVELS for d in DISTORTIONS)
    ids = [class_id(t, l) for t in range(25) for l in range(5)]
    assert ids == list(range(1, 126))
    assert split_class(0) == (0, 0)
    assert split_class(class_id(9, 3)) == (9, 4)  # levels as distort and apply_host take them: 1..5
    types, levels = class_levels(torch.tensor([0, class_id(9, 3), 125]))
    assert levels.tolist() == [0, 4, 5] and types[1:].tolist() == [9, 24]
    host = [c for c in range(1, 126) if DISTORTIONS[split_class(c)[0]].host is not None]
    assert host == list(range(41, 51))  # JPEG2000 (type 8), JPEG (type 9): the KADID types on the host
    with pytest.raises(ValueError):
        class_id(25, 0)
    with pytest.raises(ValueError):
        split_class(126)


@pytest.mark.parametrize("type_index", range(25), ids=[d.name for d in DISTORTIONS])
def test_quality_falls_as_level_rises(photo: Image.Image, type_index: int) -> None:
    reference = np.asarray(photo)
    name = DISTORTIONS[type_index].name
    measure = ssim if name in SSIM_TYPES else psnr
    scores = [measure(reference, np.asarray(distort_image(photo, name, l, "kadid", seed=3))) for l in range(1, 6)]
    assert all(a > b for a, b in zip(scores, scores[1:])), f"{name}: {scores}"
    assert scores[-1] < (0.97 if measure is ssim else 40.0), f"{name}: level 5 is too mild: {scores[-1]}"


@pytest.fixture(scope="module")
def large_photo(photos_dir) -> Image.Image:
    """The same photo at 256 x 256: at 128 px, JPEG2000 ratios 250 and 500 hit the codec's minimum file size."""
    image = Image.open(photos_dir / "val" / "skimage" / "chelsea.png").convert("RGB")
    w, h = image.size
    return image.crop(((w - h) // 2, 0, (w - h) // 2 + h, h)).resize((256, 256), Image.Resampling.BICUBIC)


@pytest.mark.parametrize("name", [d.name for d in SERIES_TYPES])
def test_quality_falls_along_the_wide_levels(large_photo: Image.Image, name: str) -> None:
    reference = np.asarray(large_photo)
    measure = ssim if name in SSIM_TYPES | {"underexposure", "overexposure"} else psnr
    images = [np.asarray(distort_image(large_photo, name, level, seed=3)) for level in range(LEVELS + 1)]
    assert np.array_equal(images[0], reference)  # level 0 is the photo itself
    scores = [measure(reference, image) for image in images[1:]]
    assert all(a > b for a, b in zip(scores, scores[1:])), f"{name}: {scores}"
    kadid = DISTORTIONS[TYPE_INDEX[name]].levels if TYPE_INDEX[name] < len(DISTORTIONS) else ()
    assert len(SERIES_TYPES[TYPE_INDEX[name]].values("wide")) == LEVELS and (kadid or TYPE_INDEX[name] >= len(DISTORTIONS))


def test_wide_batches_equal_single_images(photo: Image.Image) -> None:
    x = torch.from_numpy(np.asarray(photo, dtype=np.float32) / 255).permute(2, 0, 1)
    types = torch.tensor([TYPE_INDEX["gaussian_blur"], TYPE_INDEX["underexposure"], TYPE_INDEX["jpeg"], 0])
    levels = torch.tensor([5, 3, 2, 0])
    out = distort(x.repeat(4, 1, 1, 1), types, levels, torch.Generator().manual_seed(0))
    for i in range(4):
        single = np.asarray(distort_image(photo, WIDE_TYPES[int(types[i])].name, 0 if i == 2 else int(levels[i])))
        np.testing.assert_allclose(out[i].permute(1, 2, 0).numpy() * 255, single, atol=0.5)  # codecs: left as given
    with pytest.raises(ValueError, match="wide level 6"):
        distort_image(photo, "gaussian_blur", 6)
    with pytest.raises(ValueError, match="kadid level 1"):
        distort_image(photo, "webp", 1, "kadid")  # a type with wide levels only


def test_same_seed_same_result_other_seed_differs(photo: Image.Image) -> None:
    for name in ("white_noise", "motion_blur", "colour_block", "jitter", "colour_quantization"):
        a = np.asarray(distort_image(photo, name, 3, "kadid", seed=5))
        b = np.asarray(distort_image(photo, name, 3, "kadid", seed=5))
        c = np.asarray(distort_image(photo, name, 3, "kadid", seed=6))
        assert np.array_equal(a, b), name
        assert not np.array_equal(a, c), name


def test_batch_equals_single_images_for_deterministic_types(photo: Image.Image) -> None:
    x = torch.from_numpy(np.asarray(photo, dtype=np.float32) / 255).permute(2, 0, 1)
    batch = torch.stack([x, x.flip(-1), x, x])
    classes = torch.tensor([class_id(0, 4), class_id(1, 2), class_id(21, 1), 0])
    out = distort(batch, *class_levels(classes), torch.Generator().manual_seed(0), "kadid")
    for i in range(4):
        single = distort(batch[i : i + 1], *class_levels(classes[i : i + 1]), torch.Generator().manual_seed(0), "kadid")
        torch.testing.assert_close(out[i], single[0], atol=1e-6, rtol=0)
    assert torch.equal(out[3], batch[3])  # pristine: unchanged (input is 8-bit already)


def test_codec_classes_pass_through_distort_and_match_pillow(photo: Image.Image) -> None:
    x = torch.from_numpy(np.asarray(photo, dtype=np.float32) / 255).permute(2, 0, 1)[None]
    assert torch.equal(distort(x, torch.tensor([9]), torch.tensor([5]), torch.Generator(), "kadid"), x)
    buffer = io.BytesIO()
    photo.save(buffer, format="JPEG", quality=7)  # JPEG level 4 = quality 7
    expected = np.asarray(Image.open(buffer).convert("RGB"))
    assert np.array_equal(np.asarray(apply_host(photo, 9, 4, "kadid")), expected)
    assert apply_host(photo, 9, 0, "kadid") is photo and apply_host(photo, 0, 3) is photo  # pristine; a pixel type


def test_kernels_are_normalised_and_shaped() -> None:
    disk = disk_kernel(4.0, torch.device("cpu"))
    assert disk.shape == (9, 9) and abs(float(disk.sum()) - 1) < 1e-6
    torch.testing.assert_close(disk, disk.T)
    # area coverage: the centre tap is a full pixel, a corner tap lies outside the disk
    assert float(disk[4, 4]) == pytest.approx(1 / (np.pi * 16), rel=0.02)
    assert float(disk[0, 0]) == 0.0
    horizontal = motion_kernels(torch.tensor([5.0]), torch.tensor([0.0]))[0]
    assert abs(float(horizontal.sum()) - 1) < 1e-6
    centre = horizontal.shape[0] // 2
    assert float(horizontal[centre].sum()) == pytest.approx(1.0, abs=1e-6)  # all weight on the centre row


def test_a_chain_is_one_recipe_per_seed_at_every_strength(photo: Image.Image) -> None:
    """Strength changes a chain's values, not its implementations or noise; another seed draws another recipe."""
    from contrique_training.chains import CHAINS, degrade

    chain = next(c for c in CHAINS if c.name == "blur_noise")
    mild, strong = (np.asarray(degrade(photo, chain, s, seed=4), dtype=np.float64) for s in (1, 5))
    again = np.asarray(degrade(photo, chain, 5, seed=4), dtype=np.float64)
    assert np.array_equal(strong, again)
    reference = np.asarray(photo, dtype=np.float64)
    # the same noise field, scaled: the residuals of strengths 1 and 5 correlate strongly
    assert np.corrcoef((mild - reference).ravel(), (strong - reference).ravel())[0, 1] > 0.5
    others = {np.asarray(degrade(photo, chain, 3, seed=s)).tobytes() for s in range(6)}
    assert len(others) == 6
    with pytest.raises(ValueError, match="strength 6"):
        degrade(photo, chain, 6, seed=0)


def test_chains_run_on_the_host_and_pass_through_distort(photo: Image.Image) -> None:
    x = torch.from_numpy(np.asarray(photo, dtype=np.float32) / 255).permute(2, 0, 1)[None]
    t = TYPE_INDEX["blur_noise_codec"]
    assert t >= len(WIDE_TYPES) and SERIES_TYPES[t].host is not None and SERIES_TYPES[t].apply is None
    assert torch.equal(distort(x, torch.tensor([t]), torch.tensor([3]), torch.Generator()), x)
    hosted = np.asarray(apply_host(photo, t, 3, seed=2))
    assert np.array_equal(np.asarray(distort_image(photo, "blur_noise_codec", 3, seed=2)), hosted)
    assert not np.array_equal(hosted, np.asarray(photo))
