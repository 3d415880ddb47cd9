"""A linear probe of an encoder's quality features on distorted versions of held-out photos
(:mod:`.linear`; ``python -m contrique_training.probe``, the train extra)."""

from ..lazy import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "linear": ("PROG", "accuracy", "distorted_set", "features", "main", "negative_mse", "nested_ridge", "probe"),
})
