"""Tests of contrique_infer.preprocessing: the per-scale arrays, the minimum side and max_side."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from image_fixtures import png, rgb, smooth
from PIL import Image

from contrique_infer.decoding import decode_rgb
from contrique_infer.errors import ImageTooLargeError, ImageTooSmallError, ThumbnailError
from contrique_infer.manifest import InputContract, Scale
from contrique_infer.preprocessing import (
    min_side,
    prepare,
    to_scales,
)

CONTRACT = InputContract(min_size=8)


def _official(img: Image.Image) -> list[np.ndarray]:
    """The official computation: ToTensor of the image and of image.resize((w//2, h//2))."""
    w, h = img.size
    return [np.asarray(im, dtype=np.float32).transpose(2, 0, 1) / 255 for im in (img, img.resize((w // 2, h // 2)))]


@pytest.mark.parametrize("size", [(37, 50), (8, 9), (64, 33)])
def test_scales_match_official_computation(size: tuple[int, int]) -> None:
    img = rgb(*size)
    prepared = prepare(img, CONTRACT)
    assert (prepared.width, prepared.height) == (size[1], size[0])
    assert [a.shape for a in prepared.scales] == [(3, size[0], size[1]), (3, size[0] // 2, size[1] // 2)]
    for got, want in zip(prepared.scales, _official(img)):
        assert got.dtype == np.float32 and got.flags.c_contiguous
        np.testing.assert_array_equal(got, want)


def test_every_input_type_gives_the_same_arrays(tmp_path: Path) -> None:
    img = rgb()
    data = png(img)
    path = tmp_path / "x.png"
    path.write_bytes(data)

    class Pipe:  # a non-seekable binary stream
        def __init__(self) -> None:
            self.buf = io.BytesIO(data)

        def read(self, n: int = -1) -> bytes:
            return self.buf.read(n)

        def seekable(self) -> bool:
            return False

    inputs = [str(path), path, data, bytearray(data), io.BytesIO(data), Pipe(), img, np.asarray(img)]
    want = _official(img)
    for image in inputs:
        for got, ref in zip(prepare(image, CONTRACT).scales, want):
            np.testing.assert_array_equal(got, ref)
    with open(path, "rb") as fh:
        assert prepare(fh, CONTRACT).source == str(path)


def test_mean_std_and_value_range() -> None:
    img = rgb(16, 16)
    contract = InputContract(min_size=8, value_range=(-1.0, 1.0), mean=(0.1, 0.2, 0.3), std=(0.5, 0.25, 2.0))
    full = prepare(img, contract).scales[0]
    x = np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255 * 2 - 1
    mean, std = np.array([0.1, 0.2, 0.3], np.float32), np.array([0.5, 0.25, 2.0], np.float32)
    want = (x - mean[:, None, None]) / std[:, None, None]
    np.testing.assert_allclose(full, want, rtol=0, atol=1e-6)


def test_too_small_names_the_minimum() -> None:
    assert min_side(CONTRACT) == 8
    with pytest.raises(ImageTooSmallError, match="is 20x7 pixels; the model needs at least 8 pixels"):
        prepare(rgb(7, 20), CONTRACT)
    tiny = InputContract(min_size=1, scales=(Scale("full", 1), Scale("quarter", 4)))
    assert min_side(tiny) == 4
    with pytest.raises(ImageTooSmallError, match="at least 4"):
        prepare(rgb(3, 20), tiny)
    assert [a.shape for a in prepare(rgb(4, 9), tiny).scales] == [(3, 4, 9), (3, 1, 2)]


def test_official_sample_images(official_dir: Path) -> None:
    samples = sorted((official_dir / "sample_images").glob("*.bmp"))
    assert samples, "no sample images in the reference data"
    for path in samples:
        with Image.open(path) as img:
            assert img.mode == "RGB"
            want = _official(img)
        got = prepare(path, InputContract()).scales
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)


def test_to_scales_leaves_input_untouched() -> None:
    img = rgb()
    before = np.asarray(img).copy()
    to_scales(img, CONTRACT)
    np.testing.assert_array_equal(np.asarray(img), before)


def test_max_side_downscales_png_bicubic_and_keeps_the_stored_size() -> None:
    img = smooth(600, 1000)
    contract = InputContract(min_size=8, max_side=250)
    prepared = prepare(png(img), contract)
    assert (prepared.width, prepared.height) == (1000, 600)  # the image's own size, as results report it
    small = img.resize((250, 150), Image.Resampling.BICUBIC)
    np.testing.assert_array_equal(prepared.scales[0], _official(small)[0])
    np.testing.assert_array_equal(prepared.scales[1], _official(small)[1])
    # no max_side: the official full-resolution computation, untouched
    assert prepare(png(img), CONTRACT).scales[0].shape == (3, 600, 1000)


def test_max_side_with_exif_rotation(tmp_path: Path) -> None:
    img = smooth(300, 400)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "o.jpg"
    img.save(path, "JPEG", quality=95, exif=exif.tobytes())
    rotated = decode_rgb(path, apply_exif=True, max_side=100)
    assert rotated.size == (75, 100)
    prepared = prepare(path, InputContract(min_size=8, max_side=100), apply_exif=True)
    assert (prepared.width, prepared.height) == (300, 400)


def test_max_side_refuses_an_image_too_thin_after_downscaling() -> None:
    with pytest.raises(ImageTooSmallError, match="after scaling its longer side to the model's max_side 64"):
        prepare(png(rgb(20, 400)), InputContract(min_size=8, max_side=64))


# --- inputs found by hostile testing (2026-12-05) -----------------------------------------------


def test_a_lazy_pil_image_is_not_changed_and_is_decoded_whole(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    smooth(600, 800).save(path, "JPEG", quality=90)
    contract = InputContract(min_size=8, max_side=100)
    with Image.open(path) as lazy:
        prepared = prepare(lazy, contract)
        assert lazy.size == (800, 600)  # no reduced-scale draft on the caller's image
        with Image.open(path) as loaded:
            loaded.load()
            np.testing.assert_array_equal(prepared.scales[0], prepare(loaded, contract).scales[0])
    assert (prepared.width, prepared.height) == (800, 600)


def test_exif_turn_of_a_nearly_square_jpeg_decoded_at_reduced_scale(tmp_path: Path) -> None:
    # 2048x2041 was once decoded at 1/8 scale, to 256x256: the turn comes from the tag, not the decoded shape.
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "turned.jpg"
    smooth(2041, 2048).save(path, "JPEG", quality=90, exif=exif.tobytes())
    assert decode_rgb(path, apply_exif=True, max_side=256).size == (255, 256)
    prepared = prepare(path, InputContract(min_size=8, max_side=256), apply_exif=True)
    assert (prepared.width, prepared.height) == (2041, 2048)
    assert decode_rgb(path, max_side=256).size == (256, 255)  # as stored without apply_exif


def test_a_thumbnail_hook_that_fails_is_its_own_error_not_a_bug_of_the_image(tiny_bundle_dir: Path) -> None:
    """A hook that raised was reported as ``ImageDecodeError: ... this is a bug in contrique-infer``; one that
    returned a str gave a result whose ``thumbnail`` made ``write_report`` fail with a ``TypeError``."""
    from contrique_infer import QualityScorer

    def broken(image: Image.Image) -> bytes:
        raise RuntimeError("thumbnail service down")

    with pytest.raises(ThumbnailError, match=r"^<PIL image>: the thumbnail hook broken failed on the "
                                             r"decoded 40x30 image \(RuntimeError: thumbnail service down\); the image "
                                             r"itself was read: fix the hook, or score without it$"):
        prepare(rgb(30, 40), CONTRACT, thumbnail=broken)
    with pytest.raises(ThumbnailError, match=r"the thumbnail hook <lambda> returned str, not bytes or None; make it "
                                             r"return the thumbnail's encoded bytes"):
        prepare(rgb(30, 40), CONTRACT, thumbnail=lambda image: "small")
    assert prepare(rgb(30, 40), CONTRACT, thumbnail=lambda image: None).thumbnail is None
    results = QualityScorer.from_pretrained(tiny_bundle_dir).score_many(
        [rgb(30, 40), rgb(20, 20), None], thumbnail=broken, workers=2)
    assert [r.error_type for r in results] == ["ThumbnailError", "ThumbnailError", "ImageTypeError"]
    assert all("this is a bug" not in r.error for r in results)


def test_a_thumbnail_hook_that_shrinks_its_image_in_place_leaves_the_callers_image_alone(tmp_path: Path) -> None:
    """A hook that makes its thumbnail as PIL does, ``image.thumbnail((16, 16))`` (in place), was given the
    caller's own RGB PIL image (decoded to itself), and shrank it: an image given twice in a batch was scored
    the second time at 16x12."""
    path = tmp_path / "a.png"
    path.write_bytes(png(rgb(30, 40)))

    def in_place(image: Image.Image) -> bytes:
        image.thumbnail((16, 16))
        return image.tobytes()

    before = np.asarray(rgb(30, 40))
    with Image.open(path) as lazy:
        for given in (rgb(30, 40), lazy):  # loaded, and lazy
            prepared = prepare(given, CONTRACT, thumbnail=in_place)
            assert given.size == (40, 30) and len(prepared.thumbnail or b"") == 16 * 12 * 3  # the hook's copy shrank
            np.testing.assert_array_equal(np.asarray(given), before)


def test_no_memory_for_an_images_arrays_is_its_too_large_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """NumPy's MemoryError making a large image's float arrays (`Unable to allocate 286. MiB for an array with
    shape (3, 5000, 5000)`, under ulimit -v 900000) left prepare bare; in a batch it became `this is a bug in
    contrique-infer: please report it`."""
    from contrique_infer import preprocessing

    def no_memory(rgb: Image.Image, contract: InputContract) -> tuple[np.ndarray, ...]:
        raise MemoryError("Unable to allocate 286. MiB for an array with shape (3, 5000, 5000) and data type float32")

    monkeypatch.setattr(preprocessing, "to_scales", no_memory)
    with pytest.raises(ImageTooLargeError) as refused:
        prepare(rgb(30, 40), CONTRACT)
    assert refused.value.reason.startswith("is too large for the memory left to prepare it (Unable to allocate 286. "
                                           "MiB for an array with shape (3, 5000, 5000) and data type float32); ")
