"""Batched 2-D filtering on (N, C, H, W) tensors with replicate borders (MATLAB ``imfilter(..., 'replicate')``)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def gaussian_kernel1d(sigma: float, device: torch.device, radius: int | None = None) -> torch.Tensor:
    """A normalised 1-D Gaussian of standard deviation ``sigma`` and half-width ``ceil(3 sigma)`` (at least 1)."""
    r = max(1, math.ceil(3 * sigma)) if radius is None else radius
    t = torch.arange(-r, r + 1, dtype=torch.float32, device=device)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def separable(x: torch.Tensor, kernel1d: torch.Tensor) -> torch.Tensor:
    """Filter every channel of ``x`` with ``kernel1d`` along H and then W (replicate borders)."""
    n, c, h, w = x.shape
    r = kernel1d.numel() // 2
    y = x.reshape(n * c, 1, h, w)
    y = F.conv2d(F.pad(y, (0, 0, r, r), mode="replicate"), kernel1d.view(1, 1, -1, 1))
    y = F.conv2d(F.pad(y, (r, r, 0, 0), mode="replicate"), kernel1d.view(1, 1, 1, -1))
    return y.reshape(n, c, h, w)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of every channel (kernel half-width ``ceil(3 sigma)``, replicate borders)."""
    return separable(x, gaussian_kernel1d(sigma, x.device))


def filter2d(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Filter each image with its own odd-sized kernel (correlation, replicate borders).

    Args:
        x: Images, shape (N, C, H, W).
        kernels: One kernel per image, shape (N, k, k) with k odd, or (k, k) for all.

    Returns:
        The filtered images, shape (N, C, H, W).
    """
    n, c, h, w = x.shape
    if kernels.dim() == 2:
        kernels = kernels.expand(n, -1, -1)
    k = kernels.shape[-1]
    r = k // 2
    weight = kernels.to(x.dtype).repeat_interleave(c, dim=0).unsqueeze(1)  # (N*C, 1, k, k)
    y = F.pad(x.reshape(1, n * c, h, w), (r, r, r, r), mode="replicate")
    return F.conv2d(y, weight, groups=n * c).reshape(n, c, h, w)
