"""The exceptions of contrique_training, all :class:`~contrique_infer.errors.ContriqueError` subclasses.

Checkpoint failures raise :class:`contrique_export.errors.CheckpointError`, the error of the module
that defines and reads the checkpoint format.
"""

from __future__ import annotations

from contrique_infer.errors import ContriqueError, PathError


class TrainingError(ContriqueError):
    """Base class of the errors raised while configuring or running training."""


class ConfigError(TrainingError, ValueError):
    """A training configuration (preset, file or flag) has an unknown key or an invalid value."""


class ConfigFileError(ConfigError, PathError):
    """A config file cannot be read: missing, not a regular file, too large, not UTF-8, or not JSON/TOML
    within the limits of :mod:`contrique_infer.jsonfile`. ``path`` names it."""


class DataError(TrainingError):
    """A training data folder is missing, holds no usable images, or an image cannot be read."""


class RunFolderError(TrainingError, PathError):
    """The run folder (``--out``) cannot be used: it is a file, cannot be created or written, or a new
    run (no ``--resume``) was pointed at a folder that is not empty. ``path`` names it."""


class DivergedError(TrainingError):
    """The training loss became NaN or infinite; the run stops before writing such weights."""
