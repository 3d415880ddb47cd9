"""Checks of an image file's structure before it is decoded: files made (or damaged) so that decoding
would take minutes or gigabytes, or give wrong pixels without an error, are refused from their
headers and bytes, before any pixel is decoded.

:mod:`contrique_infer.decoding` calls them at three points: :func:`refuse_header_flood` on a file's
bytes before Pillow reads its header (a JPEG of millions of marker segments or bytes of padding),
:func:`refuse_bad_layout` on the header Pillow read (TIFFs: tiles far larger than the image,
16-bit planes Pillow unpacks wrongly), both also for :func:`~contrique_infer.decoding.check_header`;
and :func:`refuse_many_scans` just before decoding (a JPEG of thousands of scans: it reads the whole
file, so the header-only check leaves it out). Each raises
:class:`~contrique_infer.errors.ImageDecodeError` naming the file and saying what to do with it.
"""

from __future__ import annotations

import os
from typing import IO

from PIL import Image, TiffImagePlugin

from .errors import ImageDecodeError

MAX_JPEG_SCANS = 500
"""The most scans (start-of-scan markers, an embedded thumbnail's included) a JPEG may hold: encoders
write one (baseline) or about ten (progressive); the decoder passes over the whole image once per
scan, so a file of a repeated scan is slow to decode for its size (1.4 MB of 20,000 scans of a
5000x5000 image: 38 s)."""

MAX_JPEG_SEGMENTS = 10_000
"""The most marker segments a JPEG may have before its first scan: encoders write about 10 to 20 (a colour
profile split in up to 255); Pillow reads each of them in Python before any pixel, keeping every APP and COM
segment, so that 16 MB of 4 million empty ones took 5.7 s and 530 MB to open."""
MAX_JPEG_SKIPPED = 1 << 20
"""The most bytes of padding (``FF`` fill bytes) and stray data between a JPEG's marker segments, before its
first scan: Pillow steps over them one byte at a time (16 MB of fill bytes: 7.7 s)."""

_IMAGE_WIDTH = 256
_IMAGE_LENGTH = 257
_BITS_PER_SAMPLE = 258
_PLANAR_CONFIGURATION = 284
_TILE_WIDTH = 322
_TILE_LENGTH = 323
_TILE_ALLOWANCE = 16 * 2**20
"""The bytes one TIFF tile may take to decode whatever its image's size: libtiff's default 256x256 tiles
on a small image take 192 KiB, tiles of 1024x1024 pixels of four 16-bit samples 8 MiB."""


def _tiff_tags(img: Image.Image) -> TiffImagePlugin.ImageFileDirectory_v2 | None:
    """The tags of an opened TIFF (Pillow's ``tag_v2``, read from its header); None for other formats."""
    return getattr(img, "tag_v2", None) if img.format == "TIFF" else None


def _sample_bits(tags: TiffImagePlugin.ImageFileDirectory_v2) -> int:
    """The most bits of any sample a TIFF's BitsPerSample tag gives (1 without the tag)."""
    bits = tags.get(_BITS_PER_SAMPLE, (1,))
    return max(bits if isinstance(bits, tuple) else (bits,), default=1)


def _refuse_planar_wide_tiff(img: Image.Image, source: str) -> None:
    """Refuse an uncompressed TIFF stored plane by plane (PlanarConfiguration 2) with more than 8 bits
    a sample: Pillow (to 13.0 at least) unpacks each plane of it as 8-bit samples, wrong pixels without
    an error. Judged before loading, on its tags and Pillow's plan to read it (``img.tile``): such a file
    compressed goes through libtiff, which reads it right, and 8-bit planes are read right.

    Raises:
        ImageDecodeError: It is such a TIFF.
    """
    tags = _tiff_tags(img)
    if tags is None or not img.tile or img.tile[0][0] != "raw":
        return
    bits = _sample_bits(tags)
    if tags.get(_PLANAR_CONFIGURATION, 1) == 2 and bits > 8:
        raise ImageDecodeError(
            source, f"is an uncompressed TIFF of {bits}-bit samples stored plane by plane (PlanarConfiguration "
            "2), which Pillow decodes to wrong pixels; convert it to an interleaved TIFF (libtiff's tiffcp -p contig "
            "in.tif out.tif) or to a PNG, and score that"
        )


def refuse_many_scans(img: Image.Image, source: str) -> None:
    """Refuse a JPEG with more than :data:`MAX_JPEG_SCANS` scans, counted in its bytes before decoding.

    Raises:
        ImageDecodeError: It has more.
    """
    fp = getattr(img, "fp", None)
    if img.format not in ("JPEG", "MPO") or fp is None:
        return
    position, count, tail = fp.tell(), 0, b""
    try:
        fp.seek(0)
        while count <= MAX_JPEG_SCANS and (chunk := fp.read(1 << 20)):
            block = tail + chunk  # a marker split between two reads counts once
            count, tail = count + block.count(b"\xff\xda"), block[-1:]
    finally:
        fp.seek(position)
    if count > MAX_JPEG_SCANS:
        raise ImageDecodeError(source, f"is a JPEG of more than {MAX_JPEG_SCANS} scans (encoders write about 10): "
                                       "refused, as decoding so many could take minutes; re-encode it")


