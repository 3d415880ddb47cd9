"""Evaluation reports: JSON (everything), Markdown (the tables a person reads), a scatter plot PNG."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np

from .errors import OutputFolderError
from .metrics import logistic4
from .protocol import METRICS

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
SCATTER_PNG = "scatter.png"


def check_output_folder(folder: str | os.PathLike[str], *, bundle: str | os.PathLike[str] | None = None) -> None:
    """Refuse, before any work, an output folder that cannot be made or written into, or that is (or
    lies inside) the local ``bundle`` folder, whose heads and manifest it would overwrite.

    Args:
        folder: The output folder (it may not exist yet, nor its parents).
        bundle: The bundle being evaluated, if it is a local folder (a Hub id is ignored).

    Raises:
        OutputFolderError: ``folder`` is a file, lies under one or cannot be examined otherwise,
            a name in it is too long, or it is the bundle folder or inside it.
    """
    path, missing = Path(folder), []
    while True:  # the nearest existing folder: its names past it must be short enough to be made
        try:
            mode = path.stat().st_mode
            break
        except FileNotFoundError:
            missing.append(path.name)
            path = path.parent
        except OSError as exc:
            raise OutputFolderError(folder, f"cannot be the output folder ({exc.strerror or exc}); "
                                            "choose another --out") from None
    if not stat.S_ISDIR(mode):  # only ``folder`` itself: a file further up fails stat() (Not a directory)
        raise OutputFolderError(folder, "is a file, not a folder; choose another --out")
    longest = os.pathconf(path, "PC_NAME_MAX")
    for name in missing:
        if len(os.fsencode(name)) > longest:
            raise OutputFolderError(folder, f"a name in it is longer than the {longest} bytes a file name "
                                            "may have here; choose a shorter --out")
    if bundle is not None and Path(bundle).is_dir():
        inside, home = Path(folder).resolve(), Path(bundle).resolve()
        if inside == home or home in inside.parents:
            raise OutputFolderError(folder, f"is the bundle folder {bundle} or lies inside it, whose heads and "
                                            "manifest the reports and the fitted head would overwrite; choose "
                                            "another --out (--add-head adds the head to the bundle)")


def write_json(report: dict[str, Any], folder: str | os.PathLike[str]) -> Path:
    """Write ``report`` as ``folder/report.json``."""
    path = Path(folder) / REPORT_JSON
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return path


_LABELS = {"srcc": "SRCC", "krcc": "KRCC", "plcc": "PLCC", "plcc_linear": "PLCC (linear)", "rmse": "RMSE"}


def _fmt(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def markdown(report: dict[str, Any]) -> str:
    """The Markdown rendering of a report made by :func:`contrique_training.evaluation.api.evaluate`
    or :func:`~contrique_training.evaluation.api.cross_evaluate`."""
    lines = [f"# CONTRIQUE evaluation: {report['title']}", ""]
    bundle = report["bundle"]
    lines += [
        f"- bundle: `{bundle['source']}` ({bundle['name']}, variant {bundle['variant']}, "
        f"encoder sha256 {bundle['sha256'][:12]}...)",
    ]
    for role in ("dataset", "train_dataset", "test_dataset"):
        if role in report:
            d = report[role]
            contents = f", {d['contents']} contents" if d["contents"] is not None else ", no content ids"
            direction = "higher is better" if d["higher_is_better"] else "lower is better"
            lines.append(
                f"- {role.replace('_', ' ')}: {d['name']} ({d['items']} images{contents}; {d['scale']}, "
                f"{direction}) at `{d['root']}`"
            )
    cfg = report["result"]["config"]
    lines.append(
        f"- protocol: Ridge, alpha by {cfg['folds']}-fold content-separated cross-validation on the training data "
        f"(candidates {min(cfg['alphas']):g}..{max(cfg['alphas']):g}); PLCC after the 4-parameter logistic fit; "
        f"seed {cfg['seed']}"
    )
    lines.append("")
    result = report["result"]
    if report["mode"] == "within":
        lines += [
            f"{cfg['splits']} random {cfg['train_fraction']:.0%}/{1 - cfg['train_fraction']:.0%} splits"
            + (" separated by content" if result["content_separated"] else " (no content ids: split by image)")
            + ".",
            "",
            "| metric | median | mean | std | min | max |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for name in METRICS:
            s = result["summary"][name]
            cells = " | ".join(_fmt(s[k]) for k in ("median", "mean", "std", "min", "max"))
            lines.append(f"| {_LABELS[name]} | {cells} |")
        if report.get("paper_srcc") is not None:
            lines += ["", f"The paper reports SRCC {report['paper_srcc']:.3f} on this dataset (its numbers, not ours)."]
        if result["logistic_fallbacks"]:
            lines += [
                "",
                f"The logistic fit did not converge on {result['logistic_fallbacks']} split(s): PLCC there is linear.",
            ]
        lines += ["", "| split | train | test | alpha | SRCC | PLCC | KRCC | RMSE |", "|" + " --- |" * 8]
        for s in result["splits"]:
            lines.append(
                f"| {s['index']} | {s['train_size']} | {s['test_size']} | {s['alpha']:g} | {s['srcc']:.4f} | "
                f"{s['plcc']:.4f} | {s['krcc']:.4f} | {s['rmse']:.4f} |"
            )
    else:
        lines += [
            f"Fitted on all of the training dataset (alpha {result['alpha']:g}), tested on all of the test dataset"
            + (" with predictions negated (the datasets' scores run in opposite directions)"
               if result["flipped"] else "")
            + ".",
            "",
            "| SRCC | PLCC | KRCC | PLCC (linear) | RMSE |",
            "| --- | --- | --- | --- | --- |",
            "| " + " | ".join(f"{result[k]:.4f}" for k in ("srcc", "plcc", "krcc", "plcc_linear", "rmse")) + " |",
        ]
    if report.get("head"):
        h = report["head"]
        where = [f"`{p}`" for p in (h["path"], h["bundle_path"]) if p]
        lines += ["", f"Final head `{h['name']}`: Ridge alpha {h['alpha']:g} fitted on all images"
                  + (f", written to {' and '.join(where)}." if where else " (not written).")]
    if report.get("files"):
        lines += ["", "Files: " + ", ".join(f"`{f}`" for f in report["files"])]
    return "\n".join(lines) + "\n"


def write_markdown(report: dict[str, Any], folder: str | os.PathLike[str]) -> Path:
    """Write :func:`markdown` of ``report`` as ``folder/report.md``."""
    path = Path(folder) / REPORT_MD
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markdown(report), encoding="utf-8")
    return path


def scatter_plot(
    path: str | os.PathLike[str],
    predictions: np.ndarray,
    human: np.ndarray,
    *,
    title: str,
    logistic_params: tuple[float, float, float, float] | None,
    background: tuple[np.ndarray, np.ndarray] | None = None,
    human_label: str = "human score",
    label: str = "test images",
) -> Path:
    """Scatter of predicted against human scores with the fitted logistic curve, as a PNG.

    Args:
        path: The PNG to write.
        predictions, human: The highlighted points (e.g. the median split's test set).
        title: The figure title (put SRCC/PLCC in it).
        logistic_params: The 4-parameter logistic to draw, or None.
        background: Other (predictions, human) points drawn in light grey (e.g. every split's test set).
        human_label: The y-axis label.
        label: The legend of the highlighted points.
    """
    from matplotlib.figure import Figure  # no pyplot: no global state; the Agg canvas writes the PNG

    fig = Figure(figsize=(6, 5), dpi=120)
    ax = fig.subplots()
    if background is not None:
        ax.scatter(background[0], background[1], s=6, color="0.8", label="all splits' test images")
    ax.scatter(predictions, human, s=10, color="tab:blue", label=label)
    if logistic_params is not None:
        shown = np.concatenate([np.ravel(predictions), np.ravel(background[0]) if background is not None else []])
        xs = np.linspace(float(shown.min()), float(shown.max()), 200)
        ax.plot(xs, logistic4(xs, *logistic_params), color="tab:red", label="4-parameter logistic fit")
    ax.set_xlabel("predicted score (Ridge head)")
    ax.set_ylabel(human_label)
    ax.set_title(title, fontsize=10)
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    return out
