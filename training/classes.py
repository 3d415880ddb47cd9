"""How many classes the contrastive objective has, without torch (config checks need the count).

Class ``0`` is pristine; each of the :data:`KADID_TYPES` distortion types at each of its
:data:`LEVELS` levels is one more class (:func:`contrique_training.distortions.class_id`).
"""

from __future__ import annotations

KADID_TYPES = 25
"""The KADID-10k / KADIS-700k distortion types (:data:`contrique_training.distortions.DISTORTIONS`)."""
LEVELS = 5
"""Levels per distortion type, mildest first."""
NUM_CLASSES = KADID_TYPES * LEVELS + 1
"""126: pristine plus every type at every level."""
