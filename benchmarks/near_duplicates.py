"""Find benchmark photos that are the same picture as a training photo, at any size or encoding.

A benchmark measures what a model does on photos it has not seen; a photo it was trained on
measures memory. A folder check (``--photos`` is not under the training folder) does not catch the
same picture saved again: Debian's ``mate-backgrounds`` ships ``Aqua.jpg`` at 2560x1600, the training
photos hold it at 1024x640, and the two files share no byte. This module compares pictures, not files:
each photo becomes a 32x32 grey thumbnail with its mean removed and scaled to unit length, and two
photos are the same picture when the correlation of their thumbnails is at least
:data:`SAME_PICTURE`. Resizing, re-encoding (JPEG quality, PNG) and small tone changes keep it near 1
(0.992 to 1.000 for the 15 such pairs that had slipped into a benchmark photo set); distinct photos
stay far below: against the 276 training photos, at most 0.83, 0.87, 0.82 and 0.91 for the
validation photos and the second, third and fourth photo sets' new photos (measured 2026-12-06),
and 0.85 between two training photos, except two files of one picture at 0.998. Crops, mirror
images and rotations are not found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

SAME_PICTURE = 0.98
"""The thumbnail correlation at and above which two photos are taken for the same picture."""
THUMBNAIL = 32
"""The side of the square grey thumbnail compared."""


@dataclass(frozen=True)
class SamePicture:
    """A benchmark photo that is the same picture as a training photo.

    Attributes:
        photo: The benchmark photo.
        training: The training photo it matches best.
        correlation: The correlation of their thumbnails (:data:`SAME_PICTURE` .. 1).
    """

    photo: Path
    training: Path
    correlation: float


def thumbnail(path: Path) -> np.ndarray | None:
    """The photo's grey thumbnail as a unit vector with its mean removed.

    Args:
        path: An image file.

    Returns:
        ``THUMBNAIL**2`` float64 values, or None when the file cannot be read as an image or the
        thumbnail is flat (one grey level: no picture to compare; the benchmark itself reports a
        file it cannot read).
    """
    try:
        with Image.open(path) as image:
            image.draft("L", (2 * THUMBNAIL, 2 * THUMBNAIL))  # JPEGs decode at a reduced DCT scale
            grey = image.convert("L").resize((THUMBNAIL, THUMBNAIL), Image.Resampling.BILINEAR)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return None
    values = np.asarray(grey, dtype=np.float64).ravel()
    values -= values.mean()
    norm = float(np.linalg.norm(values))
    return values / norm if norm > 1e-6 else None


def same_pictures(photos: Sequence[Path], training: Sequence[Path],
                  threshold: float = SAME_PICTURE) -> list[SamePicture]:
    """The photos that are the same picture as one of the training photos.

    Args:
        photos: The benchmark photos.
        training: The training photos.
        threshold: The thumbnail correlation from which two photos are the same picture.

    Returns:
        One :class:`SamePicture` per matching photo, in the order of ``photos``.
    """
    known = [(path, t) for path in training if (t := thumbnail(path)) is not None]
    if not known:
        return []
    matrix = np.stack([t for _, t in known])
    found: list[SamePicture] = []
    for photo in photos:
        t = thumbnail(photo)
        if t is None:
            continue
        correlations = matrix @ t
        best = int(np.argmax(correlations))
        if correlations[best] >= threshold:
            found.append(SamePicture(photo, known[best][0], float(correlations[best])))
    return found
