"""Writing checkpoints: a failed or interrupted write leaves neither a half file nor a temporary."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

import pytest
import torch

from contrique_export.checkpoint import TRAINING_FIELDS
from contrique_export.errors import CheckpointError
from contrique_training.checkpoint import save_checkpoint


def test_a_full_disk_is_a_checkpoint_error_and_leaves_no_temporary(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def full_disk(data: object, fh: BinaryIO) -> None:  # torch reports a failed write as a RuntimeError
        fh.write(b"PK\x03\x04 part of a checkpoint")
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 40000 vs 39888")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(CheckpointError, match=r"c.pt: cannot write the checkpoint \(\[enforce fail.*disk may be full"):
        save_checkpoint(tmp_path / "c.pt", {key: {} for key in TRAINING_FIELDS})
    assert list(tmp_path.iterdir()) == []
