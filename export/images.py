"""Images for export checks: prepared image files and deterministic synthetic test patterns.

Parity, calibration and fidelity run the encoder the way the runtime does: every image is
prepared by :mod:`contrique_infer.preprocessing` (one float32 CHW array per scale of the
bundle's input contract), so the export checks exactly what users will run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from contrique_infer.bundle import InputContract
from contrique_infer.errors import ImageError
from contrique_infer.preprocessing import PreparedImage, prepare, to_scales

from .errors import ImageSetError

# (width, height) of the synthetic patterns: odd, non-square, one close to the minimum size.
SYNTHETIC_SIZES = ((97, 65), (64, 131), (45, 37))


def prepare_files(paths: list[Path], contract: InputContract) -> list[PreparedImage]:
    """Prepare image files for the encoder (``source`` is the path).

    Raises:
        ImageSetError: A file cannot be decoded or is too small for the contract.
    """
    prepared = []
    for path in paths:
        try:
            prepared.append(prepare(path, contract, max_pixels=None))
        except ImageError as exc:
            raise ImageSetError(path, exc.reason) from exc
    return prepared


def synthetic_images() -> list[tuple[str, Image.Image]]:
    """Deterministic RGB test patterns (gradients, stripes and noise) of odd sizes."""
    rng = np.random.default_rng(20220615)
    out = []
    for w, h in SYNTHETIC_SIZES:
        y, x = np.mgrid[0:h, 0:w].astype(np.float64)
        stripes = 0.5 + 0.5 * np.sin(2 * np.pi * (x + 2 * y) / 9.0)
        base = np.stack([x / w, y / h, stripes], axis=-1) + 0.15 * rng.standard_normal((h, w, 3))
        pixels = np.clip(np.round(255 * base), 0, 255).astype(np.uint8)
        out.append((f"synthetic-{w}x{h}", Image.fromarray(pixels, "RGB")))
    return out


def synthetic_inputs(contract: InputContract) -> list[PreparedImage]:
    """The synthetic patterns prepared for the encoder (``source`` is the pattern's name)."""
    return [PreparedImage(name, img.width, img.height, to_scales(img, contract)) for name, img in synthetic_images()]
