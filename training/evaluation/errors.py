"""The exceptions of the evaluation package, all :class:`~contrique_infer.errors.ContriqueError` subclasses."""

from __future__ import annotations

from contrique_infer.errors import ContriqueError, PathError


class EvaluationError(ContriqueError):
    """Base class of every error raised by ``contrique_training.evaluation``."""


class DatasetError(EvaluationError, PathError):
    """A dataset could not be read. ``path`` names the offending file or folder."""


class DatasetFileError(DatasetError):
    """A file or folder of the dataset's published layout is missing (the message names the layout)."""


class DatasetFormatError(DatasetError):
    """A label file exists but does not hold what the dataset's published layout says it should."""


class FeatureError(EvaluationError):
    """Features could not be computed for an image, or the feature cache is inconsistent."""


class ProtocolError(EvaluationError):
    """The evaluation protocol cannot run on the given data (too few items or contents, bad options)."""


class HeadExistsError(EvaluationError):
    """The bundle already has a head with the requested name (pass ``force=True`` / ``--force``)."""


class OutputFolderError(EvaluationError, PathError):
    """An output folder cannot be used (a file, an unusable name, inside the bundle); ``path`` names it."""
