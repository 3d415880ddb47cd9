"""Quality benchmark: do scores fall as distortion rises, and order photos as full-reference metrics do? (prints figures)

A no-reference quality model should rank the same photo lower the more it is distorted, and rank
different photos as their distortion warrants. Every validation photo is distorted with each
distortion kind at levels 1..5 (barely visible to beyond KADID-10k's most severe level); with the
photo itself as level 0 that makes one series of 6 images per (photo, kind). Two measures:

- **per series**: the Spearman correlation between ``-level`` and the higher-is-better score of
  each series, +1 when the score falls at every step; the table gives the mean over photos per
  kind and over all series of a set. A series whose scores are all equal counts as 0 (the output
  says how many there were); a series with an image a contender failed on is left out for that
  contender only (counted in the output).
- **cross-content**: the Spearman correlation, over ALL images of a set (every photo, kind and
  level, the undistorted photos included), between the higher-is-better score and a
  full-reference proxy computed against each image's own undistorted photo: the mean rank of six
  piq metrics that need no downloaded weights, MDSI, GMSD, VSI, HaarPSI, MS-SSIM and FSIMc, each
  called with ``data_range=1.0, reduction='none'`` and piq's defaults, oriented so that higher is
  better (MDSI and GMSD negated) and ranked over the set's images with ties at their mean rank
  (:mod:`contrique_training.fullref` documents each call). Images a contender failed on are left
  out of its correlation (the proxy keeps its ranks over the whole set). The JSON also gives the
  correlation with each metric alone.

Scores of heads with ``higher_is_better`` False and BRISQUE scores (lower is better) are negated first.

This is a benchmark that prints figures, not a timed test: it checks nothing and fails on nothing
but bad arguments or missing models.

Photos: every image under ``../shared/photos/val`` (recursively, ``contrique_infer.inputs.list_images``;
never ``photos/train``), each first downscaled with Lanczos so that its longer side is at most
``--max-side`` (512) px to keep the run short; level 0 is that downscaled photo, shared by all
series of the photo. Every image is made once, in memory, one photo at a time, and every contender
scores the same pixels. Random distortions use a fixed seed per (photo, kind) (CRC-32 of
``"<photo path>/<kind>"``), the same at every level of a series, so reruns are identical.

Set a: the 27 types of ``contrique_training.distortions.WIDE_TYPES`` at their wide levels
(``distort_image``; the parameter tables are in the JSON output).

Set b: implementations this project did not write (scikit-image, SciPy, Pillow); values on
images in [0, 1], results clipped and rounded to 8 bits:

=================  =====================================  ==========================================
kind               parameter, levels 1..5                 implementation
=================  =====================================  ==========================================
gaussian_noise     sigma 0.02, 0.05, 0.1, 0.2, 0.4        skimage.util.random_noise, mode gaussian
shot_noise         peak photons 1000, 200, 50, 12, 3      numpy Generator.poisson(x * peak) / peak
salt_pepper        fraction of samples 0.002, 0.01,       skimage.util.random_noise, mode s&p
                   0.03, 0.08, 0.15                       (each channel sample on its own)
gaussian_blur      sigma px 0.5, 1, 2, 4, 8               skimage.filters.gaussian (reflect)
defocus_blur       disk radius px 1, 2, 4, 7, 12          scipy.ndimage.convolve, skimage disk kernel
motion_blur        line length px 3, 6, 10, 16, 25        scipy.ndimage.convolve, skimage.draw.line_aa
                   (ends rounded to whole px)             kernel at a seeded angle per series
jpeg               quality 70, 35, 15, 7, 3               Pillow JPEG encoder (4:2:0)
jpeg2000           compression ratio 15, 40, 100, 250,    Pillow JPEG2000 (OpenJPEG), rates mode,
                   600                                    irreversible 9/7 wavelet
pixelate           factor 1.5, 2, 4, 8, 16                Pillow resize NEAREST down by the factor,
                                                          then NEAREST back up
contrast           factor 0.8, 0.6, 0.4, 0.25, 0.15       PIL.ImageEnhance.Contrast (towards the
                                                          mean grey)
darken             factor 0.85, 0.7, 0.5, 0.3, 0.15       PIL.ImageEnhance.Brightness
brighten           factor 1.15, 1.35, 1.6, 2.0, 2.6       PIL.ImageEnhance.Brightness (clips)
=================  =====================================  ==========================================

For comparison, KADID-10k's most severe levels: Gaussian blur sigma 5, lens blur radius 8, motion
blur length 10, white noise sigma 0.1, impulse noise 3 %, JPEG quality about 4, JPEG2000 ratio 400.

Set c: real-world composite degradations, chains of ``albumentations`` (2.x) transforms run by one
``albumentations.Compose(seed=<series seed>)`` per image, every parameter fixed per level (ranges
of one value), with Pillow's WebP and AVIF encoders as steps where named; every step of a chain
gets stronger with the level. Downscale shrinks by the scale and resizes back to the original size
(OpenCV interpolation down / up); GaussNoise std is a fraction of 255; ShotNoise scale is the
inverse photon count per unit intensity (Poisson); JPEG and WebP without "Pillow" are OpenCV's
encoders (``ImageCompression``):

=====================  ===============================================================================
chain                  steps, in order, with their parameter at levels 1..5
=====================  ===============================================================================
blur_resize_iso_jpeg   GaussianBlur sigma px 0.3, 0.6, 1.0, 1.5, 2.2 -> Downscale scale 0.9, 0.75,
                       0.6, 0.45, 0.3 (AREA / LINEAR) -> ISONoise color_shift 0.01, 0.015, 0.02,
                       0.03, 0.04 and intensity 0.05, 0.1, 0.2, 0.3, 0.45 -> JPEG quality 90, 70,
                       50, 30, 15
blur_resize_gauss_     GaussianBlur as above -> Downscale as above (AREA / CUBIC) -> GaussNoise std
webp                   0.01, 0.02, 0.035, 0.055, 0.08 per channel -> Pillow WebP quality 80, 60, 40,
                       20, 5
resize_iso_avif        Downscale scale 0.85, 0.7, 0.55, 0.4, 0.3 (LANCZOS4 / LANCZOS4) -> ISONoise
                       as above -> Pillow AVIF quality 70, 50, 35, 20, 8
resize_twice_jpeg      Downscale scale 0.85, 0.7, 0.55, 0.42, 0.3 (AREA / CUBIC) -> JPEG quality 85
                       -> Downscale scale 0.9, 0.8, 0.7, 0.6, 0.5 (LINEAR / LINEAR) -> JPEG quality 85
defocus_iso_jpeg       Defocus radius px 1, 2, 3, 5, 7 (alias_blur 0.1) -> ISONoise as above -> JPEG
                       quality 85, 65, 45, 30, 15
motion_gauss_webp      MotionBlur kernel px 3, 5, 9, 13, 19 (centred, angle drawn from the series
                       seed) -> GaussNoise as above -> WebP quality 80, 60, 40, 20, 5
shot_denoise_jpeg      ShotNoise scale 0.0005, 0.001, 0.002, 0.004, 0.008 -> GaussianBlur sigma px
                       0.5, 0.7, 0.9, 1.2, 1.5 (a camera's denoising) -> JPEG quality 90, 75, 60, 45, 30
=====================  ===============================================================================

Set d: a fourth library, ``kornia`` (its own torch implementations; ``pip install kornia``, with
torch from the ``train`` extra), added on 2026-12-04 after the default model v2 was chosen on sets
a, b and c, as a check no model was selected on. Images in [0, 1] as (1, 3, H, W) float32, results
clipped and rounded to 8 bits; random draws from ``torch.manual_seed`` of a number drawn from the
series seed:

=================  =====================================  ==========================================
kind               parameter, levels 1..5                 implementation
=================  =====================================  ==========================================
motion_blur        kernel px 3, 7, 11, 17, 25             kornia.filters.motion_blur, angle drawn
                                                          per series, direction 0, reflect
box_blur           kernel px 3, 5, 9, 15, 25              kornia.filters.box_blur (reflect)
median_blur        kernel px 3, 5, 7, 11, 15              kornia.filters.median_blur
gaussian_noise     std 0.02, 0.05, 0.1, 0.2, 0.35         kornia.augmentation.RandomGaussianNoise
salt_pepper        amount 0.005, 0.02, 0.05, 0.1, 0.2     kornia.augmentation.RandomSaltAndPepperNoise
                                                          (salt vs pepper 0.5)
jpeg               quality 60, 35, 20, 10, 4              kornia.enhance.jpeg_codec_differentiable
                                                          (a differentiable JPEG in torch)
resolution_loss    factor 1.5, 2, 3, 4, 6                 kornia.geometry.transform.rescale down
                                                          (bilinear, antialiased), back up (bicubic)
posterize          bits 6, 5, 4, 3, 2                     kornia.enhance.posterize
over_sharpen       factor 3, 6, 12, 24, 48                kornia.enhance.sharpness
gamma_dark         gamma 1.3, 1.7, 2.2, 3, 4              kornia.enhance.adjust_gamma
=================  =====================================  ==========================================

Set e: a fifth library, libvips (``pyvips`` with the ``pyvips-binary`` wheel, libvips 8.18, the image
library behind many thumbnailing and delivery services), added on 2026-12-05 after the default model
v2.4 was chosen, as a check no model was selected on. Every step is a libvips operation on the 8-bit
sRGB photo (``pyvips.Image.new_from_array``); results are rounded and clipped to 8 bits; noise comes
from ``gaussnoise`` seeded from the series seed, and codecs encode to a buffer and decode with libvips:

=================  =====================================  ==========================================
kind               parameter, levels 1..5                 implementation
=================  =====================================  ==========================================
gaussian_blur      sigma px 0.6, 1.2, 2, 3.5, 6           vips gaussblur
motion_blur        line length px 3, 6, 10, 16, 25        vips conv with a vips draw_line mask at an
                                                          angle per series, normalised
median             window px 3, 5, 7, 9, 13               vips median (a denoiser's smearing)
gaussian_noise     sigma of 255: 5, 12, 25, 45, 75        vips gaussnoise, one field per band, added
impulse_noise      fraction of samples 0.005, 0.02,       vips gaussnoise beyond the two-sided
                   0.05, 0.1, 0.2                         threshold of that fraction: 255 or 0
                                                          (each band sample on its own)
pixelate           block px 2, 3, 4, 6, 8                 vips shrink (box mean), zoom (replication)
resolution_loss    factor 1.5, 2, 3, 4, 6                 vips resize down (lanczos3), back up (cubic)
jpeg_mozjpeg       quality 60, 35, 20, 10, 4              vips jpegsave with mozjpeg's trellis
                                                          quantisation, overshoot deringing, scan
                                                          optimisation and quant table 3
webp               quality 50, 30, 15, 6, 1               vips webpsave (libwebp)
avif               quality 50, 35, 22, 12, 4              vips heifsave, AV1 (libheif with aom)
palette            bits per pixel 7, 6, 5, 4, 3           vips gifsave (libimagequant palette,
                                                          dithered)
=================  =====================================  ==========================================

Contenders: bundles (``--bundle LABEL=PATH`` or ``LABEL=PATH@HEAD``; the head applied to the
features of ``QualityScorer.features_many``, the same numbers as ``score_many``; bundles with the
same encoder file, by the manifest's SHA-256, and input contract share one feature pass, so head
candidates on one network cost little more than one of them), the packaged default model
(``--default``, skipped with a note if none is installed) and BRISQUE (the ``brisque`` package with
OpenCV, with a fix for NumPy >= 2.4; ``--no-brisque`` to skip; ``--jobs N`` scores it in N
processes).

Ablation heads (``--ablation PROXY_DIR``, a proxy set made from TRAINING photos with
``python -m contrique_training.proxy make``; refused when its photos folder or any of its photos is
among the benchmark's): for every bundle whose architecture has the natural-scene statistics
(``+nss`` or ``+nss2`` in the manifest's ``architecture``), three ridge heads on the bundle's features of the
proxy set, fitted as ``contrique_training.proxy`` fits its ``quality`` head (standardised features,
alpha from ``PROXY_ALPHAS`` by 5-fold cross-validation separated by photo, ``fit_final``; the
target is the set's ``quality.csv``, or with ``--ablation-target fr6`` its six-metric rank proxy,
``contrique_training.proxy.target_csv``): ``LABEL:nss`` on the statistics alone (the last
``contrique_export.model_config.statistics_dim(architecture)`` values of each per-scale block of
``feature.per_scale_dim`` values, in ``feature.layout`` order: the 25 statistics, and with ``+nss2``
their 325 pairwise products), ``LABEL:learned`` on the rest (the pooled CNN feature), ``LABEL:both``
on all of it (on the proxy set the bundle's ``quality`` head was fitted on, it is that head again).
Each is a contender of its own, on the bundle's features (computed once per image). Their proxy
cross-validated SRCC (``run_protocol``, 10 splits by photo) is in the JSON. ``--ablation-group-weight
GROUP[@SCALE]=W`` (repeatable) weighs feature groups as ``proxy heads --group-weight`` does
(``contrique_training.proxy.column_weights``), on the columns each head reads.

Random-initialised encoder (``--random-init LABEL=SPEC``, needs ``--ablation``): a network of the
architecture SPEC (a contrique-train checkpoint, whose ``model_config`` is used, or a JSON object
of ``model_config`` keys, e.g. ``{"arch": "resnet18", "stages": 3, "nss": true}``, with ``max_side``
and ``scales`` (2, 3 or 4, ``contrique-export --scales``) for the input contract), weights from
``torch.manual_seed(--random-seed)`` and torchvision's initialisation, exported (fp32) with
``contrique_export.exporter.export_bundle`` into a temporary folder, and scored with the three
heads above (``LABEL:nss``, ``LABEL:learned``, ``LABEL:both``: the random-initialised encoder with
the same heads).

Against a baseline (``--baseline LABEL``, e.g. the current default model): every other
contender's per-series mean and cross-content correlation minus the baseline's, set by set, each
with its spread over photos: the photos are resampled with replacement ``--resamples`` times
(1000; each photo with all its images, every contender on the same draw;
``contrique_training.evaluation.bootstrap.photo_bootstrap``), and the table gives the observed
difference, the interval holding the central 90 % of the resampled differences and the share of
draws in which the contender is below the baseline. With a dozen photos a difference of 0.01 is
usually inside that interval: read "at least as good on every measure" with it.

Full-reference values do not depend on the contenders: they are computed once per image (about
1.6 s per 512 px image on a busy 2-core CPU, FSIM most of it) and kept in a cache file
(``--fr-cache``, default ``bench-quality-fullref.json`` in the evaluation feature cache folder,
``$CONTRIQUE_EVAL_CACHE``) keyed by the SHA-256 of the image's and its photo's pixels, so a rerun
(another contender, same images) computes none.

Timing: per 512 px image on a busy 2-core CPU, BRISQUE about 0.15 s, a ResNet-50 bundle about 0.9 s
(2 threads), making set a about 0.025 s, b 0.03 s, c 0.1 s (AVIF 0.3 s), d 0.05 s and e 0.1 s (AVIF and
palette 0.3 to 0.5 s); a full run scores about 4,500 images per contender (13 photos x (1 + 69 kinds x
5 levels)).

Usage:
    python benchmarks/bench_quality.py --bundle default=contrique_infer/models/default --json out.json
    python benchmarks/bench_quality.py --default --ablation proxy/train \\
        --random-init 'random={"arch": "resnet18", "stages": 3, "nss": true}' --json out.json
    python benchmarks/bench_quality.py --bundle mine=path/to/bundle@koniq --set a --set c --limit-photos 2 \\
        [--default] [--no-brisque] [--jobs 2] [--max-side 512] [--markdown table.md]
    python benchmarks/bench_quality.py --bundle old=contrique_infer/models/default --bundle new=bundles/new \\
        --baseline old --no-brisque

stdout: a Markdown table (rows: distortion kinds by set, each set's mean over all series and its
cross-content correlation; columns: contenders; cells: mean Spearman over photos), photo count,
levels, max side and wall time per contender, then a summary table: per contender and set, the
per-series mean and the cross-content correlation, marked against BRISQUE's (+ above, = tied,
- below), and the set-b kinds where it is above BRISQUE; with ``--baseline``, a last table of the
differences against the baseline. Progress goes to stderr. ``--json PATH`` writes every per-series
and per-image value too (scores, full-reference values), with the parameter tables, photos, heads,
versions and date.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import math
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import warnings
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageEnhance
from PIL import features as pil_features
from scipy import ndimage

from contrique_export.fidelity import spearman
from contrique_infer.commands import positive_int
from contrique_infer.inputs import list_images

if TYPE_CHECKING:
    from contrique_infer import QualityScorer
    from contrique_infer.bundle import Manifest
    from contrique_training.evaluation.datasets import Dataset
    from contrique_training.evaluation.protocol import ProtocolConfig

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO.parent / "shared" / "photos"
LEVELS = 5

Scored = tuple[float | None, str | None]  # (score, error message)
Featured = tuple[np.ndarray | None, str | None]  # (feature, error message)


# --- set b: distortions from other libraries ------------------------------------------------------

def _floats(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float64) / 255


def _image(x: np.ndarray) -> Image.Image:
    return Image.fromarray((np.clip(x, 0, 1) * 255).round().astype(np.uint8))


def _random_noise(mode: str, **kwargs: float) -> Callable[[Image.Image, float, np.random.Generator], Image.Image]:
    from skimage.util import random_noise

    def apply(image: Image.Image, value: float, rng: np.random.Generator) -> Image.Image:
        amount = {"var": value**2} if mode == "gaussian" else {"amount": value}
        return _image(random_noise(_floats(image), mode=mode, rng=rng, **amount, **kwargs))

    return apply


def shot_noise(image: Image.Image, peak: float, rng: np.random.Generator) -> Image.Image:
    """Poisson noise with ``peak`` expected photons at white."""
    return _image(rng.poisson(_floats(image) * peak) / peak)


def gaussian_blur(image: Image.Image, sigma: float, rng: np.random.Generator) -> Image.Image:
    from skimage.filters import gaussian

    return _image(gaussian(_floats(image), sigma=sigma, mode="reflect", channel_axis=-1))


def _convolve(image: Image.Image, kernel: np.ndarray) -> Image.Image:
    return _image(ndimage.convolve(_floats(image), (kernel / kernel.sum())[:, :, None], mode="reflect"))


def defocus_blur(image: Image.Image, radius: float, rng: np.random.Generator) -> Image.Image:
    from skimage.morphology import disk

    return _convolve(image, disk(int(radius)).astype(np.float64))


def motion_blur(image: Image.Image, length: float, rng: np.random.Generator) -> Image.Image:
    """A line of ``length`` px at an angle drawn from ``rng`` (the same for every level of a series)."""
    from skimage.draw import line_aa

    angle = rng.uniform(0, math.pi)
    half = (length - 1) / 2
    size = 2 * math.ceil(half) + 1
    dr, dc = round(half * math.sin(angle)), round(half * math.cos(angle))
    c = size // 2
    rows, cols, weights = line_aa(c - dr, c - dc, c + dr, c + dc)
    kernel = np.zeros((size, size))
    kernel[rows, cols] = weights
    return _convolve(image, kernel)


def _codec(image: Image.Image, **options: Any) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, **options)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


def jpeg(image: Image.Image, quality: float, rng: np.random.Generator) -> Image.Image:
    return _codec(image, format="JPEG", quality=int(quality))


def jpeg2000(image: Image.Image, ratio: float, rng: np.random.Generator) -> Image.Image:
    return _codec(image, format="JPEG2000", quality_mode="rates", quality_layers=[ratio], irreversible=True)


def pixelate(image: Image.Image, factor: float, rng: np.random.Generator) -> Image.Image:
    small = (max(1, round(image.width / factor)), max(1, round(image.height / factor)))
    return image.resize(small, Image.Resampling.NEAREST).resize(image.size, Image.Resampling.NEAREST)


def contrast(image: Image.Image, factor: float, rng: np.random.Generator) -> Image.Image:
    return ImageEnhance.Contrast(image).enhance(factor)


def brightness(image: Image.Image, factor: float, rng: np.random.Generator) -> Image.Image:
    return ImageEnhance.Brightness(image).enhance(factor)


@dataclass(frozen=True)
class Kind:
    """A set-b, set-d or set-e distortion kind: its parameter per level (1..5) and its implementation."""

    name: str
    parameter: str
    values: tuple[float, ...]
    implementation: str
    apply: Callable[[Image.Image, float, np.random.Generator], Image.Image]

    def to_dict(self) -> dict[str, Any]:
        return {"parameter": self.parameter, "values": list(self.values), "implementation": self.implementation}


def set_b() -> tuple[Kind, ...]:
    """The set-b kinds (the table of the module docstring)."""
    return (
        Kind("gaussian_noise", "sigma on [0, 1]", (0.02, 0.05, 0.1, 0.2, 0.4),
             "skimage.util.random_noise(mode='gaussian', var=sigma**2)", _random_noise("gaussian")),
        Kind("shot_noise", "peak photon count at white", (1000, 200, 50, 12, 3),
             "numpy.random.Generator.poisson(x * peak) / peak", shot_noise),
        Kind("salt_pepper", "fraction of samples replaced", (0.002, 0.01, 0.03, 0.08, 0.15),
             "skimage.util.random_noise(mode='s&p', salt_vs_pepper=0.5)", _random_noise("s&p", salt_vs_pepper=0.5)),
        Kind("gaussian_blur", "sigma px", (0.5, 1, 2, 4, 8),
             "skimage.filters.gaussian(mode='reflect')", gaussian_blur),
        Kind("defocus_blur", "disk radius px", (1, 2, 4, 7, 12),
             "scipy.ndimage.convolve with skimage.morphology.disk, normalised", defocus_blur),
        Kind("motion_blur", "line length px", (3, 6, 10, 16, 25),
             "scipy.ndimage.convolve with a skimage.draw.line_aa line at a seeded angle", motion_blur),
        Kind("jpeg", "quality", (70, 35, 15, 7, 3), "Pillow JPEG encoder (4:2:0)", jpeg),
        Kind("jpeg2000", "compression ratio", (15, 40, 100, 250, 600),
             "Pillow JPEG2000 (OpenJPEG), quality_mode='rates', irreversible", jpeg2000),
        Kind("pixelate", "downscale factor", (1.5, 2, 4, 8, 16),
             "Pillow resize NEAREST down by the factor, NEAREST back up", pixelate),
        Kind("contrast", "factor", (0.8, 0.6, 0.4, 0.25, 0.15), "PIL.ImageEnhance.Contrast", contrast),
        Kind("darken", "factor", (0.85, 0.7, 0.5, 0.3, 0.15), "PIL.ImageEnhance.Brightness", brightness),
        Kind("brighten", "factor", (1.15, 1.35, 1.6, 2.0, 2.6), "PIL.ImageEnhance.Brightness", brightness),
    )


# --- set d: a fourth library (kornia) ---------------------------------------------------------------

def _kornia(operation: Callable[..., Any],
            seeded: bool = False) -> Callable[[Image.Image, float, np.random.Generator], Image.Image]:
    """A set-d kind: ``operation(x, value, rng)`` on the image as a (1, 3, H, W) tensor in [0, 1]; with
    ``seeded``, after ``torch.manual_seed`` of a number drawn from the series' generator ``rng``."""

    def apply(image: Image.Image, value: float, rng: np.random.Generator) -> Image.Image:
        import torch

        x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)[None]
        if seeded:
            torch.manual_seed(int(rng.integers(2**31)))
        with torch.no_grad():
            y = operation(x, value, rng)
        return _image(y[0].permute(1, 2, 0).double().numpy())

    return apply


