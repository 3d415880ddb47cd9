"""Paths inside a bundle: the file names a manifest may hold, and where a bundle's files may resolve.

A manifest names its files by plain relative POSIX paths (:func:`check_relpath`); a file (the
manifest itself included) may be a symbolic link only into the folders :func:`link_roots` allows (a
Hugging Face cache snapshot links into its blob store; :func:`inside` checks it).
:func:`contrique_infer.bundle.resolve_file` applies both when it opens a file. The commands that
create a folder of their own (a bundle, a proxy set, a training run) ask :func:`new_or_empty` first.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from .errors import BundleFileError


def check_relpath(path: str, rel: str, what: str) -> str:
    """Return ``rel`` if it is a plain relative POSIX path inside the bundle, else raise."""
    pure = PurePosixPath(rel)
    if (
        not rel
        or "\\" in rel
        or (len(rel) > 1 and rel[1] == ":")
        or any(part in ("..", "") for part in rel.split("/"))
        or rel != str(pure)
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in rel)  # a NUL or a new line names no bundle file
    ):
        raise BundleFileError(path, f"{what} {rel!r} is not a plain relative path inside the bundle folder")
    return rel


def inside(folder: str | os.PathLike[str], rel: str) -> Path:
    """The resolved path of ``rel`` in bundle folder ``folder`` (symbolic links followed).

    Raises:
        BundleFileError: It resolves outside the folders :func:`link_roots` allows.
    """
    root = Path(folder).resolve()
    target = (root / rel).resolve()
    if not any(allowed in target.parents for allowed in link_roots(root)):
        raise BundleFileError(root / rel, "resolves outside the bundle folder; refusing to read it")
    return target


def link_roots(folder: Path) -> tuple[Path, ...]:
    """The folders that the files of bundle folder ``folder`` may resolve into: the folder itself
    and, for a snapshot in the Hugging Face cache (``<repo>/snapshots/<commit>``, whose files are
    symlinks to blobs), the repository's ``blobs`` folder and the cache-wide shared blob store
    next to it."""
    if folder.parent.name != "snapshots":
        return (folder,)
    repo = folder.parent.parent
    return (folder, repo / "blobs", repo.parent / "blobs")


def new_or_empty(folder: str | os.PathLike[str]) -> bool:
    """Whether ``folder`` does not exist or is an empty folder (a file is neither), so that a command
    may make it its own without overwriting anything.

    Raises:
        OSError: It cannot be examined (no permission).
    """
    folder = Path(folder)
    return not folder.exists() or (folder.is_dir() and not any(folder.iterdir()))
