"""Score a quality benchmark run again with other heads, from the features it saved (prints figures).

A head is linear on a bundle's feature, so trying another head (another fit, clipping rule or
fade) on a network needs no new images and no encoder: ``bench_quality.py --json RUN.json
--save-features RUN.npz`` keeps each bundle's feature of every image of the run, and this script
applies each ``--head`` file (``heads/<name>.json`` of any bundle with that encoder) to them and
computes the benchmark's measures as ``bench_quality.py`` does (``series_of``, ``quality_report``):
per series and across photos, per set and kind, and with ``--baseline`` the differences with their
spread over photo resamples. The same head gives the run's own figures to the last digit; a run
of a few thousand images is scored again in seconds instead of minutes.

    python benchmarks/bench_quality.py --bundle v2.4=contrique_infer/models/default --no-brisque \\
        --photos photos-third/ --json run.json --save-features run.npz
    python benchmarks/rescore_heads.py run.json run.npz --head old=contrique_infer/models/default/heads/quality.json \\
        --head new=bundles/new/heads/quality.json [--features-of v2.4] [--baseline old] [--json out.json]

Results on stdout (Markdown tables), nothing on stderr but errors; exit code 0, or 2 for bad
arguments or files that cannot be used (a head whose length is not the features', a features file
of another run).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from bench_quality import FEATURES_FORMAT, Record, series_of
from benchlib import check_outputs, split_labelled
from distortion_sets import DistortionSet
from PIL import Image
from quality_report import baseline_markdown, cross_content, markdown, summarise, versus_baseline

from contrique_infer.commands import positive_int
from contrique_infer.errors import HeadError
from contrique_infer.head import Head


class RescoreError(Exception):
    """A report, features file or head that cannot be used; the message says which and why."""


@dataclass(frozen=True)
class HeadContender:
    """A head file scoring the saved features (a :class:`quality_report.Labelled`)."""

    label: str
    head: Head

    @property
    def higher_is_better(self) -> bool:
        return self.head.info.higher_is_better


def _reported_set(name: str, kinds: Sequence[str], parameters: dict[str, Any]) -> DistortionSet:
    def make(photo: Image.Image, kind: str, level: int, seed: int) -> Image.Image:
        raise RescoreError(f"set {name} is read from a report: it makes no images")

    return DistortionSet(name, tuple(kinds), parameters, make)


def read_report(path: Path) -> tuple[list[Record], list[DistortionSet]]:
    """The images (records without scores) and distortion sets of a ``bench_quality.py --json`` report.

    Raises:
        RescoreError: The file is unreadable or not such a report.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        records = [Record(r["photo"], r["set"], r["kind"], r["level"], r["fr"]) for r in data["images"]]
        sets = [_reported_set(name, entry["kinds"], entry["parameters"]) for name, entry in data["sets"].items()]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RescoreError(f"{path}: not a readable bench_quality.py --json report ({exc})") from exc
    return records, sets


def read_features(path: Path, images: int, label: str | None) -> tuple[str, np.ndarray]:
    """The features ``bench_quality.py --save-features`` kept for the bundle ``label`` (None: the file's
    only set of features), as float64 with a row per image of the report.

    Returns:
        The labels sharing those features (comma-separated) and the array.

    Raises:
        RescoreError: The file is unreadable, of another format or run (not ``images`` rows), holds no
            features of ``label``, or several sets of features and no ``label``.
    """
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a .npy file: one array
            raise RescoreError(f"{path}: holds one array, not a bench_quality.py --save-features file ({FEATURES_FORMAT})")
        with loaded as data:
            if "format" not in data.files or str(data["format"]) != FEATURES_FORMAT:
                raise RescoreError(f"{path}: not a bench_quality.py --save-features file ({FEATURES_FORMAT})")
            groups = {tuple(str(v) for v in data[f"labels_{i}"]): data[f"features_{i}"]
                      for i in range(sum(1 for name in data.files if name.startswith("features_")))}
    except (OSError, ValueError, KeyError) as exc:
        raise RescoreError(f"{path}: cannot read it ({exc})") from exc
    if any(features.ndim != 2 for features in groups.values()):
        raise RescoreError(f"{path}: its features are not a table of a row per image; save them again with "
                           "bench_quality.py --save-features")
    chosen = [labels for labels in groups if label is None or label in labels]
    if label is not None and not chosen:
        raise RescoreError(f"{path} holds no features of {label!r}; it holds those of "
                           f"{'; '.join(', '.join(labels) for labels in groups) or 'no bundle'}")
    if len(chosen) != 1:
        raise RescoreError(f"{path} holds the features of several encoders ("
                           f"{'; '.join(', '.join(labels) for labels in groups)}): name one with --features-of")
    features = groups[chosen[0]]
    if features.shape[0] != images:
        raise RescoreError(f"{path} has {features.shape[0]} rows but the report {images} images: the two files are "
                           "of different runs")
    return ", ".join(chosen[0]), features.astype(np.float64)


