"""Composite degradations: two or three steps chained as a photo meets them between scene and screen.

Camera and delivery pipelines chain degradations: optics or motion blur the scene, a small sensor
adds signal-dependent noise that demosaicing correlates and denoising smears, the image is resized,
and a codec compresses the result. A model that saw one degradation at a time can learn that
high-frequency energy means sharpness, and then score noise added after blur as restored detail.

Each chain type (:data:`CHAINS`) fixes the order of its steps. Every step's implementation
(Pillow filters and resamplers, SciPy convolutions, numpy noise models, Pillow codecs; none of
them the torch ops of :mod:`.distortions`) and a strength factor per step are drawn from the
seed, so the images of one series (one seed, strengths 1..5) differ in strength only, and no
one implementation's artefacts become the cue. All of it runs on the CPU, in the data workers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage

from .codecs import encode

STRENGTHS = (1.0, 2.0, 3.0, 4.0, 5.0)
"""The wide-level table of every chain type: strength 1 (barely visible) .. 5 (severe)."""

# Per strength 1..5, mildest first; each series scales its values by a factor drawn in JITTER.
BLUR_SIGMA = (0.5, 0.9, 1.4, 2.1, 3.0)  # px; box, disk and motion kernels of about that spread
RESIZE_FACTOR = (1.25, 1.6, 2.0, 2.7, 3.5)  # down by this, then back up to the original size
NOISE_SIGMA = (0.008, 0.018, 0.032, 0.055, 0.09)  # of the [0, 1] range, at mid-grey
CODEC_QUALITY = {"JPEG": (90, 70, 48, 28, 12), "JPEG444": (90, 70, 48, 28, 12), "WEBP": (88, 66, 44, 25, 10)}
JITTER = (0.8, 1.25)

_DOWN = (Image.Resampling.BOX, Image.Resampling.BILINEAR, Image.Resampling.BICUBIC, Image.Resampling.LANCZOS,
         Image.Resampling.NEAREST)
_UP = (Image.Resampling.BILINEAR, Image.Resampling.BICUBIC, Image.Resampling.LANCZOS)

Array = np.ndarray
Step = Callable[[Array, int, np.random.Generator, float], Array]


def _pillow(x: Array, fn: Callable[[Image.Image], Image.Image]) -> Array:
    """Run a Pillow operation on an (H, W, 3) float image in [0, 1] (rounded to 8 bits on the way)."""
    image = Image.fromarray((np.clip(x, 0, 1) * 255).round().astype(np.uint8))
    return np.asarray(fn(image), dtype=np.float32) / 255


def _convolve(x: Array, kernel: Array) -> Array:
    kernel = kernel / kernel.sum()
    return np.stack([ndimage.convolve(x[..., c], kernel, mode="reflect") for c in range(3)], axis=-1)


def _disk(sigma: float) -> Array:
    """A defocus disk whose spread matches a Gaussian of ``sigma`` (radius 2 sigma), 4x supersampled."""
    radius = 2 * sigma
    half = int(np.ceil(radius))
    t = (np.arange(-half * 4, half * 4 + 4) + 0.5) / 4 - 0.5
    yy, xx = np.meshgrid(t, t, indexing="ij")
    inside = (yy**2 + xx**2 <= radius**2).astype(np.float32)
    return inside.reshape(2 * half + 1, 4, 2 * half + 1, 4).mean(axis=(1, 3))


def _line(sigma: float, angle: float) -> Array:
    """A motion-blur line kernel of length ``sqrt(12) * sigma`` (the spread of a box of that length)."""
    length = max(2.0, np.sqrt(12) * sigma)
    half = int(np.ceil(length / 2)) + 1
    kernel = np.zeros((2 * half + 1, 2 * half + 1), np.float32)
    for t in np.linspace(-length / 2, length / 2, int(length * 8) + 1):
        y, x = half + t * np.sin(angle), half + t * np.cos(angle)
        y0, x0 = int(np.floor(y)), int(np.floor(x))
        for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1)):
            kernel[y0 + dy, x0 + dx] += (1 - abs(y - y0 - dy)) * (1 - abs(x - x0 - dx))
    return kernel


def blur(x: Array, s: int, rng: np.random.Generator, factor: float) -> Array:
    """Optical or motion blur: Pillow Gaussian or box blur, or a SciPy disk or line convolution."""
    sigma = BLUR_SIGMA[s - 1] * factor
    kind = int(rng.integers(4))
    angle = float(rng.uniform(0, np.pi))
    if kind == 0:
        return _pillow(x, lambda im: im.filter(ImageFilter.GaussianBlur(sigma)))
    if kind == 1:
        return _pillow(x, lambda im: im.filter(ImageFilter.BoxBlur(float(np.sqrt(3) * sigma - 0.5))))
    return _convolve(x, _disk(sigma) if kind == 2 else _line(sigma, angle))


def resize(x: Array, s: int, rng: np.random.Generator, factor: float) -> Array:
    """Resolution loss: downscale by the strength's factor and back up, Pillow filters drawn per series."""
    down, up = _DOWN[int(rng.integers(len(_DOWN)))], _UP[int(rng.integers(len(_UP)))]
    h, w = x.shape[:2]
    scale = 1 + (RESIZE_FACTOR[s - 1] - 1) * factor
    size = (max(8, round(w / scale)), max(8, round(h / scale)))
    return _pillow(x, lambda im: im.resize(size, down).resize((w, h), up))


