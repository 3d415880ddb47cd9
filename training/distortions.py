"""Synthetic distortions generated on the fly: one registry of types, one API, two level tables.

The types (:data:`SERIES_TYPES`): the 25 KADID-10k / KADIS-700k types (:data:`DISTORTIONS`), a few
extras with wide levels only (exposure, resolution loss, WebP), and the composite chains of
:mod:`.chains`. Every type has 5 levels, mildest first, in one or both tables
(:data:`LevelTable`): ``"kadid"``, the KADID-10k parameters, and ``"wide"``, from barely visible
to beyond KADID's most severe level. Class ids of the contrastive objective: ``0`` is pristine;
KADID type ``t`` (0..24) at KADID level ``l`` (0..4) is class ``t * 5 + l + 1``, so there are
:data:`NUM_CLASSES` = 126 classes (:func:`class_id`, :func:`class_levels`).

Pixel types are batched torch ops that run on the training device (:func:`distort`). Codecs and
chains run on the CPU with Pillow (:func:`apply_host`), in the data workers; :func:`distort`
leaves them unchanged. :func:`distort_image` does both for one Pillow image. KADID parameters
follow the KADID-10k MATLAB generator (``imdist_generator.m``); the few deviations are listed in
``docs/training.md``. All randomness comes from the generator or seed passed in.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .chains import CHAINS, STRENGTHS, Chain, degrade
from .classes import LEVELS, NUM_CLASSES
from .codecs import encode
from .colour import hsv_to_rgb, lab_to_rgb, rgb_to_hsv, rgb_to_lab, rgb_to_ycbcr, ycbcr_to_rgb
from .filters import filter2d, gaussian_blur, gaussian_kernel1d, separable

# KADID-10k images are 512 x 384: block and patch sizes given in pixels scale with sqrt(area / this).
_KADID_AREA = 512 * 384

Apply = Callable[[torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]
HostApply = Callable[[Image.Image, float, int], Image.Image]
LevelTable = Literal["kadid", "wide"]
"""Which parameter table a level indexes: KADID-10k's (the contrastive classes) or the wide one."""


@dataclass(frozen=True)
class Distortion:
    """One distortion type: its name, its parameter at each level, and how it is applied.

    ``levels`` are the KADID-10k parameters (the 126 classes of the contrastive objective);
    ``wide`` spans from barely visible to beyond KADID's most severe level, as users' photos can
    be, and is what the ranking objective and the quality benchmark use (it equals ``levels``
    where KADID's range is already that wide). A type runs either on the training device,
    ``apply(x, values, generator)`` on RGB images in [0, 1] (N, 3, H, W) with each image's
    parameter value (N,), or on the CPU in the data workers, ``host(image, value, seed)`` on one
    Pillow image (the codecs and the composite chains).
    """

    name: str
    levels: tuple[float, ...]
    apply: Apply | None
    host: HostApply | None = None
    wide: tuple[float, ...] = ()

    def values(self, table: LevelTable) -> tuple[float, ...]:
        """The parameter per level in ``table``: ``"kadid"`` or ``"wide"`` (KADID's where it has no wide one)."""
        return (self.wide or self.levels) if table == "wide" else self.levels


def _params(levels: torch.Tensor, table: tuple[float, ...]) -> torch.Tensor:
    """Per-image parameter values (N,) from level indices (N,) and a table of values per level."""
    return torch.tensor(table, dtype=torch.float32, device=levels.device)[levels]


def _per_value(x: torch.Tensor, values: torch.Tensor, fn: Callable[[torch.Tensor, float], torch.Tensor]) -> torch.Tensor:
    """Apply ``fn(images, value)`` to the images of each parameter value present (for value-dependent kernels)."""
    out = torch.empty_like(x)
    for value in values.unique().tolist():
        sel = (values == value).nonzero().flatten()
        out[sel] = fn(x[sel], float(value))
    return out


