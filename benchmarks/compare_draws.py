"""Compare two recipes over several random draws, from bench_quality.py's JSON output. Prints figures.

A head recipe fitted on one random draw of the proxy set (``proxy make --seed N``) moves every
measure of the quality benchmark by up to 0.05 from draw to draw, more than recipes usually differ
(docs/default-model.md, "Head recipes compared over three proxy draws"). So two recipes are
compared here by their mean over draws, paired by draw: each recipe is a list of contender labels
of one ``bench_quality.py --json`` file, one per draw and in the same draw order, e.g. ``--recipe
V=v2.4,S1,S2 --recipe B=B1,B1s1,B1s2``. For every set and measure (per series, across photos) the
table gives each draw's figure, the means, the paired differences (second recipe minus first) and
whether the second is better in expectation: its mean above the first's and at or above it on at
least half of the draws (rounded up). ``--kind SET:KIND`` adds one distortion kind's per-series
means (e.g. ``e:pixelate``).

Usage::

    python benchmarks/compare_draws.py quality.json --recipe V=v2.4,S1,S2 --recipe B=B1,B1s1,B1s2 [--kind e:pixelate]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

MEASURES = (("series", "per series"), ("across", "across photos"))


def parse_recipe(text: str) -> tuple[str, list[str]]:
    """``NAME=LABEL,LABEL,...`` as ``(NAME, [LABEL, ...])``.

    Raises:
        argparse.ArgumentTypeError: Not of that form.
    """
    name, _, labels = text.partition("=")
    parts = [label.strip() for label in labels.split(",") if label.strip()]
    if not name or not parts:
        raise argparse.ArgumentTypeError(f"expected NAME=LABEL,LABEL,... (one contender label per draw), got {text!r}")
    return name, parts


def figure(result: dict[str, Any], label: str, dset: str, measure: str) -> float:
    """One contender's figure on one set: its mean per-series Spearman or its cross-content SRCC.

    Raises:
        KeyError: The contender or set is not in the result.
    """
    contender = result["contenders"][label]
    value = contender["summary"][dset]["mean"] if measure == "series" else contender["cross_content"][dset]["srcc"]
    return math.nan if value is None else float(value)


def compare(result: dict[str, Any], first: list[str], second: list[str]) -> list[dict[str, Any]]:
    """One row per (set, measure): both recipes' figures per draw, their means, the paired
    differences ``second - first`` and whether ``second`` is better in expectation."""
    rows = []
    for dset in result["sets"]:
        for measure, _ in MEASURES:
            a = [figure(result, label, dset, measure) for label in first]
            b = [figure(result, label, dset, measure) for label in second]
            diffs = [y - x for x, y in zip(a, b)]
            mean_a, mean_b = sum(a) / len(a), sum(b) / len(b)
            rows.append({"set": dset, "measure": measure, "first": a, "second": b, "mean_first": mean_a,
                         "mean_second": mean_b, "differences": diffs,
                         "better": mean_b > mean_a and sum(d >= 0 for d in diffs) >= math.ceil(len(diffs) / 2)})
    return rows


def markdown(rows: list[dict[str, Any]], names: tuple[str, str]) -> str:
    """The comparison as a Markdown table, with a count of the measures where the second recipe is better."""
    first, second = names
    lines = [f"| set | measure | {first}: draws | {first} mean | {second}: draws | {second} mean | "
             f"{second} - {first} per draw | {second} better |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        words = dict(MEASURES)[row["measure"]]
        lines.append(f"| ({row['set']}) | {words} | {' / '.join(f'{v:.3f}' for v in row['first'])} | "
                     f"{row['mean_first']:.3f} | {' / '.join(f'{v:.3f}' for v in row['second'])} | "
                     f"{row['mean_second']:.3f} | {' / '.join(f'{d:+.3f}' for d in row['differences'])} | "
                     f"{'yes' if row['better'] else 'no'} |")
    lines.append(f"\n{second} is better in expectation on {sum(r['better'] for r in rows)} of {len(rows)} measures")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("result", type=Path, help="a bench_quality.py --json file")
    parser.add_argument("--recipe", type=parse_recipe, action="append", required=True,
                        help="NAME=LABEL,LABEL,...: a recipe's contenders, one per draw (give two)")
    parser.add_argument("--kind", action="append", default=[], metavar="SET:KIND",
                        help="also print one kind's per-series means per draw (repeatable)")
    args = parser.parse_args(argv)
    if len(args.recipe) != 2 or len(args.recipe[0][1]) != len(args.recipe[1][1]):
        parser.error("give two --recipe options with the same number of draws")
    try:
        result = json.loads(args.result.read_text(encoding="utf-8"))
        (first, a), (second, b) = args.recipe
        rows = compare(result, a, b)
        print(markdown(rows, (first, second)))
        for item in args.kind:
            dset, _, kind = item.partition(":")
            per_kind = {label: result["contenders"][label]["summary"][dset]["per_kind"][kind] for label in a + b}
            print(f"({dset}) {kind} per series: {first} " + " / ".join(f"{per_kind[x]:.3f}" for x in a)
                  + f"; {second} " + " / ".join(f"{per_kind[x]:.3f}" for x in b))
    except (OSError, ValueError) as exc:
        print(f"compare_draws: error: {args.result}: {exc}", file=sys.stderr)
        return 2
    except KeyError as exc:
        print(f"compare_draws: error: {args.result} has no {exc} (check the contender labels, --kind and the sets "
              "it was run with)", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
