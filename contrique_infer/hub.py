"""Model bundles on the Hugging Face Hub: resolve a revision, download only what is needed, verify.

A Hub bundle is a model repository holding ``contrique.json`` and the files it lists. Loading one
takes two steps: :func:`fetch_manifest` downloads and validates the manifest and pins the
revision to the commit it resolved to, then :func:`fetch_files` downloads, from that same
commit, only the files the chosen variant and heads need (see
:func:`contrique_infer.bundle.needed_files`) and checks each against the manifest's size and
sha256 (a file the server announces at another size is refused before it is downloaded). Files
live in the standard Hugging Face cache (``HF_HUB_CACHE``, or ``cache_dir``), so they are
downloaded once and shared with other tools; ``HF_HUB_OFFLINE=1`` or
``local_files_only=True`` use the cache without any network access.

Every failure is a :class:`~contrique_infer.errors.ContriqueError`: a missing repository,
revision or file is a :class:`~contrique_infer.errors.HubNotFoundError`, an unreachable or
failing server a :class:`~contrique_infer.errors.HubConnectionError`, a cache miss in offline
mode an :class:`~contrique_infer.errors.OfflineCacheMissError`, and a file whose bytes differ
from the manifest a :class:`~contrique_infer.errors.HashMismatchError` (after the bad copy has
been deleted from the cache, so that the next load downloads it afresh). Each file must download
within ``CONTRIQUE_HUB_DOWNLOAD_DEADLINE`` seconds (default 1800, :mod:`contrique_infer.deadline`):
a server that sends too slowly is cut off there with a ``HubConnectionError``.

``huggingface_hub`` is imported inside the functions: it is only needed when a bundle is
fetched, and importing its download machinery costs about 0.1 s.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from .bundle import sha256_file, verify_file
from .errors import (
    BundleFileError,
    ContriqueError,
    HashMismatchError,
    HubConnectionError,
    HubError,
    HubNotFoundError,
    ManifestError,
    OfflineCacheMissError,
)
from .manifest import MANIFEST_NAME, Manifest
from .paths import link_roots

_DEFAULT_REVISION = "main"
_REVISION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,255}")
"""What a branch, tag or commit name may look like (no '..' part, checked too): the cache writes it as a path."""
_COMMIT = re.compile(r"[0-9a-f]{40}")
_MAX_LINKS = 8  # snapshot entry -> repo blob -> shared blob store, with room to spare


@dataclass(frozen=True)
class RemoteBundle:
    """A bundle's manifest fetched from the Hub, pinned to one commit.

    Attributes:
        repo_id: The model repository, ``org/name``.
        revision: The commit hash the requested revision resolved to; every file of the bundle is
            fetched from this commit, even if the branch moves meanwhile.
        manifest: The validated manifest.
    """

    repo_id: str
    revision: str
    manifest: Manifest


def is_repo_id(name: str) -> bool:
    """Whether ``name`` is written as a Hub repository id, ``org/name``.

    This only checks the syntax; a caller that also accepts local folders should look for an
    existing folder first (a relative path like ``models/tiny`` is also valid repo-id syntax).
    """
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if name.count("/") != 1:
        return False
    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def fetch_manifest(
    repo_id: str,
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
) -> RemoteBundle:
    """Download and validate a Hub bundle's ``contrique.json``, pinning the revision to a commit.

    Args:
        repo_id: The model repository, ``org/name``.
        revision: A branch, tag or commit hash; None means ``main``.
        cache_dir: The Hugging Face cache folder; None uses ``HF_HUB_CACHE``.
        local_files_only: Use only the cache, never the network (also implied by
            ``HF_HUB_OFFLINE=1``).

    Returns:
        The manifest and the commit hash it was read from.

    Raises:
        HubNotFoundError: The repository or revision does not exist, or has no ``contrique.json``.
        HubConnectionError: The Hub could not be reached or failed, and nothing usable is cached; or
            the download did not finish within ``CONTRIQUE_HUB_DOWNLOAD_DEADLINE`` seconds.
        OfflineCacheMissError: Offline, and the manifest for this revision is not cached.
        HubError: Any other download failure (the message says what happened), or
            ``CONTRIQUE_HUB_DOWNLOAD_DEADLINE`` is not a number of seconds above 0.
        ManifestError: The downloaded manifest is not a valid bundle manifest.
    """
    revision = revision or _DEFAULT_REVISION
    if not _REVISION.fullmatch(revision) or ".." in revision.split("/"):
        raise HubError(f"{_uri(repo_id, revision, MANIFEST_NAME)}: {revision!r} is not a branch, tag or commit "
                       "name; give one like 'main', 'v1.0' or a commit hash")
    path = _download(repo_id, MANIFEST_NAME, revision, cache_dir, local_files_only)
    # The cache stores each commit's files in snapshots/<commit hash>/, whatever revision was asked.
    commit = path.parent.name
    if path.parent.parent.name != "snapshots" or not _COMMIT.fullmatch(commit):
        raise HubError(f"{_uri(repo_id, revision, MANIFEST_NAME)}: the server named commit {commit!r}, not a "
                       "commit hash; this server is not a Hugging Face Hub to load from (check HF_ENDPOINT)")
    try:
        manifest = Manifest.load(path.parent)
    except BundleFileError as exc:  # the server's ETag named a cache file outside the cache
        _discard(path.parent, MANIFEST_NAME)
        raise HubError(f"{_uri(repo_id, commit, MANIFEST_NAME)}: the download {exc.reason}; this server is not a "
                       "Hugging Face Hub to load from (check HF_ENDPOINT)") from exc
    except ManifestError:
        _discard(path.parent, MANIFEST_NAME)  # a corrupted download must not stay cached for this commit
        raise
    return RemoteBundle(repo_id=repo_id, revision=commit, manifest=manifest)


def fetch_files(
    remote: RemoteBundle,
    files: Sequence[str],
    *,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
) -> Path:
    """Download bundle files from the pinned commit and verify them against the manifest.

    Args:
        remote: The bundle, from :func:`fetch_manifest`.
        files: Paths of bundle files, as listed in the manifest (typically
            :func:`contrique_infer.bundle.needed_files`); nothing else is downloaded.
        cache_dir: The Hugging Face cache folder; None uses ``HF_HUB_CACHE``.
        local_files_only: Use only the cache, never the network (also implied by
            ``HF_HUB_OFFLINE=1``).

    Returns:
        The snapshot folder holding ``contrique.json`` and the files, usable as a bundle folder
        (files of the bundle that were not asked for may be absent).

    Raises:
        BundleFileError: A requested file is not listed in the manifest.
        HashMismatchError: A file's size or sha256 differs from the manifest (truncated or
            altered): either the server announced another size (nothing was downloaded), or the
            downloaded bytes differ (the bad copy has been deleted from the cache).
        HubNotFoundError, HubConnectionError, OfflineCacheMissError, HubError: See
            :func:`fetch_manifest`.
    """
    manifest = remote.manifest
    for rel in files:
        if rel not in manifest.files:
            raise BundleFileError(
                _uri(remote.repo_id, remote.revision, rel),
                "is not listed in the manifest's files, so it cannot be verified; ask for files the manifest lists",
            )
    folder = _download(remote.repo_id, MANIFEST_NAME, remote.revision, cache_dir, local_files_only).parent
    for rel in dict.fromkeys(files):
        _download(remote.repo_id, rel, remote.revision, cache_dir, local_files_only, size=manifest.files[rel].size)
        try:
            verify_file(folder, manifest, rel)
        except BundleFileError as exc:
            _discard(folder, rel)
            raise HubError(f"{_uri(remote.repo_id, remote.revision, rel)}: the download {exc.reason}; this server "
                           "is not a Hugging Face Hub to load from (check HF_ENDPOINT)") from exc
        except HashMismatchError as exc:
            _discard(folder, rel)
            raise HashMismatchError(
                _uri(remote.repo_id, remote.revision, rel),
                f"{exc.reason}. The bad copy was deleted from the cache, so loading again downloads it afresh; "
                "if this keeps happening, the repository's file does not match its manifest: tell its maintainers",
            ) from exc
    return folder


def _offline(local_files_only: bool) -> bool:
    """Whether to stay off the network: asked for, or ``HF_HUB_OFFLINE`` set now or at import time."""
    from huggingface_hub import constants

    env = os.environ.get("HF_HUB_OFFLINE", "").upper() in constants.ENV_VARS_TRUE_VALUES
    return local_files_only or env or constants.is_offline_mode()


def _uri(repo_id: str, revision: str, filename: str) -> str:
    """The file's Hub URI, ``hf://org/name@revision/path``, for messages."""
    return f"hf://{repo_id}@{revision}/{filename}"


