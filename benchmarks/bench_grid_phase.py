"""Does a model respond to where a JPEG's 8x8 block grid falls? (prints figures)

A JPEG's blocks start at its top-left corner. Cropping k rows off the decoded picture moves the
grid by k mod 8 rows against the picture's corner, where the network's strides start; a network
that has learned the grid at one phase treats the crops of 0, 8, 16 ... rows unlike the others,
and its score swings with a one-row crop. Training that always cut its codec series with the grid
at the crop's corner teaches that (docs/training.md, "Grid phase"); a model should not care.

Each photo of ``--photos`` is downscaled to ``--size`` (longer side; photos smaller stay as they
are), saved as a JPEG at ``--quality`` (its grid at the corner) and kept lossless (the same
pixels), and each version is cropped by 0 to ``--rows`` rows. Per bundle and version:

- **phase ratio**: the distance of each crop's learned feature at full scale (the network's
  channels, without the statistics) from their mean over the crops; the mean distance at the crops
  of 0 mod 8 rows over the mean at the others. Geometric mean over photos, and the share of photos
  above 1. The lossless version is the reference: a model blind to the grid gives both versions
  the same ratio (about 0.9 to 1 for a network's features, whose crops of 0 and 16 rows are the
  ends of the range; 1.33 for a feature that drifts evenly with the crop).
- **score**: the head's largest minus smallest score over the crops (median and largest over the
  photos), that median over the spread (standard deviation) of the uncropped photos' scores, so
  that heads of any scale compare (a training run's ``rank`` head has none of its own), and the
  mean score of the 0-mod-8 crops minus that of the others (median).

Photos larger than a bundle's ``max_side`` are downscaled by its input contract, which hides the
grid: keep ``--size`` at or below it to see the network's own response (the default, 512, is the
default model's ``max_side``).

    python benchmarks/bench_grid_phase.py --bundle v2.4=contrique_infer/models/default --bundle new=BUNDLE \\
        --photos ../shared/photos/val --photos PHOTOS2 --variant fp32 --threads 2 [--json out.json]

Results on stdout (a Markdown table), progress on stderr; exit code 0, or 2 for bad arguments or a
bundle or photo that cannot be used.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from benchlib import add_photo_benchmark_arguments, check_photo_benchmark_arguments, read_photos
from PIL import Image

GRID = 8
"""The JPEG block size: crops of a multiple of it keep the grid's phase."""


def versions(photo: Image.Image, size: int, quality: int) -> dict[str, Image.Image]:
    """The photo downscaled to ``size`` (longer side, never enlarged), as a decoded JPEG and lossless."""
    small = photo.convert("RGB")
    small.thumbnail((size, size), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=quality)
    with Image.open(io.BytesIO(buffer.getvalue())) as jpeg:
        return {"jpeg": jpeg.convert("RGB"), "lossless": small}


def _aligned(crops: int) -> np.ndarray:
    """Which of the crops of 0, 1, 2 ... rows keep the grid's phase (0 mod :data:`GRID` rows)."""
    return np.arange(crops) % GRID == 0


def phase_ratio(features: np.ndarray) -> float:
    """Mean distance from the mean feature at crops of 0 mod :data:`GRID` rows over that at the others.

    Args:
        features: (crops, dim), the features of the crops of 0, 1, 2 ... rows, in that order.
    """
    distance = np.linalg.norm(features - features.mean(axis=0), axis=1)
    aligned = _aligned(len(features))
    return float(distance[aligned].mean() / distance[~aligned].mean())


def aligned_shift(scores: np.ndarray) -> float:
    """Mean score of the crops of 0 mod :data:`GRID` rows minus the mean of the others."""
    aligned = _aligned(len(scores))
    return float(scores[aligned].mean() - scores[~aligned].mean())


