"""Colour-space conversions as batched torch ops on (N, 3, H, W) tensors with RGB in [0, 1].

sRGB <-> CIELAB (D65, as MATLAB ``rgb2lab``), RGB <-> HSV, RGB <-> YCbCr (studio range, as MATLAB
``rgb2ycbcr``), and the paper's colour-space augmentations (grayscale, LAB, HSV, MSCN, none).
"""

from __future__ import annotations

import torch

from .filters import gaussian_kernel1d, separable

_RGB_TO_XYZ = torch.tensor(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)
_WHITE_D65 = torch.tensor([0.95047, 1.0, 1.08883])
_DELTA = 6.0 / 29.0

# The paper's colour-space augmentations, indexed by the choice a data worker draws.
AUGMENTATIONS: tuple[str, ...] = ("grayscale", "lab", "hsv", "mscn", "none")


def _mix(x: torch.Tensor, matrix: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,njhw->nihw", matrix.to(x), x)


def rgb_to_lab(x: torch.Tensor) -> torch.Tensor:
    """sRGB in [0, 1] -> L* in [0, 100], a*, b* (D65)."""
    lin = torch.where(x <= 0.04045, x / 12.92, ((x.clamp(min=0) + 0.055) / 1.055) ** 2.4)
    xyz = _mix(lin, _RGB_TO_XYZ) / _WHITE_D65.to(x).view(1, 3, 1, 1)
    f = torch.where(xyz > _DELTA**3, xyz.clamp(min=1e-12) ** (1 / 3), xyz / (3 * _DELTA**2) + 4 / 29)
    fx, fy, fz = f.unbind(1)
    return torch.stack((116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)), dim=1)


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """L*a*b* (D65) -> sRGB, clipped to [0, 1]."""
    l, a, b = lab.unbind(1)
    fy = (l + 16) / 116
    f = torch.stack((fy + a / 500, fy, fy - b / 200), dim=1)
    xyz = torch.where(f > _DELTA, f**3, 3 * _DELTA**2 * (f - 4 / 29)) * _WHITE_D65.to(lab).view(1, 3, 1, 1)
    lin = _mix(xyz, torch.linalg.inv(_RGB_TO_XYZ)).clamp(0, 1)
    return torch.where(lin <= 0.0031308, 12.92 * lin, 1.055 * lin ** (1 / 2.4) - 0.055).clamp(0, 1)


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] -> H, S, V each in [0, 1]."""
    r, g, b = x.unbind(1)
    v, _ = x.max(1)
    c = v - x.min(1).values
    safe = torch.where(c > 0, c, torch.ones_like(c))
    h = torch.where(v == r, ((g - b) / safe) % 6, torch.where(v == g, (b - r) / safe + 2, (r - g) / safe + 4))
    h = torch.where(c > 0, h / 6, torch.zeros_like(h))
    s = torch.where(v > 0, c / torch.where(v > 0, v, torch.ones_like(v)), torch.zeros_like(v))
    return torch.stack((h, s, v), dim=1)


def hsv_to_rgb(hsv: torch.Tensor) -> torch.Tensor:
    """H, S, V -> RGB, clipped to [0, 1]. S outside [0, 1] is allowed (as MATLAB ``hsv2rgb``)."""
    h, s, v = hsv.unbind(1)
    out = []
    for n in (5.0, 3.0, 1.0):
        k = (n + h * 6) % 6
        out.append(v - v * s * torch.clamp(torch.minimum(k, 4 - k), 0, 1))
    return torch.stack(out, dim=1).clamp(0, 1)


_YCBCR = torch.tensor([[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]]) / 255
_YCBCR_OFFSET = torch.tensor([16.0, 128.0, 128.0]) / 255


def rgb_to_ycbcr(x: torch.Tensor) -> torch.Tensor:
    """RGB in [0, 1] -> studio-range YCbCr in [0, 1] (MATLAB ``rgb2ycbcr`` on doubles)."""
    return _mix(x, _YCBCR) + _YCBCR_OFFSET.to(x).view(1, 3, 1, 1)


def ycbcr_to_rgb(y: torch.Tensor) -> torch.Tensor:
    """Studio-range YCbCr -> RGB, clipped to [0, 1]."""
    return _mix(y - _YCBCR_OFFSET.to(y).view(1, 3, 1, 1), torch.linalg.inv(_YCBCR)).clamp(0, 1)


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma, shape (N, 1, H, W)."""
    return (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)


def _minmax(x: torch.Tensor) -> torch.Tensor:
    lo = x.amin(dim=(2, 3), keepdim=True)
    hi = x.amax(dim=(2, 3), keepdim=True)
    return (x - lo) / (hi - lo + 1e-3 / 255)


def mscn(x: torch.Tensor) -> torch.Tensor:
    """The paper's "MSCN" view: each channel minus its local Gaussian mean (7 taps, sigma 7/6), min-max scaled."""
    return _minmax(x - separable(x, gaussian_kernel1d(7 / 6, x.device, radius=3)))


def augment_colour(x: torch.Tensor, choice: torch.Tensor) -> torch.Tensor:
    """Apply the colour-space augmentation ``AUGMENTATIONS[choice[i]]`` to image i.

    LAB and HSV are scaled to [0, 1] as Pillow stores them in 8 bits (L/100, (a+128)/255, (b+128)/255).

    Args:
        x: RGB images in [0, 1], shape (N, 3, H, W).
        choice: Index into ``AUGMENTATIONS`` per image, shape (N,).

    Returns:
        The augmented images, shape (N, 3, H, W).
    """
    out = x.clone()
    for index, name in enumerate(AUGMENTATIONS):
        sel = (choice == index).nonzero().flatten()
        if sel.numel() == 0 or name == "none":
            continue
        part = x[sel]
        if name == "grayscale":
            part = grayscale(part).expand(-1, 3, -1, -1)
        elif name == "lab":
            lab = rgb_to_lab(part)
            part = torch.stack((lab[:, 0] / 100, (lab[:, 1] + 128) / 255, (lab[:, 2] + 128) / 255), 1).clamp(0, 1)
        elif name == "hsv":
            part = rgb_to_hsv(part)
        else:
            part = mscn(part)
        out[sel] = part
    return out
