"""Where the shared reference data is, and the RULE checkpoint rebuilt from it: one place for the
tests and the benchmarks.

The data (``../shared`` next to the repository: the official CONTRIQUE release's reference files
and the project's photos) is described in ``../shared/reference/contrique-official/README.md``;
tests that need it skip where it is absent.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

REPO = Path(__file__).resolve().parents[1]
"""The repository's root folder."""
SHARED = REPO.parent / "shared"
OFFICIAL = SHARED / "reference" / "contrique-official"
"""The official release's heads (``regressors/``), sample images, checkpoint keys and golden outputs."""
PHOTOS = SHARED / "photos"
"""The project's photos: ``train/`` and ``val/`` (13 validation photos, in subfolders)."""
OFFICIAL_HEADS = ("Koniq", "CLIVE", "LIVE", "CSIQ")
"""The official no-reference heads (``regressors/<name>.save`` under :data:`OFFICIAL`)."""


def rule_state_dict(keys_tsv: Path) -> dict[str, torch.Tensor]:
    """The RULE checkpoint of the shared README: deterministic weights for every official key."""
    import torch

    state = {}
    for line in keys_tsv.read_text().splitlines():
        if not line.strip():
            continue
        key, shape_text, _dtype = line.split("\t")
        shape = tuple(int(n) for n in shape_text.strip("()").split(",") if n.strip())
        rng = np.random.default_rng(zlib.crc32(key.encode()))
        if key.endswith("num_batches_tracked"):
            state[key] = torch.zeros(shape, dtype=torch.int64)
            continue
        if key.endswith("weight") and len(shape) >= 2:
            values = rng.standard_normal(shape) * np.sqrt(2 / np.prod(shape[1:]))
        elif key.endswith("running_var"):
            values = 1 + 0.25 * rng.random(shape)
        elif key.endswith("weight"):
            values = 1 + 0.1 * rng.standard_normal(shape)
        else:
            values = 0.1 * rng.standard_normal(shape)
        state[key] = torch.from_numpy(np.asarray(values, dtype=np.float64).astype(np.float32))
    return state
