"""Second implementations of the common distortion types, in OpenCV: the same degradation, other code.

A network trained on one implementation of each type can learn that implementation's artefacts
(its kernel truncation, border handling, resampler, codec settings, noise model) instead of the
degradation, and then fail on another library's blur or noise. With ``alt_fraction`` > 0
(``contrique-train --alt-fraction``), that share of the single-type series whose type is in
:data:`ALTERNATES` is rendered here instead of by :mod:`.distortions`, from the same wide level
values, with choices (kernel size, border, resampler, chroma subsampling, noise model) drawn once
per series from its seed. The 29 types, their levels and the benchmark's set (a) do not change.
With ``block_fraction`` > 0 (``--block-fraction``), that share of the pixelation series is rendered by
:func:`block_pixelate` instead: square blocks of whole pixels, the mosaic most software makes.

Every function is ``(image, value, seed) -> image`` on RGB Pillow images, as a host type of
:class:`~contrique_training.distortions.Distortion` is.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np
from PIL import Image

from .distortions import LEVELS, SERIES_TYPES, TYPE_INDEX
from .errors import TrainingError

_BORDERS = (cv2.BORDER_REFLECT_101, cv2.BORDER_REFLECT, cv2.BORDER_REPLICATE)
_DOWN = (cv2.INTER_AREA, cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_NEAREST, cv2.INTER_LANCZOS4)
_UP = (cv2.INTER_LINEAR, cv2.INTER_CUBIC, cv2.INTER_LANCZOS4)
_SUPERSAMPLE = 8
_SUBSAMPLING = (
    cv2.IMWRITE_JPEG_SAMPLING_FACTOR_420,
    cv2.IMWRITE_JPEG_SAMPLING_FACTOR_422,
    cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444,
)


def _array(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255


def _image(x: np.ndarray) -> Image.Image:
    return Image.fromarray(np.round(np.clip(x, 0, 1) * 255).astype(np.uint8))


def _border(rng: np.random.Generator) -> int:
    """One of OpenCV's border rules, drawn from ``rng``."""
    return _BORDERS[int(rng.integers(len(_BORDERS)))]


def _drawn_kernel(size: int, draw: Callable[[np.ndarray], object]) -> np.ndarray:
    """A size x size kernel drawn anti-aliased by ``draw`` on a grid :data:`_SUPERSAMPLE` times finer,
    then area-averaged down, so that small shapes keep their area."""
    big = np.zeros((size * _SUPERSAMPLE, size * _SUPERSAMPLE), np.uint8)
    draw(big)
    return cv2.resize(big.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)


def _filter(image: Image.Image, kernel: np.ndarray, rng: np.random.Generator) -> Image.Image:
    kernel = (kernel / kernel.sum()).astype(np.float32)
    return _image(cv2.filter2D(_array(image), -1, kernel, borderType=_border(rng)))


def gaussian_blur(image: Image.Image, sigma: float, seed: int) -> Image.Image:
    """``cv2.GaussianBlur`` with the kernel truncated at 2, 3 or 4 sigma and a random border rule."""
    rng = np.random.default_rng(seed)
    radius = max(1, math.ceil(float(rng.choice((2.0, 3.0, 4.0))) * sigma))
    return _image(cv2.GaussianBlur(_array(image), (2 * radius + 1, 2 * radius + 1), sigma, borderType=_border(rng)))


def lens_blur(image: Image.Image, radius: float, seed: int) -> Image.Image:
    """Defocus: an anti-aliased disk drawn with ``cv2.circle``, or a box of about the disk's variance
    (side r * sqrt(3), rounded to an odd size so that it does not shift the image)."""
    rng = np.random.default_rng(seed)
    if rng.random() < 0.5:
        size = 2 * round(radius * math.sqrt(3) / 2) + 1
        return _filter(image, np.ones((size, size), np.float32), rng)
    size = 2 * math.ceil(radius) + 1
    centre = size * _SUPERSAMPLE // 2
    kernel = _drawn_kernel(size, lambda big: cv2.circle(big, (centre, centre), round(radius * _SUPERSAMPLE), 255, -1,
                                                        cv2.LINE_AA))
    return _filter(image, kernel, rng)


