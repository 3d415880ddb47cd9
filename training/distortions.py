"""The 25 KADID-10k / KADIS-700k distortion types at 5 levels each, generated on the fly.

Class ids: ``0`` is pristine; type ``t`` (0..24, order of :data:`DISTORTIONS`) at level ``l`` (0..4,
mildest first) is class ``t * 5 + l + 1``, so there are :data:`NUM_CLASSES` = 126 classes.

Pixel distortions are batched torch ops that run on the training device (:func:`distort`).
The two codecs (JPEG, JPEG2000) go through Pillow on the CPU (:func:`apply_codec`), in the data
workers; :func:`distort` leaves their classes unchanged. Parameters follow the KADID-10k MATLAB
generator (``imdist_generator.m``); the few deviations are listed in ``docs/training.md``.
All randomness comes from the ``torch.Generator`` passed in, so results are reproducible.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .colour import hsv_to_rgb, lab_to_rgb, rgb_to_hsv, rgb_to_lab, rgb_to_ycbcr, ycbcr_to_rgb
from .filters import filter2d, gaussian_blur, gaussian_kernel1d, separable

LEVELS = 5
# KADID-10k images are 512 x 384: block and patch sizes given in pixels scale with sqrt(area / this).
_KADID_AREA = 512 * 384

Apply = Callable[[torch.Tensor, torch.Tensor, torch.Generator], torch.Tensor]


@dataclass(frozen=True)
class Distortion:
    """One distortion type: its name, its parameter at each of the 5 levels, and how it is applied.

    ``apply(x, levels, generator)`` takes RGB images in [0, 1] (N, 3, H, W) and each image's level
    index (N,) and returns the distorted images; it is ``None`` for the CPU codecs.
    """

    name: str
    levels: tuple[float, ...]
    apply: Apply | None
    codec: str | None = None


def _params(levels: torch.Tensor, values: tuple[float, ...]) -> torch.Tensor:
    """Per-image parameter values as a float tensor (N,)."""
    return torch.tensor(values, dtype=torch.float32, device=levels.device)[levels]


def _per_level(x: torch.Tensor, levels: torch.Tensor, fn: Callable[[torch.Tensor, int], torch.Tensor]) -> torch.Tensor:
    """Apply ``fn(images, level)`` to the images of each level present (for level-dependent kernels)."""
    out = torch.empty_like(x)
    for level in levels.unique().tolist():
        sel = (levels == level).nonzero().flatten()
        out[sel] = fn(x[sel], int(level))
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

GAUSSIAN_BLUR = (0.1, 0.5, 1.0, 2.0, 5.0)
LENS_BLUR = (1.0, 2.0, 4.0, 6.0, 8.0)
MOTION_BLUR = (1.0, 2.0, 4.0, 6.0, 10.0)


def gaussian_blur_(x: torch.Tensor, levels: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    return _per_level(x, levels, lambda y, l: gaussian_blur(y, GAUSSIAN_BLUR[l]))


def disk_kernel(radius: float, device: torch.device, supersample: int = 16) -> torch.Tensor:
    """Pillbox kernel (MATLAB ``fspecial('disk', r)``): each tap is the disk's area over that pixel."""
    r = math.ceil(radius - 0.5)
    n = (2 * r + 1) * supersample
    t = (torch.arange(n, dtype=torch.float32, device=device) + 0.5) / supersample - (r + 0.5)
    inside = (t.view(-1, 1) ** 2 + t.view(1, -1) ** 2 <= radius**2).float()
    k = inside.view(2 * r + 1, supersample, 2 * r + 1, supersample).mean(dim=(1, 3))
    return k / k.sum()


