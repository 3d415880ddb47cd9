"""The exceptions of contrique_training, all :class:`~contrique_infer.errors.ContriqueError` subclasses.

Checkpoint failures raise :class:`contrique_export.errors.CheckpointError`, the error of the module
that defines and reads the checkpoint format.
"""

from __future__ import annotations

from contrique_infer.errors import ContriqueError


class TrainingError(ContriqueError):
    """Base class of the errors raised while configuring or running training."""


class ConfigError(TrainingError, ValueError):
    """A training configuration (preset, file or flag) has an unknown key or an invalid value."""


class DataError(TrainingError):
    """A training data folder is missing, holds no usable images, or an image cannot be read."""
