"""How far a model's score moves under changes that leave a photo's quality as it is.

Cropping one row or column, mirroring, turning by 180 degrees or resizing by one pixel changes no
photo's quality, so a score users can trust should barely move. For each photo of ``--photos`` and
each such change, this benchmark scores the photo and the changed photo (both handed over as
decoded pixels, so no codec is involved) and reports, per contender and change, the median and
largest score change in the head's own units, the median change as a share of the spread (standard
deviation) of the photos' scores, and Kendall's tau between the photos' scores before and after the
change (1: no two photos swap places).

    python benchmarks/bench_stability.py --bundle v2.4=contrique_infer/models/default --bundle new=BUNDLE \\
        --photos ../shared/photos/val --photos PHOTOS2 --variant fp32 --threads 2 [--json out.json]

Results on stdout (a Markdown table), progress on stderr; exit code 0, or 2 for bad arguments or a
bundle or photo that cannot be used.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence

import numpy as np
from benchlib import Scores, add_photo_benchmark_arguments, check_photo_benchmark_arguments, read_photos
from PIL import Image


def _resized(image: Image.Image, step: int) -> Image.Image:
    width = image.width + step
    height = max(1, round(image.height * width / image.width))
    return image.resize((width, height), Image.Resampling.LANCZOS)


CHANGES: dict[str, Callable[[Image.Image], Image.Image]] = {
    "crop 1 column": lambda im: im.crop((1, 0, im.width, im.height)),
    "crop 1 row": lambda im: im.crop((0, 1, im.width, im.height)),
    "mirror": lambda im: im.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
    "turn 180": lambda im: im.transpose(Image.Transpose.ROTATE_180),
    "1 px narrower": lambda im: _resized(im, -1),
    "1 px wider": lambda im: _resized(im, 1),
}
"""Changes that keep a photo's quality: name -> function of an RGB image."""


def kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau-a of two score lists over the same photos (pairs tied in either count as 0)."""
    i, j = np.triu_indices(len(a), k=1)
    return float(np.mean(np.sign(a[i] - a[j]) * np.sign(b[i] - b[j]))) if len(i) else float("nan")


def stability(scorer: Scores, photos: Sequence[Image.Image],
              changes: dict[str, Callable[[Image.Image], Image.Image]] = CHANGES) -> dict[str, dict[str, float]]:
    """Score every photo and its changed versions; summarise the score changes per change.

    Args:
        scorer: Anything with ``score(pixels) -> float`` (a :class:`~contrique_infer.QualityScorer`).
        photos: RGB photos.
        changes: The quality-keeping changes to apply.

    Returns:
        Per change: ``median`` and ``max`` absolute score change, ``median_share`` (the median change
        over the standard deviation of the photos' scores) and ``tau`` (Kendall, before against after).
    """
    base = np.array([scorer.score(np.asarray(p)) for p in photos])
    spread = float(base.std())
    out = {}
    for name, change in changes.items():
        after = np.array([scorer.score(np.asarray(change(p))) for p in photos])
        moved = np.abs(after - base)
        out[name] = {"median": float(np.median(moved)), "max": float(moved.max()),
                     "median_share": float(np.median(moved) / spread) if spread > 0 else float("nan"),
                     "tau": kendall_tau(base, after)}
    return out


def table(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """A Markdown table: a row per change, a column per contender; cells median / max (share, tau)."""
    labels = list(results)
    lines = ["| change | " + " | ".join(labels) + " |", "|---|" + "---:|" * len(labels)]
    for name in next(iter(results.values())):
        cells = [results[label][name] for label in labels]
        lines.append(f"| {name} | " + " | ".join(
            f"{c['median']:.2f} / {c['max']:.2f} ({c['median_share']:.3f}, {c['tau']:.3f})" for c in cells) + " |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_photo_benchmark_arguments(parser, "a bundle folder (or Hub id) to measure, with one of its heads (default: "
                                          "its default head); repeatable")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    check_photo_benchmark_arguments(parser, args)
    from contrique_infer import QualityScorer
    from contrique_infer.errors import ContriqueError

    try:
        paths, photos = read_photos(args.photos)
        results = {}
        for label, bundle, head in args.bundle:
            print(f"{label}: {len(photos)} photos x {1 + len(CHANGES)} versions", file=sys.stderr)
            scorer = QualityScorer.from_pretrained(bundle, head=head, variant=args.variant, threads=args.threads)
            results[label] = stability(scorer, photos)
    except (ContriqueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{len(photos)} photos; cells: median / largest score change (median change over the photos' score "
          "spread, Kendall tau of the photos' scores before and after)\n")
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps({"photos": [str(p) for p in paths], "results": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
