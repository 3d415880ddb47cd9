"""A bundle folder on disk: its files checked against the manifest, and loading what a scorer uses.

Loading (:func:`load_bundle`) reads the manifest (:mod:`contrique_infer.manifest`), resolves each
file it needs inside the folder (:mod:`contrique_infer.paths`), checks its size and sha256, and
parses the heads (:mod:`contrique_infer.head`); the ONNX graph itself is checked when a session
opens it (:class:`contrique_infer.session.Encoder`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .errors import BundleFileError, HashMismatchError, HeadError
from .head import Head
from .jsonfile import read_json
from .manifest import MANIFEST_NAME, FileEntry, HeadInfo, Manifest, VariantInfo
from .paths import check_relpath, inside
from .regularfile import NotRegularFileError, check_regular, open_regular


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """The hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open_regular(path) as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def file_table(folder: str | os.PathLike[str], relpaths: Iterable[str]) -> dict[str, FileEntry]:
    """Hash the given bundle files, for ``Manifest.files``."""
    folder = Path(folder)
    return {rel: FileEntry(sha256_file(folder / rel), (folder / rel).stat().st_size) for rel in relpaths}


def resolve_file(folder: str | os.PathLike[str], rel: str) -> Path:
    """The absolute path of bundle file ``rel``, refusing anything that escapes the folder.

    Raises:
        BundleFileError: ``rel`` escapes the folder (``..``, absolute, or a symlink pointing out;
            a Hugging Face cache snapshot may link into its blob store), or the file does not exist,
            cannot be examined, or is not a regular file (a FIFO, a device).
    """
    root = Path(folder).resolve()
    check_relpath(str(root / MANIFEST_NAME), rel, "file")
    target = inside(root, rel)
    try:
        check_regular(target)
    except FileNotFoundError:
        raise BundleFileError(root / rel, "is named in the manifest but missing from the bundle folder") from None
    except OSError as exc:
        raise _unreadable(root / rel, exc) from exc
    return target


def _unreadable(path: Path, exc: OSError) -> BundleFileError:
    """The error for a bundle file that exists but cannot be read (or is a FIFO, a device...)."""
    if isinstance(exc, NotRegularFileError):
        return BundleFileError(path, str(exc))
    return BundleFileError(path, f"cannot be read ({exc.strerror or exc}); check the file and its permissions")


def verify_file(folder: str | os.PathLike[str], manifest: Manifest, rel: str) -> Path:
    """Resolve bundle file ``rel`` and check its size and sha256 against the manifest.

    Raises:
        BundleFileError: The file is missing, outside the folder, not a regular file, or unreadable.
        HashMismatchError: Its size or sha256 differs from the manifest.
    """
    path = resolve_file(folder, rel)
    entry = manifest.files[rel]
    try:
        size = path.stat().st_size
        if size != entry.size:
            raise HashMismatchError(
                path, f"size {size} bytes differs from the manifest's {entry.size}: the file is truncated or altered"
            )
        digest = sha256_file(path)
    except OSError as exc:
        raise _unreadable(path, exc) from exc
    if digest != entry.sha256:
        raise HashMismatchError(
            path, f"sha256 {digest[:12]}... differs from the manifest's {entry.sha256[:12]}...: the file was altered"
        )
    return path


def load_head(folder: str | os.PathLike[str], manifest: Manifest, info: HeadInfo, *, verify: bool = True) -> Head:
    """Load and check one head of a bundle.

    Raises:
        HeadError: The file is malformed, disagrees with the manifest's entry, or its length does
            not match the bundle's feature dimension.
        HashMismatchError, BundleFileError: See :func:`verify_file`.
    """
    path = verify_file(folder, manifest, info.file) if verify else resolve_file(folder, info.file)
    head = Head.from_dict(read_json(path, HeadError), path, info.file)
    if head.info != info:
        raise HeadError(path, "metadata (name, kind, dataset, scale, direction) differs from the manifest's entry")
    if head.coef.shape != (manifest.feature.dim,):
        raise HeadError(
            path, f"has {head.coef.shape[0]} coefficients but the bundle's feature has {manifest.feature.dim} values"
        )
    return head


@dataclass(frozen=True)
class LoadedBundle:
    """A validated bundle on disk: its folder, manifest, chosen encoder file and loaded heads."""

    root: Path
    manifest: Manifest
    variant: VariantInfo
    model_path: Path
    heads: Mapping[str, Head]


def load_bundle(
    folder: str | os.PathLike[str],
    *,
    variant: str = "fp32",
    heads: Sequence[str] | None = None,
    verify: bool = True,
    manifest: Manifest | None = None,
) -> LoadedBundle:
    """Load a bundle folder, verifying the files it uses against the manifest's hashes.

    Args:
        folder: The bundle folder (holding ``contrique.json``).
        variant: Which encoder to use: ``fp32``, ``fp16`` or ``int8``.
        heads: Head names to load; None loads them all.
        verify: Check sizes and sha256 of the files used; False only where the caller has just
            verified them (the Hub download does).
        manifest: The folder's manifest, where the caller has read it already
            (:class:`contrique_infer.location.Location`); None reads it here.

    Returns:
        The loaded bundle (the ONNX graph itself is checked when a session opens it).

    Raises:
        BundleError: Any problem with the manifest or the files (see the subclasses).
    """
    root = Path(folder)
    manifest = Manifest.load(root) if manifest is None else manifest
    chosen = manifest.variant(variant)
    model_path = verify_file(root, manifest, chosen.file) if verify else resolve_file(root, chosen.file)
    infos = manifest.heads if heads is None else tuple(manifest.head_info(n) for n in heads)
    loaded = {info.name: load_head(root, manifest, info, verify=verify) for info in infos}
    return LoadedBundle(root=root.resolve(), manifest=manifest, variant=chosen, model_path=model_path, heads=loaded)


def needed_files(manifest: Manifest, variant: str, heads: Sequence[str] | None = None) -> list[str]:
    """The bundle files a variant and a set of heads need (for partial downloads), manifest excluded."""
    infos = manifest.heads if heads is None else tuple(manifest.head_info(n) for n in heads)
    return [manifest.variant(variant).file] + [h.file for h in infos]