def _download(
    repo_id: str,
    filename: str,
    revision: str,
    cache_dir: str | os.PathLike[str] | None,
    local_files_only: bool,
    *,
    size: int | None = None,
) -> Path:
    """``hf_hub_download`` of one file into the cache, within a deadline; its failures become :class:`HubError`.

    With ``size`` (a bundle file's size in the manifest), a file that is not cached yet is first
    asked for its size (the metadata request ``hf_hub_download`` makes, once more), and another
    size is refused before any byte of it is downloaded: a server cannot make us fetch gigabytes
    that the hash check would then throw away. A cached file costs no request.

    All the requests for the file (metadata, download, retries) must end within
    ``CONTRIQUE_HUB_DOWNLOAD_DEADLINE`` seconds (see :mod:`contrique_infer.deadline`): a server that
    sends too slowly is cut off there, and nothing of the file is cached.

    Raises:
        HashMismatchError: The server announces a size other than ``size``.
        HubConnectionError: The deadline passed before the file was downloaded.
        HubError: ``CONTRIQUE_HUB_DOWNLOAD_DEADLINE`` is not a number of seconds above 0, or the
            download failed (see :func:`fetch_manifest`).
    """
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import HTTPError

    from . import __version__
    from .deadline import DEADLINE_ENV, DEFAULT_DEADLINE, DeadlineReached, deadline_seconds, watch

    seconds = deadline_seconds()
    offline = _offline(local_files_only)
    kwargs = {"repo_type": "model", "revision": revision, "cache_dir": cache_dir, "local_files_only": offline,
              "library_name": "contrique-infer", "library_version": __version__}
    try:
        requests = not offline and not _cached_at_commit(repo_id, filename, revision, cache_dir)
        with watch(seconds) if requests else nullcontext():
            if size is not None and not offline:
                info = hf_hub_download(repo_id, filename, dry_run=True, **kwargs)
                if info.will_download and info.file_size is not None and info.file_size != size:
                    raise HashMismatchError(
                        _uri(repo_id, revision, filename),
                        f"the server announces {info.file_size} bytes where the manifest lists {size}; nothing was "
                        "downloaded. The repository's file does not match its manifest: tell its maintainers",
                    )
            path = hf_hub_download(repo_id, filename, **kwargs)
    except DeadlineReached as exc:
        raise HubConnectionError(
            f"{_uri(repo_id, revision, filename)}: {exc} of {seconds:g} s ({DEADLINE_ENV}), so it was stopped and "
            f"nothing was cached; the Hub at {constants.ENDPOINT} sends too slowly or is overloaded: try again later, "
            f"or on a slow connection raise {DEADLINE_ENV} (seconds per file, default {DEFAULT_DEADLINE:g})"
        ) from exc
    except (HTTPError, OSError, ValueError) as exc:  # what hf_hub_download raises, its HTTP client's errors included
        raise _hub_error(exc, repo_id, revision, filename, cache_dir, offline) from exc
    return Path(path)


