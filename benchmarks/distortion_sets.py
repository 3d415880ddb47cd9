"""The quality benchmark's distortion sets (a) to (h): each kind, its parameter at levels 1..5, its implementation.

``bench_quality.py`` distorts every photo with each kind of the sets it runs at levels 1 to
:data:`LEVELS` (5: barely visible to beyond KADID-10k's most severe level), the photo itself being
level 0. A set is a :class:`DistortionSet`, whose ``make(photo, kind, level, seed)`` gives one
distorted image; the benchmark passes the same seed at every level of a (photo, kind) series, so a
series' random draws (noise, a blur's angle) are the same at every level. :data:`SETS` builds a set
from its name; a set whose library is missing stops the run (``SystemExit``) saying what to
install. The benchmark runs as a script, with this folder on ``sys.path``, and imports this module
as ``distortion_sets``.

Set a: the 29 types of ``contrique_training.distortions.WIDE_TYPES`` at their wide levels
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

Set f: a sixth library, ``imagecorruptions`` (the ImageNet-C corruptions of Hendrycks and Dietterich
as a package, bethgelab/imagecorruptions 1.1.2, Apache-2.0), added on 2026-12-06 after the default
model v2.4 was chosen, as a check no model was selected on. Each kind is the library's function at
its own severities 1..5 (its tables below, written for 224 px ImageNet images, so heavier from
level 1 than the other sets), run on the 8-bit photo by ``imagecorruptions.corrupt``; the library
draws from NumPy's global generator, seeded from the series seed for each image (and restored
after), so a series' noise field is the same at every level. The library imports ``pkg_resources``
and asks for the GUI ``opencv-python``; with the ``bench`` extra installed, add it with ``pip
install 'setuptools<81' && pip install --no-deps imagecorruptions==1.1.2``. Its ``gaussian_blur``,
``glass_blur`` and ``fog`` fail with scikit-image >= 0.19 and NumPy 2; its ``impulse_noise`` draws
from scikit-image's unseeded generator, so no two runs agree; its weather kinds (snow, frost,
spatter), ``saturate`` and ``elastic_transform`` are not losses of image quality in one direction.
These are left out:

=================  =====================================  ==========================================
kind               the library's parameter, levels 1..5   what it does
=================  =====================================  ==========================================
gaussian_noise     sigma on [0, 1]: 0.08, 0.12, 0.18,     additive Gaussian noise
                   0.26, 0.38
shot_noise         photons at white: 60, 25, 12, 5, 3     Poisson noise
speckle_noise      sigma 0.15, 0.2, 0.35, 0.45, 0.6       multiplicative Gaussian noise
defocus_blur       disk radius px 3, 4, 6, 8, 10          OpenCV filter2D with an anti-aliased disk
motion_blur        radius px 10, 15, 15, 15, 20 and       a Gaussian-weighted line kernel at an
                   sigma 3, 5, 8, 12, 15                  angle in -45..45 degrees
zoom_blur          zoom factors from 1 to 1.10, 1.15,     the mean of centre zooms (scipy zoom)
                   1.20, 1.24, 1.30
pixelate           scale 0.6, 0.5, 0.4, 0.3, 0.25         Pillow BOX down, NEAREST back up
jpeg_compression   quality 25, 18, 15, 10, 7              Pillow JPEG encoder
contrast           factor 0.4, 0.3, 0.2, 0.1, 0.05        towards the image's mean per channel
brightness         value + 0.1, 0.2, 0.3, 0.4, 0.5        skimage HSV, V channel raised, clipped
=================  =====================================  ==========================================

Set g: a seventh library, ImageMagick (through ``Wand``, the ctypes binding of MagickWand, which
comes with the ``bench`` extra; ImageMagick 6.9 of Debian 12 from ``apt-get install
libmagickwand-6.q16-6``), added on 2026-12-07 after the default model v2.4.1 was chosen, as a check
no model was selected on; its levels were set from the PSNR of one validation photo (about 40 down
to 15 dB), never from a model's score.
Every kind is one MagickWand operation on the 8-bit sRGB photo read from a PNG, written back as a
PNG; ImageMagick runs on one thread, its random generator seeded from the series seed
(``SetRandomSecretKey``), so a series' noise field is the same at every level and no two runs differ:

=================  =====================================  ==========================================
kind               parameter, levels 1..5                 implementation
=================  =====================================  ==========================================
gaussian_blur      sigma px 0.6, 1.2, 2, 3.5, 6           gaussian_blur (-gaussian-blur 0xS)
motion_blur        sigma px 1, 2, 3.5, 6, 10              motion_blur (-motion-blur 0xS+A), angle
                                                          drawn per series
rotational_blur    degrees 1, 2, 4, 7, 12                 rotational_blur (-rotational-blur A): a
                                                          camera turning about the centre
gaussian_noise     attenuate 0.2, 0.4, 0.8, 1.6, 3.2      noise gaussian (+noise Gaussian)
poisson_noise      attenuate 50, 25, 10, 4, 1.6           noise poisson (+noise Poisson; a smaller
                                                          attenuate is more noise)
impulse_noise      attenuate 0.05, 0.1, 0.2, 0.4, 0.8     noise impulse (+noise Impulse)
jpeg               quality 60, 35, 20, 10, 4              ImageMagick's JPEG writer (libjpeg-turbo,
                                                          its default 4:2:0 below quality 90)
resolution_loss    factor 1.5, 2, 3, 4, 6                 resize down (triangle filter), back up
                                                          (Mitchell, ImageMagick's default upscaler)
posterize          levels per channel 24, 12, 8, 5, 3     posterize without dither
contrast_loss      strength 2, 4, 6, 9, 13                sigmoidal_contrast sharpen=False
                                                          (+sigmoidal-contrast Sx50%)
spread             radius px 1, 2, 3, 5, 8                spread (-spread R): pixels swapped with
                                                          random neighbours
over_sharpen       amount 1.5, 3, 5, 8, 12                unsharp_mask sigma 1.5, threshold 0
=================  =====================================  ==========================================

Set h: an eighth library, FFmpeg (the ffmpeg 9 binary of the PyPI package ``imageio-ffmpeg``, which
comes with the ``bench`` extra), added on 2026-12-07 after v2.4.1 was chosen, as a check no model was
selected on; levels from the PSNR of one validation photo (codecs about 36 down to 24 dB, filters
about 50 down to 24), never from a model's score. Each kind is one or two ffmpeg runs on one thread
from the raw 8-bit RGB photo (its last row and column repeated where a side is odd, as 4:2:0 needs,
and cut off after): a codec encodes one intra frame from RGB to 4:2:0 (FFmpeg's default BT.601
conversion) and the second run decodes it back to RGB; a filter runs on the RGB frame:

=================  =====================================  ==========================================
kind               parameter, levels 1..5                 implementation
=================  =====================================  ==========================================
h264               CRF 18, 26, 34, 42, 51                 libx264, preset medium
hevc               CRF 20, 28, 36, 44, 51                 libx265, preset medium
av1                CRF 20, 35, 48, 57, 63                 libaom-av1, cpu-used 6
jpeg               qscale 3, 10, 30, 70, 150              FFmpeg's own JPEG encoder (mjpeg), qmax 255
mpeg2              non-linear qscale 2, 8, 16, 22, 28     mpeg2video, fixed quantiser
resolution_loss    factor 1.5, 2, 3, 4, 6                 scale down (bilinear), back up (bicubic)
gaussian_blur      sigma px 0.6, 1.2, 2, 3.5, 6           gblur
box_blur           radius px 1, 2, 3, 5, 8                boxblur, one pass, every plane
noise              strength 6, 12, 24, 40, 64             noise, uniform, every plane, seeded
                                                          (all_seed drawn per series)
denoise            strength 2, 4, 8, 15, 30               nlmeans (7x7 patches, 15x15 search): the
                                                          waxy look of strong denoising
contrast_loss      contrast 0.85, 0.7, 0.55, 0.4, 0.25    eq contrast (luma, about mid-grey)
over_sharpen       luma amount 0.8, 1.5, 2.5, 3.5, 5      unsharp, 5x5 on luma
=================  =====================================  ==========================================
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance
from PIL import features as pil_features
from scipy import ndimage

LEVELS = 5


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
    """A distortion kind of sets b and d to h: its parameter per level (1..5) and its implementation."""

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


# --- set f: a sixth library (imagecorruptions) ------------------------------------------------------

F_KINDS: tuple[tuple[str, str], ...] = (
    ("gaussian_noise", "additive Gaussian noise"),
    ("shot_noise", "Poisson noise"),
    ("speckle_noise", "multiplicative Gaussian noise"),
    ("defocus_blur", "anti-aliased disk kernel (OpenCV filter2D)"),
    ("motion_blur", "Gaussian-weighted line kernel at an angle in -45..45 degrees"),
    ("zoom_blur", "mean of centre zooms (scipy.ndimage.zoom)"),
    ("pixelate", "Pillow BOX down, NEAREST back up"),
    ("jpeg_compression", "Pillow JPEG encoder"),
    ("contrast", "towards the image's mean per channel"),
    ("brightness", "skimage HSV, V raised and clipped"),
)
"""The set-f kinds: ``imagecorruptions`` function names and what each does."""


def _corruption(name: str) -> Callable[[Image.Image, float, np.random.Generator], Image.Image]:
    """A set-f kind: ``imagecorruptions.corrupt`` with ``name`` at the level as its severity, NumPy's
    global generator seeded from ``rng`` (the same draw at every level of a series) and restored after."""

    def apply(image: Image.Image, severity: float, rng: np.random.Generator) -> Image.Image:
        from imagecorruptions import corrupt

        state = np.random.get_state()
        np.random.seed(int(rng.integers(2**31)))
        try:
            return Image.fromarray(corrupt(np.asarray(image), severity=int(severity), corruption_name=name))
        finally:
            np.random.set_state(state)

    return apply


def set_f() -> tuple[Kind, ...]:
    """The set-f kinds (the table of the module docstring)."""
    import warnings

    with warnings.catch_warnings():  # its imports of pkg_resources and scipy.ndimage.interpolation warn
        warnings.simplefilter("ignore", (DeprecationWarning, UserWarning))
        import imagecorruptions  # noqa: F401 - fails here, with the set's message, when it is missing
    return tuple(Kind(name, "imagecorruptions severity", (1, 2, 3, 4, 5), f"imagecorruptions.corrupt "
                      f"corruption_name={name!r}: {what}", _corruption(name)) for name, what in F_KINDS)


# --- set g: a seventh library (ImageMagick, through Wand) ---------------------------------------------

def _magick(operation: Callable[[Any, float, np.random.Generator], None]
            ) -> Callable[[Image.Image, float, np.random.Generator], Image.Image]:
    """A set-g kind: ``operation(wand_image, value, rng)`` in place on the photo read by ImageMagick from a
    PNG, on one thread, its random generator seeded from ``rng``; the result written as a PNG and read back."""

    def apply(image: Image.Image, value: float, rng: np.random.Generator) -> Image.Image:
        import ctypes

        from wand.api import library
        from wand.image import Image as MagickImage
        from wand.resource import limits

        limits["thread"] = 1  # one generator: the same draw at every level, in every run
        library.SetRandomSecretKey(ctypes.c_ulong(int(rng.integers(2**31))))
        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, "PNG")
        with MagickImage(blob=buffer.getvalue()) as wand:
            operation(wand, value, rng)
            wand.format = "png"
            out = Image.open(io.BytesIO(wand.make_blob()))
            return out.convert("RGB")

    return apply


def _magick_noise(kind: str) -> Callable[[Any, float, np.random.Generator], None]:
    def noise(wand: Any, attenuate: float, rng: np.random.Generator) -> None:
        wand.artifacts["attenuate"] = str(attenuate)  # MagickAddNoiseImage reads it from the image
        wand.noise(kind)

    return noise


def _magick_jpeg(wand: Any, quality: float, rng: np.random.Generator) -> None:
    from wand.image import Image as MagickImage

    wand.compression_quality = int(quality)
    with MagickImage(blob=wand.make_blob("jpeg")) as decoded:
        wand.import_pixels(0, 0, wand.width, wand.height, "RGB", "char",
                           decoded.export_pixels(channel_map="RGB", storage="char"))


def _magick_resolution(wand: Any, factor: float, rng: np.random.Generator) -> None:
    width, height = wand.width, wand.height
    wand.resize(max(1, round(width / factor)), max(1, round(height / factor)), filter="triangle")
    wand.resize(width, height, filter="mitchell")


def set_g() -> tuple[Kind, ...]:
    """The set-g kinds (the table of the module docstring)."""
    from wand.image import Image as MagickImage  # noqa: F401 - fails here, with the set's message, without it

    return (
        Kind("gaussian_blur", "sigma px", (0.6, 1.2, 2, 3.5, 6), "ImageMagick gaussian_blur",
             _magick(lambda w, sigma, rng: w.gaussian_blur(radius=0, sigma=sigma))),
        Kind("motion_blur", "sigma px", (1, 2, 3.5, 6, 10), "ImageMagick motion_blur at an angle per series",
             _magick(lambda w, sigma, rng: w.motion_blur(radius=0, sigma=sigma, angle=float(rng.uniform(0, 180))))),
        Kind("rotational_blur", "degrees", (1, 2, 4, 7, 12), "ImageMagick rotational_blur",
             _magick(lambda w, angle, rng: w.rotational_blur(angle=angle))),
        Kind("gaussian_noise", "attenuate", (0.2, 0.4, 0.8, 1.6, 3.2), "ImageMagick noise gaussian (seeded)",
             _magick(_magick_noise("gaussian"))),
        Kind("poisson_noise", "attenuate (smaller is more)", (50, 25, 10, 4, 1.6), "ImageMagick noise poisson (seeded)",
             _magick(_magick_noise("poisson"))),
        Kind("impulse_noise", "attenuate", (0.05, 0.1, 0.2, 0.4, 0.8), "ImageMagick noise impulse (seeded)",
             _magick(_magick_noise("impulse"))),
        Kind("jpeg", "quality", (60, 35, 20, 10, 4), "ImageMagick JPEG writer (libjpeg-turbo, 4:2:0)",
             _magick(_magick_jpeg)),
        Kind("resolution_loss", "factor", (1.5, 2, 3, 4, 6), "ImageMagick resize down (triangle), up (Mitchell)",
             _magick(_magick_resolution)),
        Kind("posterize", "levels per channel", (24, 12, 8, 5, 3), "ImageMagick posterize, no dither",
             _magick(lambda w, levels, rng: w.posterize(levels=int(levels), dither="no"))),
        Kind("contrast_loss", "sigmoidal strength", (2, 4, 6, 9, 13), "ImageMagick sigmoidal_contrast sharpen=False",
             _magick(lambda w, strength, rng: w.sigmoidal_contrast(sharpen=False, strength=strength,
                                                                   midpoint=0.5 * w.quantum_range))),
        Kind("spread", "radius px", (1, 2, 3, 5, 8), "ImageMagick spread (seeded)",
             _magick(lambda w, radius, rng: w.spread(radius=radius))),
        Kind("over_sharpen", "amount", (1.5, 3, 5, 8, 12), "ImageMagick unsharp_mask sigma 1.5, threshold 0",
             _magick(lambda w, amount, rng: w.unsharp_mask(radius=0, sigma=1.5, amount=amount, threshold=0))),
    )


# --- set h: an eighth library (FFmpeg, through the imageio-ffmpeg binary) ---------------------------

def _ffmpeg_run(arguments: list[str], data: bytes) -> bytes:
    """What ``ffmpeg arguments`` writes to stdout given ``data`` on stdin (the input decoded on one
    thread; ``arguments`` set the encoder's and filters' threads), with no console output.

    Raises:
        RuntimeError: ffmpeg failed (its message).
    """
    import subprocess

    import imageio_ffmpeg

    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "1",
               *arguments]
    done = subprocess.run(command, input=data, capture_output=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ffmpeg {' '.join(arguments)} failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


FfmpegPass = Callable[[float, np.random.Generator, int, int], tuple[list[str], list[str]]]
"""A set-h pass: ``(value, rng, width, height)`` -> the ffmpeg arguments of :func:`_ffmpeg`'s two passes."""


