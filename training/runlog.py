"""Run logging on rank 0: a CSV of the loss curve, optional TensorBoard, and a loss-curve PNG."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from contrique_infer.atomicfile import replace_file
from contrique_infer.commands import say

from .errors import RunFolderError

CHECKPOINT_NAME = "checkpoint.pt"
"""The run folder's latest checkpoint (written by :func:`contrique_training.train.train`)."""
LOG_NAME = "log.csv"
"""The run folder's loss curve (written by :class:`RunLog`)."""
COLUMNS = ("step", "epoch", "loss", "lr", "images_per_s", "elapsed_s", "rank_loss", "pair_accuracy", "proxy_loss",
           "proxy_pair_accuracy")


class RunLog:
    """Appends rows to ``<run>/log.csv`` (and TensorBoard when asked and installed).

    Args:
        run_dir: The run folder.
        tensorboard: Also write TensorBoard events to ``<run>/tensorboard``.
        rows: When resuming, the rows to keep (:func:`resumed_rows`); the log starts with them.
    """

    def __init__(self, run_dir: Path, tensorboard: bool = False, rows: list[dict[str, str]] | None = None) -> None:
        self.path = run_dir / LOG_NAME
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows or [])
        # whole or not at all: a resume that fails here (a full disk, a kill) leaves the earlier log as it was
        replace_file(self.path, text.getvalue().encode("utf-8"))
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                say("warning: --tensorboard needs the tensorboard package (pip install tensorboard); "
                    "logging to log.csv only")
            else:
                self.writer = SummaryWriter(str(run_dir / "tensorboard"))

    def log(self, row: dict[str, Any]) -> None:
        """Append one row with keys of :data:`COLUMNS` (the ranking and proxy columns may be missing)."""
        with self.path.open("a", newline="", encoding="utf-8") as handle:
            csv.DictWriter(handle, fieldnames=COLUMNS, restval="").writerow(row)
        if self.writer is not None:
            for key in ("loss", "lr", "images_per_s"):
                self.writer.add_scalar(f"train/{key}", row[key], row["step"])

    def close(self) -> None:
        """Flush TensorBoard and draw ``loss.png`` next to the CSV."""
        if self.writer is not None:
            self.writer.close()
        plot_loss(self.path, self.path.with_name("loss.png"))


def read_log(path: Path) -> list[dict[str, str]]:
    """The rows of a ``log.csv``."""
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def resumed_rows(run_dir: Path, step: int) -> list[dict[str, str]]:
    """The rows of a run's ``log.csv`` up to ``step``, the checkpoint's step (later rows are from the
    interrupted run), checked so that a damaged log stops the resume before anything is rewritten.

    Args:
        run_dir: The run folder; no ``log.csv`` in it is no rows.
        step: The step the run continues from.

    Returns:
        The rows to keep.

    Raises:
        RunFolderError: ``log.csv`` cannot be read, is not UTF-8 CSV, or a row has columns or a step,
            loss or learning rate that are not this log's; ``path`` names the file.
    """
    path = run_dir / LOG_NAME
    if not path.is_file():
        return []
    try:
        rows = read_log(path)
        for row in rows:
            if set(row) - set(COLUMNS):
                raise ValueError(f"columns other than {', '.join(COLUMNS)}")
            int(row["step"]), float(row["loss"]), float(row["lr"])
        return [row for row in rows if int(row["step"]) <= step]
    except (OSError, UnicodeDecodeError, csv.Error, KeyError, TypeError, ValueError) as exc:
        detail = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise RunFolderError(path, f"cannot be continued ({type(exc).__name__}: {detail}); move it out of the run "
                                   f"folder (a new log.csv then starts after step {step}) and resume again") from exc


def plot_loss(csv_path: Path, png_path: Path) -> Path | None:
    """Draw the loss (and learning rate) against the step into a PNG; ``None`` when there are no rows."""
    rows = read_log(csv_path)
    if not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [int(r["step"]) for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(steps, [float(r["loss"]) for r in rows], color="tab:blue", label="loss")
    ax.set_xlabel("step")
    ax.set_ylabel("NT-Xent loss")
    lr_ax = ax.twinx()
    lr_ax.plot(steps, [float(r["lr"]) for r in rows], color="tab:orange", alpha=0.6, label="learning rate")
    lr_ax.set_ylabel("learning rate")
    fig.legend(loc="upper center", ncol=2)
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
    return png_path
