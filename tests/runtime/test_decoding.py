"""Tests of contrique_infer.decoding: decoding, RGB conversion, the size guards and unusable inputs."""

from __future__ import annotations

import gc
import io
import os
import struct
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