def _cached_at_commit(
    repo_id: str, filename: str, revision: str, cache_dir: str | os.PathLike[str] | None
) -> bool:
    """Whether ``hf_hub_download`` serves the file from the cache without any request: ``revision``
    is a commit hash and the cache holds the file for it (then no HTTP client, 0.1 s to make, is
    made to watch the download)."""
    from huggingface_hub import try_to_load_from_cache

    if not _COMMIT.fullmatch(revision):
        return False
    return isinstance(try_to_load_from_cache(repo_id, filename, cache_dir=cache_dir, revision=revision), str)


def _hub_error(
    exc: Exception,
    repo_id: str,
    revision: str,
    filename: str,
    cache_dir: str | os.PathLike[str] | None,
    offline: bool,
) -> ContriqueError:
    """Translate a ``huggingface_hub`` download failure into a :class:`HubError` saying what to do."""
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        HFValidationError,
        HTTPError,
        LocalEntryNotFoundError,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    uri = _uri(repo_id, revision, filename)
    cache = os.fspath(cache_dir) if cache_dir is not None else constants.HF_HUB_CACHE
    endpoint = constants.ENDPOINT
    if isinstance(exc, LocalEntryNotFoundError):
        if offline:
            return OfflineCacheMissError(
                f"{uri} is not in the Hugging Face cache ({cache}) and offline mode is on "
                "(HF_HUB_OFFLINE=1 or local_files_only=True): load it once online to cache it, "
                "or give the path of a local bundle folder"
            )
        cause = exc.__cause__
        if isinstance(cause, (HfHubHTTPError, HTTPError)):
            return _hub_error(cause, repo_id, revision, filename, cache_dir, offline)
        return HubConnectionError(
            f"{uri}: the Hub at {endpoint} gave no usable answer and the file is not cached in {cache} ({exc}); "
            "check the network, proxy and HF_ENDPOINT settings and try again"
        )
    if isinstance(exc, GatedRepoError):
        return HubNotFoundError(
            f"{uri}: repository {repo_id!r} is gated: accept its conditions on {endpoint}/{repo_id} "
            "and log in (`hf auth login` or HF_TOKEN)"
        )
    if isinstance(exc, RepositoryNotFoundError):
        return HubNotFoundError(
            f"{uri}: repository {repo_id!r} was not found on {endpoint}; check the name, or log in "
            "(`hf auth login` or HF_TOKEN) if it is private"
        )
    if isinstance(exc, RevisionNotFoundError):
        return HubNotFoundError(
            f"{uri}: revision {revision!r} does not exist in {repo_id!r}; give an existing branch, tag or "
            f"commit hash (the default is {_DEFAULT_REVISION!r})"
        )
    if isinstance(exc, RemoteEntryNotFoundError):
        return HubNotFoundError(
            f"{uri}: file {filename!r} does not exist in {repo_id!r} at revision {revision!r}; a bundle "
            f"repository holds {MANIFEST_NAME} and every file it lists, so this one is incomplete"
        )
    if isinstance(exc, HfHubHTTPError):
        status = exc.response.status_code
        if status >= 500 or status == 429:
            what = "rate limit (HTTP 429)" if status == 429 else f"server error {status}"
            return HubConnectionError(
                f"{uri}: the Hub at {endpoint} answered with {what} and the file is not cached; try again later"
            )
        return HubError(f"{uri}: the Hub at {endpoint} refused the download (HTTP {status}): {exc}")
    if isinstance(exc, HTTPError):
        return HubConnectionError(
            f"{uri}: could not download from {endpoint} ({type(exc).__name__}: {exc}); check the network, proxy "
            "and HF_ENDPOINT settings and try again, or set HF_HUB_OFFLINE=1 to use cached bundles only"
        )
    if isinstance(exc, HFValidationError):
        return HubError(f"{uri}: not a valid Hub repository id or revision ({exc})")
    if isinstance(exc, OSError) and exc.errno is None:  # not a file-system error: a bad transfer
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return HubConnectionError(
            f"{uri}: the download from {endpoint} was incomplete ({detail}); nothing was cached, try again"
        )
    if isinstance(exc, OSError):
        return HubError(
            f"{uri}: the download failed ({exc}); try again, and if it persists check the free space and "
            f"permissions of the cache folder {cache}"
        )
    return HubError(f"{uri}: the download failed ({type(exc).__name__}: {exc})")


