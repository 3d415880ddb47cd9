"""Tests of contrique_infer.filechecks: files whose structure decoding would not survive well (JPEG scans and
header floods, TIFF tiles) are refused from their headers and bytes, by every way an image is given."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
from image_fixtures import rgb, tiff_bytes
from PIL import Image, ImageFile

from contrique_infer.decoding import check_header, decode_rgb
from contrique_infer.errors import ImageDecodeError
from contrique_infer.filechecks import MAX_JPEG_SCANS, MAX_JPEG_SEGMENTS, MAX_JPEG_SKIPPED


def _with_tiles_of(data: bytes, width: int, length: int) -> bytes:
    """``data``, a little-endian tiled TIFF, with its TileWidth and TileLength tags set to other values."""
    out = bytearray(data)
    ifd = struct.unpack_from("<I", out, 4)[0]
    for entry in range(ifd + 2, ifd + 2 + 12 * struct.unpack_from("<H", out, ifd)[0], 12):
        tag = struct.unpack_from("<H", out, entry)[0]
        if tag in (322, 323):
            struct.pack_into("<I", out, entry + 8, width if tag == 322 else length)
    return bytes(out)


def test_a_tiff_declaring_tiles_far_larger_than_its_image_is_refused_from_its_header(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A 64x64 TIFF declaring one 26752x26752 tile made libtiff set aside 2.1 GB before failing."""
    pixels = np.asarray(rgb(64, 64))
    bomb = tmp_path / "bomb.tif"
    bomb.write_bytes(_with_tiles_of(tiff_bytes(pixels, deflate=True, tile=(64, 64)), 26752, 26752))
    loads: list[object] = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda im: loads.append(im) or real_load(im))
    for check in (decode_rgb, check_header):
        with pytest.raises(ImageDecodeError) as refused:
            check(bomb)
        assert str(refused.value) == (
            f"{bomb}: declares tiles of 26752x26752 pixels for a 64x64 image: decoding would set aside 2147008512 "
            "bytes for each tile, more than the image needs and than the 16777216 a tile may take; the file is "
            "damaged or made to exhaust memory (a decompression bomb), so it is not decoded: if the image is genuine, "
            "convert it to a PNG or to a TIFF of smaller tiles with another tool, and score that")
    assert loads == []  # refused on the header: no pixel decoded
    # A tile larger than the image but within 16 MiB is read (libtiff's default 256x256 tiles on small images),
    # and so is any tile within the image's size rounded up to 16 pixels, each plane's tiles too.
    big = np.asarray(rgb(1000, 1500))
    for image, tile, planar in [(pixels, (256, 256), False), (pixels, (2048, 2048), True), (pixels, (16, 48), False),
                                (big, (1504, 1008), False), (big, (1504, 1008), True), (big, (256, 256), True)]:
        for deflate in (False, True):
            data = tiff_bytes(image, planar=planar, deflate=deflate, tile=tile)
            np.testing.assert_array_equal(np.asarray(decode_rgb(data, max_pixels=None)), image,
                                          err_msg=str((tile, planar, deflate)))
    with pytest.raises(ImageDecodeError, match="declares tiles of 4096x4096 pixels for a 64x64 image: decoding would "
                                               "set aside 50331648 bytes"):
        decode_rgb(_with_tiles_of(tiff_bytes(pixels, tile=(64, 64)), 4096, 4096))  # 48 MiB, and uncompressed
    with pytest.raises(ImageDecodeError, match="declares tiles of 1600x4096 pixels for a 1500x1000 image"):
        decode_rgb(_with_tiles_of(tiff_bytes(big, tile=(1504, 1008)), 1600, 4096))


def _repeated_scan_jpeg(scans: int) -> bytes:
    """A 64x64 progressive JPEG with its last scan written ``scans`` more times (libjpeg decodes it, warning)."""
    buffer = io.BytesIO()
    Image.new("L", (64, 64), 128).save(buffer, "JPEG", progressive=True, quality=90)
    data = buffer.getvalue()
    last = data.rindex(b"\xff\xda")  # the last scan's header and data, up to the end-of-image marker
    end = data.rindex(b"\xff\xd9")
    return data[:end] + data[last:end] * scans + data[end:]


def test_a_jpeg_of_too_many_scans_is_refused_before_decoding(tmp_path: Path) -> None:
    normal = _repeated_scan_jpeg(0)
    assert 2 <= normal.count(b"\xff\xda") <= 20  # a progressive JPEG's own scans decode
    assert decode_rgb(normal).size == (64, 64)
    assert decode_rgb(_repeated_scan_jpeg(MAX_JPEG_SCANS - normal.count(b"\xff\xda"))).size == (64, 64)
    bomb = tmp_path / "bomb.jpg"
    bomb.write_bytes(_repeated_scan_jpeg(MAX_JPEG_SCANS))
    with Image.open(bomb) as opened:  # a caller's lazily opened image too, left where it was
        position = opened.fp.tell()
        for image in (bomb, bomb.read_bytes(), io.BytesIO(bomb.read_bytes()), opened):
            with pytest.raises(ImageDecodeError, match="scans") as info:
                decode_rgb(image)
            assert f"is a JPEG of more than {MAX_JPEG_SCANS} scans" in str(info.value)
        assert opened.fp.tell() == position
    assert check_header(bomb) == (64, 64)  # the header check reads no further than the header


def test_a_jpeg_header_flooded_with_markers_or_padding_is_refused_before_pillow_reads_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pillow reads a JPEG's header one marker (and one padding byte) at a time in Python and keeps every APP
    and COM segment: 16 MB of 4 million empty APP1 markers took 5.7 s and 530 MB to open. More than
    MAX_JPEG_SEGMENTS segments, or MAX_JPEG_SKIPPED bytes of padding, are refused from the bytes alone."""
    buffer = io.BytesIO()
    rgb(48, 64).save(buffer, "JPEG", icc_profile=bytes(200_000), exif=Image.Exif(), comment=b"made here")
    plain = buffer.getvalue()  # its colour profile in 4 APP2 segments
    expected = np.asarray(decode_rgb(plain))

    def flooded(segments: int = 0, padding: int = 0) -> bytes:  # after the start of image, as Pillow reads them
        return plain[:2] + b"\xff\xfe\x00\x02" * segments + b"\xff" * padding + plain[2:]

    for ok in (flooded(MAX_JPEG_SEGMENTS - 20), flooded(padding=MAX_JPEG_SKIPPED - 100)):
        assert np.array_equal(np.asarray(decode_rgb(ok)), expected)
    opened: list[object] = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda fp, *a, **k: opened.append(fp) or real_open(fp, *a, **k))
    for bomb, what in ((flooded(segments=1_000_000), f"more than {MAX_JPEG_SEGMENTS} marker segments"),
                       (flooded(padding=4_000_000), f"more than {MAX_JPEG_SKIPPED} bytes of padding or stray data")):
        path = tmp_path / "flood.jpg"
        path.write_bytes(bomb)
        for image in (path, bomb, io.BytesIO(bomb)):
            with pytest.raises(ImageDecodeError, match="re-encode it") as info:
                decode_rgb(image)
            assert f"is a JPEG with {what} before its image data" in str(info.value)
        with pytest.raises(ImageDecodeError, match=what):
            check_header(path)
    assert opened == []  # refused from the bytes: Pillow never read the header (about 1 s per flood)
