"""Synthetic images shared by the decoding and preprocessing tests."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def rgb(h: int = 37, w: int = 50, seed: int = 0) -> Image.Image:
    """An RGB image of random noise, ``h`` rows by ``w`` columns."""
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def png(img: Image.Image, **kw) -> bytes:
    """The bytes of ``img`` saved as a PNG (``kw``: Pillow's PNG options)."""
    buf = io.BytesIO()
    img.save(buf, "PNG", **kw)
    return buf.getvalue()


def smooth(h: int, w: int) -> Image.Image:
    """A photo-like image (smooth gradients and a few edges) that JPEG keeps well."""
    y, x = np.mgrid[0:h, 0:w] / max(h, w)
    rgb = np.stack([np.sin(6 * x) * 0.5 + 0.5, np.cos(4 * y) * 0.5 + 0.5, (x + y) / 2], axis=-1)
    rgb[h // 3 : h // 2, w // 4 : w // 2] = (0.9, 0.1, 0.2)
    return Image.fromarray((rgb * 255).round().astype(np.uint8))


def tiff_bytes(pixels: np.ndarray, *, planar: bool = False, deflate: bool = False,
               tile: tuple[int, int] | None = None) -> bytes:
    """An RGB TIFF written by hand (little-endian, uncompressed or ``deflate``d) of ``pixels``, HxWx3 uint8
    or uint16: Pillow writes neither planes nor tiles.

    Args:
        pixels: The image.
        planar: Store it plane by plane (PlanarConfiguration 2), else interleaved.
        deflate: Compress each strip or tile with deflate (then libtiff decodes it).
        tile: Store it in tiles of (width, height) pixels, the image padded with zeros to whole tiles;
            None: one strip (a plane).
    """
    h, w, c = pixels.shape
    data = pixels.astype(pixels.dtype.newbyteorder("<"))
    tile_w, tile_h = tile or (w, h)
    blocks = []
    for plane in [data[:, :, i : i + 1] for i in range(c)] if planar else [data]:
        padded = np.zeros((-(-h // tile_h) * tile_h, -(-w // tile_w) * tile_w, plane.shape[2]), plane.dtype)
        padded[:h, :w] = plane
        blocks += [np.ascontiguousarray(padded[y : y + tile_h, x : x + tile_w]).tobytes()
                   for y in range(0, h, tile_h) for x in range(0, w, tile_w)]
    blocks = [zlib.compress(b) for b in blocks] if deflate else blocks
    out = bytearray(b"II*\0\0\0\0\0")
    offsets = []
    for block in blocks:
        offsets.append(len(out))
        out += block + b"\0" * (len(block) % 2)
    short, long = 3, 4
    layout = ([(322, long, [tile_w]), (323, long, [tile_h]), (324, long, offsets),
               (325, long, [len(b) for b in blocks])] if tile else
              [(273, long, offsets), (278, long, [h]), (279, long, [len(b) for b in blocks])])
    entries = sorted([(256, long, [w]), (257, long, [h]), (258, short, [data.dtype.itemsize * 8] * c),
                      (259, short, [8 if deflate else 1]), (262, short, [2]), (277, short, [c]),
                      (284, short, [2 if planar else 1]), *layout])
    fields = []
    for tag, kind, values in entries:
        packed = struct.pack(f"<{len(values)}{'H' if kind == short else 'I'}", *values)
        if len(packed) > 4:  # stored beside the directory, which holds its offset
            fields.append((tag, kind, len(values), struct.pack("<I", len(out))))
            out += packed + b"\0" * (len(packed) % 2)
        else:
            fields.append((tag, kind, len(values), packed.ljust(4, b"\0")))
    out[4:8] = struct.pack("<I", len(out))
    out += struct.pack("<H", len(fields)) + b"".join(struct.pack("<HHI", t, k, n) + v for t, k, n, v in fields)
    return bytes(out + b"\0\0\0\0")


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_bytes(w: int, h: int, depth: int, color_type: int, rows: bytes) -> bytes:
    """A PNG written by hand: any declared size and bit depth, whatever the pixel data holds."""
    ihdr = struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(rows))
            + png_chunk(b"IEND", b""))
