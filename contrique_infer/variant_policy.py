"""Where a bundle is, and which of its encoder variants to open.

A model name is a local bundle folder, a Hugging Face Hub repository id ``org/name`` (see
:mod:`contrique_infer.hub`), or None for the default bundle installed with the package. Variant
``auto`` runs a reduced-precision encoder only where the bundle's recorded fidelity to fp32
says it scores like fp32.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import BundleFileError, NoDefaultModelError, VariantNotFoundError
from .manifest import MANIFEST_NAME, VARIANTS, Manifest
from .session import Provider, uses_gpu

if TYPE_CHECKING:
    from .hub import RemoteBundle

DEFAULT_BUNDLE = Path(__file__).resolve().parent / "models" / "default"
"""Where the package's default bundle lives."""
MIN_COSINE = 0.99
"""Variant ``auto`` runs int8 (CPU) or fp16 (GPU) only if its smallest feature cosine with fp32 is at least this..."""
MIN_SPEARMAN = 0.99
"""...and every head's scores keep at least this Spearman correlation with fp32's..."""
MIN_FIDELITY_IMAGES = 12
"""...measured on at least this many held-out images (on 6, a Spearman correlation of 1.0 hid
score differences of 5 points that ranked 13 other photos differently)."""


def locate(
    name_or_path: str | None,
    *,
    revision: str | None = None,
    cache_dir: str | None = None,
    local_files_only: bool = False,
) -> tuple[Path, None] | tuple[None, RemoteBundle]:
    """Where a bundle is: ``(local folder, None)``, or ``(None, its manifest on the Hub)``.

    Args:
        name_or_path: A bundle folder, an ``org/name`` Hub repository id, or None for the default.
        revision: Hub branch, tag or commit (ignored for folders).
        cache_dir: Hub cache folder (None: huggingface_hub's default).
        local_files_only: Never use the network.

    Raises:
        NoDefaultModelError: ``name_or_path`` is None and no default bundle is installed.
        BundleFileError: The name is neither an existing folder nor a repository id.
        HubError: The Hub manifest could not be fetched.
    """
    if name_or_path is None:
        if not (DEFAULT_BUNDLE / MANIFEST_NAME).is_file():
            raise NoDefaultModelError(
                "no default model is installed with contrique-infer; pass a bundle folder "
                "(QualityScorer.from_pretrained('path/to/bundle'), contrique-score --model path/to/bundle) "
                "or a Hugging Face Hub repository id 'org/name'. Make a bundle from a checkpoint with contrique-export."
            )
        return DEFAULT_BUNDLE, None
    if os.path.exists(name_or_path):
        return Path(name_or_path), None
    from . import hub

    if hub.is_repo_id(name_or_path):
        return None, hub.fetch_manifest(name_or_path, revision=revision, cache_dir=cache_dir,
                                        local_files_only=local_files_only)
    raise BundleFileError(name_or_path, "no such bundle folder, and not a Hugging Face Hub repository id 'org/name'")


def locate_manifest(
    name_or_path: str | os.PathLike[str] | None = None,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
) -> Manifest:
    """The manifest of a bundle, found as ``QualityScorer.from_pretrained`` finds it, without
    loading (or downloading) the model.

    Raises:
        NoDefaultModelError, BundleError, HubError: As for ``QualityScorer.from_pretrained``.
    """
    local, remote = locate(None if name_or_path is None else os.fspath(name_or_path), revision=revision,
                           cache_dir=None if cache_dir is None else os.fspath(cache_dir),
                           local_files_only=local_files_only)
    return remote.manifest if remote is not None else Manifest.load(local)  # type: ignore[arg-type]


def variant_trusted(manifest: Manifest, variant: str, heads: Sequence[str] | None = None) -> bool:
    """Whether ``auto`` may run a reduced-precision variant.

    It may when the bundle has the variant and its fidelity, measured against fp32 on at least
    :data:`MIN_FIDELITY_IMAGES` held-out images at export, has a minimum feature cosine of at least
    :data:`MIN_COSINE` and a Spearman correlation of at least :data:`MIN_SPEARMAN` for the scores
    of every head in use that has one recorded (of every recorded head when none in use has).

    Args:
        manifest: The bundle's manifest.
        variant: ``int8`` or ``fp16``.
        heads: Names of the heads the scorer will load; None: all of them.

    Returns:
        True if ``auto`` may open the variant.
    """
    info = manifest.variants.get(variant)
    fidelity = None if info is None else info.fidelity
    if fidelity is None or not fidelity.spearman or fidelity.images < MIN_FIDELITY_IMAGES:
        return False
    rhos = [rho for name, rho in fidelity.spearman.items() if heads is None or name in heads]
    return fidelity.cosine_min >= MIN_COSINE and min(rhos or fidelity.spearman.values()) >= MIN_SPEARMAN


def choose_variant(variant: str, manifest: Manifest, providers: Sequence[Provider],
                   heads: Sequence[str] | None = None) -> str:
    """The variant to open: ``auto`` resolved (a trusted fp16 on a CUDA GPU, a trusted int8 on
    CPUs, else fp32; see :func:`variant_trusted` for ``heads``), any other name checked against
    the bundle.

    Raises:
        VariantNotFoundError: An unknown variant name, or one the bundle does not have.
    """
    if variant == "auto":
        reduced = "fp16" if uses_gpu(providers) else "int8"
        return reduced if variant_trusted(manifest, reduced, heads) else "fp32"
    if variant not in VARIANTS:
        raise VariantNotFoundError(f"variant must be auto, {', '.join(VARIANTS)}; got {variant!r}")
    return manifest.variant(variant).name
