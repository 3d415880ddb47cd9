"""The exceptions of contrique_export: all are :class:`~contrique_infer.errors.ContriqueError`.

Messages name the file or item involved, say what is wrong and what to do next.
"""

from __future__ import annotations

from contrique_infer.errors import ContriqueError, PathError


class ExportError(ContriqueError):
    """An export step failed (base class of every error raised by contrique_export)."""


class OptionError(ExportError, ValueError):
    """The export's options do not fit its inputs (e.g. a full-reference head as the default head): a
    usage error, on which ``contrique-export`` exits 2."""


class ModelConfigError(ExportError, ValueError):
    """An unknown architecture or an invalid model setting."""


class InputFileError(ExportError, PathError):
    """An input file of the export is unusable. ``path`` names it."""


class CheckpointError(InputFileError):
    """A checkpoint file is missing, unsafe or not a checkpoint, does not fit its architecture, cannot be
    resumed, or cannot be written. Export and training (``--resume``, writing) raise this one class."""


class HeadFileError(InputFileError):
    """A head file (official pickled Ridge or our head JSON) is malformed or does not fit."""


class UnsafePickleError(HeadFileError):
    """A pickled head references something the restricted unpickler does not allow."""


class ImageSetError(InputFileError):
    """An image of the parity, calibration or fidelity folders cannot be used (the folders are
    listed by :func:`contrique_infer.inputs.list_images`, which raises ``ScanError``)."""


class ParityError(ExportError):
    """The ONNX graph's features differ from torch's by more than the tolerance."""
