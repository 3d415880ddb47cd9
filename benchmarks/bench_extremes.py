"""Beyond the strongest level: does a model's score keep falling as a distortion gets stronger?

`bench_quality.py` stops at its level 5. A photo blurred, shrunk or washed out further is still
worse, and a score users can trust must not climb back up as the photo turns to mush. For each
photo of ``--photos`` (downscaled so that its longer side is at most ``--max-side``, as
`bench_quality.py` does) and each kind below, this benchmark scores the photo and a ladder of ever
stronger versions, made with Pillow and NumPy (no code of the training package), from about the
benchmark's level 5 to far beyond it. Per contender and kind it reports the mean over the photos of
the Spearman correlation of (-strength, score) (+1: the score falls at every step), the share of
steps where the score rises by more than one point, the largest such rise, and the mean score of
the photos and of their strongest versions.

    python benchmarks/bench_extremes.py --bundle v2.4=contrique_infer/models/default --bundle new=BUNDLE \\
        --photos ../shared/photos/val --variant fp32 --threads 2 [--max-side 512] [--json out.json]

Results on stdout (a Markdown table), progress on stderr; exit code 0, or 2 for bad arguments or a
bundle or photo that cannot be used.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from benchlib import Scores, add_photo_benchmark_arguments, check_photo_benchmark_arguments, read_photos
from PIL import Image, ImageFilter

from contrique_export.fidelity import spearman
from contrique_infer.commands import positive_int

RISE = 1.0
"""A step counts as a rise when the score goes up by more than this (in the head's units)."""


def _down_up(image: Image.Image, factor: float) -> Image.Image:
    small = (max(1, round(image.width / factor)), max(1, round(image.height / factor)))
    return image.resize(small, Image.Resampling.BICUBIC).resize(image.size, Image.Resampling.BICUBIC)


def _contrast(image: Image.Image, keep: float) -> Image.Image:
    pixels = np.asarray(image, dtype=np.float64)
    mean = pixels.mean()
    return Image.fromarray(np.clip(mean + (pixels - mean) * keep, 0, 255).round().astype(np.uint8))


def _noise(image: Image.Image, sigma: float) -> Image.Image:
    pixels = np.asarray(image, dtype=np.float64)
    noise = np.random.default_rng(int(sigma)).normal(0.0, sigma, pixels.shape)
    return Image.fromarray(np.clip(pixels + noise, 0, 255).round().astype(np.uint8))


def _jpeg(image: Image.Image, quality: float) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=int(quality))
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


@dataclass(frozen=True)
class Ladder:
    """Ever stronger versions of one kind of distortion.

    Attributes:
        name: The kind, as the table shows it.
        strengths: From the benchmark's level 5 or below to far beyond it, in the unit of ``apply``.
        apply: (RGB image, strength) -> the distorted image.
    """

    name: str
    strengths: tuple[float, ...]
    apply: Callable[[Image.Image, float], Image.Image]


LADDERS: tuple[Ladder, ...] = (
    Ladder("gaussian blur (Pillow, sigma px)", (8, 12, 16, 24, 32, 48),
           lambda im, v: im.filter(ImageFilter.GaussianBlur(v))),
    Ladder("box blur (Pillow, radius px)", (8, 16, 32, 64), lambda im, v: im.filter(ImageFilter.BoxBlur(v))),
    Ladder("down and up (bicubic, factor)", (8, 16, 24, 32, 64), _down_up),
    Ladder("contrast towards the mean (kept share)", (0.3, 0.1, 0.05, 0.02), _contrast),
    Ladder("gaussian noise (sigma of 255)", (40, 60, 80, 120), _noise),
    Ladder("JPEG (Pillow, quality)", (10, 5, 3, 2, 1), _jpeg),
)
"""The kinds measured; the photo itself is the first step of each ladder."""


def extremes(scorer: Scores, photos: Sequence[Image.Image],
             ladders: Sequence[Ladder] = LADDERS) -> dict[str, dict[str, float]]:
    """Score every photo and its ladders of ever stronger versions; summarise per ladder.

    Args:
        scorer: Anything with ``score(pixels) -> float`` (a :class:`~contrique_infer.QualityScorer`
            whose head is higher-is-better).
        photos: RGB photos.
        ladders: The kinds to measure.

    Returns:
        Per ladder name: ``srcc`` (mean over photos of Spearman of -strength and score, the photo as
        strength 0), ``rises`` (share of steps that raise the score by more than :data:`RISE`),
        ``max_rise`` (the largest rise of one step, 0 if none), ``start`` and ``end`` (mean score of the
        photos and of their strongest versions).
    """
    base = [scorer.score(np.asarray(p)) for p in photos]
    out = {}
    for ladder in ladders:
        rhos, steps, ends = [], [], []
        for photo, first in zip(photos, base):
            scores = [first] + [scorer.score(np.asarray(ladder.apply(photo, v))) for v in ladder.strengths]
            rhos.append(spearman(-np.arange(len(scores)), scores))
            steps.append(np.diff(scores))
            ends.append(scores[-1])
        diffs = np.concatenate(steps)
        out[ladder.name] = {"srcc": float(np.nanmean(rhos)), "rises": float(np.mean(diffs > RISE)),
                            "max_rise": float(max(diffs.max(), 0.0)), "start": float(np.mean(base)),
                            "end": float(np.mean(ends))}
    return out


def table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """A Markdown table: a row per ladder, a column per contender; cells SRCC / share of rises / largest
    rise (mean score of the photos -> of their strongest versions)."""
    labels = list(results)
    lines = ["| kind | " + " | ".join(labels) + " |", "|---|" + "---:|" * len(labels)]
    for name in next(iter(results.values())):
        cells = [results[label][name] for label in labels]
        lines.append(f"| {name} | " + " | ".join(
            f"{c['srcc']:.3f} / {c['rises']:.2f} / {c['max_rise']:.1f} ({c['start']:.1f} -> {c['end']:.1f})"
            for c in cells) + " |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_photo_benchmark_arguments(parser, "a bundle folder (or Hub id) to measure, with one of its heads (default: "
                                          "its default head, which must be higher-is-better); repeatable")
    parser.add_argument("--max-side", type=positive_int, default=512,
                        help="downscale the photos so that their longer side is at most this (default 512)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_photo_benchmark_arguments(parser, args)
    from contrique_infer import QualityScorer
    from contrique_infer.errors import ContriqueError

    try:
        paths, photos = read_photos(args.photos, args.max_side)
        results = {}
        for label, bundle, head in args.bundle:
            steps = sum(len(ladder.strengths) for ladder in LADDERS)
            print(f"{label}: {len(photos)} photos x {1 + steps} versions", file=sys.stderr)
            scorer = QualityScorer.from_pretrained(bundle, head=head, variant=args.variant, threads=args.threads)
            if scorer.head is not None and not scorer.head.higher_is_better:
                parser.error(f"{label}: head {scorer.head.name!r} is lower-is-better; name a higher-is-better head")
            results[label] = extremes(scorer, photos)
    except (ContriqueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(photos)} photos, longer side <= {args.max_side} px; cells: mean per-photo SRCC of (-strength, "
          f"score) / share of steps where the score rises by more than {RISE:g} / largest rise (mean score of the "
          "photos -> of their strongest versions)\n")
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps({"photos": [str(p) for p in paths], "max_side": args.max_side,
                                         "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
