"""What several benchmark scripts share: the reference data's paths, the RULE checkpoint, image folders.

The scripts run as ``python benchmarks/<script>.py``, so this folder is on ``sys.path`` and they
import this module as ``benchlib``; importing it also puts ``testkit/`` (what the tests and the
benchmarks share: the reference data's paths, the RULE recipe, the tiny bundle) on ``sys.path``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "testkit"))

from reference import OFFICIAL, OFFICIAL_HEADS, PHOTOS, REPO, rule_state_dict  # noqa: E402

__all__ = ["OFFICIAL", "OFFICIAL_HEADS", "PHOTOS", "REPO", "add_photo_benchmark_arguments",
           "check_photo_benchmark_arguments", "check_outputs", "cpu_name", "gather", "held_out_folders", "load_photo",
           "parse_bundle", "read_photos", "rule_checkpoint", "Scores", "split_labelled"]


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


def split_labelled(spec: str, usage: str) -> tuple[str, str]:
    """``LABEL=VALUE`` -> (label, value), both non-empty.

    Raises:
        argparse.ArgumentTypeError: ``"<usage>; got <spec>"`` otherwise (``usage`` names the option,
            e.g. ``--bundle takes LABEL=PATH``).
    """
    label, sep, rest = spec.partition("=")
    if not sep or not label or not rest:
        raise argparse.ArgumentTypeError(f"{usage}; got {spec!r}")
    return label, rest


def parse_bundle(spec: str) -> tuple[str, str, str | None]:
    """``LABEL=PATH`` or ``LABEL=PATH@HEAD`` -> (label, path, head)."""
    label, rest = split_labelled(spec, "--bundle takes LABEL=PATH or LABEL=PATH@HEAD")
    if os.path.exists(rest) or "@" not in rest:
        return label, rest, None
    path, _, head = rest.rpartition("@")
    return label, path, head


def add_photo_benchmark_arguments(parser: argparse.ArgumentParser, bundle_help: str) -> None:
    """The options of the benchmarks that score bundles on photo folders: --bundle (repeatable, with
    ``bundle_help``), --photos (repeatable), --variant, --threads and --json."""
    parser.add_argument("--bundle", type=parse_bundle, action="append", required=True, metavar="LABEL=PATH[@HEAD]",
                        help=bundle_help)
    parser.add_argument("--photos", type=Path, action="append", metavar="DIR",
                        help=f"a folder of photos (searched recursively); repeatable (default {PHOTOS / 'val'})")
    parser.add_argument("--variant", default="fp32", help="encoder variant (default fp32)")
    parser.add_argument("--threads", type=int, help="onnxruntime intra-op threads")
    parser.add_argument("--json", type=Path, help="also write the figures here")


def check_outputs(parser: argparse.ArgumentParser, outputs: Mapping[str, Path | None]) -> None:
    """Exit (code 2, ``parser.error``) before a benchmark's work when a file it writes at the end cannot be written.

    Args:
        parser: The benchmark's parser.
        outputs: Option -> the file it names (None: not given), e.g. ``{"--json": args.json}``.
    """
    for option, path in outputs.items():
        if path is None:
            continue
        if path.is_dir():
            problem = "is a folder"
        elif not path.parent.is_dir():
            problem = f"cannot be written: there is no folder {path.parent}"
        elif not os.access(path.parent, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
            problem = "cannot be written (permission denied)"
        else:
            continue
        parser.error(f"{option} {path}: {problem}; the run writes it at its end, so give a file that can be written")


def check_photo_benchmark_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exit (code 2) when the options of :func:`add_photo_benchmark_arguments` cannot give a whole run: two
    ``--bundle`` of one label (a column of the results each) or a ``--json`` file that cannot be written."""
    labels = [label for label, _, _ in args.bundle]
    if len(set(labels)) != len(labels):
        parser.error(f"--bundle labels must be unique (each is a column of the results); got {', '.join(labels)}")
    check_outputs(parser, {"--json": args.json})


class Scores(Protocol):
    """What the photo benchmarks score with: ``score(pixels) -> float`` (a :class:`~contrique_infer.QualityScorer`)."""

    def score(self, image: np.ndarray) -> float: ...


def load_photo(path: Path, max_side: int | None = None) -> Image.Image:
    """The photo as RGB, downscaled (Lanczos) so that its longer side is at most ``max_side`` (None: as it is)."""
    with Image.open(path) as opened:
        image = opened.convert("RGB")
    scale = 1.0 if max_side is None else max_side / max(image.size)
    if scale < 1:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS)
    return image


def read_photos(folders: list[Path] | None, max_side: int | None = None) -> tuple[list[Path], list[Image.Image]]:
    """The images of ``folders`` (default: the validation photos), in order, decoded to RGB
    (:func:`load_photo`: downscaled to ``max_side`` when given).

    Raises:
        ScanError: A folder is missing, cannot be read or holds no images.
        OSError: An image cannot be read or decoded.
    """
    from contrique_infer.inputs import list_images

    paths = [p for folder in (folders or [PHOTOS / "val"]) for p in list_images(folder)]
    return paths, [load_photo(path, max_side) for path in paths]