def set_d() -> tuple[Kind, ...]:
    """The set-d kinds (the table of the module docstring)."""
    import kornia
    import kornia.augmentation as aug

    def rescaled(x: Any, factor: float, rng: np.random.Generator) -> Any:
        small = kornia.geometry.transform.rescale(x, 1 / factor, interpolation="bilinear", antialias=True)
        return kornia.geometry.transform.resize(small, x.shape[-2:], interpolation="bicubic")

    filters, enhance = kornia.filters, kornia.enhance
    return (
        Kind("motion_blur", "kernel px", (3, 7, 11, 17, 25), "kornia.filters.motion_blur, angle per series",
             _kornia(lambda x, k, rng: filters.motion_blur(x, int(k), float(rng.uniform(0, 180)), 0.0))),
        Kind("box_blur", "kernel px", (3, 5, 9, 15, 25), "kornia.filters.box_blur",
             _kornia(lambda x, k, rng: filters.box_blur(x, (int(k), int(k))))),
        Kind("median_blur", "kernel px", (3, 5, 7, 11, 15), "kornia.filters.median_blur",
             _kornia(lambda x, k, rng: filters.median_blur(x, (int(k), int(k))))),
        Kind("gaussian_noise", "std on [0, 1]", (0.02, 0.05, 0.1, 0.2, 0.35), "kornia.augmentation.RandomGaussianNoise",
             _kornia(lambda x, std, rng: aug.RandomGaussianNoise(std=std, p=1.0)(x), seeded=True)),
        Kind("salt_pepper", "amount", (0.005, 0.02, 0.05, 0.1, 0.2), "kornia.augmentation.RandomSaltAndPepperNoise",
             _kornia(lambda x, a, rng: aug.RandomSaltAndPepperNoise(amount=(a, a), salt_vs_pepper=(0.5, 0.5),
                                                                     p=1.0)(x), seeded=True)),
        Kind("jpeg", "quality", (60, 35, 20, 10, 4), "kornia.enhance.jpeg_codec_differentiable",
             _kornia(lambda x, q, rng: enhance.jpeg_codec_differentiable(x, x.new_tensor([float(q)])))),
        Kind("resolution_loss", "factor", (1.5, 2, 3, 4, 6),
             "kornia rescale down (bilinear, antialiased), resize back up (bicubic)", _kornia(rescaled)),
        Kind("posterize", "bits", (6, 5, 4, 3, 2), "kornia.enhance.posterize",
             _kornia(lambda x, bits, rng: enhance.posterize(x, int(bits)))),
        Kind("over_sharpen", "factor", (3, 6, 12, 24, 48), "kornia.enhance.sharpness",
             _kornia(lambda x, f, rng: enhance.sharpness(x, float(f)))),
        Kind("gamma_dark", "gamma", (1.3, 1.7, 2.2, 3, 4), "kornia.enhance.adjust_gamma",
             _kornia(lambda x, g, rng: enhance.adjust_gamma(x, float(g)))),
    )


