"""What several benchmark scripts share: the reference data's paths, the RULE checkpoint, image folders.

The scripts run as ``python benchmarks/<script>.py``, so this folder is on ``sys.path`` and they
import this module as ``benchlib``; importing it also puts ``testkit/`` (what the tests and the
benchmarks share: the reference data's paths, the RULE recipe, the tiny bundle) on ``sys.path``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "testkit"))

from reference import OFFICIAL, OFFICIAL_HEADS, PHOTOS, REPO, rule_state_dict  # noqa: E402

__all__ = ["OFFICIAL", "OFFICIAL_HEADS", "PHOTOS", "REPO", "cpu_name", "gather", "held_out_folders", "parse_bundle",
           "rule_checkpoint"]


def rule_checkpoint(path: Path) -> Path:
    """Write the RULE checkpoint (see the shared README) to ``path``."""
    import torch

    torch.save(rule_state_dict(OFFICIAL / "checkpoint_keys.tsv"), path)
    return path


def held_out_folders() -> list[Path]:
    """The official sample images and every validation photo folder (never used for calibration)."""
    val = PHOTOS / "val"
    return [OFFICIAL / "sample_images", *sorted(p for p in val.iterdir() if p.is_dir())] if val.is_dir() \
        else [OFFICIAL / "sample_images"]


def gather(folders: list[Path], into: Path) -> Path:
    """One folder holding a link to each of ``folders`` (image folders are listed recursively)."""
    into.mkdir(parents=True)
    for folder in folders:
        (into / folder.name).symlink_to(folder.resolve(), target_is_directory=True)
    return into


def cpu_name() -> str:
    """The CPU's model name from /proc/cpuinfo (every benchmark figure names its CPU); "" where there is none."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    return next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")), "")


def parse_bundle(spec: str) -> tuple[str, str, str | None]:
    """``LABEL=PATH`` or ``LABEL=PATH@HEAD`` -> (label, path, head)."""
    label, sep, rest = spec.partition("=")
    if not sep or not label or not rest:
        raise argparse.ArgumentTypeError(f"--bundle takes LABEL=PATH or LABEL=PATH@HEAD; got {spec!r}")
    if os.path.exists(rest) or "@" not in rest:
        return label, rest, None
    path, _, head = rest.rpartition("@")
    return label, path, head
