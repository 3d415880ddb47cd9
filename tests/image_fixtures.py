"""Synthetic images shared by the decoding and preprocessing tests."""

from __future__ import annotations

import io

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
