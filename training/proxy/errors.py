"""The error of the proxy package, a :class:`~contrique_training.errors.TrainingError` subclass."""

from __future__ import annotations

from ..errors import TrainingError


class ProxyError(TrainingError):
    """A proxy set cannot be made or read, or its heads cannot be fitted (the message says what to do)."""