def read_head(label: str, path: Path, dim: int) -> HeadContender:
    """The head file at ``path`` (``heads/<name>.json`` of a bundle) as a contender labelled ``label``.

    Raises:
        RescoreError: The file is unreadable, not a valid head, or not of ``dim`` coefficients.
    """
    try:
        head = Head.from_dict(json.loads(path.read_text(encoding="utf-8")), path, f"heads/{path.name}")
    except (OSError, ValueError, HeadError) as exc:
        raise RescoreError(f"--head {label}: {exc}") from exc
    if head.coef.shape[0] != dim:
        raise RescoreError(f"--head {label}: {path} has {head.coef.shape[0]} coefficients but the features "
                           f"{dim} values: a head of another encoder")
    return HeadContender(label, head)


def rescore(records: list[Record], features: np.ndarray, heads: Sequence[HeadContender]) -> None:
    """Put each head's score of every image into ``records[i].scores`` (None where the feature is
    missing, the image having failed in the run, or the score is not finite)."""
    for contender in heads:
        with np.errstate(invalid="ignore", over="ignore"):
            scores = contender.head(features)
        for record, score in zip(records, scores):
            record.scores[contender.label] = float(score) if np.isfinite(score) else None


def _head_spec(text: str) -> tuple[str, Path]:
    usage = "--head takes LABEL=PATH (a label without ':')"
    label, path = split_labelled(text, usage)
    if ":" in label:
        raise argparse.ArgumentTypeError(f"{usage}; got {text!r}")
    return label, Path(path)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", type=Path, help="the run's JSON report (bench_quality.py --json)")
    parser.add_argument("features", type=Path, help="the run's features (bench_quality.py --save-features)")
    parser.add_argument("--head", action="append", required=True, type=_head_spec, metavar="LABEL=PATH",
                        help="a head file to score the features with; repeatable")
    parser.add_argument("--features-of", metavar="LABEL",
                        help="the bundle of the run whose features to use (needed when the run had several encoders)")
    parser.add_argument("--baseline", metavar="LABEL", help="a --head label: report the others' differences from it")
    parser.add_argument("--resamples", type=positive_int, default=1000,
                        help="photo resamples of the --baseline comparison (default 1000)")
    parser.add_argument("--json", type=Path, help="write each head's figures to this JSON file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    labels = [label for label, _ in args.head]
    if len(set(labels)) != len(labels):
        parser.error(f"--head labels must be unique; got {', '.join(labels)}")
    if args.baseline is not None and args.baseline not in labels:
        parser.error(f"--baseline {args.baseline}: no such --head; the heads are {', '.join(labels)}")
    check_outputs(parser, {"--json": args.json})
    try:
        records, sets = read_report(args.report)
        source, features = read_features(args.features, len(records), args.features_of)
        heads = [read_head(label, path, features.shape[1]) for label, path in args.head]
    except RescoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rescore(records, features, heads)
    series = series_of(records, heads)
    summary = {h.label: summarise(series, sets, h.label) for h in heads}
    cross = cross_content(records, sets, heads)
    photos = len({r.photo for r in records})
    missing = int(np.isnan(features).any(axis=1).sum())
    table = markdown(summary, cross, sets, heads, [
        f"{photos} photo(s), {len(records)} images of {args.report}, the features of {source} ({args.features}; "
        f"{missing} images without one, failed in the run, left out). Cells: as bench_quality.py's."])
    if args.baseline is not None:
        versus = versus_baseline(series, records, sets, heads, args.baseline, args.resamples)
        table += "\n" + baseline_markdown(versus, sets, args.baseline)
    print(table, end="")
    if args.json:
        args.json.write_text(json.dumps({
            "report": str(args.report), "features": str(args.features), "features_of": source,
            "heads": {h.label: {"path": str(path), "summary": summary[h.label], "cross_content": cross[h.label]}
                      for h, (_, path) in zip(heads, args.head)},
        }, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