def measure(features: Callable[[np.ndarray], np.ndarray], head: Callable[[np.ndarray], Any] | None,
            photos: Sequence[dict[str, Image.Image]], rows: int, columns: np.ndarray) -> dict[str, dict[str, float]]:
    """The phase ratio and score swings of one model over the photos' versions (see the module docstring).

    Args:
        features: Pixels -> feature vector (a :class:`~contrique_infer.QualityScorer`'s ``features``).
        head: Feature vector -> score (a loaded head), applied to the same features; None: the phase
            ratio only.
        photos: Per photo, its versions by name (:func:`versions`).
        rows: Crops of 0 to ``rows`` rows are compared.
        columns: The feature's columns the phase ratio reads.

    Returns:
        Per version: ``ratio`` (geometric mean over photos), ``above_one`` (share of photos),
        and with a ``head`` ``swing_median``, ``swing_max``, ``swing_share`` (the median swing over
        the standard deviation of the uncropped photos' scores) and ``shift_median``.
    """
    out = {}
    for name in photos[0]:
        ratios, swings, shifts, uncropped = [], [], [], []
        for photo in photos:
            image = photo[name]
            feats = np.stack([features(np.asarray(image.crop((0, r, image.width, image.height))))
                              for r in range(rows + 1)])
            ratios.append(phase_ratio(feats[:, columns]))
            if head is not None:
                scores = np.array([float(head(f)) for f in feats])
                swings.append(float(scores.max() - scores.min()))
                uncropped.append(scores[0])
                shifts.append(aligned_shift(scores))
        ratio = np.array(ratios)
        out[name] = {"ratio": float(np.exp(np.log(ratio).mean())), "above_one": float(np.mean(ratio > 1))}
        if head is not None:
            spread = float(np.std(uncropped))
            out[name] |= {"swing_median": float(np.median(swings)), "swing_max": float(np.max(swings)),
                          "swing_share": float(np.median(swings) / spread) if spread > 0 else float("nan"),
                          "shift_median": float(np.median(shifts))}
    return out


def table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """A Markdown table: a row per contender and version."""
    lines = ["| contender | version | phase ratio (share of photos above 1) | score swing, median / largest "
             "(median over the photos' spread) | 0-mod-8 crops minus the others, median |", "|---|---|---:|---:|---:|"]
    for label, by_version in results.items():
        for name, m in by_version.items():
            scores = (f"{m['swing_median']:.2f} / {m['swing_max']:.2f} ({m['swing_share']:.3f}) | "
                      f"{m['shift_median']:+.2f}" if "swing_median" in m else "no head | no head")
            lines.append(f"| {label} | {name} | {m['ratio']:.2f} ({m['above_one']:.2f}) | {scores} |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_photo_benchmark_arguments(parser, "a bundle folder (or Hub id) to measure, with one of its heads (default: "
                                          "its default head; a bundle without heads gets the phase ratio only); "
                                          "repeatable")
    parser.add_argument("--size", type=int, default=512, help="longer side the photos are downscaled to (default 512)")
    parser.add_argument("--quality", type=int, default=85, help="JPEG quality (default 85)")
    parser.add_argument("--rows", type=int, default=16, help="crops of 0 to this many rows (default 16)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_photo_benchmark_arguments(parser, args)
    if args.size < 32 or not 1 <= args.quality <= 95 or args.rows < GRID + 1:
        parser.error(f"--size must be at least 32, --quality from 1 to 95 and --rows at least {GRID + 1}")
    from contrique_export.model_config import feature_groups
    from contrique_infer import QualityScorer
    from contrique_infer.bundle import load_head
    from contrique_infer.errors import ContriqueError

    try:
        paths, originals = read_photos(args.photos)
        photos = [versions(photo, args.size, args.quality) for photo in originals]
        results = {}
        for label, bundle, head in args.bundle:
            scorer = QualityScorer.from_pretrained(bundle, head=head, variant=args.variant, threads=args.threads)
            feature = scorer.manifest.feature
            groups = feature_groups(scorer.manifest.architecture, feature.per_scale_dim, len(feature.layout))
            learned = groups["learned"]
            start = feature.layout.index("full") * feature.per_scale_dim
            columns = learned[(learned >= start) & (learned < start + feature.per_scale_dim)]
            info = scorer.head if scorer.head is not None and scorer.head.kind == "nr" else None
            loaded = load_head(scorer.bundle_dir, scorer.manifest, info) if info is not None else None
            print(f"{label}: {len(photos)} photos x 2 versions x {args.rows + 1} crops", file=sys.stderr)
            results[label] = measure(scorer.features, loaded, photos, args.rows, columns)
    except (ContriqueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(photos)} photos at {args.size} px, JPEG quality {args.quality}, crops of 0 to {args.rows} rows\n")
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps({"photos": [str(p) for p in paths], "size": args.size, "quality": args.quality,
                                         "rows": args.rows, "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