# --- set e: a fifth library (libvips) ----------------------------------------------------------------

def _vips(operation: Callable[[Any, float, np.random.Generator], Any]
          ) -> Callable[[Image.Image, float, np.random.Generator], Image.Image]:
    """A set-e kind: ``operation(image, value, rng)`` on the photo as an 8-bit sRGB ``pyvips.Image``; the
    result (any band format) is rounded and clipped to 8 bits, its first three bands kept."""

    def apply(image: Image.Image, value: float, rng: np.random.Generator) -> Image.Image:
        import pyvips

        result = operation(pyvips.Image.new_from_array(np.asarray(image)), value, rng).numpy()
        pixels = np.atleast_3d(result)[..., :3]
        if pixels.shape[-1] == 1:
            pixels = np.repeat(pixels, 3, axis=-1)
        return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))

    return apply


def _vips_codec(suffix: str, level_option: str = "Q",
                **options: Any) -> Callable[[Any, float, np.random.Generator], Any]:
    """Encode with libvips' saver for ``suffix``, its ``level_option`` set to the level's value (quality
    ``Q`` by default), and decode with libvips."""

    def codec(image: Any, value: float, rng: np.random.Generator) -> Any:
        import pyvips

        return pyvips.Image.new_from_buffer(image.write_to_buffer(suffix, **{level_option: int(value)}, **options), "")

    return codec


def _vips_noise(image: Any, rng: np.random.Generator) -> Any:
    """Three bands of unit Gaussian noise from libvips, seeded from ``rng`` (the same at every level)."""
    import pyvips

    seed = int(rng.integers(2**31 - 3))
    first, *rest = (pyvips.Image.gaussnoise(image.width, image.height, sigma=1.0, mean=0.0, seed=seed + band)
                    for band in range(3))
    return first.bandjoin(rest)


def _vips_impulse(image: Any, fraction: float, rng: np.random.Generator) -> Any:
    """Salt and pepper per band sample: where libvips' unit noise passes the two-sided threshold that
    ``fraction`` of samples exceed, the sample becomes 255 (positive) or 0 (negative)."""
    from scipy.stats import norm

    noise, threshold = _vips_noise(image, rng), float(norm.isf(fraction / 2))
    return (noise > threshold).ifthenelse(255, (noise < -threshold).ifthenelse(0, image))


def _vips_motion(image: Any, length: float, rng: np.random.Generator) -> Any:
    """A line of ``length`` px drawn by libvips at an angle drawn from ``rng``, normalised, convolved."""
    import pyvips

    angle = rng.uniform(0, math.pi)
    half = (length - 1) / 2
    size = 2 * math.ceil(half) + 1
    c, dx, dy = size // 2, round(half * math.cos(angle)), round(half * math.sin(angle))
    mask = pyvips.Image.black(size, size).draw_line(1, c - dx, c - dy, c + dx, c + dy)
    return image.conv(mask / (mask.avg() * size * size), precision="float")


def _vips_pixelate(image: Any, factor: float, rng: np.random.Generator) -> Any:
    """Blocks of ``factor`` px: libvips box shrink, then pixel replication, edges extended to the size."""
    f = int(factor)
    return image.shrink(f, f).zoom(f, f).embed(0, 0, image.width, image.height, extend="copy")


def _vips_resolution(image: Any, factor: float, rng: np.random.Generator) -> Any:
    """Down by ``factor`` with libvips' Lanczos-3 kernel, back to the size with its bicubic kernel."""
    small = image.resize(1 / factor, kernel="lanczos3")
    return small.resize(image.width / small.width, vscale=image.height / small.height, kernel="cubic")


