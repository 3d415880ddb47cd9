"""Training checkpoints in the project's format (read by ``contrique-export`` and by ``--resume``).

A checkpoint is a dict that ``torch.load(weights_only=True)`` reads::

    {"format": "contrique-checkpoint", "format_version": 1,
     "model_config": {"arch": ..., "projection_dim": ...}, "model": <ContriqueNet state dict>,
     "config": <TrainConfig.to_dict()>, "step": int, "epoch": int,
     "optimizer": <SGD state dict>, "scheduler": {...}, "scaler": <GradScaler state dict>,
     "rng": {"torch", "cuda", "numpy", "python", "sampler"},
     "data": {"description": str, "license": str}}

It is written atomically (temporary file, then rename), so a crash never leaves half a file.
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import CheckpointError

FORMAT = "contrique-checkpoint"
FORMAT_VERSION = 1
REQUIRED = ("model_config", "model", "config", "step", "epoch", "optimizer", "scheduler", "scaler", "rng", "data")


def rng_state() -> dict[str, Any]:
    """The global RNG states (torch, CUDA, numpy, python) as ``weights_only``-safe values."""
    name, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "name": name,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": [version, list(internal), gauss_next],
    }


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore the states saved by :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(state["cuda"]))
    npy = state["numpy"]
    np.random.set_state(
        (npy["name"], npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"], npy["cached_gaussian"])
    )
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))


def save_checkpoint(path: str | os.PathLike[str], payload: Mapping[str, Any]) -> Path:
    """Write a checkpoint atomically.

    Args:
        path: Destination file.
        payload: The fields of :data:`REQUIRED`; ``format`` and ``format_version`` are added.

    Returns:
        The path written.

    Raises:
        CheckpointError: A required field is missing, or the file cannot be written.
    """
    path = Path(path)
    missing = [key for key in REQUIRED if key not in payload]
    if missing:
        raise CheckpointError(f"{path}: checkpoint is missing field(s) {', '.join(missing)}")
    data = {"format": FORMAT, "format_version": FORMAT_VERSION, **payload}
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(data, tmp)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise CheckpointError(f"{path}: cannot write the checkpoint ({exc}); check the folder and free space") from exc
    return path


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a training checkpoint (``weights_only=True``) and check its format and fields.

    Raises:
        CheckpointError: The file is missing, unreadable, of another format or version, or lacks
            a field that resuming needs.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file; pass the checkpoint.pt of a run folder")
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file: report them alike
        raise CheckpointError(f"{path}: not a readable checkpoint ({type(exc).__name__}: {exc})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a {FORMAT!r} file (an official checkpoint cannot be resumed)")
    if data.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: format_version {data.get('format_version')!r} is not {FORMAT_VERSION}")
    missing = [key for key in REQUIRED if key not in data]
    if missing:
        raise CheckpointError(f"{path}: missing field(s) {', '.join(missing)}; it cannot be resumed")
    return data