def motion_blur(image: Image.Image, length: float, seed: int) -> Image.Image:
    """A line of the given length at a random angle, drawn anti-aliased with ``cv2.line``."""
    rng = np.random.default_rng(seed)
    half = length / 2
    size = 2 * math.ceil(half) + 1
    angle = rng.uniform(0, math.pi)
    dx, dy = half * math.cos(angle) * _SUPERSAMPLE, half * math.sin(angle) * _SUPERSAMPLE
    c = size * _SUPERSAMPLE / 2
    kernel = _drawn_kernel(size, lambda big: cv2.line(big, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)),
                                                      255, _SUPERSAMPLE, cv2.LINE_AA))
    return _filter(image, kernel, rng)


def white_noise(image: Image.Image, variance: float, seed: int) -> Image.Image:
    """Noise of the given mean variance: independent per channel, the same on all three (grey), or
    signal-dependent (variance proportional to the value, as photon noise), each optionally
    correlated by a 0.6 px blur as demosaicing leaves it (rescaled to keep its variance)."""
    rng = np.random.default_rng(seed)
    x = _array(image)
    mode = int(rng.integers(3))
    noise = rng.standard_normal(x.shape[:2] + ((1,) if mode == 1 else (3,))).astype(np.float32)
    if rng.random() < 0.5:
        noise = cv2.GaussianBlur(noise, (5, 5), 0.6).reshape(noise.shape)
        noise /= max(float(noise.std()), 1e-6)
    if mode == 2:
        noise *= np.sqrt(np.maximum(x, 1e-3) / max(float(x.mean()), 1e-3))
    return _image(x + math.sqrt(variance) * noise)


def impulse_noise(image: Image.Image, density: float, seed: int) -> Image.Image:
    """Salt and pepper on whole pixels (all three channels) of the given density."""
    rng = np.random.default_rng(seed)
    x = _array(image)
    u = rng.random(x.shape[:2])
    x[u < density / 2] = 0.0
    x[(u >= density / 2) & (u < density)] = 1.0
    return _image(x)


def _encode(image: Image.Image, extension: str, params: list[int]) -> Image.Image:
    bgr = cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2BGR)
    ok, data = cv2.imencode(extension, bgr, params)
    if not ok:
        raise TrainingError(f"OpenCV ({cv2.__version__}) could not encode {extension}: install an "
                            "opencv-python-headless build with that codec, or train with --alt-fraction 0")
    return Image.fromarray(cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))


def jpeg(image: Image.Image, quality: float, seed: int) -> Image.Image:
    """``cv2.imencode`` JPEG (libjpeg-turbo) with 4:2:0, 4:2:2 or 4:4:4 chroma subsampling."""
    rng = np.random.default_rng(seed)
    factor = _SUBSAMPLING[int(rng.integers(len(_SUBSAMPLING)))]
    return _encode(image, ".jpg", [cv2.IMWRITE_JPEG_QUALITY, int(quality), cv2.IMWRITE_JPEG_SAMPLING_FACTOR, factor])


def webp(image: Image.Image, quality: float, seed: int) -> Image.Image:
    """``cv2.imencode`` WebP (lossy) at the quality."""
    return _encode(image, ".webp", [cv2.IMWRITE_WEBP_QUALITY, max(1, int(quality))])


def _resize_back(image: Image.Image, size: tuple[int, int], seed: int, up: tuple[int, ...] = _UP) -> Image.Image:
    rng = np.random.default_rng(seed)
    x = np.asarray(image.convert("RGB"))
    small = cv2.resize(x, size, interpolation=_DOWN[int(rng.integers(len(_DOWN)))])
    return Image.fromarray(cv2.resize(small, image.size, interpolation=up[int(rng.integers(len(up)))]))


def resolution_loss(image: Image.Image, factor: float, seed: int) -> Image.Image:
    """``cv2.resize`` down by the factor (area, bilinear, bicubic, nearest or Lanczos) and back up
    (bilinear, bicubic or Lanczos)."""
    w, h = image.size
    return _resize_back(image, (max(1, round(w / factor)), max(1, round(h / factor))), seed)


