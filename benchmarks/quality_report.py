"""The quality benchmark's figures and tables, from the series and images ``bench_quality.py`` scored.

``bench_quality.py`` hands over its :class:`Series` (one per (photo, kind): the scores at levels
0..5 and their Spearman correlation with the level) and :class:`Record` (one per image: its
full-reference values and every contender's score); from them this module computes the per-series
means (:func:`summarise`), the cross-content correlations with the full-reference proxy
(:func:`cross_content`), the marks against BRISQUE (:func:`compare`) and the differences from a
baseline with their spread over photo resamples (:func:`versus_baseline`), and writes the Markdown
tables the benchmark prints (:func:`markdown` with :func:`footer_lines`, :func:`summary_markdown`,
:func:`baseline_markdown`). The measures are described in the docstring of ``bench_quality.py``,
which imports this module as ``quality_report`` (its folder is on ``sys.path`` when it runs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
from distortion_sets import LEVELS, DistortionSet

from contrique_export.fidelity import spearman

if TYPE_CHECKING:
    from bench_quality import Contender, FullReferenceCache, Record, Series


class Labelled(Protocol):
    """What the figures need of a contender: its label (the key of its scores) and their direction."""

    @property
    def label(self) -> str: ...

    @property
    def higher_is_better(self) -> bool: ...


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


def cross_content(records: list[Record], sets: list[DistortionSet], contenders: Sequence[Labelled],
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
                    contenders: Sequence[Labelled], baseline: str, resamples: int) -> dict[str, Any]:
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
             contenders: Sequence[Labelled], footer: list[str]) -> str:
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