def set_e() -> tuple[Kind, ...]:
    """The set-e kinds (the table of the module docstring)."""
    import pyvips  # noqa: F401 - fails here, with the set's message, when libvips is missing

    mozjpeg = {"trellis_quant": True, "overshoot_deringing": True, "optimize_scans": True, "quant_table": 3}
    return (
        Kind("gaussian_blur", "sigma px", (0.6, 1.2, 2, 3.5, 6), "vips gaussblur",
             _vips(lambda im, sigma, rng: im.gaussblur(sigma))),
        Kind("motion_blur", "line length px", (3, 6, 10, 16, 25),
             "vips conv with a vips draw_line mask at an angle per series", _vips(_vips_motion)),
        Kind("median", "window px", (3, 5, 7, 9, 13), "vips median (rank filter)",
             _vips(lambda im, size, rng: im.median(int(size)))),
        Kind("gaussian_noise", "sigma of 255", (5, 12, 25, 45, 75), "vips gaussnoise (seeded), added per band",
             _vips(lambda im, sigma, rng: im + sigma * _vips_noise(im, rng))),
        Kind("impulse_noise", "fraction of samples", (0.005, 0.02, 0.05, 0.1, 0.2),
             "vips gaussnoise thresholds, ifthenelse to 255 or 0 per band sample", _vips(_vips_impulse)),
        Kind("pixelate", "block px", (2, 3, 4, 6, 8), "vips shrink (box) then zoom (replication)",
             _vips(_vips_pixelate)),
        Kind("resolution_loss", "factor", (1.5, 2, 3, 4, 6), "vips resize lanczos3 down, cubic back up",
             _vips(_vips_resolution)),
        Kind("jpeg_mozjpeg", "quality", (60, 35, 20, 10, 4),
             "vips jpegsave (mozjpeg: trellis, deringing, scan optimisation, quant table 3)",
             _vips(_vips_codec(".jpg", **mozjpeg))),
        Kind("webp", "quality", (50, 30, 15, 6, 1), "vips webpsave (libwebp)", _vips(_vips_codec(".webp"))),
        Kind("avif", "quality", (50, 35, 22, 12, 4), "vips heifsave AV1 (libheif, aom)",
             _vips(_vips_codec(".avif"))),
        Kind("palette", "bits per pixel", (7, 6, 5, 4, 3), "vips gifsave (libimagequant palette, dithered)",
             _vips(_vips_codec(".gif", level_option="bitdepth"))),
    )


# --- set c: composite degradations (albumentations) -------------------------------------------------

@dataclass(frozen=True)
class Step:
    """One step of a set-c chain: what it is, its parameters (one value per level 1..5, or one for
    all levels) and ``build(**values)``, which gives the albumentations transform."""

    implementation: str
    parameters: dict[str, tuple[float, ...]]
    build: Callable[..., Any]

    def transform(self, level: int) -> Any:
        return self.build(**{k: v[level - 1] if len(v) > 1 else v[0] for k, v in self.parameters.items()})

    def to_dict(self) -> dict[str, Any]:
        return {"implementation": self.implementation, "parameters": {k: list(v) for k, v in self.parameters.items()}}


@dataclass(frozen=True)
class Chain:
    """A set-c kind: steps applied in order, all at the same level."""

    name: str
    steps: tuple[Step, ...]

    def apply(self, photo: Image.Image, level: int, seed: int) -> Image.Image:
        import albumentations

        chain = albumentations.Compose([s.transform(level) for s in self.steps], seed=seed)
        return Image.fromarray(chain(image=np.asarray(photo))["image"])

    def to_dict(self) -> dict[str, Any]:
        return {"steps": [s.to_dict() for s in self.steps]}


def _pillow_encode(image: np.ndarray, *, format: str, quality: int, **params: Any) -> np.ndarray:  # noqa: A002
    """``image`` encoded and decoded by Pillow (an albumentations Lambda step; ``params`` are unused)."""
    return np.asarray(_codec(Image.fromarray(image), format=format, quality=quality))


def set_c() -> tuple[Chain, ...]:
    """The set-c chains (the table of the module docstring).

    Raises:
        SystemExit: albumentations or OpenCV is missing, or Pillow cannot write AVIF.
    """
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # albumentations asks PyPI for updates on import
    try:
        import albumentations as A  # noqa: N812 - the library's own short name
        import cv2
    except ImportError as exc:
        raise SystemExit(f"set c needs albumentations and OpenCV (pip install '.[bench]'), or choose other sets "
                         f"with --set: {exc}") from exc
    if not pil_features.check("avif"):
        raise SystemExit("set c needs Pillow with AVIF support (Pillow >= 11.3 wheels), or choose other sets with --set")

    def fixed(value: float) -> tuple[float, float]:
        return (value, value)

    def resize(scales: tuple[float, ...], down: str, up: str) -> Step:
        pair = {"downscale": getattr(cv2, f"INTER_{down}"), "upscale": getattr(cv2, f"INTER_{up}")}
        return Step(f"albumentations.Downscale (INTER_{down} down, INTER_{up} up)", {"scale": scales},
                    lambda scale: A.Downscale(scale_range=fixed(scale), interpolation_pair=pair, p=1))

    def opencv(kind: str, qualities: tuple[float, ...]) -> Step:
        return Step(f"albumentations.ImageCompression {kind} (OpenCV)", {"quality": qualities},
                    lambda quality: A.ImageCompression(compression_type=kind, quality_range=fixed(int(quality)), p=1))

    def pillow(kind: str, qualities: tuple[float, ...]) -> Step:
        return Step(f"Pillow {kind} encoder", {"quality": qualities},
                    lambda quality: A.Lambda(image=partial(_pillow_encode, format=kind, quality=int(quality)),
                                             name=f"pillow_{kind.lower()}", p=1))

    def gaussian_blur(sigmas: tuple[float, ...], why: str = "") -> Step:
        return Step(f"albumentations.GaussianBlur, sigma px{why} (kernel from sigma)", {"sigma": sigmas},
                    lambda sigma: A.GaussianBlur(blur_limit=0, sigma_limit=fixed(sigma), p=1))

    blur = gaussian_blur((0.3, 0.6, 1.0, 1.5, 2.2))
    scales = (0.9, 0.75, 0.6, 0.45, 0.3)
    iso = Step("albumentations.ISONoise", {"color_shift": (0.01, 0.015, 0.02, 0.03, 0.04),
                                           "intensity": (0.05, 0.1, 0.2, 0.3, 0.45)},
               lambda color_shift, intensity: A.ISONoise(color_shift=fixed(color_shift), intensity=fixed(intensity), p=1))
    gauss = Step("albumentations.GaussNoise per channel, std as a fraction of 255",
                 {"std": (0.01, 0.02, 0.035, 0.055, 0.08)},
                 lambda std: A.GaussNoise(std_range=fixed(std), per_channel=True, p=1))
    defocus = Step("albumentations.Defocus, radius px (alias_blur 0.1)", {"radius": (1, 2, 3, 5, 7)},
                   lambda radius: A.Defocus(radius=fixed(int(radius)), alias_blur=fixed(0.1), p=1))
    motion = Step("albumentations.MotionBlur, kernel px (centred, angle from the series seed)",
                  {"kernel": (3, 5, 9, 13, 19)},
                  lambda kernel: A.MotionBlur(blur_limit=fixed(int(kernel)), direction_range=(0.0, 0.0),
                                              allow_shifted=False, p=1))
    shot = Step("albumentations.ShotNoise, scale (1 / photons per unit intensity)",
                {"scale": (0.0005, 0.001, 0.002, 0.004, 0.008)}, lambda scale: A.ShotNoise(scale_range=fixed(scale), p=1))
    return (
        Chain("blur_resize_iso_jpeg", (blur, resize(scales, "AREA", "LINEAR"), iso, opencv("jpeg", (90, 70, 50, 30, 15)))),
        Chain("blur_resize_gauss_webp", (blur, resize(scales, "AREA", "CUBIC"), gauss, pillow("WEBP", (80, 60, 40, 20, 5)))),
        Chain("resize_iso_avif", (resize((0.85, 0.7, 0.55, 0.4, 0.3), "LANCZOS4", "LANCZOS4"), iso,
                                  pillow("AVIF", (70, 50, 35, 20, 8)))),
        Chain("resize_twice_jpeg", (resize((0.85, 0.7, 0.55, 0.42, 0.3), "AREA", "CUBIC"), opencv("jpeg", (85,)),
                                    resize((0.9, 0.8, 0.7, 0.6, 0.5), "LINEAR", "LINEAR"), opencv("jpeg", (85,)))),
        Chain("defocus_iso_jpeg", (defocus, iso, opencv("jpeg", (85, 65, 45, 30, 15)))),
        Chain("motion_gauss_webp", (motion, gauss, opencv("webp", (80, 60, 40, 20, 5)))),
        Chain("shot_denoise_jpeg", (shot, gaussian_blur((0.5, 0.7, 0.9, 1.2, 1.5), " (a camera's denoising)"),
                                    opencv("jpeg", (90, 75, 60, 45, 30)))),
    )


# --- distortion sets --------------------------------------------------------------------------------

@dataclass(frozen=True)
class DistortionSet:
    """A set of kinds: ``make(photo, kind, level, seed)`` gives the distorted photo (level 1..5)."""

    name: str
    kinds: tuple[str, ...]
    parameters: dict[str, Any]
    make: Callable[[Image.Image, str, int, int], Image.Image]


def distortion_set_a() -> DistortionSet:
    """The training package's 27 wide types (25 KADID types and 2 exposure errors) at their wide levels."""
    try:
        from contrique_training.distortions import WIDE_TYPES, distort_image
        from contrique_training.distortions import LEVELS as TRAINING_LEVELS
    except ImportError as exc:
        raise SystemExit(f"set a needs contrique_training.distortions with distort_image: {exc}") from exc
    if TRAINING_LEVELS != LEVELS:
        raise SystemExit(f"set a: contrique_training has {TRAINING_LEVELS} levels, this benchmark expects {LEVELS}")
    return DistortionSet(
        "a",
        tuple(d.name for d in WIDE_TYPES),
        {d.name: list(d.values("wide")) for d in WIDE_TYPES},
        lambda photo, kind, level, seed: distort_image(photo, kind, level, seed=seed),
    )


def _kind_set(name: str, kinds_of_set: tuple[Kind, ...]) -> DistortionSet:
    kinds = {k.name: k for k in kinds_of_set}

    def make(photo: Image.Image, kind: str, level: int, seed: int) -> Image.Image:
        k = kinds[kind]
        return k.apply(photo, k.values[level - 1], np.random.default_rng(seed))

    return DistortionSet(name, tuple(kinds), {k.name: k.to_dict() for k in kinds.values()}, make)


def distortion_set_b() -> DistortionSet:
    return _kind_set("b", set_b())


def distortion_set_d() -> DistortionSet:
    try:
        return _kind_set("d", set_d())
    except ImportError as exc:
        raise SystemExit(f"set d needs kornia and torch (pip install kornia, and the train extra): {exc}") from exc


def distortion_set_e() -> DistortionSet:
    try:
        return _kind_set("e", set_e())
    except (ImportError, OSError) as exc:  # pyvips raises OSError when it finds no libvips to load
        raise SystemExit(f"set e needs pyvips with libvips (pip install '.[bench]'), or choose other sets with --set: "
                         f"{exc}") from exc


