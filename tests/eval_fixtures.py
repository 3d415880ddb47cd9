"""A small labelled image set for the evaluation tests (a generic CSV dataset)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter


def write_labelled_set(folder: Path, contents: int = 10, levels: int = 4) -> Path:
    """``contents`` random textures, each blurred at ``levels`` levels; score = 100 - 25 * level.

    Returns the CSV (columns path, score, content_id) describing them.
    """
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["path,score,content_id"]
    for c in range(contents):
        rng = np.random.default_rng(c)
        base = Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
        for level in range(levels):
            img = base.filter(ImageFilter.GaussianBlur(level * 1.5)) if level else base
            name = f"c{c}_l{level}.png"
            img.save(folder / name)
            rows.append(f"{name},{100 - 25 * level},c{c}")
    csv = folder / "labels.csv"
    csv.write_text("\n".join(rows) + "\n")
    return csv
