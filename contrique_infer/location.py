"""Where a bundle is: a name resolved once to a local folder or a pinned Hub bundle, with its manifest.

A model name is a local bundle folder, the name of a bundle installed with the package
(:func:`packaged_models`: ``default``, ``hires``), a Hugging Face Hub repository id ``org/name`` (see
:mod:`contrique_infer.hub`), or None for the default bundle installed with the package.
:func:`locate` reads the manifest (and, for the Hub, resolves the revision to a commit) once; the
:class:`Location` it returns then loads the files a variant and a set of heads need, without
reading the manifest again. ``QualityScorer.from_pretrained`` is ``locate`` followed by
``QualityScorer.from_location``; ``contrique-score`` calls the two itself, to read the default
head in between.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .bundle import LoadedBundle, load_bundle, needed_files
from .errors import BundleFileError, HubError, NoDefaultModelError
from .inputs import is_url, misspelt_path_hint
from .manifest import MANIFEST_NAME, Manifest

if TYPE_CHECKING:
    from .hub import RemoteBundle

MODELS = Path(__file__).resolve().parent / "models"
"""Where the bundles installed with the package live, one folder per name (:func:`packaged_models`)."""
DEFAULT_BUNDLE = MODELS / "default"
"""Where the package's default bundle lives."""


def packaged_models() -> tuple[str, ...]:
    """The names of the bundles installed with the package (``default`` among them), sorted.

    Returns:
        Each folder of :data:`MODELS` that holds a bundle manifest; ``locate(name)`` finds it by that
        name where no folder of that name exists here.
    """
    if not MODELS.is_dir():
        return ()
    return tuple(sorted(p.name for p in MODELS.iterdir() if (p / MANIFEST_NAME).is_file()))


def is_packaged(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` is one of the bundles installed with the package (however it is spelled)."""
    resolved = Path(folder).resolve()
    return resolved.parent == MODELS and resolved.name in packaged_models()


@dataclass(frozen=True)
class Location:
    """A bundle that was found, with its validated manifest: a local folder, or a Hub bundle pinned to a commit.

    Attributes:
        name_or_path: The name it was found by (None: the default bundle).
        manifest: The bundle's manifest, read once.
        folder: The local bundle folder (None for a Hub bundle).
        remote: The Hub bundle, pinned to the commit its revision resolved to (None for a folder).
        cache_dir: Hub cache folder (None: huggingface_hub's default).
        local_files_only: Never use the network to fetch the Hub bundle's files.
    """

    name_or_path: str | None
    manifest: Manifest
    folder: Path | None = None
    remote: RemoteBundle | None = None
    cache_dir: str | None = None
    local_files_only: bool = False

    @property
    def revision(self) -> str | None:
        """The commit a Hub bundle is pinned to (None for a folder)."""
        return None if self.remote is None else self.remote.revision

    def load(self, *, variant: str = "fp32", heads: Sequence[str] | None = None) -> LoadedBundle:
        """Load the encoder variant and the heads: a Hub bundle's files are downloaded (those only) and
        verified first, a folder's are verified in place.

        Args:
            variant: ``fp32``, ``fp16`` or ``int8``.
            heads: Head names to load; None loads them all.

        Raises:
            BundleError: A file is missing, altered or malformed.
            HubError: A Hub file could not be fetched (or is not cached, offline).
            HeadNotFoundError, VariantNotFoundError: The manifest has no such head or variant.
        """
        folder = self.folder
        if self.remote is not None:
            from . import hub

            folder = hub.fetch_files(self.remote, needed_files(self.manifest, variant, heads),
                                     cache_dir=self.cache_dir, local_files_only=self.local_files_only)
        # A Hub bundle's files were just checked against the manifest's hashes by fetch_files.
        return load_bundle(folder, variant=variant, heads=heads, verify=self.remote is None,  # type: ignore[arg-type]
                           manifest=self.manifest)


def locate(
    name_or_path: str | os.PathLike[str] | None = None,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
) -> Location:
    """Find a bundle and read its manifest: a folder's ``contrique.json``, or a Hub bundle's, its
    revision resolved to a commit (one lookup).

    Args:
        name_or_path: A bundle folder, the name of a bundle installed with the package
            (:func:`packaged_models`; a folder of that name here comes first), an ``org/name`` Hub
            repository id, or None for the default.
        revision: Hub branch, tag or commit (ignored for folders).
        cache_dir: Hub cache folder (None: huggingface_hub's default).
        local_files_only: Never use the network.

    Raises:
        NoDefaultModelError: ``name_or_path`` is None and no default bundle is installed.
        BundleFileError: The name is neither an existing folder, a packaged model nor a repository id,
            or the folder holds no manifest.
        ManifestError: The manifest is not valid.
        HubError: The Hub manifest could not be fetched.
    """
    name = None if name_or_path is None else os.fspath(name_or_path)
    cache = None if cache_dir is None else os.fspath(cache_dir)
    if name is None:
        if not (DEFAULT_BUNDLE / MANIFEST_NAME).is_file():
            raise NoDefaultModelError(
                "no default model is installed with contrique-infer; pass a bundle folder "
                "(QualityScorer.from_pretrained('path/to/bundle'), contrique-score --model path/to/bundle) "
                "or a Hugging Face Hub repository id 'org/name'. Make a bundle from a checkpoint with contrique-export."
            )
        return Location(None, Manifest.load(DEFAULT_BUNDLE), folder=DEFAULT_BUNDLE)
    if os.path.exists(name):
        return Location(name, Manifest.load(name), folder=Path(name))
    if name in packaged_models():
        return Location(name, Manifest.load(MODELS / name), folder=MODELS / name)
    from . import hub

    if hub.is_repo_id(name):
        try:
            remote = hub.fetch_manifest(name, revision=revision, cache_dir=cache, local_files_only=local_files_only)
        except HubError as exc:
            first = name.split("/")[0]
            if os.path.isdir(first):  # 'models/mybundle' with a folder 'models' here: a mistyped folder, likely
                raise type(exc)(f"{name}: no such bundle folder here (the folder {first}/ exists: check the "
                                f"name), and as a Hub repository: {exc}") from exc
            raise
        return Location(name, remote.manifest, remote=remote, cache_dir=cache, local_files_only=local_files_only)
    raise BundleFileError(name, "no such bundle folder, no model of that name installed with the package ("
                          f"{', '.join(packaged_models()) or 'none'}), and not a Hugging Face Hub repository id "
                          f"'org/name'{_unfound_hint(name)}")


_HUB_PAGE = re.compile(r"https?://(?:www\.)?huggingface\.co/(?:models/)?([^/?#\s]+/[^/?#\s]+)")


def _unfound_hint(name: str) -> str:
    """What a bundle name that names nothing may have been meant as: a Hub repository's web address (its id
    is wanted), another URL, or a path misspelt as :func:`~contrique_infer.inputs.misspelt_path_hint` tells."""
    page = _HUB_PAGE.match(name)
    if page:
        return f" (the web address of a Hub repository: give its id, {page.group(1)!r})"
    if is_url(name):
        return " (a URL: download the bundle and give its folder, or give a Hub repository's id)"
    return misspelt_path_hint(name)
