"""Rewriting a bundle's fitted heads in place, their coefficients kept: what :mod:`.fade` and :mod:`.floor` share."""

from __future__ import annotations

import os
from collections.abc import Sequence

from contrique_infer.bundle import LoadedBundle, load_bundle
from contrique_infer.head import Head

from .errors import ProxyError


def heads_to_amend(bundle_dir: str | os.PathLike[str], names: Sequence[str], what: str) -> tuple[LoadedBundle, list[Head]]:
    """The bundle and its heads ``names``, after checking that each may be rewritten with ``what``.

    Raises:
        ProxyError: A head is not a no-reference head with a score range (one fitted by ``proxy heads``).
        HeadNotFoundError: The bundle has no such head.
        ProtocolError: The folder is a packaged model (copy it first).
        BundleError, ContriqueError: The bundle is invalid.
    """
    from ..evaluation.heads import check_new_head

    bundle = load_bundle(bundle_dir, heads=list(names))
    chosen = [bundle.heads[name] for name in names]
    for head in chosen:
        if head.kind != "nr" or head.score_range is None:
            raise ProxyError(f"head {head.name!r} cannot take {what}: it needs a no-reference head with a score range "
                             "(fitted by proxy heads)")
    for name in names:  # fail before any work, not after
        check_new_head(bundle_dir, name, force=True)
    return bundle, chosen


def write_heads(bundle_dir: str | os.PathLike[str], bundle: LoadedBundle, heads: Sequence[Head]) -> None:
    """Write amended heads over the bundle's own (the default head stays the default), then verify every file.

    Raises:
        BundleFileError: The files cannot be written.
        BundleError, ContriqueError: The bundle is invalid afterwards.
    """
    from ..evaluation.heads import add_head

    for head in heads:
        add_head(bundle_dir, head, force=True, make_default=bundle.manifest.default_head == head.name)
    load_bundle(bundle_dir)  # verifies every file's hash, the new heads' included
