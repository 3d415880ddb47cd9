"""Decoded images in, model inputs out: the per-scale arrays of a bundle's input contract.

Images are decoded to RGB by :mod:`contrique_infer.decoding` (the accepted inputs, RGB conversion,
EXIF orientation, the size guards). Follows the official CONTRIQUE computation exactly: the RGB
image is used as is for the full scale and resized with PIL BICUBIC to ``(w // d, h // d)`` for a
scale with divisor ``d``; each scale becomes float32 CHW values ``uint8 / 255`` (what torchvision's
``ToTensor`` computes), with no mean/std unless the bundle's input contract asks for one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .decoding import DEFAULT_MAX_PIXELS, ImageInput, decode_with_size, describe, out_of_memory
from .errors import ImageTooSmallError, ThumbnailError
from .manifest import InputContract

Thumbnailer = Callable[[Image.Image], bytes]
"""A hook that makes something small (a thumbnail) of a decoded RGB image, e.g.
:func:`contrique_infer.report.make_thumbnail`."""


@dataclass(frozen=True, eq=False)
class PreparedImage:
    """One image ready for the encoder.

    Attributes:
        source: The input's name (a path) or description (``<bytes 123>``).
        width: Width of the image in pixels, as stored (before any ``max_side`` downscaling; upright
            when it was turned: ``apply_exif``, or a TIFF, which Pillow turns itself).
        height: Height of the image in pixels, likewise.
        scales: One float32 CHW array per scale of the input contract, in contract order.
        thumbnail: What the ``thumbnail`` hook of :func:`prepare` made of the decoded image
            (None without a hook).
    """

    source: str
    width: int
    height: int
    scales: tuple[np.ndarray, ...]
    thumbnail: bytes | None = None


def min_side(contract: InputContract) -> int:
    """The smallest image side the contract accepts (its ``min_size``, and >= 1 px at every scale)."""
    return max(contract.min_size, max(s.divisor for s in contract.scales))


def to_scales(rgb: Image.Image, contract: InputContract) -> tuple[np.ndarray, ...]:
    """The encoder input for each scale of ``contract``: float32 CHW arrays, in contract order.

    Args:
        rgb: An RGB image (see :func:`~contrique_infer.decoding.decode_rgb`).
        contract: The bundle's input contract.
    """
    w, h = rgb.size
    out = []
    for scale in contract.scales:
        d = scale.divisor
        scaled = rgb if d == 1 else rgb.resize((w // d, h // d), Image.Resampling.BICUBIC)
        # CHW float32 (transposed while still uint8: cheaper), then ToTensor's division by 255.
        x = np.asarray(scaled).transpose(2, 0, 1).astype(np.float32, order="C")
        x /= np.float32(255)
        lo, hi = contract.value_range
        if (lo, hi) != (0.0, 1.0):
            x = x * np.float32(hi - lo) + np.float32(lo)
        if contract.mean is not None:
            x -= np.asarray(contract.mean, dtype=np.float32)[:, None, None]
        if contract.std is not None:
            x /= np.asarray(contract.std, dtype=np.float32)[:, None, None]
        out.append(x)
    return tuple(out)


def prepare(image: ImageInput, contract: InputContract, *, max_pixels: int | None = DEFAULT_MAX_PIXELS,
            apply_exif: bool = False, thumbnail: Thumbnailer | None = None) -> PreparedImage:
    """Decode ``image`` and build its per-scale arrays for a bundle's input contract.

    Args:
        thumbnail: Called with the decoded RGB image (read it, do not change it); what it
            returns is kept as the prepared image's ``thumbnail`` (the image is decoded once).

    Raises:
        ImageError: See :func:`~contrique_infer.decoding.decode_rgb` (the minimum side is :func:`min_side` of
            the contract).
        ImageTypeError: ``image`` is not an accepted input type (a ``TypeError`` too).
        ThumbnailError: ``thumbnail`` raised, or returned something other than bytes or None.
        ImageTooLargeError: Also where the memory left cannot hold the image while it is decoded or
            its arrays are made.
    """
    smallest = min_side(contract)
    rgb, (width, height) = decode_with_size(image, max_pixels=max_pixels, apply_exif=apply_exif, min_size=smallest,
                                            max_side=contract.max_side)
    if min(rgb.size) < smallest:
        raise ImageTooSmallError(
            describe(image), f"is {rgb.width}x{rgb.height} pixels after scaling its longer side to the model's "
            f"max_side {contract.max_side}; the model needs at least {smallest} pixels on each side"
        )
    source = describe(image)
    try:
        scales = to_scales(rgb, contract)
    except MemoryError as exc:  # the float arrays of a large image: its failure, not the batch's
        raise out_of_memory(source, "prepare", exc) from exc
    # The hook gets an image of its own: a caller's RGB PIL image at the model's size is decoded to itself, and
    # a hook making its thumbnail as PIL does (im.thumbnail(), in place) would shrink the caller's image.
    return PreparedImage(source, width, height, scales,
                         None if thumbnail is None else _thumbnail_of(source, rgb.copy() if rgb is image else rgb,
                                                                      thumbnail))


def _thumbnail_of(source: str, rgb: Image.Image, thumbnail: Thumbnailer) -> bytes | None:
    """What the caller's ``thumbnail`` hook makes of ``rgb``, checked to be bytes or None.

    Raises:
        ThumbnailError: The hook raised, or returned something else.
    """
    hook = getattr(thumbnail, "__name__", None) or type(thumbnail).__name__
    try:
        made = thumbnail(rgb)
    except Exception as exc:
        detail = " ".join(str(exc).split())[:200]
        raise ThumbnailError(source, f"the thumbnail hook {hook} failed on the decoded {rgb.width}x{rgb.height} "
                                     f"image ({type(exc).__name__}{': ' + detail if detail else ''}); the image "
                                     "itself was read: fix the hook, or score without it") from exc
    if made is not None and not isinstance(made, bytes):
        raise ThumbnailError(source, f"the thumbnail hook {hook} returned {type(made).__name__}, not bytes or None; "
                                     "make it return the thumbnail's encoded bytes (as contrique_infer.report."
                                     "make_thumbnail does)")
    return made
