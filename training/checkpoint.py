"""Writing contrique-train checkpoints, and the RNG states they carry.

The format is described, and read, in :mod:`contrique_export.checkpoint`. A checkpoint is written
atomically (temporary file, then rename), so a crash never leaves half a file.
"""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import torch

from contrique_export.checkpoint import FORMAT, FORMAT_VERSION, TRAINING_FIELDS
from contrique_export.errors import CheckpointError
from contrique_infer.atomicfile import replace_file


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
        payload: The fields of :data:`~contrique_export.checkpoint.TRAINING_FIELDS` (and optional
            ones); ``format`` and ``format_version`` are added.

    Returns:
        The path written.

    Raises:
        CheckpointError: A required field is missing, or the file cannot be written.
    """
    path = Path(path)
    missing = [key for key in TRAINING_FIELDS if key not in payload]
    if missing:
        raise CheckpointError(path, f"the checkpoint to write is missing field(s) {', '.join(missing)}")
    data = {"format": FORMAT, "format_version": FORMAT_VERSION, **payload}
    return _write_atomically(path, lambda fh: torch.save(data, fh))


def copy_checkpoint(source: Path, path: Path) -> Path:
    """Copy a written checkpoint to ``path`` atomically (a kept ``checkpoint-<step>.pt``).

    Returns:
        The path written.

    Raises:
        CheckpointError: The copy cannot be written.
    """
    def copy(fh: BinaryIO) -> None:
        with open(source, "rb") as src:
            shutil.copyfileobj(src, fh)

    return _write_atomically(path, copy)


def _write_atomically(path: Path, write: Callable[[BinaryIO], object]) -> Path:
    """``write`` a temporary file next to ``path``, then rename it to ``path``
    (:mod:`contrique_infer.atomicfile`): a failure or an interruption (Ctrl-C) removes the temporary
    and leaves ``path`` as it was.

    Raises:
        CheckpointError: The file cannot be written (torch reports a full disk as a RuntimeError).
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        replace_file(path, write)
    except (OSError, RuntimeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(path, f"cannot write the checkpoint ({reason}); the disk may be full: free space, "
                                    "or check that the folder is writable") from exc
    return path