def _ffmpeg(step: FfmpegPass) -> Callable[[Image.Image, float, np.random.Generator], Image.Image]:
    """A set-h kind: ``step(value, rng, width, height)`` gives the arguments of an ffmpeg pass from the photo as raw RGB
    (edges repeated to even sides, as 4:2:0 video needs, and cut off again) to a stream, and of a second
    pass from that stream back to raw RGB (``[]``: the first pass writes raw RGB itself)."""

    def apply(image: Image.Image, value: float, rng: np.random.Generator) -> Image.Image:
        pixels = np.asarray(image.convert("RGB"))
        height, width = pixels.shape[:2]
        even = np.pad(pixels, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
        # after -i, -threads and -filter_threads are the encoder's and the filters': one each, whatever the machine
        raw_in = ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{even.shape[1]}x{even.shape[0]}", "-i", "pipe:0",
                  "-frames:v", "1", "-threads", "1", "-filter_threads", "1"]
        raw_out = ["-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
        first, second = step(value, rng, even.shape[1], even.shape[0])
        data = _ffmpeg_run([*raw_in, *first, *([] if second else raw_out)], even.tobytes())
        if second:
            data = _ffmpeg_run([*second, "-i", "pipe:0", "-threads", "1", *raw_out], data)
        out = np.frombuffer(data, dtype=np.uint8)
        if out.size != even.size:
            raise RuntimeError(f"ffmpeg gave {out.size} bytes for a {even.shape[1]}x{even.shape[0]} RGB image")
        return Image.fromarray(out.reshape(even.shape)[:height, :width])

    return apply


def _ffmpeg_codec(codec: list[str], stream: str, demuxer: str | None = None) -> FfmpegPass:
    """Encode one 4:2:0 frame with ``codec`` (its level option last, given the level's value) into a
    ``stream``-format stream, then decode it (read as ``demuxer``, if its name is not the muxer's)."""
    return lambda value, rng, width, height: ([*codec, str(int(value)), "-pix_fmt", "yuv420p", "-f", stream,
                                               "pipe:1"], ["-f", demuxer or stream])


def _ffmpeg_filter(graph: Callable[[float, np.random.Generator], str]) -> FfmpegPass:
    """Run the filter graph ``graph(value, rng)`` on the RGB frame."""
    return lambda value, rng, width, height: (["-vf", graph(value, rng)], [])


def _ffmpeg_resolution(factor: float, rng: np.random.Generator, width: int, height: int) -> tuple[list[str], list[str]]:
    """Scale down by ``factor`` (bilinear) and back up to the frame's size (bicubic)."""
    return ["-vf", f"scale={max(1, round(width / factor))}:{max(1, round(height / factor))}:flags=bilinear,"
                   f"scale={width}:{height}:flags=bicubic"], []


def set_h() -> tuple[Kind, ...]:
    """The set-h kinds (the table of the module docstring)."""
    import imageio_ffmpeg  # noqa: F401 - fails here, with the set's message, without it

    return (
        Kind("h264", "CRF", (18, 26, 34, 42, 51), "libx264 one intra frame, preset medium, 4:2:0",
             _ffmpeg(_ffmpeg_codec(["-c:v", "libx264", "-preset", "medium", "-crf"], "h264"))),
        Kind("hevc", "CRF", (20, 28, 36, 44, 51), "libx265 one intra frame, preset medium, 4:2:0",
             _ffmpeg(_ffmpeg_codec(["-c:v", "libx265", "-preset", "medium", "-x265-params", "log-level=error",
                                    "-crf"], "hevc"))),
        Kind("av1", "CRF", (20, 35, 48, 57, 63), "libaom-av1 one intra frame, cpu-used 6, 4:2:0",
             _ffmpeg(_ffmpeg_codec(["-c:v", "libaom-av1", "-cpu-used", "6", "-row-mt", "0", "-crf"], "ivf"))),
        Kind("jpeg", "qscale", (3, 10, 30, 70, 150), "FFmpeg's own JPEG encoder (mjpeg), fixed quantiser, 4:2:0",
             _ffmpeg(_ffmpeg_codec(["-c:v", "mjpeg", "-qmax", "255", "-q:v"], "mjpeg"))),
        Kind("mpeg2", "qscale (non-linear)", (2, 8, 16, 22, 28),
             "FFmpeg mpeg2video one intra frame, fixed non-linear quantiser, 4:2:0",
             _ffmpeg(_ffmpeg_codec(["-c:v", "mpeg2video", "-non_linear_quant", "1", "-qmax", "28", "-q:v"],
                                   "mpeg2video", "mpegvideo"))),
        Kind("resolution_loss", "factor", (1.5, 2, 3, 4, 6), "FFmpeg scale down (bilinear), up (bicubic)",
             _ffmpeg(_ffmpeg_resolution)),
        Kind("gaussian_blur", "sigma px", (0.6, 1.2, 2, 3.5, 6), "FFmpeg gblur",
             _ffmpeg(_ffmpeg_filter(lambda sigma, rng: f"gblur=sigma={sigma}"))),
        Kind("box_blur", "radius px", (1, 2, 3, 5, 8), "FFmpeg boxblur, one pass, every plane",
             _ffmpeg(_ffmpeg_filter(lambda r, rng: f"boxblur=luma_radius={int(r)}:luma_power=1:"
                                                   f"chroma_radius={int(r)}:chroma_power=1"))),
        Kind("noise", "strength", (6, 12, 24, 40, 64), "FFmpeg noise, uniform, every plane (seeded)",
             _ffmpeg(_ffmpeg_filter(lambda strength, rng: f"noise=alls={int(strength)}:allf=u:"
                                                          f"all_seed={int(rng.integers(2**31))}"))),
        Kind("denoise", "strength", (2, 4, 8, 15, 30), "FFmpeg nlmeans (non-local means, 7x7 patches, 15x15 search)",
             _ffmpeg(_ffmpeg_filter(lambda strength, rng: f"nlmeans=s={strength}:p=7:r=15"))),
        Kind("contrast_loss", "contrast", (0.85, 0.7, 0.55, 0.4, 0.25), "FFmpeg eq contrast (on luma, about mid-grey)",
             _ffmpeg(_ffmpeg_filter(lambda contrast, rng: f"eq=contrast={contrast}"))),
        Kind("over_sharpen", "luma amount", (0.8, 1.5, 2.5, 3.5, 5), "FFmpeg unsharp 5x5 on luma",
             _ffmpeg(_ffmpeg_filter(lambda amount, rng: "unsharp=luma_msize_x=5:luma_msize_y=5:"
                                                        f"luma_amount={amount}"))),
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
    """The training package's 29 wide types (25 KADID types, 2 exposure errors, resolution loss and
    WebP) at their wide levels."""
    try:
        from contrique_training.distortions import LEVELS as TRAINING_LEVELS
        from contrique_training.distortions import WIDE_TYPES, distort_image
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


def distortion_set_f() -> DistortionSet:
    try:
        return _kind_set("f", set_f())
    except ImportError as exc:  # imagecorruptions itself, or the pkg_resources it imports
        raise SystemExit("set f needs imagecorruptions (with the bench extra: pip install 'setuptools<81' && "
                         f"pip install --no-deps imagecorruptions==1.1.2), or choose other sets with --set: {exc}") from exc


def distortion_set_g() -> DistortionSet:
    try:
        return _kind_set("g", set_g())
    except ImportError as exc:  # Wand itself, or the MagickWand library it loads
        raise SystemExit("set g needs Wand with ImageMagick's MagickWand library (apt-get install libmagickwand-6.q16-6; "
                         f"pip install Wand), or choose other sets with --set: {exc}") from exc


def distortion_set_h() -> DistortionSet:
    try:
        return _kind_set("h", set_h())
    except ImportError as exc:  # imageio-ffmpeg, which brings its own ffmpeg binary
        raise SystemExit("set h needs imageio-ffmpeg (its own ffmpeg binary; in the bench extra: pip install "
                         f"imageio-ffmpeg), or choose other sets with --set: {exc}") from exc


def distortion_set_c() -> DistortionSet:
    chains = {c.name: c for c in set_c()}
    return DistortionSet("c", tuple(chains), {c.name: c.to_dict() for c in chains.values()},
                         lambda photo, kind, level, seed: chains[kind].apply(photo, level, seed))


SETS: dict[str, Callable[[], DistortionSet]] = {"a": distortion_set_a, "b": distortion_set_b, "c": distortion_set_c,
                                                "d": distortion_set_d, "e": distortion_set_e, "f": distortion_set_f,
                                                "g": distortion_set_g, "h": distortion_set_h}
DEFAULT_SETS: tuple[str, ...] = ("a", "b", "c", "d", "e")
"""The sets a run makes when none is named: f's library is installed by hand, g's needs the system's
ImageMagick, and h (whose binary comes with the bench extra) came after, so a default run stays what it was."""