def pixelate(image: Image.Image, amount: float, seed: int) -> Image.Image:
    """Downscale by KADID's z = 0.95 - amount^0.6 with a random ``cv2.resize`` filter, back up nearest."""
    z = 0.95 - amount**0.6
    w, h = image.size
    return _resize_back(image, (max(1, int(z * w)), max(1, int(z * h))), seed, up=(cv2.INTER_NEAREST,))


def contrast_change(image: Image.Image, c: float, seed: int) -> Image.Image:
    """Linear contrast around the image's mean grey (``cv2.addWeighted``), gain 1 + c (c < 0 lowers it)."""
    x = _array(image)
    grey = np.full_like(x, float(x.mean()))
    return _image(cv2.addWeighted(x, 1 + c, grey, -c, 0))


BLOCK_SIZES = (2, 3, 4, 6, 10)
"""Block side in pixels of :func:`block_pixelate` at wide levels 1..5 (a block under 2 px is no block)."""
BLOCK_IMPLEMENTATION = "blocks"
"""The name of :func:`block_pixelate` where a record says which implementation rendered an image."""
BLOCK_TYPE = "pixelate"
"""The distortion type that :func:`block_image` renders (its label in training and in proxy sets)."""


def block_pixelate(image: Image.Image, block: int, seed: int) -> Image.Image:
    """The mosaic of image editors and of libvips ``shrink`` + ``zoom``: the mean of each ``block`` x
    ``block`` square, replicated over it, on a grid shifted by a random 0..block-1 px per axis (edge
    pixels repeated where a square crosses the border).

    Unlike :func:`pixelate` (KADID's factor, whose first levels make irregular 1-2 px stripes), every
    block is square and of a whole number of pixels.

    Raises:
        ValueError: ``block`` is under 2.
    """
    if block < 2:
        raise ValueError(f"block {block}: a pixelation block is at least 2 px")
    rng = np.random.default_rng(seed)
    x = np.asarray(image.convert("RGB"), dtype=np.float64)
    h, w = x.shape[:2]
    dy, dx = (int(v) for v in rng.integers(0, block, 2))
    ny, nx = -(-(h + dy) // block), -(-(w + dx) // block)
    padded = np.pad(x, ((dy, ny * block - h - dy), (dx, nx * block - w - dx), (0, 0)), mode="edge")
    means = padded.reshape(ny, block, nx, block, 3).mean(axis=(1, 3))
    blocks = np.repeat(np.repeat(means, block, axis=0), block, axis=1)[dy : dy + h, dx : dx + w]
    return Image.fromarray(np.round(blocks).astype(np.uint8))


def block_image(image: Image.Image, level: int, seed: int) -> Image.Image:
    """``image`` pixelated by :func:`block_pixelate` with the block of wide ``level`` (1..5, :data:`BLOCK_SIZES`).

    Raises:
        ValueError: The level is outside 1..5.
    """
    if not 1 <= level <= LEVELS:
        raise ValueError(f"no pixelation block at wide level {level}: levels 1..{LEVELS}")
    return block_pixelate(image, BLOCK_SIZES[level - 1], seed)


ALTERNATES: dict[str, Callable[[Image.Image, float, int], Image.Image]] = {
    "gaussian_blur": gaussian_blur,
    "lens_blur": lens_blur,
    "motion_blur": motion_blur,
    "white_noise": white_noise,
    "impulse_noise": impulse_noise,
    "jpeg": jpeg,
    "webp": webp,
    "resolution_loss": resolution_loss,
    "pixelate": pixelate,
    "contrast_change": contrast_change,
}
"""Type name -> its OpenCV implementation, on the type's wide level values."""
IMPLEMENTATION = "opencv"
"""The name of these implementations where a record says which one rendered an image."""


def alternate_image(image: Image.Image, type_name: str, level: int, seed: int) -> Image.Image:
    """``image`` distorted by the second implementation of ``type_name`` at wide ``level`` (1..5).

    Raises:
        ValueError: The type has no second implementation, or the level is outside 1..5.
    """
    if type_name not in ALTERNATES or not 1 <= level <= LEVELS:
        raise ValueError(f"no second implementation of {type_name!r} at wide level {level}: "
                         f"types {', '.join(ALTERNATES)}, levels 1..{LEVELS}")
    return ALTERNATES[type_name](image, SERIES_TYPES[TYPE_INDEX[type_name]].values("wide")[level - 1], seed)
