"""Natural-scene statistics of an image, in ONNX-exportable torch ops: the classical half of the feature.

BRISQUE (Mittal et al., IEEE TIP 2012) describes quality by the distribution of mean-subtracted,
contrast-normalised (MSCN) luminance coefficients and of the products of horizontally,
vertically and diagonally neighbouring coefficients. This module computes moments of those
distributions (instead of BRISQUE's generalised-Gaussian fits, which need a table look-up), plus
the image's brightness, its global and local contrast, and its clipped highlights and crushed
shadows, which MSCN normalises away:

===  ===========================================================================================
0    log E[m^2]                         (m: MSCN coefficients; 7x7 Gaussian window, sigma 7/6)
1    (E|m|)^2 / E[m^2]                  (a monotone function of the GGD shape parameter)
2    log (E[m^4] / E[m^2]^2)            (kurtosis)
3    log E[sigma]                       (mean local standard deviation: local contrast)
4    E[Y]                               (mean luminance, Y = 0.299 R + 0.587 G + 0.114 B)
5    log std(Y)                         (global contrast)
6+4k mean of the products p_k           (k = horizontal, vertical, main and anti diagonal)
7+4k log E[p^2 | p < 0]                 (left spread of the asymmetric distribution)
8+4k log E[p^2 | p > 0]                 (right spread)
9+4k (E|p|)^2 / E[p^2]                  (shape)
22   log (share of Y > 0.98 + 0.001)    (clipped highlights: over-exposure)
23   log (share of Y < 0.02 + 0.001)    (crushed shadows: under-exposure)
24   (E[Y] - 0.5)^2                     (distance of the mean luminance from mid-grey)
===  ===========================================================================================

Input: RGB in [0, 1], (N, 3, H, W) with H, W >= 8; output (N, ``model_config.NSS_DIM``) float32.
The runtime computes it at every scale of the bundle, like the learned feature; it has no weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_C = 1.0 / 255  # BRISQUE's stabilising constant (1 on 0..255 values)
_EPS = 1e-10
_LUMA = (0.299, 0.587, 0.114)


def _gaussian_window(size: int = 7, sigma: float = 7 / 6) -> torch.Tensor:
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(t**2) / (2 * sigma**2))
    w = g[:, None] * g[None, :]
    return (w / w.sum()).float().view(1, 1, size, size)


def _log(x: torch.Tensor) -> torch.Tensor:
    return torch.log(x + _EPS)


def _shape(x: torch.Tensor) -> torch.Tensor:
    """(E|x|)^2 / E[x^2] over H and W: 2/pi for a Gaussian, lower for heavier tails."""
    return x.abs().mean(dim=(2, 3)) ** 2 / (x.square().mean(dim=(2, 3)) + _EPS)


class NaturalSceneStatistics(nn.Module):
    """BRISQUE-style MSCN moments plus brightness, contrast and exposure: images -> (N, 25)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("window", _gaussian_window(), persistent=False)
        self.register_buffer("luma", torch.tensor(_LUMA).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = (x * self.luma).sum(dim=1, keepdim=True)
        pad = self.window.shape[-1] // 2
        mu = F.conv2d(F.pad(y, (pad, pad, pad, pad), mode="replicate"), self.window)
        mu2 = F.conv2d(F.pad(y * y, (pad, pad, pad, pad), mode="replicate"), self.window)
        sigma = (mu2 - mu * mu).clamp(min=0).sqrt()
        m = (y - mu) / (sigma + _C)
        m2 = m.square().mean(dim=(2, 3))
        stats = [
            _log(m2),
            _shape(m),
            _log(m.pow(4).mean(dim=(2, 3)) / (m2 * m2 + _EPS)),
            _log(sigma.mean(dim=(2, 3))),
            y.mean(dim=(2, 3)),
            0.5 * _log((y - y.mean(dim=(2, 3), keepdim=True)).square().mean(dim=(2, 3))),
        ]
        products = (
            m[:, :, :, :-1] * m[:, :, :, 1:],
            m[:, :, :-1, :] * m[:, :, 1:, :],
            m[:, :, :-1, :-1] * m[:, :, 1:, 1:],
            m[:, :, :-1, 1:] * m[:, :, 1:, :-1],
        )
        for p in products:
            neg = (p < 0).to(p.dtype)
            pos = (p > 0).to(p.dtype)
            sq = p.square()
            stats += [
                p.mean(dim=(2, 3)),
                _log((sq * neg).sum(dim=(2, 3)) / (neg.sum(dim=(2, 3)) + 1)),
                _log((sq * pos).sum(dim=(2, 3)) / (pos.sum(dim=(2, 3)) + 1)),
                _shape(p),
            ]
        mean = y.mean(dim=(2, 3))
        stats += [
            torch.log((y > 0.98).to(y.dtype).mean(dim=(2, 3)) + 1e-3),
            torch.log((y < 0.02).to(y.dtype).mean(dim=(2, 3)) + 1e-3),
            (mean - 0.5).square(),
        ]
        return torch.cat(stats, dim=1)


