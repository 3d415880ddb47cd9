"""Tests of contrique_infer.preprocessing: decoding, RGB conversion, guards and the scale arrays."""

from __future__ import annotations

import gc
import io
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from contrique_infer.errors import (
    ImageDecodeError,
    ImageTooLargeError,
    ImageTooSmallError,
)
from contrique_infer.manifest import InputContract, Scale
from contrique_infer.preprocessing import (
    allow_pixels,
    decode_rgb,
    describe,
    fit_size,
    min_side,
    prepare,
    to_scales,
)

CONTRACT = InputContract(min_size=8)


def _rgb(h: int = 37, w: int = 50, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def _png(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", **kw)
    return buf.getvalue()


def _official(img: Image.Image) -> list[np.ndarray]:
    """The official computation: ToTensor of the image and of image.resize((w//2, h//2))."""
    w, h = img.size
    return [np.asarray(im, dtype=np.float32).transpose(2, 0, 1) / 255 for im in (img, img.resize((w // 2, h // 2)))]


@pytest.mark.parametrize("size", [(37, 50), (8, 9), (64, 33)])
def test_scales_match_official_computation(size: tuple[int, int]) -> None:
    img = _rgb(*size)
    prepared = prepare(img, CONTRACT)
    assert (prepared.width, prepared.height) == (size[1], size[0])
    assert [a.shape for a in prepared.scales] == [(3, size[0], size[1]), (3, size[0] // 2, size[1] // 2)]
    for got, want in zip(prepared.scales, _official(img)):
        assert got.dtype == np.float32 and got.flags.c_contiguous
        np.testing.assert_array_equal(got, want)


def test_every_input_type_gives_the_same_arrays(tmp_path: Path) -> None:
    img = _rgb()
    data = _png(img)
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


def test_descriptions() -> None:
    assert describe(b"abc") == "<bytes 3>"
    assert describe(Image.new("RGB", (2, 2))) == "<PIL image>"
    assert describe(np.zeros((4, 5, 3), np.uint8)) == "<array (4, 5, 3)>"
    assert describe(io.BytesIO(b"")) == "<file object>"
    assert describe(Path("a/b.png")) == str(Path("a/b.png"))


def test_mean_std_and_value_range() -> None:
    img = _rgb(16, 16)
    contract = InputContract(min_size=8, value_range=(-1.0, 1.0), mean=(0.1, 0.2, 0.3), std=(0.5, 0.25, 2.0))
    full = prepare(img, contract).scales[0]
    x = np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 255 * 2 - 1
    mean, std = np.array([0.1, 0.2, 0.3], np.float32), np.array([0.5, 0.25, 2.0], np.float32)
    want = (x - mean[:, None, None]) / std[:, None, None]
    np.testing.assert_allclose(full, want, rtol=0, atol=1e-6)


def test_sixteen_bit_png_equals_eight_bit_scaled(tmp_path: Path) -> None:
    gray8 = np.random.default_rng(3).integers(0, 256, (20, 30), dtype=np.uint8)
    sixteen = Image.fromarray(gray8.astype(np.uint16) * 257)
    assert sixteen.mode == "I;16"
    path = tmp_path / "g16.png"
    sixteen.save(path)
    with Image.open(path) as reopened:
        assert reopened.mode.startswith("I")
    want = np.asarray(Image.fromarray(gray8, "L").convert("RGB"))
    np.testing.assert_array_equal(np.asarray(decode_rgb(path)), want)
    # Rounding: v -> round(v / 257), 65535 -> 255; mode I (32-bit) reads the same 0..65535 range.
    values = np.array([[0, 128, 129, 32767, 32768, 65535]], dtype=np.uint16)
    expected = np.array([0, 0, 1, 127, 128, 255], dtype=np.uint8)
    for img in (Image.fromarray(values), Image.fromarray(values.astype(np.int32))):
        assert np.asarray(decode_rgb(img))[0, :, 0].tolist() == expected.tolist()


def _palette(transparency: bool) -> Image.Image:
    img = _rgb(12, 10).quantize(16)
    if transparency:
        img.info["transparency"] = bytes(range(0, 256, 16))
    return img


@pytest.mark.parametrize(
    "make",
    [
        lambda: _rgb().convert("L"),
        lambda: _rgb().convert("1"),
        lambda: _rgb().convert("LA"),
        lambda: _rgb().convert("RGBA"),
        lambda: _rgb().convert("CMYK"),
        lambda: _rgb().convert("YCbCr"),
        lambda: _rgb().convert("L").convert("F"),
        lambda: _palette(False),
        lambda: _palette(True),
    ],
    ids=["L", "1", "LA", "RGBA", "CMYK", "YCbCr", "F", "P", "P-transparency"],
)
def test_modes_convert_like_pil(make) -> None:
    img = make()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = decode_rgb(img)
    assert got.mode == "RGB"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = img.convert("RGB")
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_rgba_png_and_cmyk_jpeg_files(tmp_path: Path) -> None:
    rgba = _rgb().convert("RGBA")
    rgba.putalpha(Image.new("L", rgba.size, 7))
    (tmp_path / "a.png").write_bytes(_png(rgba))
    np.testing.assert_array_equal(np.asarray(decode_rgb(tmp_path / "a.png")), np.asarray(rgba.convert("RGB")))
    cmyk = _rgb().convert("CMYK")
    cmyk.save(tmp_path / "c.jpg", quality=95)
    with Image.open(tmp_path / "c.jpg") as decoded:
        np.testing.assert_array_equal(np.asarray(decode_rgb(tmp_path / "c.jpg")), np.asarray(decoded.convert("RGB")))


def test_arrays() -> None:
    gray = np.random.default_rng(1).integers(0, 256, (10, 12), dtype=np.uint8)
    np.testing.assert_array_equal(np.asarray(decode_rgb(gray)), np.repeat(gray[:, :, None], 3, axis=2))
    np.testing.assert_array_equal(np.asarray(decode_rgb(gray[:, :, None])), np.asarray(decode_rgb(gray)))
    rgba = np.random.default_rng(2).integers(0, 256, (10, 12, 4), dtype=np.uint8)
    np.testing.assert_array_equal(np.asarray(decode_rgb(rgba)), rgba[:, :, :3])
    strided = np.asarray(_rgb())[:, ::-1]  # not contiguous
    np.testing.assert_array_equal(np.asarray(decode_rgb(strided)), strided)
    with pytest.raises(ImageDecodeError, match="dtype float64") as info:
        decode_rgb(np.zeros((10, 10, 3)))
    assert info.value.source == "<array (10, 10, 3)>"
    with pytest.raises(ImageDecodeError, match="expected HxW"):
        decode_rgb(np.zeros((10, 10, 2), np.uint8))
    with pytest.raises(TypeError, match="cannot use int"):
        decode_rgb(42)  # type: ignore[arg-type]


def test_first_frame_of_animations(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (16, 12), c) for c in ((200, 10, 10), (10, 200, 10), (10, 10, 200))]
    frames[0].save(tmp_path / "a.gif", save_all=True, append_images=frames[1:], duration=50, loop=0)
    frames[0].save(tmp_path / "m.tiff", save_all=True, append_images=frames[1:])
    for name in ("a.gif", "m.tiff"):
        with Image.open(tmp_path / name) as im:
            assert im.n_frames == 3
        np.testing.assert_array_equal(np.asarray(decode_rgb(tmp_path / name)), np.asarray(frames[0]))


def test_exif_orientation_only_on_request(tmp_path: Path) -> None:
    img = _rgb(30, 40)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "o.png"
    path.write_bytes(_png(img, exif=exif.tobytes()))
    np.testing.assert_array_equal(np.asarray(decode_rgb(path)), np.asarray(img))
    rotated = decode_rgb(path, apply_exif=True)
    assert rotated.size == (30, 40)
    np.testing.assert_array_equal(np.asarray(rotated), np.asarray(img.transpose(Image.Transpose.ROTATE_270)))


def test_max_pixels_checked_on_header_before_decoding(tmp_path: Path) -> None:
    data = _png(_rgb(100, 100))
    truncated = tmp_path / "big.png"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageTooLargeError, match=r"100x100 = 10000 pixels, more than max_pixels=5000") as info:
        decode_rgb(truncated, max_pixels=5000)
    assert info.value.source == str(truncated)
    with pytest.raises(ImageDecodeError, match="truncated"):
        decode_rgb(truncated, max_pixels=None)
    assert decode_rgb(data, max_pixels=10_000).size == (100, 100)
    with pytest.raises(ImageTooLargeError):
        decode_rgb(np.zeros((100, 100, 3), np.uint8), max_pixels=9_999)


def test_too_large_advice_ends_both_too_large_messages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(_png(_rgb(100, 100)))
    with pytest.raises(ImageTooLargeError, match=r"big.png: is 100x100 = 10000 pixels, more than max_pixels=5000; "
                                                 r"raise max_pixels \(None: no limit; .*\) to allow it$"):
        decode_rgb(path, max_pixels=5000)
    with pytest.raises(ImageTooLargeError, match=r"more than max_pixels=5000; downscale it$"):
        decode_rgb(path, max_pixels=5000, too_large_advice="downscale it")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow refuses 10000 pixels on opening the file
    with pytest.raises(ImageTooLargeError, match=r"big.png: is larger than Pillow's decompression-bomb limit "
                                                 r"\(.*\); raise max_pixels \(.*\) to allow such images$"):
        decode_rgb(path, max_pixels=None)
    with pytest.raises(ImageTooLargeError, match=r"decompression-bomb limit \(.*\); downscale it$"):
        decode_rgb(path, max_pixels=None, too_large_advice="downscale it")


def test_pillow_bomb_limit_is_reported_and_can_be_lifted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    data = _png(_rgb(100, 100))  # 10000 pixels > 2 x Pillow's limit: Pillow refuses it
    with pytest.raises(ImageTooLargeError, match="Pillow's decompression-bomb limit"):
        decode_rgb(data, max_pixels=50_000)
    allow_pixels(50_000)
    assert Image.MAX_IMAGE_PIXELS == 50_000
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert decode_rgb(data, max_pixels=50_000).size == (100, 100)
    allow_pixels(10)  # never lowers
    assert Image.MAX_IMAGE_PIXELS == 50_000
    allow_pixels(None)
    assert Image.MAX_IMAGE_PIXELS is None


def test_too_small_names_the_minimum() -> None:
    assert min_side(CONTRACT) == 8
    with pytest.raises(ImageTooSmallError, match="is 20x7 pixels; the model needs at least 8 pixels"):
        prepare(_rgb(7, 20), CONTRACT)
    tiny = InputContract(min_size=1, scales=(Scale("full", 1), Scale("quarter", 4)))
    assert min_side(tiny) == 4
    with pytest.raises(ImageTooSmallError, match="at least 4"):
        prepare(_rgb(3, 20), tiny)
    assert [a.shape for a in prepare(_rgb(4, 9), tiny).scales] == [(3, 4, 9), (3, 1, 2)]


def test_decode_errors_name_the_source(tmp_path: Path) -> None:
    good = _png(_rgb(64, 64))
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image at all")
    (tmp_path / "cut.png").write_bytes(good[: len(good) - 3000])
    (tmp_path / "dir.png").mkdir()
    cases = {
        "missing.png": "no such file",
        "empty.png": "empty",
        "text.png": "not an image file",
        "cut.png": "truncated",
        "dir.png": "is a directory",
    }
    for name, message in cases.items():
        path = tmp_path / name
        with pytest.raises(ImageDecodeError, match=message) as info:
            decode_rgb(path)
        assert info.value.source == str(path)
        assert str(path) in str(info.value)
    with pytest.raises(ImageDecodeError, match="empty") as info:
        decode_rgb(b"")
    assert info.value.source == "<bytes 0>"
    with pytest.raises(ImageDecodeError, match="binary mode"), open(tmp_path / "text.png", encoding="utf-8") as fh:
        decode_rgb(fh)  # type: ignore[arg-type]


def test_files_are_closed(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(_png(_rgb()))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for _ in range(3):
            image = decode_rgb(path)
        del image
        gc.collect()  # an unclosed file warns (ResourceWarning) when it is collected
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


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
    img = _rgb()
    before = np.asarray(img).copy()
    to_scales(img, CONTRACT)
    np.testing.assert_array_equal(np.asarray(img), before)


@pytest.mark.parametrize(
    ("size", "max_side", "expected"),
    [((4000, 3000), 512, (512, 384)), ((3000, 4000), 512, (384, 512)), ((512, 100), 512, (512, 100)),
     ((1025, 3), 512, (512, 1)), ((20000, 10), 512, (512, 1)), ((640, 480), None, (640, 480))],
)
def test_fit_size_rule(size: tuple[int, int], max_side: int | None, expected: tuple[int, int]) -> None:
    assert fit_size(size, max_side) == expected


def _smooth(h: int, w: int) -> Image.Image:
    """A photo-like image (smooth gradients and a few edges) that JPEG keeps well."""
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    rgb = np.stack([np.sin(6 * x) * 0.5 + 0.5, np.cos(4 * y) * 0.5 + 0.5, (x + y) / 2], axis=-1)
    rgb[h // 3 : h // 2, w // 4 : w // 2] = (0.9, 0.1, 0.2)
    return Image.fromarray((rgb * 255).round().astype(np.uint8))


def test_max_side_downscales_png_bicubic_and_keeps_the_stored_size() -> None:
    img = _smooth(600, 1000)
    contract = InputContract(min_size=8, max_side=250)
    prepared = prepare(_png(img), contract)
    assert (prepared.width, prepared.height) == (1000, 600)  # the image's own size, as results report it
    small = img.resize((250, 150), Image.Resampling.BICUBIC)
    np.testing.assert_array_equal(prepared.scales[0], _official(small)[0])
    np.testing.assert_array_equal(prepared.scales[1], _official(small)[1])
    # no max_side: the official full-resolution computation, untouched
    assert prepare(_png(img), CONTRACT).scales[0].shape == (3, 600, 1000)


def test_max_side_decodes_jpeg_at_a_reduced_dct_scale_close_to_the_full_decode() -> None:
    img = _smooth(1200, 1600)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=95)
    fast = decode_rgb(buf.getvalue(), max_side=200)
    assert fast.size == (200, 150)
    full = decode_rgb(buf.getvalue()).resize((200, 150), Image.Resampling.BICUBIC)
    diff = np.abs(np.asarray(fast, dtype=np.int16) - np.asarray(full, dtype=np.int16))
    assert diff.mean() < 1.5 and np.percentile(diff, 99) < 8, (diff.mean(), np.percentile(diff, 99))
    with Image.open(io.BytesIO(buf.getvalue())) as probe:
        probe.draft("RGB", (200, 150))
        assert probe.size == (200, 150)  # Pillow decoded it at 1/8 scale: the speed this rule buys


def test_max_side_with_exif_rotation(tmp_path: Path) -> None:
    img = _smooth(300, 400)
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
        prepare(_png(_rgb(20, 400)), InputContract(min_size=8, max_side=64))


# --- inputs found by hostile testing (2026-12-05) -----------------------------------------------


class _Gone:
    """A file object that cannot seek and whose read fails (a device that went away)."""

    def read(self, n: int = -1) -> bytes:
        raise OSError("device gone")


class _Returns:
    """A file object that cannot seek and whose read returns ``value``."""

    def __init__(self, value: object) -> None:
        self.value = value

    def read(self, n: int = -1) -> object:
        return self.value


def test_unusable_paths_and_file_objects_are_image_errors(tmp_path: Path) -> None:
    closed = open(tmp_path / "c.png", "wb")  # noqa: SIM115
    closed.close()
    cases = [
        ("x\0y.jpg", "is not a usable file path (embedded null byte)"),
        (Path("x\0y.jpg"), "is not a usable file path (embedded null byte)"),
        ("\ud800.jpg", "is not a usable file path ("),
        (closed, "cannot be read (I/O operation on closed file"),
        (_Gone(), "cannot be read (device gone)"),
        (_Returns(None), "read() gave NoneType, not bytes; pass a binary file object"),
        (_Returns("text"), "is a text file object; open the file in binary mode ('rb')"),
    ]
    for image, message in cases:
        with pytest.raises(ImageDecodeError) as caught:
            decode_rgb(image)  # type: ignore[arg-type]
        assert message in str(caught.value), (image, str(caught.value))
    data = _png(_rgb())
    assert decode_rgb(_Returns(bytearray(data))).size == (50, 37)  # any bytes-like read() is used


def test_a_file_object_read_to_its_end_says_so() -> None:
    stream = io.BytesIO(_png(_rgb()))
    stream.read()  # read by someone else before
    with pytest.raises(ImageDecodeError, match=r"has no bytes left to read .*seek\(0\)"):
        decode_rgb(stream)
    stream.seek(0)
    assert decode_rgb(stream).size == (50, 37)


def test_a_file_object_is_read_from_where_it_is() -> None:
    first, second = _png(_rgb(seed=1)), _png(_rgb(20, 30, seed=2))
    stream = io.BytesIO(first + second)
    stream.seek(len(first))  # Pillow alone would seek back to the start and decode the first image
    np.testing.assert_array_equal(np.asarray(decode_rgb(stream)), np.asarray(decode_rgb(second)))
    stream.seek(len(first) + len(second) - 1)  # one byte left: no image, whatever came before
    with pytest.raises(ImageDecodeError, match="is not an image file"):
        decode_rgb(stream)


def test_eps_and_other_formats_outside_the_image_extensions_are_refused() -> None:
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\nshowpage\n"
    ico = io.BytesIO()
    _rgb(32, 32).save(ico, "ICO")
    for data in (eps, ico.getvalue()):
        with pytest.raises(ImageDecodeError, match="is not an image file in a format contrique-infer reads"):
            decode_rgb(data)


def _jpeg_of_height_0() -> bytes:
    buf = io.BytesIO()
    _rgb(16, 16).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")  # SOF0: marker, length (2), precision (1), height (2), width (2)
    data[sof + 5 : sof + 7] = b"\0\0"
    return bytes(data)


def _png_with_a_bad_header_checksum() -> bytes:
    data = bytearray(_png(_rgb(16, 16)))
    data[29] ^= 0xFF  # IHDR's CRC (after the signature, 8 bytes, and the chunk, 21 bytes)
    return bytes(data)


DAMAGED_HEADERS = {  # first bytes of a format, then a header Pillow's plugin for it cannot read
    "JPEG": (_jpeg_of_height_0(), "it gives no image size, a size of 0, or no colour mode"),
    "PNG": (_png_with_a_bad_header_checksum(), "broken PNG file (bad header checksum in b'IHDR')"),
    "TIFF": (b"II*\0\x08\0\0\0\0\0\0\0\0\0", "Missing dimensions"),
    "GIF": (b"GIF89a\0", None),
    "BMP": (b"BM\0\0\0", None),
    "WEBP": (b"RIFF\0\0\0\0WEBPxxxx", "not a WEBP file"),
}


@pytest.mark.parametrize("fmt", sorted(DAMAGED_HEADERS))
def test_a_file_with_a_formats_first_bytes_and_a_damaged_header_is_called_damaged(tmp_path: Path, fmt: str) -> None:
    # a JPEG whose frame header says height 0 was "not an image file in a format contrique-infer reads (..., JPEG, ...)"
    data, reason = DAMAGED_HEADERS[fmt]
    path = tmp_path / "photo.img"
    path.write_bytes(data)
    stream = io.BytesIO(b"junk" + data)
    stream.seek(4)  # read from where it is: the format's first bytes
    for image in (path, data, stream):
        with pytest.raises(ImageDecodeError) as caught:
            decode_rgb(image)
        message = caught.value.reason
        assert message.startswith(f"is a {fmt} file (by its first bytes) whose header cannot be read: ")
        assert message.endswith("; the file is damaged") and "format contrique-infer reads" not in message
        if reason is not None:
            assert message == f"is a {fmt} file (by its first bytes) whose header cannot be read: {reason}; the file is damaged"


@pytest.mark.parametrize("data", [b"RIFF\x04\0\0\0AVI LIST", b"GIF7 is no GIF", b"II+\0 nor a TIFF", b"\xff\xd8 almost"])
def test_a_file_without_a_formats_first_bytes_is_still_not_an_image(data: bytes) -> None:
    with pytest.raises(ImageDecodeError, match=r": is not an image file in a format contrique-infer reads \(AVIF, "):
        decode_rgb(data)


def test_a_lazy_pil_image_is_not_changed_and_is_decoded_whole(tmp_path: Path) -> None:
    path = tmp_path / "big.jpg"
    _smooth(600, 800).save(path, "JPEG", quality=90)
    contract = InputContract(min_size=8, max_side=100)
    with Image.open(path) as lazy:
        prepared = prepare(lazy, contract)
        assert lazy.size == (800, 600)  # no reduced-scale draft on the caller's image
        with Image.open(path) as loaded:
            loaded.load()
            np.testing.assert_array_equal(prepared.scales[0], prepare(loaded, contract).scales[0])
    assert (prepared.width, prepared.height) == (800, 600)


def test_exif_turn_of_a_nearly_square_jpeg_decoded_at_reduced_scale(tmp_path: Path) -> None:
    # 2048x2041 decoded at 1/8 scale is 256x256: the turn must come from the tag, not the decoded shape.
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "turned.jpg"
    _smooth(2041, 2048).save(path, "JPEG", quality=90, exif=exif.tobytes())
    assert decode_rgb(path, apply_exif=True, max_side=256).size == (255, 256)
    prepared = prepare(path, InputContract(min_size=8, max_side=256), apply_exif=True)
    assert (prepared.width, prepared.height) == (2041, 2048)
    assert decode_rgb(path, max_side=256).size == (256, 255)  # as stored without apply_exif