def noise(x: Array, s: int, rng: np.random.Generator, factor: float) -> Array:
    """Sensor noise: white Gaussian, signal-dependent (shot + read, correlated as demosaicing leaves
    it), or luma plus coarse chroma noise, as phones show it."""
    sigma = NOISE_SIGMA[s - 1] * factor
    kind = int(rng.integers(3))
    field = rng.standard_normal(x.shape).astype(np.float32)
    if kind == 0:
        return x + sigma * field
    if kind == 1:
        blurred = np.stack([ndimage.gaussian_filter(field[..., c], 0.7) for c in range(3)], axis=-1)
        field = blurred / blurred.std()
        return x + sigma * np.sqrt((0.2 + np.clip(x, 0, 1)) / 0.7) * field
    luma = field[..., :1]
    chroma = ndimage.zoom(field[::2, ::2, 1:], (2, 2, 1), order=1)[: x.shape[0], : x.shape[1]]
    chroma = np.pad(chroma, ((0, x.shape[0] - chroma.shape[0]), (0, x.shape[1] - chroma.shape[1]), (0, 0)), "edge")
    cb, cr = chroma[..., 0], chroma[..., 1]
    n = np.stack([luma[..., 0] + 1.4 * cr, luma[..., 0] - 0.35 * cb - 0.7 * cr, luma[..., 0] + 1.8 * cb], axis=-1)
    return x + 0.6 * sigma * n


def denoise(x: Array, s: int, rng: np.random.Generator, factor: float) -> Array:
    """A phone's denoiser after the noise: Pillow median (3 x 3) or a light Gaussian smoothing."""
    if rng.integers(2):
        return _pillow(x, lambda im: im.filter(ImageFilter.MedianFilter(3)))
    return _pillow(x, lambda im: im.filter(ImageFilter.GaussianBlur(0.5 + 0.1 * s * factor)))


def compress(x: Array, s: int, rng: np.random.Generator, factor: float) -> Array:
    """A lossy codec at the strength's quality: JPEG 4:2:0 or 4:4:4, or WebP (Pillow)."""
    codec = ("JPEG", "JPEG444", "WEBP")[int(rng.integers(3))]
    quality = int(np.clip(round(CODEC_QUALITY[codec][s - 1] / factor), 5, 95))
    return _pillow(x, lambda im: encode(im, codec, quality))


@dataclass(frozen=True)
class Chain:
    """One composite type: its name and its steps, in order."""

    name: str
    steps: tuple[Step, ...]


CHAINS: tuple[Chain, ...] = (
    Chain("blur_noise_codec", (blur, noise, compress)),
    Chain("blur_noise", (blur, noise)),
    Chain("blur_codec", (blur, compress)),
    Chain("noise_denoise_codec", (noise, denoise, compress)),
    Chain("noise_resize_codec", (noise, resize, compress)),
    Chain("resize_codec", (resize, compress)),
)


def degrade(image: Image.Image, chain: Chain, strength: float, seed: int) -> Image.Image:
    """Apply ``chain`` at ``strength`` (1..5) to an RGB image; the seed fixes implementations and noise.

    Every step draws its implementation and a strength factor from its own generator seeded by
    ``(seed, step)``, so the same seed gives the same chain at every strength.

    Raises:
        ValueError: A strength outside 1..5.
    """
    s = int(strength)
    if s != strength or not 1 <= s <= len(STRENGTHS):
        raise ValueError(f"chain strength {strength} is not one of 1..{len(STRENGTHS)}")
    x = np.asarray(image.convert("RGB"), dtype=np.float32) / 255
    for index, step in enumerate(chain.steps):
        rng = np.random.default_rng([seed, index])
        x = np.clip(step(x, s, rng, float(rng.uniform(*JITTER))), 0, 1)
    return Image.fromarray((x * 255).round().astype(np.uint8))
