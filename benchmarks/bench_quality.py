"""Do quality scores fall as distortion rises? Spearman per distortion series (prints figures; asserts nothing).

A no-reference quality model should rank the same photo lower the more it is distorted. Every
validation photo is distorted with each distortion kind at levels 1..5 (barely visible to beyond
KADID-10k's most severe level); with the photo itself as level 0 that makes one series of 6
images per (photo, kind). For each series and contender the Spearman correlation between
``-level`` and the higher-is-better score is computed: +1 means the score falls at every step.
Scores of heads with ``higher_is_better`` False and BRISQUE scores (lower is better) are negated
first. A series whose scores are all equal has no Spearman correlation: it counts as 0 and the
output says how many there were. A series with an image a contender failed on is left out for
that contender only (counted in the output).

This is a benchmark that prints figures, not a timed test: it checks nothing and fails on nothing
but bad arguments or missing models.

Photos: every JPEG/PNG under ``../shared/photos/val`` (recursively; never ``photos/train``),
each first downscaled with Lanczos so that its longer side is at most ``--max-side`` (512) px to
keep the run short; level 0 is that downscaled photo, shared by all series of the photo. Every
image is made once, in memory, one photo at a time, and every contender scores the same pixels.
Random distortions use a fixed seed per (photo, kind) (CRC-32 of ``"<photo path>/<kind>"``), the
same at every level of a series, so reruns are identical.

Set a: the 27 types of ``contrique_training.distortions.WIDE_TYPES`` at their wide levels
(``distort_image_wide``; the parameter tables are in the JSON output).

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

Contenders: bundles (``--bundle LABEL=PATH`` or ``LABEL=PATH@HEAD``, scored with
``QualityScorer.score_many``), the packaged default model (``--default``, skipped with a note
if none is installed) and BRISQUE (the ``brisque`` package with OpenCV, with a fix for NumPy >= 2.4;
``--no-brisque`` to skip; ``--jobs N`` scores it in N processes). Per 512 px image on a busy 2-core CPU: BRISQUE about
0.15 s, a ResNet-50 bundle about 0.9 s (2 threads), making set a about 0.025 s and set b 0.03 s; a
full run scores about 2,400 images per contender (13 photos x (1 + 37 kinds x 5 levels)).

Usage:
    python benchmarks/bench_quality.py --bundle default=contrique_infer/models/default --json out.json
    python benchmarks/bench_quality.py --bundle mine=path/to/bundle@koniq --set a --limit-photos 2 \\
        [--default] [--no-brisque] [--jobs 2] [--max-side 512] [--markdown table.md]

stdout: a Markdown table (rows: distortion kinds by set; columns: contenders; cells: mean
Spearman over photos), then photo count, levels, max side and wall time per contender.
Progress goes to stderr. ``--json PATH`` writes every per-series value too, with the parameter
tables, photos, versions and date.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import subprocess
import sys
import time
import warnings
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageEnhance
from scipy import ndimage
from scipy.stats import spearmanr

REPO = Path(__file__).resolve().parents[1]
PHOTOS = REPO.parent / "shared" / "photos"
LEVELS = 5
SUFFIXES = {".jpg", ".jpeg", ".png"}

Scored = tuple[float | None, str | None]  # (score, error message)


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
    """A set-b distortion kind: its parameter per level (1..5) and its implementation."""

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
        from contrique_training.distortions import WIDE_TYPES, distort_image_wide
        from contrique_training.distortions import LEVELS as TRAINING_LEVELS
    except ImportError as exc:
        raise SystemExit(f"set a needs contrique_training.distortions with distort_image_wide: {exc}") from exc
    if TRAINING_LEVELS != LEVELS:
        raise SystemExit(f"set a: contrique_training has {TRAINING_LEVELS} levels, this benchmark expects {LEVELS}")
    return DistortionSet(
        "a",
        tuple(d.name for d in WIDE_TYPES),
        {d.name: list(d.table(wide=True)) for d in WIDE_TYPES},
        lambda photo, kind, level, seed: distort_image_wide(photo, kind, level, seed=seed),
    )


def distortion_set_b() -> DistortionSet:
    kinds = {k.name: k for k in set_b()}

    def make(photo: Image.Image, kind: str, level: int, seed: int) -> Image.Image:
        k = kinds[kind]
        return k.apply(photo, k.values[level - 1], np.random.default_rng(seed))

    return DistortionSet("b", tuple(kinds), {k.name: k.to_dict() for k in kinds.values()}, make)


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


def bundle_contender(label: str, path: str | None, head: str | None, variant: str, threads: int | None) -> Contender:
    """A bundle (``path`` None: the packaged default) scored with its ``head`` (None: the default head)."""
    from contrique_infer import QualityScorer

    scorer = QualityScorer.from_pretrained(path, head=head, variant=variant, threads=threads)
    info = scorer.resolve_head(head)

    def score(images: list[np.ndarray]) -> list[Scored]:
        return [(r.score, r.error) for r in scorer.score_many(images)]

    description = {
        "kind": "bundle", "path": str(scorer.bundle_dir), "name": scorer.manifest.name, "head": info.name,
        "head_dataset": info.dataset, "higher_is_better": info.higher_is_better, "variant": scorer.variant,
        "providers": scorer.providers,
    }
    return Contender(label, description, info.higher_is_better, score)


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


# --- scoring ----------------------------------------------------------------------------------------

def list_photos(folder: Path) -> list[Path]:
    photos = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES)
    if not photos:
        raise SystemExit(f"no JPEG or PNG photos under {folder}")
    return photos


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


def spearman(scores: Sequence[float]) -> float | None:
    """Spearman of (-level, score) over levels 0..5; None when the scores are all equal."""
    if max(scores) == min(scores):
        return None
    return float(spearmanr(-np.arange(len(scores)), scores).statistic)


@dataclass
class Series:
    set: str
    kind: str
    photo: str
    scores: dict[str, list[float] | None] = field(default_factory=dict)  # per contender, None: left out
    rho: dict[str, float | None] = field(default_factory=dict)  # None: undefined (constant scores)


def run_photo(
    photo_id: str, photo: Image.Image, sets: list[DistortionSet], contenders: list[Contender],
    make_seconds: dict[str, float],
) -> list[Series]:
    """Distort one photo with every kind of ``sets``, score all images with every contender."""
    images = [np.asarray(photo)]
    names = [f"{photo_id} level 0"]
    series: list[tuple[Series, list[int]]] = []
    for dset in sets:
        start = time.perf_counter()
        for kind in dset.kinds:
            seed = seed_of(photo_id, kind)
            indices = [0]
            for level in range(1, LEVELS + 1):
                indices.append(len(images))
                images.append(np.asarray(dset.make(photo, kind, level, seed).convert("RGB")))
                names.append(f"{photo_id} {dset.name}/{kind} level {level}")
            series.append((Series(dset.name, kind, photo_id), indices))
        make_seconds[dset.name] += time.perf_counter() - start
    for contender in contenders:
        start = time.perf_counter()
        scored = contender.score(images)
        contender.seconds += time.perf_counter() - start
        contender.images += len(images)
        ok = {i: value for i, (value, _) in enumerate(scored) if value is not None and math.isfinite(value)}
        contender.failed_images += [f"{names[i]}: {error or f'score {value}'}"
                                    for i, (value, error) in enumerate(scored) if i not in ok]
        sign = 1.0 if contender.higher_is_better else -1.0
        for s, indices in series:
            if not ok.keys() >= set(indices):
                s.scores[contender.label] = None
                continue
            raw = [ok[i] for i in indices]
            s.scores[contender.label] = raw
            s.rho[contender.label] = spearman([sign * v for v in raw])
    return [s for s, _ in series]


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


def markdown(summary: dict[str, dict[str, Any]], sets: list[DistortionSet], contenders: list[Contender],
             footer: list[str]) -> str:
    def cell(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    labels = [c.label for c in contenders]
    lines = ["| set | distortion | " + " | ".join(labels) + " |", "|---|---|" + "---:|" * len(labels)]
    for dset in sets:
        for kind in dset.kinds:
            lines.append(f"| {dset.name} | {kind} | "
                         + " | ".join(cell(summary[x][dset.name]["per_kind"][kind]) for x in labels) + " |")
        lines.append(f"| {dset.name} | **mean over all series** | "
                     + " | ".join(f"**{cell(summary[x][dset.name]['mean'])}**" for x in labels) + " |")
    return "\n".join(lines + [""] + footer) + "\n"


def footer_lines(contenders: list[Contender], summary: dict[str, dict[str, Any]], sets: list[DistortionSet],
                 n_photos: int, max_side: int, make_seconds: dict[str, float], total_images: int) -> list[str]:
    lines = [
        f"Cells: Spearman of (-level, score), scores negated where lower is better (+1: the score falls at "
        f"every step), mean over the photos. {n_photos} photo(s), longer side <= {max_side} px (Lanczos); "
        f"levels 0 (the photo) + 1..{LEVELS}; "
        + ", ".join(f"set {d.name}: {len(d.kinds)} kinds, {len(d.kinds) * n_photos} series" for d in sets) + ".",
        f"{total_images} images; made in " + ", ".join(f"set {k} {v:.1f} s" for k, v in make_seconds.items()) + ".",
        "Wall time: " + "; ".join(
            f"{c.label} {c.seconds:.1f} s ({1000 * c.seconds / max(c.images, 1):.1f} ms/image)" for c in contenders
        ) + ".",
    ]
    for c in contenders:
        undefined = sum(summary[c.label][d.name]["undefined"] for d in sets)
        left_out = sum(summary[c.label][d.name]["left_out"] for d in sets)
        if undefined:
            lines.append(f"{c.label}: {undefined} series with constant scores (Spearman undefined) counted as 0.")
        if left_out:
            lines.append(f"{c.label}: {len(c.failed_images)} images failed; {left_out} series left out "
                         f"(first: {c.failed_images[0]}).")
    if all(summary[c.label][d.name]["undefined"] == 0 for c in contenders for d in sets):
        lines.append("No series had constant scores (those would count as 0).")
    return lines


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for package in ("contrique-infer", "onnxruntime", "brisque", "scikit-image", "scipy", "numpy", "pillow", "torch",
                    "opencv-python-headless"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = None
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

def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", action="append", default=[], type=parse_bundle, metavar="LABEL=PATH[@HEAD]",
                        help="a bundle folder (or Hub id) to score with its default head or HEAD; repeatable")
    parser.add_argument("--default", action="store_true", help="also score the packaged default model, if installed")
    parser.add_argument("--no-brisque", action="store_true", help="leave BRISQUE out")
    parser.add_argument("--set", choices=("a", "b", "both"), default="both", help="distortion set(s)")
    parser.add_argument("--photos", type=Path, default=PHOTOS / "val", help="photo folder (searched recursively)")
    parser.add_argument("--limit-photos", type=positive, help="use only the first N photos (sorted by path)")
    parser.add_argument("--max-side", type=positive, default=512, help="downscale photos to this longer side")
    parser.add_argument("--variant", choices=("auto", "fp32", "fp16", "int8"), default="auto",
                        help="bundle encoder variant (default auto: what users get, int8 on CPUs where trusted)")
    parser.add_argument("--threads", type=positive, help="onnxruntime intra-op threads (default: onnxruntime's)")
    parser.add_argument("--jobs", type=positive, default=1, help="processes for BRISQUE")
    parser.add_argument("--json", type=Path, help="write every figure, per series, to this JSON file")
    parser.add_argument("--markdown", type=Path, help="write the table to this file too")
    args = parser.parse_args(argv)

    train = (PHOTOS / "train").resolve()
    if args.photos.resolve() == train or train in args.photos.resolve().parents:
        parser.error(f"{args.photos} holds training photos: benchmark on held-out photos only")
    if not args.photos.is_dir():
        parser.error(f"no photo folder {args.photos}")
    labels = [label for label, _, _ in args.bundle] + (["default"] if args.default else [])
    if len(set(labels)) != len(labels) or "BRISQUE" in labels:
        parser.error(f"contender labels must be unique and not BRISQUE; got {', '.join(labels)}")

    from contrique_infer.errors import ContriqueError, NoDefaultModelError

    contenders: list[Contender] = []
    try:
        for label, path, head in args.bundle:
            contenders.append(bundle_contender(label, path, head, args.variant, args.threads))
        if args.default:
            try:
                contenders.append(bundle_contender("default", None, None, args.variant, args.threads))
            except NoDefaultModelError:
                print("note: no default model is installed with contrique-infer; --default skipped", file=sys.stderr)
    except ContriqueError as exc:
        print(f"error: cannot load a bundle: {exc}", file=sys.stderr)
        return 2
    pool = ProcessPoolExecutor(args.jobs, initializer=_init_brisque) if not args.no_brisque and args.jobs > 1 else None
    try:
        if not args.no_brisque:
            contenders.append(brisque_contender(pool))
        if not contenders:
            parser.error("nothing to score: give --bundle or --default, or drop --no-brisque")
        sets = ([distortion_set_a()] if args.set in ("a", "both") else []) + (
            [distortion_set_b()] if args.set in ("b", "both") else [])
        photos = list_photos(args.photos)[: args.limit_photos]
        make_seconds = {d.name: 0.0 for d in sets}
        series: list[Series] = []
        start = time.perf_counter()
        for i, path in enumerate(photos, 1):
            photo_id = path.relative_to(args.photos).as_posix()
            photo = load_photo(path, args.max_side)
            series += run_photo(photo_id, photo, sets, contenders, make_seconds)
            print(f"[{i}/{len(photos)}] {photo_id} ({photo.width}x{photo.height}) done at "
                  f"{time.perf_counter() - start:.0f} s", file=sys.stderr)
    finally:
        if pool is not None:
            pool.shutdown()

    summary = {c.label: summarise(series, sets, c.label) for c in contenders}
    total_images = len(photos) * (1 + LEVELS * sum(len(d.kinds) for d in sets))
    table = markdown(summary, sets, contenders,
                     footer_lines(contenders, summary, sets, len(photos), args.max_side, make_seconds, total_images))
    print(table, end="")
    if args.markdown:
        args.markdown.write_text(table)
    if args.json:
        report = {
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "argv": list(sys.argv if argv is None else argv),
            "measure": "Spearman of (-level, higher-is-better score) per (photo, kind) series of levels 0..5; "
                       "constant scores count as 0",
            "notes": "series[].scores are raw scores per level 0..5 (null: an image failed, series left out); "
                     "series[].rho is null where the scores were constant (counted as 0 in the means)",
            "photos": {"folder": str(args.photos), "max_side": args.max_side, "resample": "Lanczos",
                       "files": [p.relative_to(args.photos).as_posix() for p in photos]},
            "levels": LEVELS,
            "seed": "crc32('<photo>/<kind>'), same at every level of a series",
            "sets": {d.name: {"kinds": list(d.kinds), "parameters": d.parameters} for d in sets},
            "make_seconds": make_seconds,
            "versions": versions(),
            "contenders": {
                c.label: {**c.description, "seconds": c.seconds, "images": c.images,
                          "failed_images": c.failed_images, "summary": summary[c.label]}
                for c in contenders
            },
            "series": [{"set": s.set, "kind": s.kind, "photo": s.photo, "rho": s.rho, "scores": s.scores}
                       for s in series],
        }
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
