"""Tests of contrique_infer.decoding: decoding, RGB conversion, the size guards and unusable inputs."""

from __future__ import annotations

import gc
import io
import os
import struct
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
from image_fixtures import png, png_bytes, rgb, smooth
from PIL import Image, ImageOps
from PIL import __version__ as PILLOW_VERSION

from contrique_infer.decoding import (
    allow_pixels,
    check_header,
    decode_rgb,
    decode_with_size,
    describe,
    fit_size,
)
from contrique_infer.errors import (
    ContriqueError,
    ImageDecodeError,
    ImageTooLargeError,
    ImageTypeError,
)


def test_descriptions() -> None:
    assert describe(b"abc") == "<bytes 3>"
    assert describe(Image.new("RGB", (2, 2))) == "<PIL image>"
    assert describe(np.zeros((4, 5, 3), np.uint8)) == "<array (4, 5, 3)>"
    assert describe(io.BytesIO(b"")) == "<file object>"
    assert describe(Path("a/b.png")) == str(Path("a/b.png"))


def test_sixteen_bit_png_equals_eight_bit_scaled(tmp_path: Path) -> None:
    gray8 = np.random.default_rng(3).integers(0, 256, (20, 30), dtype=np.uint8)
    sixteen = Image.fromarray(gray8.astype(np.uint16) * 257)
    assert sixteen.mode == "I;16"
    path = tmp_path / "g16.png"
    sixteen.save(path)
    with Image.open(path) as reopened:
        assert reopened.mode.startswith("I")
    want = np.asarray(Image.fromarray(gray8).convert("RGB"))
    np.testing.assert_array_equal(np.asarray(decode_rgb(path)), want)
    # I;16 keeps the high byte (as Pillow reads 16-bit colour); mode I (32-bit, 16-bit PGM) rounds v / 257
    values = np.array([[0, 128, 129, 255, 32767, 32768, 65279, 65535]], dtype=np.uint16)
    assert np.asarray(decode_rgb(Image.fromarray(values)))[0, :, 0].tolist() == [0, 0, 0, 0, 127, 128, 254, 255]
    rounded = np.asarray(decode_rgb(Image.fromarray(values.astype(np.int32))))[0, :, 0]
    assert rounded.tolist() == [0, 0, 1, 1, 127, 128, 254, 255]


def test_sixteen_bit_grey_png_decodes_as_the_same_grey_in_a_sixteen_bit_colour_png(tmp_path: Path) -> None:
    values = np.random.default_rng(5).integers(0, 65536, (30, 40)).astype(">u2")  # not 8-bit values x 257
    grey, colour = tmp_path / "grey16.png", tmp_path / "rgb16.png"
    grey.write_bytes(png_bytes(40, 30, 16, 0, b"".join(b"\0" + row.tobytes() for row in values)))
    colour.write_bytes(png_bytes(40, 30, 16, 2, b"".join(b"\0" + np.repeat(row, 3).tobytes() for row in values)))
    with Image.open(grey) as img:
        assert img.mode.startswith("I;16")
    np.testing.assert_array_equal(np.asarray(decode_rgb(grey)), np.asarray(decode_rgb(colour)))
    np.testing.assert_array_equal(np.asarray(decode_rgb(grey))[..., 0], (values >> 8).astype(np.uint8))


def _palette(transparency: bool) -> Image.Image:
    img = rgb(12, 10).quantize(16)
    if transparency:
        img.info["transparency"] = bytes(range(0, 256, 16))
    return img