def _discard(folder: Path, rel: str) -> None:
    """Delete a bad cached file so that no later load accepts it: the snapshot entry and its blob.

    The entry is a symlink to a blob (possibly through the shared blob store) where the cache
    supports symlinks, and a plain copy elsewhere (Windows without developer mode); in that case
    any blob of the repository with the same bytes is deleted too. A link is followed only into the
    folders :func:`~contrique_infer.paths.link_roots` allows: what a hostile server's answer made it
    point to outside them is never deleted.
    """
    entry = folder / rel
    if not os.path.lexists(entry):
        return
    if not entry.is_symlink():
        size, digest = entry.stat().st_size, sha256_file(entry)
        entry.unlink()
        blobs = folder.parent.parent / "blobs"
        if folder.parent.name == "snapshots" and blobs.is_dir():
            for blob in blobs.iterdir():
                if blob.is_file() and blob.stat().st_size == size and sha256_file(blob) == digest:
                    blob.unlink()
        return
    roots = tuple(root.resolve() for root in link_roots(folder))
    link = entry
    for _ in range(_MAX_LINKS):
        if not link.is_symlink():
            break
        target = Path(os.path.normpath(link.parent / os.readlink(link)))
        link.unlink()
        if not any(root in target.resolve().parents for root in roots):
            return
        link = target
    if link.is_file() and not link.is_symlink():
        link.unlink()
