"""Images for export checks: prepared image files, deterministic synthetic test patterns, and the image sets.

Parity, calibration and fidelity run the encoder the way the runtime does: every image is
prepared by :mod:`contrique_infer.preprocessing` (one float32 CHW array per scale of the
bundle's input contract), so the export checks exactly what users will run.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime
from PIL import Image

from contrique_infer.errors import ImageError, ImageTooLargeError
from contrique_infer.inputs import list_images
from contrique_infer.manifest import InputContract
from contrique_infer.preprocessing import PreparedImage, prepare, to_scales

from .card import code
from .errors import ExportError, ImageSetError

# (width, height) of the synthetic patterns: odd, non-square, one close to the minimum size.
SYNTHETIC_SIZES = ((97, 65), (64, 131), (45, 37))
_REPLACE = "every image of the folder (subfolders included) is used: remove the file from it or replace it"


def prepare_files(paths: list[Path], contract: InputContract) -> list[PreparedImage]:
    """Prepare image files for the encoder (``source`` is the path), of any size Pillow decodes.

    Raises:
        ImageSetError: A file cannot be decoded, is too small for the contract, or is larger than
            Pillow's decompression-bomb limit; the message says to remove or replace it.
    """
    prepared = []
    for path in paths:
        try:
            prepared.append(prepare(path, contract, max_pixels=None))
        except ImageTooLargeError as exc:  # max_pixels is None: only Pillow's limit refuses an image
            raise ImageSetError(path, f"is larger than Pillow's decompression-bomb limit ({exc.__cause__}); {_REPLACE} "
                                "with a smaller copy") from exc
        except ImageError as exc:
            raise ImageSetError(path, f"{exc.reason}; {_REPLACE}") from exc
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


def image_sets(
    variants: Sequence[str],
    contract: InputContract,
    parity_images: str | os.PathLike[str] | None,
    calibration: str | os.PathLike[str] | None,
) -> tuple[list[PreparedImage], list[PreparedImage], list[PreparedImage], dict[str, str]]:
    """Parity, calibration and held-out fidelity inputs, and a description of each for the card.

    Args:
        variants: The variants to build, ``fp32`` first.
        contract: The bundle's input contract (how images are prepared).
        parity_images: Image folder for parity and fidelity (searched recursively).
        calibration: Image folder for int8 calibration; None: every other image of ``parity_images``.

    Returns:
        The parity inputs (synthetic patterns, then ``parity_images``), the calibration inputs,
        the fidelity inputs (``parity_images`` not used for calibration), and the card's
        description of each set by ``parity``, ``calibration``, ``fidelity`` (Markdown: the folders'
        names in code spans, :func:`~contrique_export.card.code`).

    Raises:
        ExportError: Reduced-precision variants without ``parity_images``, or none left for fidelity.
        ScanError: A folder holds no images.
        ImageSetError: An image cannot be decoded or is too small.
    """
    parity = synthetic_inputs(contract)
    described = {"parity": f"{len(parity)} synthetic odd-size patterns"}
    parity_files = list_images(parity_images) if parity_images is not None else []
    if parity_files:
        parity += prepare_files(parity_files, contract)
        described["parity"] += f" and the {len(parity_files)} images of {_folder(parity_images)}"
    if len(variants) == 1:
        return parity, [], [], described
    if not parity_files:
        raise ExportError(
            f"variant(s) {', '.join(variants[1:])} need real images to measure fidelity: pass --parity-images DIR"
        )
    by_path = {item.source: item for item in parity}
    calibration_set: list[PreparedImage] = []
    held_out = parity_files
    if "int8" in variants:
        if calibration is None:
            calibration_set = [by_path[str(p)] for p in parity_files[::2]]
            held_out = parity_files[1::2]
            described["calibration"] = f"every other image of {_folder(parity_images)} ({len(calibration_set)})"
        else:
            calibration_files = list_images(calibration)
            taken = {p.resolve() for p in calibration_files}
            held_out = [p for p in parity_files if p.resolve() not in taken]
            calibration_set = prepare_files(calibration_files, contract)
            described["calibration"] = f"the {len(calibration_set)} images of {_folder(calibration)}"
    if not held_out:
        raise ExportError(
            f"{parity_images}: no images are left for measuring fidelity after calibration; "
            "use a --parity-images folder that differs from --calibration, or one with at least 2 images"
        )
    described["fidelity"] = (
        f"{len(held_out)} images of {_folder(parity_images)}, measured with onnxruntime "
        f"{onnxruntime.__version__} on CPUExecutionProvider"
    )
    fidelity = [by_path[str(p)] for p in held_out]
    return parity, calibration_set, fidelity, described


def _folder(folder: str | os.PathLike[str]) -> str:
    """A folder's name for the model card: ``name/`` in a code span it cannot break out of."""
    return code(f"{Path(folder).name}/")