def distortion_set_c() -> DistortionSet:
    chains = {c.name: c for c in set_c()}
    return DistortionSet("c", tuple(chains), {c.name: c.to_dict() for c in chains.values()},
                         lambda photo, kind, level, seed: chains[kind].apply(photo, level, seed))


SETS: dict[str, Callable[[], DistortionSet]] = {"a": distortion_set_a, "b": distortion_set_b, "c": distortion_set_c,
                                                "d": distortion_set_d, "e": distortion_set_e}


# --- contenders -------------------------------------------------------------------------------------

_brisque: Any = None


def _init_brisque() -> None:
    """Load BRISQUE in this process (the pool initializer; also called in-process)."""
    global _brisque
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # brisque imports the deprecated scipy.ndimage.filters
        from brisque import BRISQUE

    class NumpyTwoBrisque(BRISQUE):  # type: ignore[misc,valid-type]
        """brisque 0.2.0 returns some features as 1-element arrays, which ``float()`` refuses
        from NumPy 2.4 on: flatten them to floats (the values are unchanged)."""

        def calculate_brisque_features(self, image: np.ndarray, kernel_size: int = 7,
                                       sigma: float = 7 / 6) -> np.ndarray:
            features = super().calculate_brisque_features(image, kernel_size, sigma)
            return np.array([np.asarray(f, dtype=np.float64).item() for f in features])

    _brisque = NumpyTwoBrisque(url=False)


def _brisque_score(image: np.ndarray) -> Scored:
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            value = float(_brisque.score(image))
    except Exception as exc:  # noqa: BLE001 - any failure of the third-party code is this image's error
        return None, f"{type(exc).__name__}: {exc}"
    return (value, None) if math.isfinite(value) else (None, f"BRISQUE returned {value}")


@dataclass
class Contender:
    """Something that scores images, with its running totals."""

    label: str
    description: dict[str, Any]
    higher_is_better: bool
    score: Callable[[list[np.ndarray]], list[Scored]]
    seconds: float = 0.0
    images: int = 0
    failed_images: list[str] = field(default_factory=list)


class FeatureSource:
    """A bundle's features of one photo's images, computed once for every head that reads them."""

    def __init__(self, scorer: QualityScorer) -> None:
        self.scorer = scorer
        self._images: list[np.ndarray] | None = None
        self._features: list[Featured] = []

    def __call__(self, images: list[np.ndarray]) -> list[Featured]:
        if self._images is not images:  # a new photo's list (held here, so its id cannot be reused)
            self._features = [(r.feature, r.error) for r in self.scorer.features_many(images)]
            self._images = images
        return self._features


def feature_key(scorer: QualityScorer) -> str:
    """What fixes a bundle's features: its encoder file's sha256 (as the manifest records it) and input
    contract, so bundles that differ only in their heads share one :class:`FeatureSource`."""
    manifest = scorer.manifest
    encoder = manifest.variants[scorer.variant].file
    return json.dumps([manifest.files[encoder].sha256, manifest.input.to_dict()], sort_keys=True)


def head_contender(label: str, description: dict[str, Any], source: FeatureSource, higher_is_better: bool,
                   head: Callable[[np.ndarray], Any]) -> Contender:
    """A contender scoring ``head(feature)`` on the features of ``source``."""

    def score(images: list[np.ndarray]) -> list[Scored]:
        return [(float(head(f)), None) if f is not None else (None, error) for f, error in source(images)]

    return Contender(label, description, higher_is_better, score)


def open_scorer(path: str | None, head: str | None, variant: str, threads: int | None) -> QualityScorer:
    """A bundle (``path`` None: the packaged default) loaded with ``head`` only (None: every head)."""
    from contrique_infer import QualityScorer

    return QualityScorer.from_pretrained(path, head=head, variant=variant, threads=threads)


def bundle_contender(label: str, scorer: QualityScorer, head: str | None, source: FeatureSource) -> Contender:
    """The bundle of ``scorer`` with its ``head`` (None: the default head), on the features of ``source``."""
    from contrique_infer.bundle import load_head

    info = scorer.resolve_head(head)
    loaded = load_head(scorer.bundle_dir, scorer.manifest, info)
    description = {
        "kind": "bundle", "path": str(scorer.bundle_dir), "name": scorer.manifest.name, "head": info.name,
        "head_dataset": info.dataset, "higher_is_better": info.higher_is_better, "variant": scorer.variant,
        "providers": scorer.providers, "architecture": scorer.manifest.architecture,
    }
    return head_contender(label, description, source, info.higher_is_better, loaded)


def brisque_contender(pool: Executor | None) -> Contender:
    """BRISQUE, in ``pool`` when given, else in this process."""
    try:
        _init_brisque()
    except ImportError as exc:
        raise SystemExit(f"BRISQUE needs the brisque package and OpenCV (pip install brisque "
                         f"opencv-python-headless), or use --no-brisque: {exc}") from exc

    def score(images: list[np.ndarray]) -> list[Scored]:
        if pool is None:
            return [_brisque_score(i) for i in images]
        return list(pool.map(_brisque_score, images, chunksize=4))

    return Contender("BRISQUE", {"kind": "brisque", "higher_is_better": False}, False, score)


def parse_bundle(spec: str) -> tuple[str, str, str | None]:
    """``LABEL=PATH`` or ``LABEL=PATH@HEAD`` -> (label, path, head)."""
    label, sep, rest = spec.partition("=")
    if not sep or not label or not rest:
        raise argparse.ArgumentTypeError(f"--bundle takes LABEL=PATH or LABEL=PATH@HEAD; got {spec!r}")
    if os.path.exists(rest) or "@" not in rest:
        return label, rest, None
    path, _, head = rest.rpartition("@")
    return label, path, head


def parse_random_init(spec: str) -> tuple[str, str]:
    """``LABEL=SPEC`` -> (label, spec); SPEC is a checkpoint file or a JSON object of model_config keys."""
    label, sep, rest = spec.partition("=")
    if not sep or not label or not rest:
        raise argparse.ArgumentTypeError(f"--random-init takes LABEL=CHECKPOINT or LABEL=JSON; got {spec!r}")
    return label, rest


# --- ablation heads and the random-initialised encoder ----------------------------------------------

def proxy_training_set(
    folder: Path, held_out: Sequence[Path], held_out_ids: Sequence[str], target: str = "mdsi"
) -> Dataset:
    """The quality targets (``mdsi`` or ``fr6``) of a proxy set, refused if it was made from the benchmark's photos.

    Raises:
        SystemExit: The proxy set's photos folder overlaps a held-out folder, or one of its photos
            has the path of a benchmark photo.
        ContriqueError: The proxy set cannot be read.
    """
    from contrique_training.evaluation.datasets import read_csv
    from contrique_training.proxy import QUALITY_SCALE, load_proxy_set, target_csv

    proxy = load_proxy_set(folder)
    source = Path(proxy.photos).resolve()
    held = [h.resolve() for h in held_out]
    overlap = [h for h in held if h == source or h in source.parents or source in h.parents]
    shared = sorted({im.content_id for im in proxy.images
                     if any(im.content_id == p or im.content_id.endswith("/" + p) for p in held_out_ids)})
    if overlap or shared:
        why = (f"it was made from {source}, which overlaps the held-out photos of {overlap[0]}" if overlap
               else f"it holds the benchmark photo {shared[0]}")
        raise SystemExit(f"--ablation {folder}: {why}; heads must never see validation photos: make a proxy set "
                         f"from training photos (python -m contrique_training.proxy make --data ../shared/photos/train "
                         f"--out DIR)")
    return read_csv(target_csv(proxy, target, progress=True), name=proxy.target_name(target), scale=QUALITY_SCALE)


@dataclass(frozen=True)
class AblationHead:
    """A ridge head on one part of a bundle's feature, fitted on the proxy set's quality."""

    part: str
    columns: np.ndarray
    coef: np.ndarray
    intercept: float
    report: dict[str, Any]

    def __call__(self, feature: np.ndarray) -> float:
        return float(np.asarray(feature, dtype=np.float64)[self.columns] @ self.coef + self.intercept)


def fit_ablation_heads(label: str, scorer: QualityScorer, dataset: Dataset, config: ProtocolConfig,
                       group_weights: dict[str, float]) -> list[AblationHead]:
    """The ``nss``, ``learned`` and ``both`` heads of a bundle (none, with a note, without statistics).

    Features of the proxy images come from the evaluation feature cache where present
    (``contrique_training.evaluation.features``); heads are fitted as the proxy's quality head is,
    with ``group_weights`` (``proxy heads --group-weight``) on the columns each reads.

    Raises:
        ContriqueError: Features cannot be computed, too few photos for the splits and folds, or a
            group weight names a group the bundle lacks.
    """
    from contrique_training.evaluation.features import DEFAULT_CACHE, compute_features
    from contrique_training.proxy import PARTS, column_weights, feature_parts, fit_standardised

    parts = feature_parts(scorer.manifest)
    if parts is None:
        print(f"note: {label} ({scorer.manifest.architecture}) has no natural-scene statistics: no ablation heads",
              file=sys.stderr)
        return []
    print(f"{label}: features of the {len(dataset)} proxy images ({dataset.name})", file=sys.stderr)
    weights = column_weights(scorer.manifest, group_weights)
    features = compute_features(dataset.paths, scorer, cache_dir=DEFAULT_CACHE)
    y, groups = dataset.scores, dataset.content_ids
    heads = []
    for part in PARTS:
        columns = parts[part]
        fit = fit_standardised(features[:, columns], y, groups, config, None if weights is None else weights[columns])
        cv = fit.result.summary()
        heads.append(AblationHead(part, columns, fit.model.coef, fit.model.intercept, {
            "part": part, "dims": int(columns.size), "alpha": fit.selection.alpha, "alpha_at_edge": fit.alpha_at_edge,
            "cv_srcc_median": cv["srcc"]["median"], "cv_plcc_median": cv["plcc"]["median"],
        }))
        print(f"{label}:{part}: {columns.size} dims, alpha {fit.selection.alpha:g}, "
              f"proxy SRCC {cv['srcc']['median']:.3f} (median of {config.splits} splits by photo)", file=sys.stderr)
    return heads