def _rand(shape: tuple[int, ...], generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.rand(shape, generator=generator, device=device)


def _randn(shape: tuple[int, ...], generator: torch.Generator, device: torch.device) -> torch.Tensor:
    return torch.randn(shape, generator=generator, device=device)


def _view(v: torch.Tensor) -> torch.Tensor:
    return v.view(-1, 1, 1, 1)


def _scaled_size(x: torch.Tensor, kadid_pixels: int) -> int:
    """A KADID pixel size scaled to this image's area (at least 2 px)."""
    return max(2, round(kadid_pixels * math.sqrt(x.shape[-2] * x.shape[-1] / _KADID_AREA)))


def _polyfit_curve(x: torch.Tensor, xs: list[float], ys: list[float]) -> torch.Tensor:
    """The polynomial through the points (xs, ys), evaluated at ``x`` and clipped to [0, 1]."""
    coef = np.polyfit(np.asarray(xs), np.asarray(ys), len(xs) - 1)
    y = torch.zeros_like(x)
    for c in coef:
        y = y * x + float(c)
    return y.clamp(0, 1)


# --- blur ---------------------------------------------------------------------------------------

GAUSSIAN_BLUR = (0.4, 0.5, 1.0, 2.0, 5.0)  # KADID's level 1 (0.1) is the identity after 8-bit rounding
LENS_BLUR = (1.0, 2.0, 4.0, 6.0, 8.0)
MOTION_BLUR = (1.0, 2.0, 4.0, 6.0, 10.0)


def gaussian_blur_(x: torch.Tensor, sigmas: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    return _per_value(x, sigmas, gaussian_blur)


def disk_kernel(radius: float, device: torch.device, supersample: int = 16) -> torch.Tensor:
    """Pillbox kernel (MATLAB ``fspecial('disk', r)``): each tap is the disk's area over that pixel."""
    r = math.ceil(radius - 0.5)
    n = (2 * r + 1) * supersample
    t = (torch.arange(n, dtype=torch.float32, device=device) + 0.5) / supersample - (r + 0.5)
    inside = (t.view(-1, 1) ** 2 + t.view(1, -1) ** 2 <= radius**2).float()
    k = inside.view(2 * r + 1, supersample, 2 * r + 1, supersample).mean(dim=(1, 3))
    return k / k.sum()


def lens_blur(x: torch.Tensor, radii: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    return _per_value(x, radii, lambda y, r: filter2d(y, disk_kernel(r, y.device)))


def motion_kernels(lengths: torch.Tensor, angles: torch.Tensor, samples: int = 64) -> torch.Tensor:
    """Line kernels (MATLAB ``fspecial('motion', len, angle)``), one per (length, angle in degrees).

    The segment of the given length through the centre is sampled densely and splatted bilinearly.

    Returns:
        Normalised kernels, shape (N, k, k), k odd and large enough for the longest segment.
    """
    device = lengths.device
    r = math.ceil(float(lengths.max()) / 2) + 1
    k = 2 * r + 1
    t = (torch.linspace(-0.5, 0.5, samples, device=device).view(1, -1)) * lengths.view(-1, 1)
    theta = torch.deg2rad(angles).view(-1, 1)
    px, py = r + t * torch.cos(theta), r - t * torch.sin(theta)
    kernels = torch.zeros(lengths.numel(), k * k, device=device)
    x0, y0 = px.floor(), py.floor()
    for dx in (0, 1):
        for dy in (0, 1):
            wgt = (1 - (px - x0 - dx).abs()) * (1 - (py - y0 - dy).abs())
            idx = ((y0 + dy).clamp(0, k - 1) * k + (x0 + dx).clamp(0, k - 1)).long()
            kernels.scatter_add_(1, idx, wgt)
    kernels = kernels.view(-1, k, k)
    return kernels / kernels.sum(dim=(1, 2), keepdim=True)


def motion_blur(x: torch.Tensor, lengths: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    angles = _rand((x.shape[0],), g, x.device) * 180
    return filter2d(x, motion_kernels(lengths, angles))


# --- colour -------------------------------------------------------------------------------------

COLOUR_DIFFUSION = (1.0, 3.0, 6.0, 8.0, 12.0)
COLOUR_SHIFT = (1.0, 3.0, 6.0, 8.0, 12.0)
COLOUR_QUANTIZATION = (64.0, 48.0, 32.0, 16.0, 8.0)
SATURATION_HSV = (0.4, 0.2, 0.1, 0.0, -0.4)
SATURATION_LAB = (1.5, 2.0, 3.0, 6.0, 9.0)


def colour_diffusion(x: torch.Tensor, amounts: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Blur the a* and b* channels with sigma = 1.5 * amount + 2 (L* untouched)."""
    lab = rgb_to_lab(x)
    lab = torch.cat((lab[:, :1], _per_value(lab[:, 1:], amounts, lambda ab, a: gaussian_blur(ab, 1.5 * a + 2))), dim=1)
    return lab_to_rgb(lab)


def _gradient(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Central differences inside, one-sided at the borders (numpy/MATLAB ``gradient``)."""
    return torch.gradient(x, dim=dim)[0]


def _normalise(e: torch.Tensor) -> torch.Tensor:
    lo = e.amin(dim=(1, 2, 3), keepdim=True)
    hi = e.amax(dim=(1, 2, 3), keepdim=True)
    return torch.where(hi > lo, (e - lo) / (hi - lo).clamp(min=1e-12), e)


def colour_shift(x: torch.Tensor, amounts: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Shift the green channel by ``amount`` px in a random direction, blended in at edges.

    The blend mask is the gradient magnitude of the luma, smoothed (sigma 4), normalised, floored
    at 0.1 and clipped at its 1st/99th percentiles, as in KADID's ``imcolorshift``.
    """
    n, _, h, w = x.shape
    luma = (0.2989 * x[:, 0] + 0.5870 * x[:, 1] + 0.1140 * x[:, 2]).unsqueeze(1)
    e = torch.hypot(_gradient(luma, 2), _gradient(luma, 3))
    e = _normalise(_normalise(gaussian_blur(e, 4.0)).clamp(0.1, 1))
    flat = e.flatten(1)
    hi = torch.quantile(flat, 0.99, dim=1).view(-1, 1, 1, 1)
    lo = torch.quantile(flat, 0.01, dim=1).view(-1, 1, 1, 1)
    e = _normalise(torch.minimum(torch.maximum(e, lo), hi))
    direction = F.normalize(_rand((n, 2), g, x.device), dim=1)
    shifts = torch.round(direction * amounts.view(-1, 1)).long()
    green = x[:, 1:2]
    shifted = torch.empty_like(green)
    for i in range(n):
        pad = int(shifts[i].max())
        padded = F.pad(green[i : i + 1], (pad, pad, pad, pad), mode="reflect") if pad else green[i : i + 1]
        rolled = torch.roll(padded, shifts=(int(shifts[i, 0]), int(shifts[i, 1])), dims=(2, 3))
        shifted[i] = rolled[:, :, pad : pad + h, pad : pad + w]
    out = x.clone()
    out[:, 1:2] = shifted * e + green * (1 - e)
    return out


def _kmeans_quantize(pixels: torch.Tensor, k: int, g: torch.Generator, iterations: int = 10) -> torch.Tensor:
    """Replace each pixel (P, 3) by the nearest of ``k`` colours found by k-means on a subsample."""
    sample = pixels[torch.randint(0, pixels.shape[0], (4096,), generator=g, device=pixels.device)]
    centres = sample[torch.randperm(sample.shape[0], generator=g, device=pixels.device)[:k]].clone()
    for _ in range(iterations):
        assign = torch.cdist(sample, centres).argmin(1)
        sums = torch.zeros_like(centres).index_add_(0, assign, sample)
        counts = torch.bincount(assign, minlength=k).unsqueeze(1)
        centres = torch.where(counts > 0, sums / counts.clamp(min=1), centres)
    out = torch.empty_like(pixels)
    for start in range(0, pixels.shape[0], 65536):
        chunk = pixels[start : start + 65536]
        out[start : start + 65536] = centres[torch.cdist(chunk, centres).argmin(1)]
    return out


def colour_quantization(x: torch.Tensor, colours: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Reduce each image to ``k`` colours without dithering (k-means in RGB; MATLAB: ``rgb2ind``)."""
    out = torch.empty_like(x)
    for i in range(x.shape[0]):
        k = int(colours[i])
        pixels = x[i].flatten(1).T.contiguous()
        out[i] = _kmeans_quantize(pixels, k, g).T.reshape(x[i].shape)
    return out


def saturation_hsv(x: torch.Tensor, factors: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Multiply HSV saturation by the level's factor (negative factors push to the opposite hue)."""
    hsv = rgb_to_hsv(x)
    hsv = torch.cat((hsv[:, :1], hsv[:, 1:2] * _view(factors), hsv[:, 2:]), dim=1)
    return hsv_to_rgb(hsv)


def saturation_lab(x: torch.Tensor, factors: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Multiply the a* and b* channels by the level's factor."""
    lab = rgb_to_lab(x)
    lab = torch.cat((lab[:, :1], lab[:, 1:] * _view(factors)), dim=1)
    return lab_to_rgb(lab)


# --- noise --------------------------------------------------------------------------------------

WHITE_NOISE = (0.001, 0.002, 0.003, 0.005, 0.01)
COLOUR_NOISE = (0.0001, 0.0005, 0.001, 0.002, 0.003)
IMPULSE_NOISE = (0.001, 0.005, 0.01, 0.02, 0.03)
MULTIPLICATIVE_NOISE = (0.001, 0.005, 0.01, 0.02, 0.05)
DENOISE = (0.001, 0.002, 0.003, 0.005, 0.01)


def white_noise(x: torch.Tensor, variances: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Additive Gaussian noise of the given variance (MATLAB ``imnoise(..., 'gaussian', 0, v)``)."""
    return x + _randn(tuple(x.shape), g, x.device) * _view(variances.sqrt())


def colour_noise(x: torch.Tensor, variances: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Gaussian noise of the given variance added to each YCbCr component."""
    y = rgb_to_ycbcr(x) + _randn(tuple(x.shape), g, x.device) * _view(variances.sqrt())
    return ycbcr_to_rgb(y)


def impulse_noise(x: torch.Tensor, densities: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Salt and pepper of the given density per sample value (MATLAB ``imnoise(..., 'salt & pepper', d)``)."""
    d = _view(densities)
    u = _rand(tuple(x.shape), g, x.device)
    out = torch.where(u < d / 2, torch.zeros_like(x), x)
    return torch.where((u >= d / 2) & (u < d), torch.ones_like(x), out)


def multiplicative_noise(x: torch.Tensor, variances: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Speckle: x + x * n, n Gaussian of the given variance (MATLAB ``imnoise(..., 'speckle', v)``)."""
    return x + x * _randn(tuple(x.shape), g, x.device) * _view(variances.sqrt())


def denoise(x: torch.Tensor, variances: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """White noise of the given variance, then a Gaussian denoiser (sigma = 1 + 10 * noise std).

    KADID denoises with DnCNN; a Gaussian filter leaves the same kind of artefact (smoothed
    texture plus residual low-frequency noise) without a second network.
    """
    noisy = white_noise(x, variances, g).clamp(0, 1)
    return _per_value(noisy, variances, lambda y, v: gaussian_blur(y, 1 + 10 * math.sqrt(v)))


# --- brightness and contrast --------------------------------------------------------------------

BRIGHTEN = (0.1, 0.2, 0.4, 0.7, 1.1)
DARKEN = (0.05, 0.1, 0.2, 0.4, 0.8)
MEAN_SHIFT = (0.03, 0.06, 0.09, 0.12, 0.15)
CONTRAST = (-0.28, -0.36, -0.44, -0.52, -0.6)


def _quadratic_curve(x: torch.Tensor, mid: torch.Tensor) -> torch.Tensor:
    """The parabola through (0, 0), (0.5, mid) and (1, 1), per image, clipped to [0, 1]."""
    a, b = _view(2 - 4 * mid), _view(4 * mid - 1)
    return (a * x * x + b * x).clamp(0, 1)


def brighten(x: torch.Tensor, amounts: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Tone curve through (0.5, 0.5 + amount / 2), on RGB and on L* (blended 2:1), as KADID's ``imbrighten``."""
    mid = 0.5 + 0.5 * amounts
    lab = rgb_to_lab(x)
    lab = torch.cat((_quadratic_curve(lab[:, :1] / 100, mid) * 100, lab[:, 1:]), dim=1)
    return (2 * _quadratic_curve(x, mid) + lab_to_rgb(lab)) / 3


def darken(x: torch.Tensor, amounts: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Tone curve through (0.5, 0.5 - amount / 2) on RGB, as KADID's ``imdarken``."""
    return _quadratic_curve(x, 0.5 - 0.5 * amounts)


def mean_shift(x: torch.Tensor, offsets: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Add the given offset to every value, with a random sign per image (brighter or darker)."""
    sign = torch.where(_rand((x.shape[0],), g, x.device) < 0.5, -1.0, 1.0)
    return x + _view(sign * offsets)


def contrast_change(x: torch.Tensor, amounts: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Tone curve through (0.3, 0.25 - c/4), (0.5, 0.5), (0.7, 0.75 + c/4) and the ends.

    c = -0.2 is the identity in KADID's parametrisation; the levels lower the contrast monotonically.
    """
    def curve(y: torch.Tensor, c: float) -> torch.Tensor:
        return _polyfit_curve(y, [0, 0.3, 0.5, 0.7, 1], [0, 0.25 - c / 4, 0.5, 0.75 + c / 4, 1])

    return _per_value(x, amounts, curve)


# --- spatial ------------------------------------------------------------------------------------

JITTER = (0.05, 0.1, 0.2, 0.5, 1.0)
NON_ECCENTRICITY = (20.0, 40.0, 60.0, 80.0, 100.0)
PIXELATE = (0.01, 0.05, 0.1, 0.2, 0.5)
QUANTIZATION = (20.0, 16.0, 13.0, 10.0, 7.0)
COLOUR_BLOCK = (2.0, 4.0, 6.0, 8.0, 10.0)
SHARPEN = (1.0, 2.0, 3.0, 6.0, 12.0)


def jitter(x: torch.Tensor, amounts: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Five successive warps by random per-pixel shifts N(0, amount^2) px, bicubic, reflect borders."""
    n, _, h, w = x.shape
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=torch.float32, device=x.device),
        torch.arange(w, dtype=torch.float32, device=x.device),
        indexing="ij",
    )
    amount = amounts.view(-1, 1, 1)
    out = x
    for _ in range(5):
        shift = _randn((n, h, w, 2), g, x.device) * amount.unsqueeze(-1)
        gx = (xs - shift[..., 1]) * 2 / max(w - 1, 1) - 1
        gy = (ys - shift[..., 0]) * 2 / max(h - 1, 1) - 1
        grid = torch.stack((gx, gy), dim=-1)
        out = F.grid_sample(out, grid, mode="bicubic", padding_mode="reflection", align_corners=True).clamp(0, 1)
    return out


def non_eccentricity(x: torch.Tensor, counts: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Copy ``count`` random patches to a random spot up to half a radius away (KADID: 16 px patches, radius 16)."""
    n, _, h, w = x.shape
    size = min(_scaled_size(x, 16), h // 3, w // 3)
    radius = size
    out = x.clone()
    for i in range(n):
        count = int(counts[i])
        u = _rand((count, 4), g, x.device).tolist()
        for a, b, c, d in u:
            top = int(a * (h - size - 2 * radius)) + radius
            left = int(b * (w - size - 2 * radius)) + radius
            dst_top = int((c - 0.5) * radius + top)
            dst_left = int((d - 0.5) * radius + left)
            patch = out[i, :, top : top + size, left : left + size].clone()
            out[i, :, dst_top : dst_top + size, dst_left : dst_left + size] = patch
    return out


def pixelate(x: torch.Tensor, amounts: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Nearest-neighbour downscale by z = 0.95 - amount^0.6 and back (KADID's ``impixelate``)."""
    h, w = x.shape[-2:]

    def apply(y: torch.Tensor, amount: float) -> torch.Tensor:
        z = 0.95 - amount**0.6
        small = F.interpolate(y, size=(max(1, int(z * h)), max(1, int(z * w))), mode="nearest")
        return F.interpolate(small, size=(h, w), mode="nearest")

    return _per_value(x, amounts, apply)


def quantization(x: torch.Tensor, counts: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Quantise each channel to ``n`` values evenly spaced over its own range (MATLAB: ``multithresh`` levels)."""
    steps = _view(counts - 1)
    lo = x.amin(dim=(2, 3), keepdim=True)
    span = (x.amax(dim=(2, 3), keepdim=True) - lo).clamp(min=1e-6)
    return torch.round((x - lo) / span * steps) / steps * span + lo


def colour_block(x: torch.Tensor, counts: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Paste ``count`` uniformly coloured square blocks (KADID: 32 px) at random places."""
    n, _, h, w = x.shape
    size = min(_scaled_size(x, 32), h, w)
    out = x.clone()
    for i in range(n):
        count = int(counts[i])
        u = _rand((count, 5), g, x.device)
        for c0, c1, c2, a, b in u.tolist():
            top, left = int(a * (h - size)), int(b * (w - size))
            colour = torch.tensor([c0, c1, c2], device=x.device).view(3, 1, 1)
            out[i, :, top : top + size, left : left + size] = colour
    return out


def high_sharpen(x: torch.Tensor, amounts: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Unsharp masking of L* (radius 1) with the given amount (MATLAB ``imsharpen(..., 'Amount', a)``)."""
    lab = rgb_to_lab(x)
    lum = lab[:, :1]
    detail = lum - separable(lum, gaussian_kernel1d(1.0, x.device))
    lum = (lum + _view(amounts) * detail).clamp(0, 100)
    return lab_to_rgb(torch.cat((lum, lab[:, 1:]), dim=1))


def _codec(codec: str, image: Image.Image, value: float, seed: int) -> Image.Image:
    """A codec as a host operation (deterministic: the seed is unused)."""
    return encode(image, codec, value)


def _chain(chain: Chain, image: Image.Image, value: float, seed: int) -> Image.Image:
    """A composite chain of :mod:`.chains` as a host operation (value: its strength, 1..5)."""
    return degrade(image, chain, value, seed)


# --- registry -----------------------------------------------------------------------------------

JPEG2000_RATIOS = (16.0, 32.0, 45.0, 120.0, 400.0)
JPEG_QUALITIES = (43.0, 36.0, 24.0, 7.0, 4.0)

# Wide tables (from barely visible to beyond KADID's most severe level), for the types whose KADID
# range stops short of what users' photos show; the others use their KADID levels.
WIDE: dict[str, tuple[float, ...]] = {
    "gaussian_blur": (0.5, 1.0, 2.0, 4.0, 8.0),
    "lens_blur": (1.0, 2.0, 4.0, 7.0, 12.0),
    "motion_blur": (2.0, 4.0, 8.0, 15.0, 25.0),
    "colour_quantization": (64.0, 32.0, 16.0, 8.0, 4.0),
    "jpeg2000": (20.0, 50.0, 120.0, 250.0, 500.0),
    "jpeg": (70.0, 40.0, 20.0, 10.0, 3.0),
    "white_noise": (0.0004, 0.0025, 0.01, 0.04, 0.16),  # sigma 0.02 .. 0.4
    "white_noise_colour_component": (0.0002, 0.001, 0.004, 0.016, 0.06),
    "impulse_noise": (0.002, 0.01, 0.03, 0.08, 0.15),
    "multiplicative_noise": (0.002, 0.01, 0.04, 0.12, 0.3),
    "denoise": (0.001, 0.003, 0.01, 0.03, 0.06),
    "pixelate": (0.01, 0.05, 0.2, 0.5, 0.8),
    "quantization": (20.0, 12.0, 8.0, 5.0, 3.0),
    "contrast_change": (-0.28, -0.44, -0.6, -0.72, -0.85),
}

DISTORTIONS: tuple[Distortion, ...] = tuple(
    Distortion(name, levels, apply, host, WIDE.get(name, ()))
    for name, levels, apply, host in (
        ("gaussian_blur", GAUSSIAN_BLUR, gaussian_blur_, None),
        ("lens_blur", LENS_BLUR, lens_blur, None),
        ("motion_blur", MOTION_BLUR, motion_blur, None),
        ("colour_diffusion", COLOUR_DIFFUSION, colour_diffusion, None),
        ("colour_shift", COLOUR_SHIFT, colour_shift, None),
        ("colour_quantization", COLOUR_QUANTIZATION, colour_quantization, None),
        ("colour_saturation_hsv", SATURATION_HSV, saturation_hsv, None),
        ("colour_saturation_lab", SATURATION_LAB, saturation_lab, None),
        ("jpeg2000", JPEG2000_RATIOS, None, partial(_codec, "JPEG2000")),
        ("jpeg", JPEG_QUALITIES, None, partial(_codec, "JPEG")),
        ("white_noise", WHITE_NOISE, white_noise, None),
        ("white_noise_colour_component", COLOUR_NOISE, colour_noise, None),
        ("impulse_noise", IMPULSE_NOISE, impulse_noise, None),
        ("multiplicative_noise", MULTIPLICATIVE_NOISE, multiplicative_noise, None),
        ("denoise", DENOISE, denoise, None),
        ("brighten", BRIGHTEN, brighten, None),
        ("darken", DARKEN, darken, None),
        ("mean_shift", MEAN_SHIFT, mean_shift, None),
        ("jitter", JITTER, jitter, None),
        ("non_eccentricity_patch", NON_ECCENTRICITY, non_eccentricity, None),
        ("pixelate", PIXELATE, pixelate, None),
        ("quantization", QUANTIZATION, quantization, None),
        ("colour_block", COLOUR_BLOCK, colour_block, None),
        ("high_sharpen", SHARPEN, high_sharpen, None),
        ("contrast_change", CONTRAST, contrast_change, None),
    )
)



def exposure(x: torch.Tensor, gains: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Multiply every value by the gain (a camera's exposure; highlights clip above 1)."""
    return x * _view(gains)


_DOWN_MODES = ("area", "bilinear", "bicubic", "nearest")


def resolution_loss(x: torch.Tensor, factors: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Downscale by the factor and back up (bicubic): lost resolution, as an upscaled small image shows it.

    The downscaling filter (area, antialiased bilinear or bicubic, nearest) is drawn per image, so
    no one resampler's artefacts become the cue.
    """
    modes = torch.randint(len(_DOWN_MODES), (x.shape[0],), generator=g, device=x.device).tolist()
    out = torch.empty_like(x)
    h, w = x.shape[-2:]
    for i, (factor, mode) in enumerate(zip(factors.tolist(), modes)):
        size = (max(1, round(h / factor)), max(1, round(w / factor)))
        name = _DOWN_MODES[mode]
        small = F.interpolate(x[i : i + 1], size=size, mode=name,
                              **({"antialias": True, "align_corners": False} if name in ("bilinear", "bicubic") else {}))
        out[i] = F.interpolate(small, size=(h, w), mode="bicubic", align_corners=False)[0]
    return out


# Types with wide levels only, for the ranking objective, the proxy heads and the benchmark (not
# classes of the contrastive objective: KADID has no exposure error). KADID's brighten and darken
# are tone curves that keep black and white; a wrong exposure scales everything.
EXTRA_WIDE: tuple[Distortion, ...] = (
    Distortion("underexposure", (), exposure, None, (0.8, 0.6, 0.4, 0.25, 0.12)),
    Distortion("overexposure", (), exposure, None, (1.25, 1.6, 2.0, 2.6, 3.4)),
    Distortion("resolution_loss", (), resolution_loss, None, (1.5, 2.0, 3.0, 4.0, 6.0)),
    Distortion("webp", (), None, partial(_codec, "WEBP"), (70.0, 40.0, 20.0, 10.0, 3.0)),
)
WIDE_TYPES: tuple[Distortion, ...] = DISTORTIONS + EXTRA_WIDE
"""Every single type with wide levels: the 25 KADID types (indices 0..24, as in class ids), then the extras."""
CHAIN_TYPES: tuple[Distortion, ...] = tuple(
    Distortion(chain.name, (), None, partial(_chain, chain), STRENGTHS) for chain in CHAINS
)
"""The composite chains of :mod:`.chains`, wide levels only (strengths 1..5)."""
SERIES_TYPES: tuple[Distortion, ...] = WIDE_TYPES + CHAIN_TYPES
"""Every type a series can have: :data:`WIDE_TYPES`, then :data:`CHAIN_TYPES`. Type indices index this."""
TYPE_INDEX = {d.name: i for i, d in enumerate(SERIES_TYPES)}


def class_id(type_index: int, level: int) -> int:
    """The class of distortion type ``type_index`` (0..24) at ``level`` (0..4); 0 is pristine."""
    if not (0 <= type_index < len(DISTORTIONS) and 0 <= level < LEVELS):
        raise ValueError(f"no distortion type {type_index} at level {level}: types are 0..24, levels 0..4")
    return type_index * LEVELS + level + 1


def split_class(cls: int) -> tuple[int, int]:
    """(type index, level 1..5) of a class id, as :func:`apply_host` takes them; pristine (0) is ``(0, 0)``."""
    if not 0 <= cls < NUM_CLASSES:
        raise ValueError(f"class id {cls} is outside 0..{NUM_CLASSES - 1}")
    return (0, 0) if cls == 0 else ((cls - 1) // LEVELS, (cls - 1) % LEVELS + 1)


def class_levels(classes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(type index, level) per class id, as :func:`distort` takes them: pristine (0) is level 0."""
    return (classes - 1).clamp(min=0) // LEVELS, torch.where(classes > 0, (classes - 1) % LEVELS + 1, 0)


def apply_host(image: Image.Image, type_index: int, level: int, table: LevelTable = "wide", seed: int = 0) -> Image.Image:
    """Apply a host type (codec or chain) at ``level`` (1..5) of ``table`` to one RGB image.

    Level 0 and the types that run on the training device return the image unchanged (those are
    :func:`distort`'s). ``seed`` fixes a chain's implementations and noise; the same seed at every
    level makes a series.
    """
    distortion = SERIES_TYPES[type_index]
    if level == 0 or distortion.host is None:
        return image
    return distortion.host(image, distortion.values(table)[level - 1], seed)


def distort(
    x: torch.Tensor, types: torch.Tensor, levels: torch.Tensor, generator: torch.Generator, table: LevelTable = "wide"
) -> torch.Tensor:
    """Apply type ``types[i]`` at ``levels[i]`` (0 = pristine, 1..5 of ``table``) to each image, on ``x``'s device.

    Level 0 and host types (codecs, chains: :func:`apply_host`, in the data workers) pass through.
    The result is clipped to [0, 1] and rounded to 8 bits, as a stored distorted image would be.

    Args:
        x: RGB images in [0, 1], shape (N, 3, H, W), float32.
        types: Type index per image (into :data:`SERIES_TYPES`), shape (N,).
        levels: Level per image (0..5), shape (N,).
        generator: Source of all randomness; must live on ``x``'s device.
        table: ``"kadid"`` (the contrastive classes' parameters) or ``"wide"``.

    Returns:
        The distorted images, shape (N, 3, H, W).
    """
    types, levels = types.to(x.device), levels.to(x.device)
    out = x.clone()
    for type_index in types[levels > 0].unique().tolist():
        distortion = SERIES_TYPES[type_index]
        if distortion.apply is None:
            continue
        sel = ((types == type_index) & (levels > 0)).nonzero().flatten()
        out[sel] = distortion.apply(x[sel], _params(levels[sel] - 1, distortion.values(table)), generator)
    return torch.round(out.clamp(0, 1) * 255) / 255


def distort_image(image: Image.Image, type_name: str, level: int, table: LevelTable = "wide", seed: int = 0) -> Image.Image:
    """Distort one RGB Pillow image with a named type at ``level`` (0 = unchanged, 1..5) on the CPU.

    Raises:
        ValueError: An unknown type name, a type without ``table``'s levels, or a level outside 0..5.
    """
    t = TYPE_INDEX.get(type_name)
    if t is None or not SERIES_TYPES[t].values(table) or not 0 <= level <= LEVELS:
        raise ValueError(f"no distortion {type_name!r} at {table} level {level}: levels are 0..{LEVELS}")
    x = _to_batch(apply_host(image.convert("RGB"), t, level, table, seed))
    return _to_image(distort(x, torch.tensor([t]), torch.tensor([level]), torch.Generator().manual_seed(seed), table))


def _to_image(x: torch.Tensor) -> Image.Image:
    return Image.fromarray((x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))


def _to_batch(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1).unsqueeze(0)