def lens_blur(x: torch.Tensor, levels: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    return _per_level(x, levels, lambda y, l: filter2d(y, disk_kernel(LENS_BLUR[l], y.device)))


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


def motion_blur(x: torch.Tensor, levels: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    angles = _rand((x.shape[0],), g, x.device) * 180
    return filter2d(x, motion_kernels(_params(levels, MOTION_BLUR), angles))


# --- colour -------------------------------------------------------------------------------------

COLOUR_DIFFUSION = (1.0, 3.0, 6.0, 8.0, 12.0)
COLOUR_SHIFT = (1.0, 3.0, 6.0, 8.0, 12.0)
COLOUR_QUANTIZATION = (64.0, 48.0, 32.0, 16.0, 8.0)
SATURATION_HSV = (0.4, 0.2, 0.1, 0.0, -0.4)
SATURATION_LAB = (1.5, 2.0, 3.0, 6.0, 9.0)


def colour_diffusion(x: torch.Tensor, levels: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Blur the a* and b* channels with sigma = 1.5 * amount + 2 (L* untouched)."""
    lab = rgb_to_lab(x)

    def blur(ab: torch.Tensor, level: int) -> torch.Tensor:
        return gaussian_blur(ab, 1.5 * COLOUR_DIFFUSION[level] + 2)

    lab = torch.cat((lab[:, :1], _per_level(lab[:, 1:], levels, blur)), dim=1)
    return lab_to_rgb(lab)


def _gradient(x: torch.Tensor, dim: int) -> torch.Tensor:
    """Central differences inside, one-sided at the borders (numpy/MATLAB ``gradient``)."""
    return torch.gradient(x, dim=dim)[0]


def _normalise(e: torch.Tensor) -> torch.Tensor:
    lo = e.amin(dim=(1, 2, 3), keepdim=True)
    hi = e.amax(dim=(1, 2, 3), keepdim=True)
    return torch.where(hi > lo, (e - lo) / (hi - lo).clamp(min=1e-12), e)


def colour_shift(x: torch.Tensor, levels: torch.Tensor, g: torch.Generator) -> torch.Tensor:
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
    shifts = torch.round(direction * _params(levels, COLOUR_SHIFT).view(-1, 1)).long()
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


def colour_quantization(x: torch.Tensor, levels: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Reduce each image to ``k`` colours without dithering (k-means in RGB; MATLAB: ``rgb2ind``)."""
    out = torch.empty_like(x)
    for i in range(x.shape[0]):
        k = int(COLOUR_QUANTIZATION[int(levels[i])])
        pixels = x[i].flatten(1).T.contiguous()
        out[i] = _kmeans_quantize(pixels, k, g).T.reshape(x[i].shape)
    return out


def saturation_hsv(x: torch.Tensor, levels: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Multiply HSV saturation by the level's factor (negative factors push to the opposite hue)."""
    hsv = rgb_to_hsv(x)
    hsv = torch.cat((hsv[:, :1], hsv[:, 1:2] * _view(_params(levels, SATURATION_HSV)), hsv[:, 2:]), dim=1)
    return hsv_to_rgb(hsv)


def saturation_lab(x: torch.Tensor, levels: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Multiply the a* and b* channels by the level's factor."""
    lab = rgb_to_lab(x)
    lab = torch.cat((lab[:, :1], lab[:, 1:] * _view(_params(levels, SATURATION_LAB))), dim=1)
    return lab_to_rgb(lab)


# --- noise --------------------------------------------------------------------------------------

WHITE_NOISE = (0.001, 0.002, 0.003, 0.005, 0.01)
COLOUR_NOISE = (0.0001, 0.0005, 0.001, 0.002, 0.003)
IMPULSE_NOISE = (0.001, 0.005, 0.01, 0.02, 0.03)
MULTIPLICATIVE_NOISE = (0.001, 0.005, 0.01, 0.02, 0.05)
DENOISE = (0.001, 0.002, 0.003, 0.005, 0.01)


def white_noise(x: torch.Tensor, levels: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Additive Gaussian noise of the level's variance (MATLAB ``imnoise(..., 'gaussian', 0, v)``)."""
    return x + _randn(tuple(x.shape), g, x.device) * _view(_params(levels, WHITE_NOISE).sqrt())


def colour_noise(x: torch.Tensor, levels: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Gaussian noise of the level's variance added to each YCbCr component."""
    y = rgb_to_ycbcr(x) + _randn(tuple(x.shape), g, x.device) * _view(_params(levels, COLOUR_NOISE).sqrt())
    return ycbcr_to_rgb(y)


def impulse_noise(x: torch.Tensor, levels: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Salt and pepper of the level's density per sample value (MATLAB ``imnoise(..., 'salt & pepper', d)``)."""
    d = _view(_params(levels, IMPULSE_NOISE))
    u = _rand(tuple(x.shape), g, x.device)
    out = torch.where(u < d / 2, torch.zeros_like(x), x)
    return torch.where((u >= d / 2) & (u < d), torch.ones_like(x), out)


def multiplicative_noise(x: torch.Tensor, levels: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Speckle: x + x * n, n Gaussian of the level's variance (MATLAB ``imnoise(..., 'speckle', v)``)."""
    return x + x * _randn(tuple(x.shape), g, x.device) * _view(_params(levels, MULTIPLICATIVE_NOISE).sqrt())


def denoise(x: torch.Tensor, levels: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """White noise of the level's variance, then a Gaussian denoiser (sigma = 1 + 10 * noise std).

    KADID denoises with DnCNN; a Gaussian filter leaves the same kind of artefact (smoothed
    texture plus residual low-frequency noise) without a second network.
    """
    noisy = white_noise(x, levels, g).clamp(0, 1)
    return _per_level(noisy, levels, lambda y, l: gaussian_blur(y, 1 + 10 * math.sqrt(DENOISE[l])))


# --- brightness and contrast --------------------------------------------------------------------

BRIGHTEN = (0.1, 0.2, 0.4, 0.7, 1.1)
DARKEN = (0.05, 0.1, 0.2, 0.4, 0.8)
MEAN_SHIFT = (0.03, 0.06, 0.09, 0.12, 0.15)
CONTRAST = (-0.28, -0.36, -0.44, -0.52, -0.6)


def _quadratic_curve(x: torch.Tensor, mid: torch.Tensor) -> torch.Tensor:
    """The parabola through (0, 0), (0.5, mid) and (1, 1), per image, clipped to [0, 1]."""
    a, b = _view(2 - 4 * mid), _view(4 * mid - 1)
    return (a * x * x + b * x).clamp(0, 1)


def brighten(x: torch.Tensor, levels: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Tone curve through (0.5, 0.5 + amount / 2), on RGB and on L* (blended 2:1), as KADID's ``imbrighten``."""
    mid = 0.5 + 0.5 * _params(levels, BRIGHTEN)
    lab = rgb_to_lab(x)
    lab = torch.cat((_quadratic_curve(lab[:, :1] / 100, mid) * 100, lab[:, 1:]), dim=1)
    return (2 * _quadratic_curve(x, mid) + lab_to_rgb(lab)) / 3


def darken(x: torch.Tensor, levels: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Tone curve through (0.5, 0.5 - amount / 2) on RGB, as KADID's ``imdarken``."""
    return _quadratic_curve(x, 0.5 - 0.5 * _params(levels, DARKEN))


def mean_shift(x: torch.Tensor, levels: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Add the level's offset to every value, with a random sign per image (brighter or darker)."""
    sign = torch.where(_rand((x.shape[0],), g, x.device) < 0.5, -1.0, 1.0)
    return x + _view(sign * _params(levels, MEAN_SHIFT))


def contrast_change(x: torch.Tensor, levels: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Tone curve through (0.3, 0.25 - c/4), (0.5, 0.5), (0.7, 0.75 + c/4) and the ends.

    c = -0.2 is the identity in KADID's parametrisation; the levels lower the contrast monotonically.
    """
    def curve(y: torch.Tensor, level: int) -> torch.Tensor:
        c = CONTRAST[level]
        return _polyfit_curve(y, [0, 0.3, 0.5, 0.7, 1], [0, 0.25 - c / 4, 0.5, 0.75 + c / 4, 1])

    return _per_level(x, levels, curve)


# --- spatial ------------------------------------------------------------------------------------

JITTER = (0.05, 0.1, 0.2, 0.5, 1.0)
NON_ECCENTRICITY = (20.0, 40.0, 60.0, 80.0, 100.0)
PIXELATE = (0.01, 0.05, 0.1, 0.2, 0.5)
QUANTIZATION = (20.0, 16.0, 13.0, 10.0, 7.0)
COLOUR_BLOCK = (2.0, 4.0, 6.0, 8.0, 10.0)
SHARPEN = (1.0, 2.0, 3.0, 6.0, 12.0)


def jitter(x: torch.Tensor, levels: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Five successive warps by random per-pixel shifts N(0, amount^2) px, bicubic, reflect borders."""
    n, _, h, w = x.shape
    ys, xs = torch.meshgrid(
        torch.arange(h, dtype=torch.float32, device=x.device),
        torch.arange(w, dtype=torch.float32, device=x.device),
        indexing="ij",
    )
    amount = _params(levels, JITTER).view(-1, 1, 1)
    out = x
    for _ in range(5):
        shift = _randn((n, h, w, 2), g, x.device) * amount.unsqueeze(-1)
        gx = (xs - shift[..., 1]) * 2 / max(w - 1, 1) - 1
        gy = (ys - shift[..., 0]) * 2 / max(h - 1, 1) - 1
        grid = torch.stack((gx, gy), dim=-1)
        out = F.grid_sample(out, grid, mode="bicubic", padding_mode="reflection", align_corners=True).clamp(0, 1)
    return out


def non_eccentricity(x: torch.Tensor, levels: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Copy ``count`` random patches to a random spot up to half a radius away (KADID: 16 px patches, radius 16)."""
    n, _, h, w = x.shape
    size = min(_scaled_size(x, 16), h // 3, w // 3)
    radius = size
    out = x.clone()
    for i in range(n):
        count = int(NON_ECCENTRICITY[int(levels[i])])
        u = _rand((count, 4), g, x.device).tolist()
        for a, b, c, d in u:
            top = int(a * (h - size - 2 * radius)) + radius
            left = int(b * (w - size - 2 * radius)) + radius
            dst_top = int((c - 0.5) * radius + top)
            dst_left = int((d - 0.5) * radius + left)
            patch = out[i, :, top : top + size, left : left + size].clone()
            out[i, :, dst_top : dst_top + size, dst_left : dst_left + size] = patch
    return out


def pixelate(x: torch.Tensor, levels: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Nearest-neighbour downscale by z = 0.95 - amount^0.6 and back (KADID's ``impixelate``)."""
    h, w = x.shape[-2:]

    def apply(y: torch.Tensor, level: int) -> torch.Tensor:
        z = 0.95 - PIXELATE[level] ** 0.6
        small = F.interpolate(y, size=(max(1, int(z * h)), max(1, int(z * w))), mode="nearest")
        return F.interpolate(small, size=(h, w), mode="nearest")

    return _per_level(x, levels, apply)


def quantization(x: torch.Tensor, levels: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Quantise each channel to ``n`` values evenly spaced over its own range (MATLAB: ``multithresh`` levels)."""
    steps = _view(_params(levels, QUANTIZATION) - 1)
    lo = x.amin(dim=(2, 3), keepdim=True)
    span = (x.amax(dim=(2, 3), keepdim=True) - lo).clamp(min=1e-6)
    return torch.round((x - lo) / span * steps) / steps * span + lo


def colour_block(x: torch.Tensor, levels: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Paste ``count`` uniformly coloured square blocks (KADID: 32 px) at random places."""
    n, _, h, w = x.shape
    size = min(_scaled_size(x, 32), h, w)
    out = x.clone()
    for i in range(n):
        count = int(COLOUR_BLOCK[int(levels[i])])
        u = _rand((count, 5), g, x.device)
        for c0, c1, c2, a, b in u.tolist():
            top, left = int(a * (h - size)), int(b * (w - size))
            colour = torch.tensor([c0, c1, c2], device=x.device).view(3, 1, 1)
            out[i, :, top : top + size, left : left + size] = colour
    return out


def high_sharpen(x: torch.Tensor, levels: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Unsharp masking of L* (radius 1) with the level's amount (MATLAB ``imsharpen(..., 'Amount', a)``)."""
    lab = rgb_to_lab(x)
    lum = lab[:, :1]
    detail = lum - separable(lum, gaussian_kernel1d(1.0, x.device))
    lum = (lum + _view(_params(levels, SHARPEN)) * detail).clamp(0, 100)
    return lab_to_rgb(torch.cat((lum, lab[:, 1:]), dim=1))


# --- registry -----------------------------------------------------------------------------------

JPEG2000_RATIOS = (16.0, 32.0, 45.0, 120.0, 400.0)
JPEG_QUALITIES = (43.0, 36.0, 24.0, 7.0, 4.0)

DISTORTIONS: tuple[Distortion, ...] = (
    Distortion("gaussian_blur", GAUSSIAN_BLUR, gaussian_blur_),
    Distortion("lens_blur", LENS_BLUR, lens_blur),
    Distortion("motion_blur", MOTION_BLUR, motion_blur),
    Distortion("colour_diffusion", COLOUR_DIFFUSION, colour_diffusion),
    Distortion("colour_shift", COLOUR_SHIFT, colour_shift),
    Distortion("colour_quantization", COLOUR_QUANTIZATION, colour_quantization),
    Distortion("colour_saturation_hsv", SATURATION_HSV, saturation_hsv),
    Distortion("colour_saturation_lab", SATURATION_LAB, saturation_lab),
    Distortion("jpeg2000", JPEG2000_RATIOS, None, codec="JPEG2000"),
    Distortion("jpeg", JPEG_QUALITIES, None, codec="JPEG"),
    Distortion("white_noise", WHITE_NOISE, white_noise),
    Distortion("white_noise_colour_component", COLOUR_NOISE, colour_noise),
    Distortion("impulse_noise", IMPULSE_NOISE, impulse_noise),
    Distortion("multiplicative_noise", MULTIPLICATIVE_NOISE, multiplicative_noise),
    Distortion("denoise", DENOISE, denoise),
    Distortion("brighten", BRIGHTEN, brighten),
    Distortion("darken", DARKEN, darken),
    Distortion("mean_shift", MEAN_SHIFT, mean_shift),
    Distortion("jitter", JITTER, jitter),
    Distortion("non_eccentricity_patch", NON_ECCENTRICITY, non_eccentricity),
    Distortion("pixelate", PIXELATE, pixelate),
    Distortion("quantization", QUANTIZATION, quantization),
    Distortion("colour_block", COLOUR_BLOCK, colour_block),
    Distortion("high_sharpen", SHARPEN, high_sharpen),
    Distortion("contrast_change", CONTRAST, contrast_change),
)
NUM_CLASSES = len(DISTORTIONS) * LEVELS + 1  # 126: pristine plus 25 types x 5 levels


def class_id(type_index: int, level: int) -> int:
    """The class of distortion type ``type_index`` (0..24) at ``level`` (0..4); 0 is pristine."""
    if not (0 <= type_index < len(DISTORTIONS) and 0 <= level < LEVELS):
        raise ValueError(f"no distortion type {type_index} at level {level}: types are 0..24, levels 0..4")
    return type_index * LEVELS + level + 1


def split_class(cls: int) -> tuple[int, int] | None:
    """(type index, level) of a class id, or ``None`` for pristine (0)."""
    if not 0 <= cls < NUM_CLASSES:
        raise ValueError(f"class id {cls} is outside 0..{NUM_CLASSES - 1}")
    return None if cls == 0 else divmod(cls - 1, LEVELS)


def is_codec(cls: int) -> bool:
    """Whether a class is a codec distortion (JPEG, JPEG2000), applied on the CPU by :func:`apply_codec`."""
    parts = split_class(cls)
    return parts is not None and DISTORTIONS[parts[0]].codec is not None


def apply_codec(image: Image.Image, cls: int) -> Image.Image:
    """Encode and decode an RGB image with the class's codec at its level (other classes: unchanged).

    JPEG uses the level's quality (4:2:0 chroma subsampling, Pillow's default); JPEG2000 the level's
    compression ratio (irreversible 9/7 wavelet, one quality layer), as MATLAB ``imwrite`` does.
    """
    if not is_codec(cls):
        return image
    type_index, level = divmod(cls - 1, LEVELS)
    distortion = DISTORTIONS[type_index]
    buffer = io.BytesIO()
    if distortion.codec == "JPEG":
        image.save(buffer, format="JPEG", quality=int(distortion.levels[level]))
    else:
        ratio = distortion.levels[level]
        image.save(buffer, format="JPEG2000", quality_mode="rates", quality_layers=[ratio], irreversible=True)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


def distort(x: torch.Tensor, classes: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Apply each image's pixel distortion class on ``x``'s device.

    Pristine (0) and codec classes pass through unchanged (codecs were applied in the data workers).
    The result is clipped to [0, 1] and rounded to 8 bits, as a stored distorted image would be.

    Args:
        x: RGB images in [0, 1], shape (N, 3, H, W), float32.
        classes: Class id per image, shape (N,), int.
        generator: Source of all randomness; must live on ``x``'s device.

    Returns:
        The distorted images, shape (N, 3, H, W).
    """
    out = x.clone()
    classes = classes.to(x.device)
    types = torch.where(classes > 0, (classes - 1) // LEVELS, -1)
    for type_index in types.unique().tolist():
        if type_index < 0 or DISTORTIONS[type_index].apply is None:
            continue
        sel = (types == type_index).nonzero().flatten()
        levels = (classes[sel] - 1) % LEVELS
        out[sel] = DISTORTIONS[type_index].apply(x[sel], levels, generator)
    return torch.round(out.clamp(0, 1) * 255) / 255


def distort_image(image: Image.Image, cls: int, seed: int = 0) -> Image.Image:
    """Distort one RGB Pillow image with class ``cls`` on the CPU (for grids, probes and tests)."""
    image = apply_codec(image.convert("RGB"), cls)
    x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1).unsqueeze(0)
    generator = torch.Generator().manual_seed(seed)
    y = distort(x, torch.tensor([cls]), generator)
    return Image.fromarray((y[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