def ablation_contenders(label: str, scorer: QualityScorer, source: FeatureSource, dataset: Dataset,
                        config: ProtocolConfig, group_weights: dict[str, float]) -> list[Contender]:
    """``LABEL:nss``, ``LABEL:learned`` and ``LABEL:both`` on the features of ``source``."""
    contenders = []
    for head in fit_ablation_heads(label, scorer, dataset, config, group_weights):
        description = {"kind": "ablation head", "bundle": str(scorer.bundle_dir), "name": scorer.manifest.name,
                       "variant": scorer.variant, "architecture": scorer.manifest.architecture,
                       "proxy": dataset.name, "proxy_images": len(dataset),
                       "proxy_photos": len(set(dataset.content_ids or ())), "higher_is_better": True, **head.report}
        contenders.append(head_contender(f"{label}:{head.part}", description, source, True, head))
    return contenders


def random_init_bundle(spec: str, seed: int, folder: Path) -> tuple[Path, dict[str, Any]]:
    """Export a randomly initialised network of the architecture ``spec`` to a fp32 bundle in ``folder``.

    Args:
        spec: A contrique-train checkpoint (its ``model_config``) or a JSON object of ``model_config`` keys.
        seed: ``torch.manual_seed`` before the network is built.
        folder: An empty folder for the checkpoint and the bundle.

    Returns:
        The bundle folder and a description (spec, model_config, seed, torch version).

    Raises:
        SystemExit: ``spec`` is neither a readable checkpoint nor a valid JSON model_config.
    """
    import torch

    from contrique_export.checkpoint import FORMAT, FORMAT_VERSION, load_checkpoint
    from contrique_export.exporter import export_bundle
    from contrique_export.model import ContriqueNet
    from contrique_export.model_config import ModelConfig
    from contrique_infer.errors import ContriqueError

    try:
        if os.path.isfile(spec):
            source = load_checkpoint(spec)
            config, max_side, scales = source.config, source.training_config.get("max_side", 0), 2
        else:
            keys = json.loads(spec)
            config, max_side, scales = ModelConfig.from_dict(keys), keys.get("max_side", 0), int(keys.get("scales", 2))
    except (ContriqueError, ValueError, TypeError, AttributeError) as exc:
        raise SystemExit(f"--random-init {spec!r}: not a checkpoint file nor a JSON object of model_config keys "
                         f"(arch, stages, nss, projection_dim, and max_side and scales for the input contract): "
                         f"{exc}") from exc
    torch.manual_seed(seed)
    network = ContriqueNet(config)
    checkpoint = folder / f"random-{config.name}-seed{seed}.pt"
    description = f"none: random initialisation (torch.manual_seed({seed}), torchvision's initialisers), not trained"
    torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, "model_config": config.to_dict(),
                "model": network.state_dict(), "config": {"max_side": max_side},  # the same input contract
                "data": {"description": description, "license": "none"}}, checkpoint)
    bundle = export_bundle(checkpoint, folder / "bundle", name=f"random-init-{config.name}-seed{seed}", scales=scales)
    return bundle, {"spec": spec, "model_config": config.to_dict(), "max_side": max_side, "scales": scales,
                    "architecture": config.name, "seed": seed,
                    "torch": torch.__version__}


# --- full-reference values --------------------------------------------------------------------------

class FullReferenceCache:
    """Full-reference values by the SHA-256 of (photo pixels, image pixels), kept in a JSON file between runs."""

    FORMAT = "bench-quality-fullref-1"

    def __init__(self, path: Path | None) -> None:
        from contrique_training.fullref import METRICS

        self.path = path
        self.header = {"format": self.FORMAT, "piq": _version("piq"), "metrics": [m.call for m in METRICS]}
        self.values: dict[str, list[float]] = {}
        self.computed = self.reused = 0
        self.seconds = 0.0
        if path is not None and path.is_file():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                print(f"note: full-reference cache {path} unreadable ({exc}): starting a new one", file=sys.stderr)
                return
            if {k: data.get(k) for k in self.header} == self.header:
                self.values = dict(data["values"])
            else:
                print(f"note: full-reference cache {path} is of other metrics or piq: starting a new one",
                      file=sys.stderr)

    @staticmethod
    def _key(image: np.ndarray) -> str:
        return f"{hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()[:32]}-{image.shape[1]}x{image.shape[0]}"

    def __call__(self, images: list[np.ndarray], pristine: np.ndarray) -> list[dict[str, float]]:
        """Every metric of each image against ``pristine``, from the cache where present."""
        from contrique_training.fullref import METRICS, full_reference

        base = self._key(pristine)
        keys = [f"{base}/{self._key(image)}" for image in images]
        todo: dict[str, int] = {}  # key -> first image with it
        for i, key in enumerate(keys):
            if key not in self.values:
                todo.setdefault(key, i)
        if todo:
            start = time.perf_counter()
            values = full_reference([images[i] for i in todo.values()], pristine)
            for j, key in enumerate(todo):
                self.values[key] = [float(values[m.name][j]) for m in METRICS]
            self.seconds += time.perf_counter() - start
            self.save()
        self.computed += len(todo)
        self.reused += len(images) - len(todo)
        return [dict(zip((m.name for m in METRICS), self.values[k])) for k in keys]

    def save(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps({**self.header, "values": self.values}) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


# --- scoring ----------------------------------------------------------------------------------------

def load_photo(path: Path, max_side: int) -> Image.Image:
    """The photo as RGB, downscaled (Lanczos) so that its longer side is at most ``max_side``."""
    with Image.open(path) as opened:
        image = opened.convert("RGB")
    scale = max_side / max(image.size)
    if scale < 1:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS)
    return image


def seed_of(photo_id: str, kind: str) -> int:
    return zlib.crc32(f"{photo_id}/{kind}".encode())


@dataclass
class Series:
    set: str
    kind: str
    photo: str
    scores: dict[str, list[float] | None] = field(default_factory=dict)  # per contender, None: left out
    rho: dict[str, float | None] = field(default_factory=dict)  # None: undefined (constant scores)


@dataclass
class Record:
    """One image: which photo, set, kind and level, its full-reference values, every contender's raw score."""

    photo: str
    set: str | None  # None: the photo itself (level 0), part of every set
    kind: str | None
    level: int
    fr: dict[str, float]
    scores: dict[str, float | None] = field(default_factory=dict)  # None: the contender failed on it

    def to_dict(self) -> dict[str, Any]:
        return {"photo": self.photo, "set": self.set, "kind": self.kind, "level": self.level, "fr": self.fr,
                "scores": self.scores}


def run_photo(
    photo_id: str, photo: Image.Image, sets: list[DistortionSet], contenders: list[Contender],
    make_seconds: dict[str, float], fullref: FullReferenceCache,
) -> tuple[list[Series], list[Record]]:
    """Distort one photo with every kind of ``sets``, compare all images with the photo, score them with every contender."""
    images = [np.asarray(photo)]
    records = [Record(photo_id, None, None, 0, {})]
    series: list[tuple[Series, list[int]]] = []
    for dset in sets:
        start = time.perf_counter()
        for kind in dset.kinds:
            seed = seed_of(photo_id, kind)
            indices = [0]
            for level in range(1, LEVELS + 1):
                indices.append(len(images))
                images.append(np.asarray(dset.make(photo, kind, level, seed).convert("RGB")))
                records.append(Record(photo_id, dset.name, kind, level, {}))
            series.append((Series(dset.name, kind, photo_id), indices))
        make_seconds[dset.name] += time.perf_counter() - start
    for record, values in zip(records, fullref(images, images[0])):
        record.fr = values
    for contender in contenders:
        start = time.perf_counter()
        scored = contender.score(images)
        contender.seconds += time.perf_counter() - start
        contender.images += len(images)
        ok = {i: value for i, (value, _) in enumerate(scored) if value is not None and math.isfinite(value)}
        for i, (record, (value, error)) in enumerate(zip(records, scored)):
            record.scores[contender.label] = ok.get(i)
            if i not in ok:
                where = "" if record.set is None else f" {record.set}/{record.kind}"
                contender.failed_images.append(f"{photo_id}{where} level {record.level}: {error or f'score {value}'}")
        sign = 1.0 if contender.higher_is_better else -1.0
        for s, indices in series:
            if not ok.keys() >= set(indices):
                s.scores[contender.label] = None
                continue
            raw = [ok[i] for i in indices]
            s.scores[contender.label] = raw
            s.rho[contender.label] = spearman(-np.arange(len(raw)), [sign * v for v in raw])
    return [s for s, _ in series], records


# --- report -----------------------------------------------------------------------------------------

def summarise(series: list[Series], sets: list[DistortionSet], label: str) -> dict[str, Any]:
    """Mean Spearman per kind and over all series of each set, for one contender."""
    out: dict[str, Any] = {}
    for dset in sets:
        mine = [s for s in series if s.set == dset.name and s.scores.get(label) is not None]
        values = {kind: [s.rho[label] or 0.0 for s in mine if s.kind == kind] for kind in dset.kinds}
        all_values = [v for vs in values.values() for v in vs]
        out[dset.name] = {
            "mean": float(np.mean(all_values)) if all_values else None,
            "series": len(all_values),
            "left_out": sum(1 for s in series if s.set == dset.name and s.scores.get(label) is None),
            "undefined": sum(1 for s in mine if s.rho[label] is None),
            "per_kind": {k: float(np.mean(v)) if v else None for k, v in values.items()},
        }
    return out


def cross_content(records: list[Record], sets: list[DistortionSet], contenders: list[Contender],
                  per_metric: bool = True) -> dict[str, Any]:
    """Per contender and set: Spearman over all the set's images of the oriented score and the mean-rank
    full-reference proxy (and, with ``per_metric``, each metric alone), with the image counts."""
    from contrique_training.fullref import METRICS, rank_proxy

    out: dict[str, Any] = {c.label: {} for c in contenders}
    for dset in sets:
        mine = [r for r in records if r.set in (None, dset.name)]
        oriented = {m.name: np.array([r.fr[m.name] for r in mine]) * (1.0 if m.higher_is_better else -1.0)
                    for m in METRICS} if per_metric else {}
        proxy = rank_proxy({m.name: [r.fr[m.name] for r in mine] for m in METRICS})
        for c in contenders:
            ok = [i for i, r in enumerate(mine) if r.scores.get(c.label) is not None]
            score = np.array([mine[i].scores[c.label] for i in ok]) * (1.0 if c.higher_is_better else -1.0)
            enough = len(ok) > 1
            out[c.label][dset.name] = {
                "srcc": spearman(score, proxy[ok]) if enough else None,
                "images": len(ok),
                "left_out": len(mine) - len(ok),
                "per_metric": {k: spearman(score, v[ok]) if enough else None for k, v in oriented.items()},
            }
    return out


