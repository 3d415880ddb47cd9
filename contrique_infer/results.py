"""The per-image results of scoring many images: a score or a feature, or why there is none."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Self

import numpy as np

from .errors import PathError


class _Outcome:
    """What both result types share: fields ``source``, (``score`` or ``feature``), ``error``,
    ``error_type``, ``width``, ``height``, in this order."""

    error: str | None

    @classmethod
    def failed(cls, error: PathError) -> Self:
        """The result of an input that could not be used."""
        return cls(error.path, None, error.reason, type(error).__name__)  # type: ignore[call-arg]

    @property
    def ok(self) -> bool:
        """True if the image was scored (or its feature computed)."""
        return self.error is None


@dataclass(frozen=True)
class ScoreResult(_Outcome):
    """The score of one image of :meth:`QualityScorer.iter_scores`, or why it has none.

    Attributes:
        source: The input's path, or a description such as ``<bytes 123>``.
        score: The head's score, None if the image failed.
        error: What went wrong with this image, None if it was scored.
        error_type: The error's class name (``ImageDecodeError``, ``ImageTooSmallError``, ...).
        width: The image's width in pixels (None if it could not be read).
        height: The image's height in pixels.
        thumbnail: What the ``thumbnail`` hook of :meth:`QualityScorer.iter_scores` made of the
            decoded image (JPEG bytes for :func:`contrique_infer.report.make_thumbnail`); None
            without a hook, or if the image failed. Not part of :meth:`to_dict`.
        note: What to know about a score that is not an error, None if nothing: the head faded it
            towards the worst end of its scale, the image lying far outside the images the head
            was fitted on (:attr:`contrique_infer.head.Head.fade`) or below its floor, such as the
            lowest global contrast of its training photos (:attr:`contrique_infer.head.Head.floor`).
            ``contrique-score`` prints it on stderr and writes it in the ``note`` column of its rows
            (:meth:`to_dict`; the rows of :mod:`contrique_infer.distributed` too). Not part of equality.
    """

    source: str
    score: float | None
    error: str | None = None
    error_type: str | None = None
    width: int | None = None
    height: int | None = None
    thumbnail: bytes | None = field(default=None, repr=False)
    note: str | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The result's fields, in the order of ``contrique-score``'s CSV columns (whose fields of what
        the score was made with come before ``note``)."""
        return {
            "source": self.source,
            "score": self.score,
            "width": self.width,
            "height": self.height,
            "error": self.error,
            "error_type": self.error_type,
            "note": self.note,
        }


@dataclass(frozen=True, eq=False)
class FeatureResult(_Outcome):
    """The feature of one image of :meth:`QualityScorer.iter_features`, or why it has none.

    Attributes are those of :class:`ScoreResult`, with ``feature`` (float32, the bundle's
    ``feature.dim`` values) in place of ``score``.
    """

    source: str
    feature: np.ndarray | None
    error: str | None = None
    error_type: str | None = None
    width: int | None = None
    height: int | None = None
