"""Run logging on rank 0: a CSV of the loss curve, optional TensorBoard, and a loss-curve PNG."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

CHECKPOINT_NAME = "checkpoint.pt"
"""The run folder's latest checkpoint (written by :func:`contrique_training.train.train`)."""
COLUMNS = ("step", "epoch", "loss", "lr", "images_per_s", "elapsed_s", "rank_loss", "pair_accuracy", "proxy_loss",
           "proxy_pair_accuracy")


class RunLog:
    """Appends rows to ``<run>/log.csv`` (and TensorBoard when asked and installed).

    Args:
        run_dir: The run folder.
        tensorboard: Also write TensorBoard events to ``<run>/tensorboard``.
        resume_step: When resuming, rows after this step (from the interrupted run) are dropped.
    """

    def __init__(self, run_dir: Path, tensorboard: bool = False, resume_step: int | None = None) -> None:
        self.path = run_dir / "log.csv"
        rows = read_log(self.path) if resume_step is not None and self.path.is_file() else []
        rows = [row for row in rows if int(row["step"]) <= (resume_step or 0)]
        with self.path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(rows)
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                print("warning: --tensorboard needs the tensorboard package (pip install tensorboard); "
                      "logging to log.csv only", file=sys.stderr)
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