def versus(mine: float | None, theirs: float | None) -> str | None:
    """``above``, ``tied`` (within 1e-9) or ``below`` ``theirs``; None when either figure is missing."""
    if mine is None or theirs is None:
        return None
    return "tied" if abs(mine - theirs) <= 1e-9 else "above" if mine > theirs else "below"


def compare(summary: dict[str, Any], cross: dict[str, Any], sets: list[DistortionSet],
            labels: list[str]) -> dict[str, Any]:
    """Per contender and set, the per-series mean and cross-content SRCC, each :func:`versus` BRISQUE's
    (None without BRISQUE); for set b, each kind's mean :func:`versus` BRISQUE's."""
    brisque = "BRISQUE" if "BRISQUE" in labels else None
    out: dict[str, Any] = {}
    for label in labels:
        entry: dict[str, Any] = {}
        against = brisque if label != brisque else None
        for dset in sets:
            mean, srcc = summary[label][dset.name]["mean"], cross[label][dset.name]["srcc"]
            entry[dset.name] = {
                "mean": mean, "cross": srcc,
                "mean_vs_brisque": versus(mean, summary[against][dset.name]["mean"]) if against else None,
                "cross_vs_brisque": versus(srcc, cross[against][dset.name]["srcc"]) if against else None,
            }
            if dset.name == "b" and against:
                entry["b_kinds_vs_brisque"] = {
                    k: versus(summary[label]["b"]["per_kind"][k], summary[against]["b"]["per_kind"][k]) for k in dset.kinds}
        out[label] = entry
    return out


def versus_baseline(series: list[Series], records: list[Record], sets: list[DistortionSet],
                    contenders: list[Contender], baseline: str, resamples: int) -> dict[str, Any]:
    """Per contender (other than ``baseline``) and set: its per-series mean and cross-content SRCC minus the
    baseline's, each a :class:`~contrique_training.evaluation.bootstrap.Difference` over photo resamples
    (:func:`summarise` and :func:`cross_content` recomputed on every draw, a photo drawn twice counting
    twice; undefined figures give NaN)."""
    from contrique_training.evaluation.bootstrap import photo_bootstrap

    others = [c.label for c in contenders if c.label != baseline]
    by_photo: dict[str, tuple[list[Series], list[Record]]] = {}
    for s in series:
        by_photo.setdefault(s.photo, ([], []))[0].append(s)
    for r in records:
        by_photo.setdefault(r.photo, ([], []))[1].append(r)

    def statistic(photos: list[str]) -> np.ndarray:
        drawn_series: list[Series] = []
        drawn_records: list[Record] = []
        for photo in photos:
            drawn_series += by_photo[photo][0]
            drawn_records += by_photo[photo][1]
        means = {label: summarise(drawn_series, sets, label) for label in [baseline, *others]}
        cross = cross_content(drawn_records, sets, contenders, per_metric=False)
        values = []
        for label in others:
            for dset in sets:
                for a, b in ((means[label][dset.name]["mean"], means[baseline][dset.name]["mean"]),
                             (cross[label][dset.name]["srcc"], cross[baseline][dset.name]["srcc"])):
                    values.append(np.nan if a is None or b is None else a - b)
        return np.array(values)

    differences = iter(photo_bootstrap(sorted(by_photo), statistic, resamples=resamples))
    return {label: {dset.name: {"mean": next(differences).to_dict(), "cross": next(differences).to_dict()}
                    for dset in sets} for label in others}


def baseline_markdown(versus: dict[str, Any], sets: list[DistortionSet], baseline: str) -> str:
    """The table of :func:`versus_baseline`: per contender and set, difference [interval] and share of draws below."""
    lines = [f"Against {baseline} (contender minus {baseline}; in brackets the central 90 % of the differences over "
             "photo resamples; then the share of resamples in which the contender is below):", "",
             "| contender | set | mean over series | cross-content |", "|---|---|---|---|"]

    def cell(d: dict[str, Any]) -> str:
        if d["observed"] is None:
            return "n/a"
        if d["low"] is None:  # no draw defined the figure
            return f"{d['observed']:+.3f}"
        return f"{d['observed']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}] {d['below']:.2f}"

    for label, entry in versus.items():
        for dset in sets:
            lines.append(f"| {label} | {dset.name} | {cell(entry[dset.name]['mean'])} | {cell(entry[dset.name]['cross'])} |")
    return "\n".join(lines) + "\n"


