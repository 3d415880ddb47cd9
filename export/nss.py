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

Flat areas (a clipped sky, a border, a synthetic background) leave float rounding where a flat image
has zeros: a local variance of about 1e-8 and products ``p`` of about 1e-9 whose signs are noise. A
local variance up to :data:`VARIANCE_FLOOR` counts as zero, and a product within
:data:`PRODUCT_DEAD_ZONE` of zero counts as neither negative nor positive in 7+4k and 8+4k. Before
(graphs exported up to 2026-12-06, v2.4's among them) those signs decided the counts of
E[p^2 | p > 0]: computed with the window's two 1-D passes instead of one 7x7 pass (the same
function up to rounding), its logarithm moved by up to 1.9 on 60 images of the training photos'
proxy set, so any other summation order (another CPU's kernels, CUDA) could move it too. With the
bounds the two computations agree within 1e-3 on 150 of those images. Real texture is far from
both: one grey level of contrast gives a local variance near 1.5e-5 and products near 0.1.

With ``pairs`` (model option ``nss_pairs``), the 325 products ``z_i * z_j`` (i <= j, row-major) of
the standardised statistics ``z = (s - REFERENCE_MEAN) / REFERENCE_SCALE`` follow the 25 values.
Quality is not monotone in most statistics: a pristine photo's MSCN distribution lies between
blur's (peaked, strongly correlated neighbours) and noise's (Gaussian, uncorrelated), so a linear
head on the statistics alone cannot tell "far from natural in either direction" and reads noise
added after blur as restored detail. With the squares and products a linear head is any quadratic
function of the statistics, the kind of boundary BRISQUE's RBF support-vector regression draws.
The reference values only condition the ridge fit (any fixed values span the same functions): they
are the mean and standard deviation of each statistic over the 3,588 images of the training
photos' chains proxy set at both scales (``docs/default-model.md``, measured 2026-12-04).

Input: RGB in [0, 1], (N, 3, H, W) with H, W >= 8; output (N, ``model_config.NSS_DIM``) float32,
or (N, ``NSS_DIM + NSS_PAIRS``) with ``pairs``. The runtime computes it at every scale of the
bundle, like the learned feature; it has no weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_C = 1.0 / 255  # BRISQUE's stabilising constant (1 on 0..255 values)
_EPS = 1e-10
VARIANCE_FLOOR = 1e-7
"""Local variances up to this (a standard deviation of 0.08 grey levels) are float rounding: zero."""
PRODUCT_DEAD_ZONE = 1e-4
"""Neighbour products within this of zero have no sign (flat areas' rounding, not texture)."""
_LUMA = (0.299, 0.587, 0.114)

REFERENCE_MEAN = (
    -1.6514, 0.5716, 1.3073, -3.3211, 0.5035, -1.7528, 0.0714, -3.3557, -2.6166, 0.3295, 0.0507, -3.2353, -2.7308,
    0.3333, 0.006, -2.9359, -3.0418, 0.3414, 0.0068, -2.9421, -3.0352, 0.3411, -5.5251, -6.0742, 0.0338,
)
"""Mean of each statistic over the training photos' chains proxy set, both scales (for ``pairs``)."""
REFERENCE_SCALE = (
    0.7761, 0.1208, 0.4237, 0.6872, 0.1839, 0.4351, 0.0546, 1.8745, 1.1212, 0.1049, 0.0514, 1.8339, 1.1404,
    0.1051, 0.0383, 1.7624, 1.1467, 0.1049, 0.0398, 1.7572, 1.1479, 0.1048, 2.0592, 1.3703, 0.0511,
)
"""Standard deviation of each statistic over the same images (for ``pairs``)."""


def _gaussian(size: int = 7, sigma: float = 7 / 6) -> torch.Tensor:
    """The normalised 1-D Gaussian whose outer product with itself is the 7x7 MSCN window."""
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(t**2) / (2 * sigma**2))
    return (g / g.sum()).float()


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
    """BRISQUE-style MSCN moments plus brightness, contrast and exposure: images -> (N, 25), and with
    ``pairs`` their standardised pairwise products: images -> (N, 350)."""

    def __init__(self, pairs: bool = False) -> None:
        super().__init__()
        self.pairs = pairs
        g = _gaussian()
        # The window is separable: one pass down the columns, one along the rows, each for both local
        # moments at once (two channels, depthwise): 14 multiplications a pixel instead of 49.
        self.register_buffer("window_rows", g.view(1, 1, -1, 1).repeat(2, 1, 1, 1), persistent=False)
        self.register_buffer("window_cols", g.view(1, 1, 1, -1).repeat(2, 1, 1, 1), persistent=False)
        self.register_buffer("luma", torch.tensor(_LUMA).view(1, 1, 3), persistent=False)
        self.register_buffer("reference_mean", torch.tensor(REFERENCE_MEAN), persistent=False)
        self.register_buffer("reference_scale", torch.tensor(REFERENCE_SCALE), persistent=False)
        i, j = torch.triu_indices(len(REFERENCE_MEAN), len(REFERENCE_MEAN))
        self.register_buffer("pair_index", i * len(REFERENCE_MEAN) + j, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stats = self.statistics(x)
        if not self.pairs:
            return stats
        z = (stats - self.reference_mean) / self.reference_scale
        products = (z.unsqueeze(2) * z.unsqueeze(1)).flatten(1)
        return torch.cat((stats, products.index_select(1, self.pair_index)), dim=1)

    def statistics(self, x: torch.Tensor) -> torch.Tensor:
        """The 25 statistics of the table above, (N, 25)."""
        n, _, h, w = x.shape
        # a MatMul over the channels: onnxruntime's broadcast multiply and sum take ten times longer
        y = torch.matmul(self.luma, x.reshape(n, 3, h * w)).reshape(n, 1, h, w)
        mean = y.mean(dim=(2, 3), keepdim=True)
        # Local moments of the luminance minus the midpoint of its range (exactly the value of a
        # flat image, which its float32 mean need not be): the same MSCN coefficients, but the local
        # variance E[y^2] - E[y]^2 no longer cancels two numbers near 1 in float32, whose rounding
        # gave flat bright images a local contrast of about 3e-4 and flat images of each colour
        # different statistics. A flat image now has exactly zero local contrast.
        y0 = y - (y.amax(dim=(2, 3), keepdim=True) + y.amin(dim=(2, 3), keepdim=True)) / 2
        pad = self.window_rows.shape[2] // 2
        moments = F.pad(torch.cat((y0, y0 * y0), dim=1), (pad, pad, pad, pad), mode="replicate")
        moments = F.conv2d(F.conv2d(moments, self.window_rows, groups=2), self.window_cols, groups=2)
        mu, mu2 = moments[:, :1], moments[:, 1:]
        sigma = (mu2 - mu * mu - VARIANCE_FLOOR).clamp(min=0).sqrt()
        m = (y0 - mu) / (sigma + _C)
        msq = m * m
        m2 = msq.mean(dim=(2, 3))
        stats = [
            _log(m2),
            _shape(m),
            _log((msq * msq).mean(dim=(2, 3)) / _floor(m2 * m2)),
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
            neg = (p < -PRODUCT_DEAD_ZONE).to(p.dtype)
            pos = (p > PRODUCT_DEAD_ZONE).to(p.dtype)
            sq = p * p
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


