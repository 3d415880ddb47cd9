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

Every logarithm and denominator is floored at 1e-10, so a flat image (one colour, no texture) gets
finite values, the same for every colour but 4, 22-24: log(1e-10) for the logarithms of moments,
0 for the shapes and product means (``tests/export/test_nss.py`` checks them through a real ONNX export).

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


def _floor(x: torch.Tensor) -> torch.Tensor:
    """``max(x, 1e-10)``: what a logarithm or a denominator gets, so that a flat image (zero
    contrast, zero MSCN energy) has finite statistics.

    Written as a clamp, not as ``x + 1e-10``: the ONNX exporter's optimiser (onnxscript's ``add_0``
    rule, which compares constants to 0 with ``abs_tol=1e-8``) removes ``x + 1e-10`` as adding
    zero, and the exported graph then takes ``log(0)`` and ``0 / 0`` on flat images. For any
    value above 0.002 the two agree exactly in float32 (1e-10 is less than half its ulp).
    """
    return x.clamp(min=_EPS)


def _log(x: torch.Tensor) -> torch.Tensor:
    return torch.log(_floor(x))


def _shape(x: torch.Tensor) -> torch.Tensor:
    """(E|x|)^2 / E[x^2] over H and W: 2/pi for a Gaussian, lower for heavier tails (0 for all zeros)."""
    return x.abs().mean(dim=(2, 3)) ** 2 / _floor(x.square().mean(dim=(2, 3)))


class NaturalSceneStatistics(nn.Module):
    """BRISQUE-style MSCN moments plus brightness, contrast and exposure: images -> (N, 25)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("window", _gaussian_window(), persistent=False)
        self.register_buffer("luma", torch.tensor(_LUMA).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = (x * self.luma).sum(dim=1, keepdim=True)
        mean = y.mean(dim=(2, 3), keepdim=True)
        # Local moments of the luminance minus the midpoint of its range (exactly the value of a
        # flat image, which its float32 mean need not be): the same MSCN coefficients, but the local
        # variance E[y^2] - E[y]^2 no longer cancels two numbers near 1 in float32, whose rounding
        # gave flat bright images a local contrast of about 3e-4 and flat images of each colour
        # different statistics. A flat image now has exactly zero local contrast.
        y0 = y - (y.amax(dim=(2, 3), keepdim=True) + y.amin(dim=(2, 3), keepdim=True)) / 2
        pad = self.window.shape[-1] // 2
        mu = F.conv2d(F.pad(y0, (pad, pad, pad, pad), mode="replicate"), self.window)
        mu2 = F.conv2d(F.pad(y0 * y0, (pad, pad, pad, pad), mode="replicate"), self.window)
        sigma = (mu2 - mu * mu).clamp(min=0).sqrt()
        m = (y0 - mu) / (sigma + _C)
        m2 = m.square().mean(dim=(2, 3))
        stats = [
            _log(m2),
            _shape(m),
            _log(m.pow(4).mean(dim=(2, 3)) / _floor(m2 * m2)),
            _log(sigma.mean(dim=(2, 3))),
            mean.flatten(1),
            0.5 * _log((y - mean).square().mean(dim=(2, 3))),
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
        stats += [
            torch.log((y > 0.98).to(y.dtype).mean(dim=(2, 3)) + 1e-3),
            torch.log((y < 0.02).to(y.dtype).mean(dim=(2, 3)) + 1e-3),
            (mean.flatten(1) - 0.5).square(),
        ]
        return torch.cat(stats, dim=1)


