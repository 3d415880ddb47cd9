"""Lossy codecs through Pillow: an RGB image encoded and decoded in memory."""

from __future__ import annotations

import io

from PIL import Image

CODECS = ("JPEG", "JPEG444", "WEBP", "JPEG2000")


def encode(image: Image.Image, codec: str, value: float) -> Image.Image:
    """Encode and decode an RGB image with ``codec``.

    ``JPEG`` (4:2:0 chroma subsampling, Pillow's default), ``JPEG444`` (no subsampling) and
    ``WEBP`` take a quality; ``JPEG2000`` a compression ratio (irreversible 9/7 wavelet, one
    quality layer, as MATLAB ``imwrite`` does).

    Raises:
        ValueError: An unknown codec.
    """
    buffer = io.BytesIO()
    if codec in ("JPEG", "WEBP"):
        image.save(buffer, format=codec, quality=int(value))
    elif codec == "JPEG444":
        image.save(buffer, format="JPEG", quality=int(value), subsampling=0)
    elif codec == "JPEG2000":
        image.save(buffer, format="JPEG2000", quality_mode="rates", quality_layers=[value], irreversible=True)
    else:
        raise ValueError(f"no codec {codec!r}: choose one of {', '.join(CODECS)}")
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")
