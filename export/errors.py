"""The exceptions of contrique_export: all are :class:`~contrique_infer.errors.ContriqueError`.

Messages name the file or item involved, say what is wrong and what to do next.
"""

from __future__ import annotations

import os

from contrique_infer.errors import ContriqueError


class ExportError(ContriqueError):
    """An export step failed (base class of every error raised by contrique_export)."""


class ModelConfigError(ExportError, ValueError):
    """An unknown architecture or an invalid model setting."""


class InputFileError(ExportError):
    """An input file of the export is unusable. ``path`` names it."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class CheckpointError(InputFileError):
    """A checkpoint file is missing, unsafe or not a checkpoint, does not fit its architecture, cannot be
    resumed, or cannot be written. Export and training (``--resume``, writing) raise this one class."""


class HeadFileError(InputFileError):
    """A head file (official pickled Ridge or our head JSON) is malformed or does not fit."""


class UnsafePickleError(HeadFileError):
    """A pickled head references something the restricted unpickler does not allow."""


class ImageSetError(InputFileError):
    """An image folder for parity, calibration or fidelity is missing, empty or unreadable."""


class ParityError(ExportError):
    """The ONNX graph's features differ from torch's by more than the tolerance."""
