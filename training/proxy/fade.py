"""Give a bundle's fitted heads a fade far outside their range, without fitting them again (head format 4).

A linear head's score of an image unlike every image it was fitted on (a photo blurred to mush) is
an extrapolation, and clipping the feature to the fitted range keeps whatever score the clipped
feature has: a bundle whose heads were fitted with ``proxy heads --no-fade`` (the `hires` model v1)
scores the strongest blurs about as high as the photo itself. :func:`add_fade` gives such heads the
fade ``proxy heads`` fits by default (:attr:`contrique_infer.head.Head.fade`): beyond the range
distance ``start`` a score keeps ``(start / distance) ** power`` of its way from the worst end. The
coefficients, ranges and clipping stay as they are, so every image within the distance scores as
before, bit for bit.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from contrique_infer.head import Head, fade_problem

from .amend import heads_to_amend, write_heads
from .errors import ProxyError
from .floor import FLOOR_WORDS
from .heads import DEFAULT_FADE, HEAD_NAMES, fade_words


def _sentence(fade: tuple[float, float]) -> str:
    """The fade's clause of :func:`.heads.fade_words` as a sentence of its own."""
    return f" Beyond{fade_words(fade).removeprefix('; beyond').removesuffix(')')}; contrique_training.proxy.fade)."


def _described(head: Head, fade: tuple[float, float]) -> str:
    """The head's description with its fade's words (from ``proxy heads`` or from here) replaced by ``fade``'s.

    The sentence goes before the floor's (:data:`.floor.FLOOR_WORDS`), which stays the last.
    """
    description = head.info.description
    if head.fade is not None:
        description = description.replace(_sentence(head.fade), "").replace(fade_words(head.fade), "")
    base, floor, rest = description.partition(FLOOR_WORDS)
    return base + _sentence(fade) + floor + rest


def add_fade(
    bundle_dir: str | os.PathLike[str],
    *,
    fade: tuple[float, float] = DEFAULT_FADE,
    heads: Sequence[str] = HEAD_NAMES,
) -> dict[str, Any]:
    """Give heads of a local bundle a fade (or another fade), their coefficients, ranges and floor kept.

    Args:
        bundle_dir: The bundle folder; the heads' files and the manifest's file table are rewritten.
        fade: ``(start, power)``, :attr:`contrique_infer.head.Head.fade`.
        heads: The heads given the fade; each must be a no-reference head with a score range and a
            feature range (both fitted by ``proxy heads``).

    Returns:
        A JSON-ready report: the bundle, the fade, and each head's fade before.

    Raises:
        ProxyError: A bad fade, or a head that cannot take one.
        HeadNotFoundError: The bundle has no such head.
        ProtocolError: The folder is a packaged model (copy it first).
        BundleError, ContriqueError: The bundle is invalid.
    """
    problem = fade_problem(*fade)
    if problem is not None:
        raise ProxyError(problem)
    bundle, chosen = heads_to_amend(bundle_dir, heads, "a fade")
    for head in chosen:
        if head.feature_range is None:
            raise ProxyError(f"head {head.name!r} cannot take a fade: it has no feature range to measure the distance "
                             "from (fit it with proxy heads)")
    fade = (float(fade[0]), float(fade[1]))
    write_heads(bundle_dir, bundle, [
        replace(head, fade=fade, info=replace(head.info, description=_described(head, fade))) for head in chosen])
    return {
        "bundle": str(bundle_dir),
        "fade": list(fade),
        "heads": {head.name: None if head.fade is None else list(head.fade) for head in chosen},
    }