def refuse_header_flood(fh: IO[bytes], source: str) -> None:
    """Refuse a JPEG with more than :data:`MAX_JPEG_SEGMENTS` marker segments or :data:`MAX_JPEG_SKIPPED` bytes
    of padding and stray data before its first scan, walking its header as Pillow's reader does but without
    reading the segments; ``fh`` is left where it was. Anything else (a damaged header included) is left to Pillow.

    Raises:
        ImageDecodeError: It has more.
    """
    from PIL.JpegImagePlugin import MARKER  # the markers Pillow knows, and which of them have a length

    start = fh.tell()
    segments = skipped = 0
    try:
        if fh.read(3) != b"\xff\xd8\xff":
            return
        after_ff = True  # Pillow's reader has the byte after the start-of-image marker's FF to read
        while segments <= MAX_JPEG_SEGMENTS and skipped <= MAX_JPEG_SKIPPED:
            if not after_ff:  # stray bytes up to the next FF
                chunk = fh.read(4096)
                at = chunk.find(b"\xff")
                if not chunk:
                    return
                skipped += len(chunk) if at < 0 else at
                if at >= 0:
                    fh.seek(at + 1 - len(chunk), os.SEEK_CUR)
                    after_ff = True
                continue
            chunk = fh.read(4096)
            fill = len(chunk) - len(chunk.lstrip(b"\xff"))  # FF fill bytes before the marker's code
            skipped += fill
            if fill == len(chunk):
                if not chunk:
                    return
                continue
            code = 0xFF00 | chunk[fill]
            fh.seek(fill + 1 - len(chunk), os.SEEK_CUR)
            if code == 0xFF00:  # an escaped FF: stray data
                skipped += 1
                after_ff = False
                continue
            if code not in MARKER or code == 0xFFDA:  # Pillow stops here: an error, or the first scan
                return
            segments += 1
            if MARKER[code][2] is not None:  # a segment with a length, which Pillow reads
                length = fh.read(2)
                if len(length) < 2:
                    return
                fh.seek(max(int.from_bytes(length, "big") - 2, 0), os.SEEK_CUR)
            after_ff = False
    finally:
        fh.seek(start)
    what = (f"more than {MAX_JPEG_SEGMENTS} marker segments" if segments > MAX_JPEG_SEGMENTS
            else f"more than {MAX_JPEG_SKIPPED} bytes of padding or stray data")
    raise ImageDecodeError(source, f"is a JPEG with {what} before its image data (encoders write about 20 segments "
                                   "and no padding): refused, as reading them could take seconds and much memory; "
                                   "re-encode it")


def _refuse_oversized_tiff_tiles(img: Image.Image, source: str) -> None:
    """Refuse a TIFF whose tiles are far larger than its image, from its header: libtiff sets aside the
    bytes of a whole tile before it decodes any of them, so a 199-byte file declaring one 26752x26752 tile
    for a 64x64 image took 2.1 GB. A tile may cover the whole image, each side rounded up to 16 pixels
    (the unit of TIFF tile sizes), or take up to :data:`_TILE_ALLOWANCE` bytes; the image being within
    ``max_pixels``, so are its tiles. Strips need no check: libtiff and Pillow read at most the image's
    height of rows from a strip, whatever its RowsPerStrip says.

    Raises:
        ImageDecodeError: It is such a TIFF.
    """
    tags = _tiff_tags(img)
    if tags is None:
        return
    tile_w, tile_h = tags.get(_TILE_WIDTH), tags.get(_TILE_LENGTH)
    if not isinstance(tile_w, int) or not isinstance(tile_h, int):  # no tiles: a striped TIFF
        return
    w, h = tags[_IMAGE_WIDTH], tags[_IMAGE_LENGTH]  # as stored: a turned TIFF's img.size is upright
    samples = 1 if tags.get(_PLANAR_CONFIGURATION, 1) == 2 else len(img.getbands())  # a plane a tile, or all
    tile_bytes = tile_h * -(-tile_w * samples * _sample_bits(tags) // 8)  # rows of whole bytes, as libtiff's
    padded = -(-w // 16) * 16 * (-(-h // 16) * 16)  # the image's pixels, each side rounded up to 16
    if tile_bytes > _TILE_ALLOWANCE and tile_w * tile_h > padded:
        raise ImageDecodeError(
            source, f"declares tiles of {tile_w}x{tile_h} pixels for a {w}x{h} image: decoding would set aside "
            f"{tile_bytes} bytes for each tile, more than the image needs and than the {_TILE_ALLOWANCE} a tile may "
            "take; the file is damaged or made to exhaust memory (a decompression bomb), so it is not decoded: if "
            "the image is genuine, convert it to a PNG or to a TIFF of smaller tiles with another tool, and score that"
        )


def refuse_bad_layout(img: Image.Image, source: str) -> None:
    """Refuse an opened (not yet decoded) image whose layout decoding cannot survive: a TIFF of 16-bit planes
    Pillow unpacks wrongly (:func:`_refuse_planar_wide_tiff`) or of tiles far larger than the image
    (:func:`_refuse_oversized_tiff_tiles`). Other formats pass.

    Raises:
        ImageDecodeError: It is such a file.
    """
    _refuse_planar_wide_tiff(img, source)
    _refuse_oversized_tiff_tiles(img, source)