def _cell(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def markdown(summary: dict[str, dict[str, Any]], cross: dict[str, Any], sets: list[DistortionSet],
             contenders: list[Contender], footer: list[str]) -> str:
    labels = [c.label for c in contenders]
    lines = ["| set | distortion | " + " | ".join(labels) + " |", "|---|---|" + "---:|" * len(labels)]
    for dset in sets:
        for kind in dset.kinds:
            lines.append(f"| {dset.name} | {kind} | "
                         + " | ".join(_cell(summary[x][dset.name]["per_kind"][kind]) for x in labels) + " |")
        lines.append(f"| {dset.name} | **mean over all series** | "
                     + " | ".join(f"**{_cell(summary[x][dset.name]['mean'])}**" for x in labels) + " |")
        lines.append(f"| {dset.name} | **cross-content SRCC vs FR proxy** | "
                     + " | ".join(f"**{_cell(cross[x][dset.name]['srcc'])}**" for x in labels) + " |")
    return "\n".join(lines + [""] + footer) + "\n"


def summary_markdown(comparison: dict[str, Any], sets: list[DistortionSet]) -> str:
    """The closing table: per contender and set, mean and cross-content SRCC marked against BRISQUE,
    and the set-b kinds where it is above BRISQUE."""
    marks = {None: "", "above": " +", "tied": " =", "below": " -"}
    has_b = any(d.name == "b" for d in sets)
    head = ["contender"] + [f"{d.name}: {what}" for d in sets for what in ("mean", "cross")]
    head += ["b kinds above BRISQUE"] if has_b else []
    lines = ["Summary (mean: per-series mean; cross: cross-content SRCC vs the full-reference proxy; "
             "against BRISQUE: + above, = tied, - below):", "", "| " + " | ".join(head) + " |",
             "|---|" + "---:|" * (2 * len(sets)) + ("---|" if has_b else "")]
    for label, entry in comparison.items():
        cells = [label]
        for d in sets:
            e = entry[d.name]
            cells += [_cell(e["mean"]) + marks[e["mean_vs_brisque"]], _cell(e["cross"]) + marks[e["cross_vs_brisque"]]]
        if has_b:
            kinds = entry.get("b_kinds_vs_brisque")
            if kinds is None:
                cells.append("" if label == "BRISQUE" else "n/a")
            else:
                others = {v: [k for k, x in kinds.items() if x == v] for v in ("tied", "below", None)}
                notes = [f"{what}: {', '.join(ks)}" for what, ks in zip(("tied", "below", "n/a"), others.values()) if ks]
                above = sum(1 for x in kinds.values() if x == "above")
                cells.append(f"{above}/{len(kinds)}" + (f" ({'; '.join(notes)})" if notes else ""))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def footer_lines(contenders: list[Contender], summary: dict[str, dict[str, Any]], cross: dict[str, Any],
                 sets: list[DistortionSet], n_photos: int, max_side: int, make_seconds: dict[str, float],
                 total_images: int, fullref: FullReferenceCache) -> list[str]:
    lines = [
        f"Cells: Spearman of (-level, score), scores negated where lower is better (+1: the score falls at "
        f"every step), mean over the photos. {n_photos} photo(s), longer side <= {max_side} px (Lanczos); "
        f"levels 0 (the photo) + 1..{LEVELS}; "
        + ", ".join(f"set {d.name}: {len(d.kinds)} kinds, {len(d.kinds) * n_photos} series" for d in sets) + ".",
        "Cross-content: Spearman over all images of the set (" + ", ".join(
            f"{d.name}: {n_photos * (1 + LEVELS * len(d.kinds))}" for d in sets)
        + ", the photos included) of the score and the mean rank of MDSI, GMSD, VSI, HaarPSI, MS-SSIM and FSIMc "
          "against the photo (each oriented higher-is-better).",
        f"{total_images} images; made in " + ", ".join(f"set {k} {v:.1f} s" for k, v in make_seconds.items())
        + f"; full-reference values: {fullref.computed} computed in {fullref.seconds:.1f} s, {fullref.reused} "
          "from the cache.",
        "Wall time: " + "; ".join(
            f"{c.label} {c.seconds:.1f} s ({1000 * c.seconds / max(c.images, 1):.1f} ms/image)" for c in contenders
        ) + ". Heads of one bundle share its features: the encoder's time counts for the first of them.",
    ]
    for c in contenders:
        undefined = sum(summary[c.label][d.name]["undefined"] for d in sets)
        left_out = sum(summary[c.label][d.name]["left_out"] for d in sets)
        if undefined:
            lines.append(f"{c.label}: {undefined} series with constant scores (Spearman undefined) counted as 0.")
        if left_out:
            lines.append(f"{c.label}: {len(c.failed_images)} images failed (left out of its cross-content "
                         f"correlation); {left_out} series left out (first: {c.failed_images[0]}).")
        if any(cross[c.label][d.name]["srcc"] is None for d in sets):
            lines.append(f"{c.label}: constant scores over a set, cross-content correlation undefined (n/a).")
    if all(summary[c.label][d.name]["undefined"] == 0 for c in contenders for d in sets):
        lines.append("No series had constant scores (those would count as 0).")
    return lines


def _version(package: str) -> str | None:
    try:
        return version(package)
    except PackageNotFoundError:
        return None


def versions() -> dict[str, str | None]:
    out = {p: _version(p) for p in ("contrique-infer", "onnxruntime", "brisque", "scikit-image", "scipy", "numpy",
                                    "pillow", "torch", "opencv-python-headless", "albumentations", "piq")}
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain"], capture_output=True, text=True,
                               check=True).stdout.strip()
        out["git"] = head + ("+uncommitted" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        out["git"] = None
    return out


# --- main -------------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    from contrique_training.evaluation.features import DEFAULT_CACHE

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", action="append", default=[], type=parse_bundle, metavar="LABEL=PATH[@HEAD]",
                        help="a bundle folder (or Hub id) to score with its default head or HEAD; repeatable")
    parser.add_argument("--default", action="store_true", help="also score the packaged default model, if installed")
    parser.add_argument("--no-brisque", action="store_true", help="leave BRISQUE out")
    parser.add_argument("--set", action="append", choices=tuple(SETS), dest="sets",
                        help="a distortion set; repeatable (default: all of a, b, c, d, e)")
    parser.add_argument("--ablation", type=Path, metavar="PROXY_DIR",
                        help="a proxy set of TRAINING photos: add LABEL:nss, LABEL:learned and LABEL:both heads "
                             "fitted on it for every bundle with natural-scene statistics")
    parser.add_argument("--ablation-target", choices=("mdsi", "fr6"), default="mdsi",
                        help="the target of the --ablation heads: the proxy set's mdsi quality (default) or fr6, "
                             "the mean rank of six full-reference metrics (as the heads of the bundle were fitted)")
    parser.add_argument("--ablation-group-weight", action="append", default=[], metavar="GROUP[@SCALE]=WEIGHT",
                        help="weigh a feature group in the --ablation heads as proxy heads --group-weight does; "
                             "repeatable")
    parser.add_argument("--random-init", action="append", default=[], type=parse_random_init, metavar="LABEL=SPEC",
                        help="a randomly initialised encoder (SPEC: a checkpoint, whose architecture is used, or a "
                             "JSON model_config) scored with the three --ablation heads; repeatable")
    parser.add_argument("--random-seed", type=int, default=0, help="torch seed of --random-init (default 0)")
    parser.add_argument("--photos", type=Path, default=PHOTOS / "val", help="photo folder (searched recursively)")
    parser.add_argument("--limit-photos", type=positive_int, help="use only the first N photos (sorted by path)")
    parser.add_argument("--max-side", type=positive_int, default=512, help="downscale photos to this longer side")
    parser.add_argument("--variant", choices=("auto", "fp32", "fp16", "int8"), default="auto",
                        help="bundle encoder variant (default auto: what users get, int8 on CPUs where trusted)")
    parser.add_argument("--threads", type=positive_int, help="onnxruntime intra-op threads (default: onnxruntime's)")
    parser.add_argument("--jobs", type=positive_int, default=1, help="processes for BRISQUE")
    parser.add_argument("--fr-cache", type=Path, default=DEFAULT_CACHE / "bench-quality-fullref.json",
                        help="full-reference values kept between runs (default: %(default)s)")
    parser.add_argument("--no-fr-cache", action="store_true", help="compute every full-reference value, keep none")
    parser.add_argument("--json", type=Path, help="write every figure, per series and per image, to this JSON file")
    parser.add_argument("--markdown", type=Path, help="write the tables to this file too")
    parser.add_argument("--baseline", metavar="LABEL",
                        help="a contender's label (e.g. the current default): report every other contender's "
                             "difference from it with a bootstrap over photos")
    parser.add_argument("--resamples", type=positive_int, default=1000,
                        help="photo resamples of the --baseline comparison (default 1000)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)

    train = (PHOTOS / "train").resolve()
    if args.photos.resolve() == train or train in args.photos.resolve().parents:
        parser.error(f"{args.photos} holds training photos: benchmark on held-out photos only")
    if not args.photos.is_dir():
        parser.error(f"no photo folder {args.photos}")
    if args.random_init and args.ablation is None:
        parser.error("--random-init needs --ablation PROXY_DIR: its heads are fitted on that proxy set")
    labels = [label for label, _, _ in args.bundle] + (["default"] if args.default else [])
    labels += [label for label, _ in args.random_init]
    if len(set(labels)) != len(labels) or "BRISQUE" in labels or any(":" in label for label in labels):
        parser.error(f"contender labels must be unique, not BRISQUE and without ':'; got {', '.join(labels)}")

    from contrique_infer.errors import ContriqueError, NoDefaultModelError
    from contrique_training.evaluation.protocol import ProtocolConfig
    from contrique_training.proxy import PROXY_ALPHAS, parse_group_weights

    sets = [SETS[name]() for name in sorted(set(args.sets or SETS))]
    config = ProtocolConfig(alphas=PROXY_ALPHAS)
    try:
        group_weights = parse_group_weights(args.ablation_group_weight)
    except ContriqueError as exc:
        parser.error(f"--ablation-group-weight: {exc}")
    contenders: list[Contender] = []
    random_inits: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        try:
            all_photos = list_images(args.photos)
            photos = all_photos[: args.limit_photos]
            dataset = None if args.ablation is None else proxy_training_set(
                args.ablation, [args.photos, PHOTOS / "val"], [p.relative_to(args.photos).as_posix() for p in all_photos],
                args.ablation_target)
            sources: dict[str, FeatureSource] = {}  # bundles with the same encoder and input contract share features
            bundles: list[tuple[str, str | None, str | None]] = list(args.bundle)
            if args.default:
                bundles.append(("default", None, None))
            for label, path, head in bundles:
                try:
                    scorer = open_scorer(path, head, args.variant, args.threads)
                except NoDefaultModelError:
                    print("note: no default model is installed with contrique-infer; --default skipped", file=sys.stderr)
                    continue
                source = sources.setdefault(feature_key(scorer), FeatureSource(scorer))
                contenders.append(bundle_contender(label, scorer, head, source))
                if dataset is not None:
                    contenders += ablation_contenders(label, scorer, source, dataset, config, group_weights)
            for label, spec in args.random_init:
                folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-random-init-")))
                bundle, random_inits[label] = random_init_bundle(spec, args.random_seed, folder)
                scorer = open_scorer(str(bundle), None, "fp32", args.threads)
                added = ablation_contenders(label, scorer, FeatureSource(scorer), dataset,  # type: ignore[arg-type]
                                            config, group_weights)
                if not added:
                    parser.error(f"--random-init {label}: {scorer.manifest.architecture} has no statistics; "
                                 "add \"nss\": true to its model_config")
                contenders += added
        except ContriqueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        # spawned, not forked: torch's and onnxruntime's thread pools are running, and a forked child can
        # inherit one of their locks held (the BRISQUE workers then wait forever)
        pool = (ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn"), initializer=_init_brisque)
                if not args.no_brisque and args.jobs > 1 else None)
        if pool is not None:
            stack.callback(pool.shutdown)
        if not args.no_brisque:
            contenders.append(brisque_contender(pool))
        if not contenders:
            parser.error("nothing to score: give --bundle or --default, or drop --no-brisque")
        if args.baseline is not None and args.baseline not in [c.label for c in contenders]:
            parser.error(f"--baseline {args.baseline}: no such contender; the contenders are "
                         f"{', '.join(c.label for c in contenders)}")
        fullref = FullReferenceCache(None if args.no_fr_cache else args.fr_cache)
        make_seconds = {d.name: 0.0 for d in sets}
        series: list[Series] = []
        records: list[Record] = []
        start = time.perf_counter()
        for i, path in enumerate(photos, 1):
            photo_id = path.relative_to(args.photos).as_posix()
            photo = load_photo(path, args.max_side)
            photo_series, photo_records = run_photo(photo_id, photo, sets, contenders, make_seconds, fullref)
            series += photo_series
            records += photo_records
            print(f"[{i}/{len(photos)}] {photo_id} ({photo.width}x{photo.height}) done at "
                  f"{time.perf_counter() - start:.0f} s", file=sys.stderr)

    summary = {c.label: summarise(series, sets, c.label) for c in contenders}
    cross = cross_content(records, sets, contenders)
    comparison = compare(summary, cross, sets, [c.label for c in contenders])
    total_images = len(records)
    table = markdown(summary, cross, sets, contenders, footer_lines(
        contenders, summary, cross, sets, len(photos), args.max_side, make_seconds, total_images, fullref))
    table += "\n" + summary_markdown(comparison, sets)
    versus = None
    if args.baseline is not None:
        versus = versus_baseline(series, records, sets, contenders, args.baseline, args.resamples)
        table += "\n" + baseline_markdown(versus, sets, args.baseline)
    print(table, end="")
    if args.markdown:
        args.markdown.write_text(table)
    if args.json:
        from contrique_training.fullref import METRICS

        report = {
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "argv": list(sys.argv if argv is None else argv),
            "measure": "Spearman of (-level, higher-is-better score) per (photo, kind) series of levels 0..5; "
                       "constant scores count as 0",
            "cross_content_measure": "Spearman over all images of a set (the photos, level 0, included) of the "
                                     "higher-is-better score and contrique_training.fullref.rank_proxy of the images' "
                                     "full-reference values against their photo (mean over metrics of the rank, "
                                     "each metric oriented higher-is-better, ties averaged, ranked over the set's "
                                     "images); images a contender failed on are left out of its correlation",
            "notes": "series[].scores are raw scores per level 0..5 (null: an image failed, series left out); "
                     "series[].rho is null where the scores were constant (counted as 0 in the means); "
                     "images[] is one record per image (set null: the photo itself, in every set) with its "
                     "full-reference values (fr, each metric's own direction) and every contender's raw score",
            "photos": {"folder": str(args.photos), "max_side": args.max_side, "resample": "Lanczos",
                       "files": [p.relative_to(args.photos).as_posix() for p in photos]},
            "levels": LEVELS,
            "seed": "crc32('<photo>/<kind>'), same at every level of a series",
            "sets": {d.name: {"kinds": list(d.kinds), "parameters": d.parameters} for d in sets},
            "fullref": {"metrics": [m.to_dict() for m in METRICS], "computed": fullref.computed,
                        "from_cache": fullref.reused, "seconds": fullref.seconds,
                        "cache": None if fullref.path is None else str(fullref.path)},
            "ablation": None if args.ablation is None else {
                "proxy": str(args.ablation), "target": args.ablation_target, "protocol": config.to_dict(),
                "group_weights": group_weights,
                "parts": {"nss": "the last statistics_dim(architecture) values of each per-scale block",
                          "learned": "the other values", "both": "every value"}},
            "random_init": random_inits,
            "make_seconds": make_seconds,
            "versions": versions(),
            "contenders": {
                c.label: {**c.description, "seconds": c.seconds, "images": c.images,
                          "failed_images": c.failed_images, "summary": summary[c.label],
                          "cross_content": cross[c.label]}
                for c in contenders
            },
            "comparison": comparison,
            "versus_baseline": None if versus is None else {"baseline": args.baseline, "contenders": versus},
            "series": [{"set": s.set, "kind": s.kind, "photo": s.photo, "rho": s.rho, "scores": s.scores}
                       for s in series],
            "images": [r.to_dict() for r in records],
        }
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
