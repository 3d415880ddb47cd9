"""Which encoder variant a scorer opens: a name checked against the bundle, or ``auto``'s choice.

Variant ``auto`` runs a reduced-precision encoder (fp16 on a CUDA GPU, int8 on CPUs) only where
the bundle's fidelity to fp32, recorded at export on held-out images, says it scores like fp32
for the heads in use; else fp32.
"""

from __future__ import annotations

from collections.abc import Sequence

from .errors import VariantNotFoundError
from .manifest import VARIANTS, Manifest
from .session import Provider, uses_gpu

MIN_COSINE = 0.99
"""Variant ``auto`` runs int8 (CPU) or fp16 (GPU) only if its smallest feature cosine with fp32 is at least this..."""
MIN_SPEARMAN = 0.99
"""...and every head's scores keep at least this Spearman correlation with fp32's..."""
MIN_FIDELITY_IMAGES = 12
"""...measured on at least this many held-out images (on 6, a Spearman correlation of 1.0 hid
score differences of 5 points that ranked 13 other photos differently)."""


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