@pytest.mark.parametrize(
    "make",
    [
        lambda: rgb().convert("L"),
        lambda: rgb().convert("1"),
        lambda: rgb().convert("LA"),
        lambda: rgb().convert("RGBA"),
        lambda: rgb().convert("CMYK"),
        lambda: rgb().convert("YCbCr"),
        lambda: rgb().convert("L").convert("F"),
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
    rgba = rgb().convert("RGBA")
    rgba.putalpha(Image.new("L", rgba.size, 7))
    (tmp_path / "a.png").write_bytes(png(rgba))
    np.testing.assert_array_equal(np.asarray(decode_rgb(tmp_path / "a.png")), np.asarray(rgba.convert("RGB")))
    cmyk = rgb().convert("CMYK")
    cmyk.save(tmp_path / "c.jpg", quality=95)
    with Image.open(tmp_path / "c.jpg") as decoded:
        np.testing.assert_array_equal(np.asarray(decode_rgb(tmp_path / "c.jpg")), np.asarray(decoded.convert("RGB")))


def test_arrays() -> None:
    gray = np.random.default_rng(1).integers(0, 256, (10, 12), dtype=np.uint8)
    np.testing.assert_array_equal(np.asarray(decode_rgb(gray)), np.repeat(gray[:, :, None], 3, axis=2))
    np.testing.assert_array_equal(np.asarray(decode_rgb(gray[:, :, None])), np.asarray(decode_rgb(gray)))
    rgba = np.random.default_rng(2).integers(0, 256, (10, 12, 4), dtype=np.uint8)
    np.testing.assert_array_equal(np.asarray(decode_rgb(rgba)), rgba[:, :, :3])
    strided = np.asarray(rgb())[:, ::-1]  # not contiguous
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
    img = rgb(30, 40)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "o.png"
    path.write_bytes(png(img, exif=exif.tobytes()))
    np.testing.assert_array_equal(np.asarray(decode_rgb(path)), np.asarray(img))
    rotated = decode_rgb(path, apply_exif=True)
    assert rotated.size == (30, 40)
    np.testing.assert_array_equal(np.asarray(rotated), np.asarray(img.transpose(Image.Transpose.ROTATE_270)))


def test_max_pixels_checked_on_header_before_decoding(tmp_path: Path) -> None:
    data = png(rgb(100, 100))
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
    path.write_bytes(png(rgb(100, 100)))
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
    data = png(rgb(100, 100))  # 10000 pixels > 2 x Pillow's limit: Pillow refuses it
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


def test_decode_errors_name_the_source(tmp_path: Path) -> None:
    good = png(rgb(64, 64))
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
    path.write_bytes(png(rgb()))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for _ in range(3):
            image = decode_rgb(path)
        del image
        gc.collect()  # an unclosed file warns (ResourceWarning) when it is collected
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []


@pytest.mark.parametrize(
    ("size", "max_side", "expected"),
    [((4000, 3000), 512, (512, 384)), ((3000, 4000), 512, (384, 512)), ((512, 100), 512, (512, 100)),
     ((1025, 3), 512, (512, 1)), ((20000, 10), 512, (512, 1)), ((640, 480), None, (640, 480))],
)
def test_fit_size_rule(size: tuple[int, int], max_side: int | None, expected: tuple[int, int]) -> None:
    assert fit_size(size, max_side) == expected


def test_max_side_decodes_a_jpeg_file_whole_as_it_does_the_same_pil_image(tmp_path: Path) -> None:
    """A JPEG file is decoded whole, then downscaled: the pixels of the same file given as a PIL image
    or an array. Pillow's reduced-scale decode (``draft``, once used here for speed) gave a 1024x768
    JPEG of photo crops 15 to 22 points less ``quality`` on the default model than its PIL image."""
    path = tmp_path / "big.jpg"
    smooth(1200, 1600).save(path, "JPEG", quality=95)
    with Image.open(path) as loaded:
        loaded.load()
        want = np.asarray(loaded.resize((200, 150), Image.Resampling.BICUBIC))
        for image in (path, path.read_bytes(), loaded, np.asarray(loaded)):
            np.testing.assert_array_equal(np.asarray(decode_rgb(image, max_side=200)), want)


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
    data = png(rgb())
    assert decode_rgb(_Returns(bytearray(data))).size == (50, 37)  # any bytes-like read() is used


def test_a_file_object_read_to_its_end_says_so() -> None:
    stream = io.BytesIO(png(rgb()))
    stream.read()  # read by someone else before
    with pytest.raises(ImageDecodeError, match=r"has no bytes left to read .*seek\(0\)"):
        decode_rgb(stream)
    stream.seek(0)
    assert decode_rgb(stream).size == (50, 37)


def test_a_file_object_is_read_from_where_it_is() -> None:
    first, second = png(rgb(seed=1)), png(rgb(20, 30, seed=2))
    stream = io.BytesIO(first + second)
    stream.seek(len(first))  # Pillow alone would seek back to the start and decode the first image
    np.testing.assert_array_equal(np.asarray(decode_rgb(stream)), np.asarray(decode_rgb(second)))
    stream.seek(len(first) + len(second) - 1)  # one byte left: no image, whatever came before
    with pytest.raises(ImageDecodeError, match="is not an image file"):
        decode_rgb(stream)


def test_eps_and_other_formats_outside_the_image_extensions_are_refused() -> None:
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\nshowpage\n"
    ico = io.BytesIO()
    rgb(32, 32).save(ico, "ICO")
    for data in (eps, ico.getvalue()):
        with pytest.raises(ImageDecodeError, match="is not an image file in a format contrique-infer reads"):
            decode_rgb(data)


def _jpeg_of_height_0() -> bytes:
    buf = io.BytesIO()
    rgb(16, 16).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    sof = data.index(b"\xff\xc0")  # SOF0: marker, length (2), precision (1), height (2), width (2)
    data[sof + 5 : sof + 7] = b"\0\0"
    return bytes(data)


def _png_with_a_bad_header_checksum() -> bytes:
    data = bytearray(png(rgb(16, 16)))
    data[29] ^= 0xFF  # IHDR's CRC (after the signature, 8 bytes, and the chunk, 21 bytes)
    return bytes(data)


DAMAGED_HEADERS = {  # first bytes of a format, then a header Pillow's plugin for it cannot read
    "JPEG": (_jpeg_of_height_0(), "it gives no image size, a size of 0, or no colour mode"),
    "PNG": (_png_with_a_bad_header_checksum(), "broken PNG file (bad header checksum in b'IHDR')"),
    "TIFF": (b"II*\0\x08\0\0\0\0\0\0\0\0\0", "Missing dimensions"),
    "GIF": (b"GIF89a\0", None),
    "BMP": (b"BM\0\0\0", None),
    "WEBP": (b"RIFF\0\0\0\0WEBPxxxx", "not a WEBP file" if tuple(map(int, PILLOW_VERSION.split(".")[:2])) >= (12, 3)
             else "could not create decoder object"),  # Pillow's reason, in its words before 12.3
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


# --- found by hostile testing (2026-12-06, seventh round) ---------------------------------------


def test_exif_orientation_is_applied_without_writing_the_exif_data_again(tmp_path: Path) -> None:
    """ImageOps.exif_transpose writes the EXIF data out again, which fails on an entry whose type does not
    fit its value (RowsPerStrip holding text): such a file was 'truncated or corrupt' with apply_exif only."""
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x0131] = "Software"
    raw = exif.tobytes()
    damaged = raw.replace(b"\x01\x31\x00\x02", b"\x01\x16\x00\x02")  # Software (0x131) becomes RowsPerStrip
    assert damaged != raw
    img = rgb(30, 40)
    for fmt in ("JPEG", "PNG", "WEBP"):
        buf = io.BytesIO()
        img.save(buf, fmt, exif=damaged, **({"lossless": True} if fmt == "WEBP" else {}))
        with Image.open(buf) as opened:
            assert opened.getexif()[0x0112] == 6
            with pytest.raises(struct.error):
                ImageOps.exif_transpose(opened)
        rgb_image, size = decode_with_size(buf.getvalue(), apply_exif=True)
        assert size == (30, 40) == rgb_image.size
        want = decode_rgb(buf.getvalue()).transpose(Image.Transpose.ROTATE_270)
        np.testing.assert_array_equal(np.asarray(rgb_image), np.asarray(want), err_msg=fmt)


class _PathOf:
    """An os.PathLike whose __fspath__ gives ``value``, or raises it."""

    def __init__(self, value: object) -> None:
        self.value = value

    def __fspath__(self) -> object:
        if isinstance(self.value, Exception):
            raise self.value
        return self.value


os.PathLike.register(_PathOf)


def test_a_path_object_whose_fspath_fails_is_an_image_type_error(tmp_path: Path) -> None:
    """os.fspath raised out of describe and decoding: score_many's fallback, describe, raised again."""
    for bad, why in [(_PathOf(42), "TypeError: expected _PathOf.__fspath__() to return str or bytes, not int"),
                     (_PathOf(RuntimeError("boom")), "RuntimeError: boom")]:
        assert describe(bad) == "<_PathOf>"
        for check in (decode_rgb, check_header):
            with pytest.raises(ImageTypeError) as refused:
                check(bad)  # type: ignore[arg-type]
            assert isinstance(refused.value, ContriqueError) and isinstance(refused.value, TypeError)
            assert str(refused.value) == (f"<_PathOf>: cannot use _PathOf as an image path: its __fspath__() failed "
                                          f"({why}); pass the path as a str or a pathlib.Path")
    path = tmp_path / "x.png"
    path.write_bytes(png(rgb()))
    assert describe(_PathOf(os.fsencode(path))) == str(path)  # a path of bytes is named as text
    assert decode_rgb(_PathOf(os.fsencode(path))).size == (50, 37)  # type: ignore[arg-type]


class _Unnamed(io.BytesIO):
    """A file object whose ``name`` property raises."""

    @property
    def name(self) -> str:
        raise RuntimeError("no name")


def test_an_input_whose_own_code_fails_as_it_is_named_is_that_inputs_error() -> None:
    released = memoryview(png(rgb()))
    released.release()
    assert (describe(released), describe(_Unnamed(png(rgb())))) == ("<memoryview>", "<_Unnamed>")
    with pytest.raises(ImageDecodeError, match=r"^<memoryview>: cannot be read \(operation forbidden on released "):
        decode_rgb(released)
    assert decode_rgb(_Unnamed(png(rgb()))).size == (50, 37)


def _jpeg_with_frame_byte(offset: int, value: int) -> bytes:
    """A JPEG whose frame header (SOF0) has byte ``offset`` after its marker set to ``value``: 4 is the
    sample precision, 9 the number of components."""
    buf = io.BytesIO()
    rgb(16, 16).save(buf, "JPEG")
    data = bytearray(buf.getvalue())
    data[data.index(b"\xff\xc0") + offset] = value
    return bytes(data)


@pytest.mark.parametrize(("offset", "value", "reason"), [(4, 12, "cannot handle 12-bit layers"),
                                                         (9, 2, "cannot handle 2-layer images")])
def test_a_variant_pillow_cannot_decode_is_not_called_damaged(offset: int, value: int, reason: str) -> None:
    """A valid 12-bit JPEG was 'a JPEG file (by its first bytes) whose header cannot be read: cannot handle
    12-bit layers; the file is damaged'."""
    with pytest.raises(ImageDecodeError) as refused:
        decode_rgb(_jpeg_with_frame_byte(offset, value))
    assert refused.value.reason == (f"is a JPEG file of a kind Pillow cannot decode ({reason}); convert it to an "
                                    "8-bit PNG or JPEG with another tool, and score that")


@pytest.mark.parametrize(("offset", "reason"), [(4, "cannot handle 0-bit layers"), (9, "cannot handle 0-layer images")])
def test_a_variant_no_file_can_be_is_still_called_damaged(offset: int, reason: str) -> None:
    with pytest.raises(ImageDecodeError) as refused:
        decode_rgb(_jpeg_with_frame_byte(offset, 0))
    assert refused.value.reason == (f"is a JPEG file (by its first bytes) whose header cannot be read: {reason}; "
                                    "the file is damaged")


def test_arrays_and_sixteen_bit_images_decode_without_a_warning(tmp_path: Path) -> None:
    """Naming the mode in Image.fromarray warned (DeprecationWarning) under Pillow 11.3, the lowest
    version the project declares: an error where a user's tests turn warnings into errors."""
    path = tmp_path / "g16.png"
    Image.fromarray(np.full((20, 30), 300, np.uint16)).save(path)
    arrays = [np.zeros((20, 30), np.uint8), np.zeros((20, 30, 1), np.uint8), np.zeros((20, 30, 3), np.uint8),
              np.zeros((20, 30, 4), np.uint8)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        decoded = [np.asarray(decode_rgb(image)) for image in (*arrays, path)]
    assert [d.shape for d in decoded] == [(20, 30, 3)] * 5 and decoded[-1].max() == 1  # 300 >> 8


def test_a_closed_pil_image_says_so(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    path.write_bytes(png(rgb(16, 16)))
    for load_first in (False, True):
        image = Image.open(path)
        if load_first:
            image.load()
        image.close()
        with pytest.raises(ImageDecodeError, match="is a closed PIL image: score it before closing it"):
            decode_rgb(image)
    with pytest.raises(ImageDecodeError, match=r"expected HxW, HxWx1, HxWx3 or HxWx4"):
        decode_rgb(np.zeros((8, 8, 2), np.uint8))


def test_a_premultiplied_grey_pil_image_is_converted_as_premultiplied_colour_is() -> None:
    """A La image (grey, premultiplied alpha) was refused (`image mode La cannot be converted to RGB`), though
    Pillow converts it to LA, undoing the premultiplication, as it converts RGBa straight to RGB."""
    rgba = rgb(12, 16).convert("RGBA")
    rgba.putalpha(Image.fromarray(np.random.default_rng(3).integers(0, 256, (12, 16), dtype=np.uint8)))
    la = rgba.convert("LA").convert("La")
    np.testing.assert_array_equal(np.asarray(decode_rgb(la)), np.asarray(la.convert("LA").convert("RGB")))
    premultiplied = rgba.convert("RGBa")
    np.testing.assert_array_equal(np.asarray(decode_rgb(premultiplied)), np.asarray(premultiplied.convert("RGB")))
    opaque = rgb(12, 16).convert("L")
    np.testing.assert_array_equal(np.asarray(decode_rgb(opaque.convert("LA").convert("La"))),
                                  np.asarray(decode_rgb(opaque)))


def test_a_float_image_holding_nan_values_is_refused(tmp_path: Path) -> None:
    """Pillow turns the NaN values of a mode F image into black pixels: such an image (in memory, or a float
    TIFF) was scored without a word. Infinities and values beyond 0..255 are clipped, as before."""
    values = np.asarray(rgb(12, 16).convert("L"), np.float32)
    values[2:4, 5] = np.nan
    image = Image.fromarray(values)
    image.save(tmp_path / "nan.tif")
    for given in (image, tmp_path / "nan.tif"):
        with pytest.raises(ImageDecodeError) as refused:
            decode_rgb(given)
        assert refused.value.reason == ("is a floating-point (mode F) image holding 2 NaN values of 192, which "
                                        "have no brightness; replace them (numpy.nan_to_num, say) and score it again")
    values[2:4, 5] = [np.inf, -np.inf]
    assert np.asarray(decode_rgb(Image.fromarray(values)))[2:4, 5, 0].tolist() == [255, 0]


def test_a_text_file_object_is_refused_as_one(tmp_path: Path) -> None:
    """A file opened in text mode (UTF-8, the usual default) said `cannot be read ('utf-8' codec can't
    decode byte 0x89 ...)`: Python's decoding error, not what to do."""
    path = tmp_path / "a.png"
    path.write_bytes(png(rgb()))
    with open(path, encoding="utf-8") as text:
        with pytest.raises(ImageDecodeError) as refused:
            decode_rgb(text)  # type: ignore[arg-type]
        assert refused.value.reason == "is a text file object; open the file in binary mode ('rb')"
        assert text.tell() == 0  # refused unread


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_file_object_of_a_device_is_refused_unread() -> None:
    """open('/dev/zero', 'rb') as an image was read until the memory ran out (a path to it is refused);
    a terminal's file object would wait for input for ever."""
    with open("/dev/zero", "rb") as device:
        with pytest.raises(ImageDecodeError) as refused:
            decode_rgb(device)
    assert refused.value.source == "/dev/zero"
    assert refused.value.reason.startswith("is a character device, whose reading may never end (/dev/zero) or "
                                           "wait for input (a terminal), so it is not read; pass an image file")
    read, write = os.pipe()  # a pipe ends when its writer does: read
    os.write(write, png(rgb()))
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        assert decode_rgb(pipe).size == (50, 37)


def test_a_pil_image_whose_file_was_closed_before_it_was_loaded_says_so(tmp_path: Path) -> None:
    """`with open(p, 'rb') as f: im = Image.open(f)`, scored after the block (or a closed BytesIO), was
    `cannot be decoded, the file is truncated or corrupt (seek of closed file)`: the file is whole."""
    path = tmp_path / "a.png"
    path.write_bytes(png(rgb()))
    with open(path, "rb") as fh:
        from_file = Image.open(fh)
    buffer = io.BytesIO(png(rgb()))
    from_bytes = Image.open(buffer)
    buffer.close()
    for image in (from_file, from_bytes):
        with pytest.raises(ImageDecodeError) as refused:
            decode_rgb(image)
        assert refused.value.reason == ("is a PIL image whose file was closed before its pixels were read "
                                        "(Image.open reads them only when needed): score it before the file is "
                                        "closed, call its load() first, or open the file again")
    with open(path, "rb") as fh:
        loaded = Image.open(fh)
        loaded.load()
    assert decode_rgb(loaded).size == (50, 37)  # loaded before its file was closed: fine


def test_a_pil_image_whose_file_was_written_over_before_it_was_loaded_says_so(tmp_path: Path) -> None:
    """`im = Image.open(p)`, then `p` written over in place (same file, new bytes) before `im` was scored,
    was `cannot be decoded, the file is truncated or corrupt (unrecognized data stream contents ...)`:
    Pillow reads the new bytes at the old offsets. Now the header the file holds is compared with the one
    opened; a file damaged as it was opened, or renamed over (the old file is read, whole), is as before."""
    path, other = tmp_path / "a.png", tmp_path / "b.png"
    original, smaller = png(rgb()), png(rgb(20, 30))
    junk = b"not an image" * 9
    for written, held in ((b"", "nothing (0 bytes)"), (smaller, "a 30x20 PNG (RGB)"),
                          (junk, "no image header (108 bytes at its start)")):
        path.write_bytes(original)
        image = Image.open(path)
        with open(path, "r+b") as fh:  # in place: the file Pillow holds open
            fh.truncate(0)
            fh.write(written)
        with pytest.raises(ImageDecodeError) as refused:
            decode_rgb(image)
        assert refused.value.reason == (f"is a PIL image whose file {path} was written over after Image.open, before "
                                        f"its pixels were read: it was opened as a 50x37 PNG (RGB), and the file now "
                                        f"holds {held}; open it again (or call load() before the file can change)")
    path.write_bytes(original[: len(original) // 2])  # damaged as opened: the same header now as then
    damaged = Image.open(path)
    with pytest.raises(ImageDecodeError, match="the file is truncated or corrupt"):
        decode_rgb(damaged)
    damaged = Image.open(path)
    other.write_bytes(smaller)
    os.replace(other, path)  # renamed over: the path names another file; the damaged one was read
    with pytest.raises(ImageDecodeError, match="the file is truncated or corrupt"):
        decode_rgb(damaged)
    path.write_bytes(original)
    image = Image.open(path)
    other.write_bytes(smaller)
    os.replace(other, path)
    assert decode_rgb(image).size == (50, 37)  # renamed over a whole file: the old file is read, whole


def test_a_file_object_read_from_past_the_start_of_an_image_file_says_where() -> None:
    """A file object whose first bytes the caller had read (to check its type, say) was `is not an image
    file ...`: the file is an image, read from where the object was."""
    stream = io.BytesIO(png(rgb()))
    stream.read(8)
    with pytest.raises(ImageDecodeError) as refused:
        decode_rgb(stream)
    assert refused.value.reason == ("is not an image file in a format contrique-infer reads (AVIF, BMP, DIB, GIF, "
                                    "JPEG, JPEG2000, PNG, PPM, TGA, TIFF, WEBP); it was read from byte 8, where the "
                                    "file object was, and a PNG file begins at its start: seek(0) before scoring it")
    assert stream.tell() == stream.getbuffer().nbytes  # left where reading it leaves it
    stream.seek(0)
    assert decode_rgb(stream).size == (50, 37)
    text = io.BytesIO(b"a header of the caller's own, then no image")
    text.read(9)
    with pytest.raises(ImageDecodeError) as refused:
        decode_rgb(text)
    assert refused.value.reason.endswith("(AVIF, BMP, DIB, GIF, JPEG, JPEG2000, PNG, PPM, TGA, TIFF, WEBP)")


def test_arrays_that_hold_no_pixels_say_what_they_may_hold() -> None:
    """A channel-first array (3 x H x W) and an encoded file's bytes in an array (numpy.frombuffer: 1-D;
    cv2.imencode: one column, which was taken for an image 1 pixel wide) said only what shapes are wanted."""
    image = np.asarray(rgb(12, 16))
    cases = [
        (image.transpose(2, 0, 1), "array shape (3, 12, 16) is not an image (channels first, C x H x W, as torch "
                                   "tensors hold them: pass array.transpose(1, 2, 0)); expected HxW, HxWx1, HxWx3 "
                                   "or HxWx4"),
        (np.frombuffer(png(rgb()), np.uint8), "holds the bytes of a PNG file (as cv2.imencode or numpy.frombuffer "
                                              "give them), not pixels: pass array.tobytes()"),
        (np.frombuffer(png(rgb()), np.uint8)[:, None], "holds the bytes of a PNG file (as cv2.imencode or "
                                                       "numpy.frombuffer give them), not pixels: pass array.tobytes()"),
        (np.zeros(40, np.uint8), "array shape (40,) is not an image (a file's bytes in an array? pass "
                                 "array.tobytes()); expected HxW, HxWx1, HxWx3 or HxWx4"),
    ]
    for array, reason in cases:
        with pytest.raises(ImageDecodeError) as refused:
            decode_rgb(array)
        assert refused.value.reason == reason
    np.testing.assert_array_equal(np.asarray(decode_rgb(image.transpose(2, 0, 1).transpose(1, 2, 0))), image)
    assert decode_rgb(np.zeros((40, 1), np.uint8)).size == (1, 40)  # a column of pixels stays an image


def test_a_missing_path_that_is_a_url_or_starts_with_a_tilde_says_so() -> None:
    """A URL or an unexpanded ~ path was `no such file`, with no word of why."""
    cases = {
        "https://example.com/a.jpg": "no such file (a URL: images are read from local files only; download it, "
                                     "and pass the file or its bytes)",
        "file://host/tmp/a.jpg": "no such file (a URL: images are read from local files only; download it, and "
                                 "pass the file or its bytes)",
        # a local file's URL was told to be downloaded; Spark's binaryFile paths (file:/...) had no hint at all
        "file:///tmp/a.jpg": "no such file (a file: URL, as Spark writes paths; files are opened by their path: "
                             "pass '/tmp/a.jpg')",
        "file:/tmp/a%20b.jpg": "no such file (a file: URL, as Spark writes paths; files are opened by their path: "
                               "pass '/tmp/a b.jpg')",
        "~/contrique-no-such-photo.jpg": "no such file (~ is not expanded to the home folder here: pass "
                                         "os.path.expanduser(path))",
        "contrique-no-such-photo.jpg": "no such file",
        # `contrique-score -- a.png --format csv`: the options after -- were images, 'no such file'
        "--format": "no such file (an option's name? on the command line every argument after -- is an image: "
                    "put options before --)",
        "-": "no such file",
    }
    for path, reason in cases.items():
        with pytest.raises(ImageDecodeError) as refused:
            decode_rgb(path)
        assert refused.value.reason == reason


def test_a_list_or_another_librarys_array_given_as_one_image_says_what_to_pass() -> None:
    """score([path]) and score(torch_tensor) said `cannot use list as an image: pass a path, ...`, as for None."""

    class Tensor:  # what torch, JAX and TensorFlow arrays offer numpy
        def __array__(self, dtype: object = None, copy: object = None) -> np.ndarray:
            return np.zeros((8, 8, 3), np.uint8)

    cases = [
        (["a.png"], "cannot use list as an image (a list of images is scored by score_many, each image by score): "),
        (iter(["a.png"]), "cannot use list_iterator as an image (a list of images is scored by score_many, each "
                          "image by score): "),
        (Tensor(), "cannot use Tensor as an image (an array of another library: pass numpy.asarray(x), uint8 values "
                   "0..255 laid out H x W x C): "),
        (None, "cannot use NoneType as an image: "),
        (("a.png", 3), "cannot use tuple as an image: "),  # a (path, label) pair of a data set: no list of images
    ]
    for value, start in cases:
        with pytest.raises(ImageTypeError) as refused:
            decode_rgb(value)  # type: ignore[arg-type]
        assert refused.value.reason.startswith(start)
        assert refused.value.reason.endswith(": pass a path, bytes, a binary file object, a PIL image or a uint8 NumPy "
                                             "array")


def test_exif_data_that_cannot_be_read_scores_the_image_as_stored_with_a_warning() -> None:
    """With apply_exif, a PNG (eXIf chunk) or WebP (EXIF chunk) whose EXIF data is no TIFF structure, or a PIL
    image whose info['exif'] is junk, was `cannot be decoded, the file is truncated or corrupt (not a TIFF file
    ...)`, though the file is whole and scored without apply_exif (a JPEG's unreadable EXIF block is ignored)."""
    image = rgb(12, 16)
    for fmt, options in (("PNG", {}), ("WEBP", {"lossless": True})):
        out = io.BytesIO()
        image.save(out, fmt, exif=b"garbage!", **options)
        with pytest.warns(UserWarning, match=r"^its EXIF data cannot be read \(not a TIFF file .*\), so its "
                                             r"orientation is unknown: it is scored as stored, not turned$"):
            turned = decode_rgb(out.getvalue(), apply_exif=True)
        np.testing.assert_array_equal(np.asarray(turned), np.asarray(image))
    junk = image.copy()
    junk.info["exif"] = "not bytes"
    with pytest.warns(UserWarning, match="its EXIF data cannot be read"):
        assert decode_rgb(junk, apply_exif=True).size == (16, 12)
    listed = image.copy()
    listed.getexif()[0x0112] = [6]  # no orientation value: as stored, as orientation 9
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(np.asarray(decode_rgb(listed, apply_exif=True)), np.asarray(image))


def test_sixteen_and_32_bit_grey_convert_in_their_own_width() -> None:
    """16-bit grey (I;16, I;16B) and 32-bit integer (I) images were converted through three int64 copies of
    the image: 17 bytes a pixel (a 25 MP 16-bit PNG took 310 MB more at its peak than the 8-bit image). The
    pixels are those of before: v >> 8, and round(v / 257) clipped to 0..65535."""
    grey = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    for mode, order in (("I;16", "<u2"), ("I;16B", ">u2")):
        image = Image.frombytes(mode, (256, 256), grey.astype(order).tobytes())
        np.testing.assert_array_equal(np.asarray(decode_rgb(image))[:, :, 0], (grey >> 8).astype(np.uint8))
    wide = np.array([[-70000, -1, 0, 128, 129, 257 * 100 + 128, 65535, 70000, 2**31 - 1]], np.int32)
    expected = np.round(np.clip(wide, 0, 65535) / 257).astype(np.uint8)
    np.testing.assert_array_equal(np.asarray(decode_rgb(Image.fromarray(wide)))[:, :, 0], expected)
    big = np.random.default_rng(6).integers(0, 65536, (1000, 1000))
    # 4 and 8 bytes a pixel with Pillow 11.3 and 13 alike; 17 before
    for image, most in ((Image.fromarray(big.astype(np.uint16)), 6), (Image.fromarray(big.astype(np.int32)), 10)):
        image.load()
        tracemalloc.start()
        try:
            decode_rgb(image)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < most * big.size, (image.mode, peak / big.size)


def test_a_missing_path_that_exists_once_stripped_says_so(tmp_path: Path) -> None:
    """Paths read from a file with readlines() keep their new line: each was `no such file`, with no word of
    the new line (which the file name, printed, hides)."""
    path = tmp_path / "a.png"
    path.write_bytes(png(rgb()))
    for spelt in (f"{path}\n", f"{path}\r\n", f" {path}"):
        with pytest.raises(ImageDecodeError) as refused:
            decode_rgb(spelt)
        assert refused.value.reason == ("no such file (it begins or ends with white space, such as the new line of a "
                                        f"line read from a file, and {str(path)!r} exists: strip the paths)")
    with pytest.raises(ImageDecodeError) as refused:
        decode_rgb(f"{tmp_path / 'b.png'}\n")
    assert refused.value.reason == "no such file"


def test_a_memory_error_while_decoding_is_the_images_too_large_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pillow's MemoryError while decoding an image too large for the memory left was `cannot be decoded, the
    file is truncated or corrupt ()`: the file is whole."""
    from PIL import PngImagePlugin

    def no_memory(self: Image.Image) -> None:
        raise MemoryError

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", no_memory)
    with pytest.raises(ImageTooLargeError) as refused:
        decode_rgb(png(rgb()))
    assert refused.value.reason == ("is too large for the memory left to decode it (MemoryError); score it where more "
                                    "memory is free, or lower max_pixels to refuse such images before they are "
                                    "decoded")
    with pytest.raises(ImageTooLargeError) as refused:  # a caller's own advice, as for the size guards (training's)
        decode_rgb(png(rgb()), too_large_advice="downscale the photo, or remove it")
    assert refused.value.reason == ("is too large for the memory left to decode it (MemoryError); downscale the "
                                    "photo, or remove it")


def test_a_file_object_opened_by_a_path_of_bytes_is_named_by_it(tmp_path: Path) -> None:
    """open(b'.../caf\\xe9.png', 'rb') has a name of bytes: its errors and results said `<file object>`, where one
    opened by a str path names the file."""
    raw = os.fsencode(tmp_path) + b"/caf\xe9.png"
    with open(raw, "wb") as out:
        out.write(b"no image")
    with open(raw, "rb") as fh:
        assert describe(fh) == os.fsdecode(raw)
        with pytest.raises(ImageDecodeError) as refused:
            decode_rgb(fh)
    assert refused.value.source == os.fsdecode(raw)
