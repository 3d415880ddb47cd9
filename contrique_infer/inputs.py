"""Finding the images to score: file extensions, folder scans and command-line inputs.

The project's one image listing: ``contrique-score`` expands its files, folders and glob
patterns here, ``contrique-export --calibration/--parity-images`` and the training package list
their photo folders here. Folders are walked depth-first with each folder's entries in name
order (so a tree lists in the order of its sorted paths), lazily: a tree of millions of files
starts scoring at once and is never held in memory.
"""

from __future__ import annotations

import fnmatch
import os
import re
import urllib.parse
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import LinkLoopError, NoMatchError, ScanError

IMAGE_EXTENSIONS = frozenset({
    ".avif", ".bmp", ".dib", ".gif", ".j2k", ".jfif", ".jp2", ".jpe", ".jpeg", ".jpg", ".jpx", ".pbm", ".pgm",
    ".png", ".pnm", ".ppm", ".tga", ".tif", ".tiff", ".webp",
})
"""File extensions that folder scans pick up (case-insensitive)."""

_GLOB_CHARS = re.compile(r"[*?\[]")


def is_url(text: str) -> bool:
    """Whether ``text`` is written as a URL (``scheme://...``) of another scheme than ``file:``, which
    names no local file."""
    return _URL.match(text) is not None and file_url_path(text) is None


def file_url_path(text: str) -> str | None:
    """The local path that a ``file:`` URL names (``file:/p/a.png``, as Spark's ``binaryFile`` source and
    ``input_file_name()`` write paths; ``file:///p/a.png``; ``file://localhost/p/a.png``), its
    percent-escapes decoded as ``os.fsdecode`` would the bytes; None if ``text`` is no such URL."""
    found = _FILE_URL.match(text)
    return None if found is None else urllib.parse.unquote(found.group(1), errors="surrogateescape")


def misspelt_path_hint(path: str) -> str:
    """Why a path that names nothing may have been meant otherwise, as the end of its error: a ``file:``
    URL, a ``~`` left unexpanded, white space around a path that exists (the new line of a line read
    from a file), or an option's name taken as an image (after ``--``); "" if none."""
    local = file_url_path(path)
    if local is not None:
        return f" (a file: URL, as Spark writes paths; files are opened by their path: pass {local!r})"
    if path.startswith("~"):
        return " (~ is not expanded to the home folder here: pass os.path.expanduser(path))"
    stripped = path.strip()
    if stripped != path and stripped and os.path.exists(stripped):
        return (f" (it begins or ends with white space, such as the new line of a line read from a file, and "
                f"{stripped!r} exists: strip the paths)")
    if path.startswith("--") and len(path) > 2:
        return " (an option's name? on the command line every argument after -- is an image: put options before --)"
    return ""


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_FILE_URL = re.compile(r"file:(?://(?:localhost)?(?=/)|(?!//))(/.*)", re.IGNORECASE | re.DOTALL)  # not file://host/


def is_image_name(name: str) -> bool:
    """Whether a file name has one of the :data:`IMAGE_EXTENSIONS` (case-insensitive)."""
    return os.path.splitext(name)[1].lower() in IMAGE_EXTENSIONS


def iter_images(folder: str | os.PathLike[str], *, recursive: bool = False,
                skip: str | os.PathLike[str] | None = None) -> Iterator[str | ScanError]:
    """The image files in ``folder``, in name order; with ``recursive`` also those in its subfolders.

    A folder that cannot be read, or a symbolic link that leads back to a folder being walked,
    is yielded as a :class:`ScanError` (not raised), and the walk goes on with the rest. A folder met
    again through another path (folder links that lead to one folder) is walked once, where it is met
    first: two links to a folder in each of 30 nested folders would list its images 2**30 times. The
    walk keeps its own stack, so a tree of any depth is walked (a path too long to open is a
    :class:`ScanError`).

    Args:
        folder: The folder to walk.
        recursive: Descend into subfolders (each in place, in name order).
        skip: A folder left out of the walk, by identity (what it holds is no input: a report's
            own files, say); ignored if it does not exist.

    Yields:
        File paths (``str``, as ``os.path.join`` builds them) and scan problems.
    """
    yield from _walk(os.fspath(folder), recursive, _identity(skip))


_LOOP = "symbolic link loop: the directory contains itself; skipped"
"""The reason of the :class:`LinkLoopError` of a folder link that leads back to a folder being walked
(every file under it is met through the folder itself)."""


def _identity(folder: str | os.PathLike[str] | None) -> tuple[int, int] | None:
    """``(device, inode)`` of ``folder`` (symbolic links followed), or None if there is none."""
    try:
        st = os.stat(folder) if folder is not None else None
    except (OSError, ValueError):
        return None
    return None if st is None else (st.st_dev, st.st_ino)


def _walk(top: str, recursive: bool, skip: tuple[int, int] | None) -> Iterator[str | ScanError]:
    """:func:`iter_images` of ``top``: depth first, in name order, with a stack of the folders being walked."""
    stack: list[tuple[tuple[int, int], Iterator[os.DirEntry[str]]]] = []  # (identity, entries left) of each
    walked: set[tuple[int, int]] = set()
    problem = _enter(top, stack, walked, skip)
    if problem is not None:
        yield problem
    while stack:
        entry = next(stack[-1][1], None)
        if entry is None:
            stack.pop()
            continue
        try:
            is_dir = entry.is_dir()
        except OSError:  # e.g. a symbolic link to itself: treat it as a file, decoding reports it
            is_dir = False
        if is_dir:
            if recursive:
                problem = _enter(entry.path, stack, walked, skip)
                if problem is not None:
                    yield problem
        elif is_image_name(entry.name):
            yield entry.path


def _enter(path: str, stack: list[tuple[tuple[int, int], Iterator[os.DirEntry[str]]]],
           walked: set[tuple[int, int]], skip: tuple[int, int] | None) -> ScanError | None:
    """Put the folder ``path``'s entries, in name order, on top of the walk's ``stack``, unless it is
    ``skip`` or was ``walked`` already; returns why it cannot be (unreadable, or a link back to a folder
    on the stack), else None."""
    try:
        st = os.stat(path)
        identity = (st.st_dev, st.st_ino)
        if identity == skip:
            return None
        if any(identity == held for held, _ in stack):
            return LinkLoopError(path, _LOOP)
        if identity in walked:
            return None
        with os.scandir(path) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        return ScanError(path, f"cannot read directory ({exc.strerror or exc})")
    walked.add(identity)
    stack.append((identity, iter(entries)))
    return None


def list_images(folder: str | os.PathLike[str], *, recursive: bool = True) -> list[Path]:
    """Every image file in ``folder`` (and, by default, below it), in sorted path order, each once: a
    name that leads to a file listed already (a symbolic or hard link to it, or a path through a
    folder link) is left out, so that a photo set never holds one photo twice; a folder link that
    leads back to a folder above it is passed over (what it holds is listed already).

    Args:
        folder: A folder of images (photos may sit in subfolders).
        recursive: Include subfolders.

    Returns:
        The image files; never empty.

    Raises:
        ScanError: ``folder`` is not a folder, a folder in it cannot be read, or it holds no
            image files.
    """
    if not os.path.isdir(folder):
        raise ScanError(folder, "is not a folder; pass a folder of images")
    files = []
    seen: set[tuple[int, int]] = set()
    for item in iter_images(folder, recursive=recursive):
        if isinstance(item, LinkLoopError):
            continue
        if isinstance(item, ScanError):
            raise item
        identity = _identity(item)  # None for a name that leads nowhere: kept, for its reader to refuse
        if identity in seen:
            continue
        if identity is not None:
            seen.add(identity)
        files.append(Path(item))
    if not files:
        where = "in it or below it" if recursive else "in it"
        raise ScanError(folder, f"holds no image files {where} (looked for {', '.join(sorted(IMAGE_EXTENSIONS))})")
    return files


def lists(inputs: Iterable[str], path: str, *, recursive: bool = False) -> bool:
    """Whether :func:`expand_inputs` would list ``path``, an existing file, among ``inputs``.

    Decided from the path's name and place, without scanning folders or expanding patterns: the
    same file as a file argument, an image file name in a folder argument (or below it, with
    ``recursive``), or a match of a glob pattern (where ``*`` may also cross folders: erring on
    the side of yes). A path that does not exist yet is judged by its name and place the same way
    (an output file that a scan would meet once written). An existing file with another name (a
    symbolic link to it, or a hard link) is looked for among the inputs themselves, by identity:
    the one case that expands the inputs.
    """
    try:
        target: os.stat_result | None = os.stat(path)
    except (OSError, ValueError):
        target = None
    if target is not None and (os.path.islink(path) or target.st_nlink > 1):
        return any(isinstance(item, str) and _same_file(item, target)
                   for item in expand_inputs(inputs, recursive=recursive))
    real = os.path.realpath(path)
    parent = os.path.dirname(real)
    for arg in inputs:
        if os.path.isdir(arg):
            folder = os.path.realpath(arg)
            if (is_image_name(path) or is_image_name(real)) and (
                    parent == folder or (recursive and parent.startswith(folder + os.sep))):
                return True
        elif os.path.lexists(arg) or not _GLOB_CHARS.search(arg):
            try:
                same = _same_file(arg, target) if target is not None else os.path.realpath(arg) == real
            except ValueError:  # a NUL character in the name
                same = False
            if same:
                return True
        elif any(fnmatch.fnmatchcase(name, os.path.abspath(arg)) or fnmatch.fnmatchcase(name, arg)
                 for name in (os.path.abspath(path), real)):
            return True
    return False


def _same_file(path: str, target: os.stat_result) -> bool:
    try:
        return os.path.samestat(os.stat(path), target)
    except (OSError, ValueError):
        return False


def expand_inputs(inputs: Iterable[str], *, recursive: bool = False,
                  skip: str | os.PathLike[str] | None = None) -> Iterator[str | ScanError]:
    """Command-line inputs as the files to score, lazily and in order.

    A folder gives its image files (subfolders too with ``recursive``); a glob pattern its
    matching files (``**`` matches any depth; the folders it matches are not scanned); any other
    input is kept as it is, whether it exists or not (scoring reports a missing file). A folder
    without image files and a pattern that matches no file give a :class:`NoMatchError` (which
    names the folders the pattern matched, if any); an unreadable folder a :class:`ScanError`.

    Args:
        inputs: Files, folders and glob patterns.
        recursive: Scan folders recursively.
        skip: A folder that folder scans and glob patterns leave out (see :func:`iter_images`).

    Yields:
        Paths to score, and the scan problems in their place.
    """
    skipped = os.path.realpath(skip) + os.sep if skip is not None else None
    for arg in inputs:
        if os.path.isdir(arg):
            found = False
            for item in iter_images(arg, recursive=recursive, skip=skip):
                found = True
                yield item
            if not found:
                hint = "" if recursive else " (add --recursive to scan subdirectories)"
                yield NoMatchError(arg, f"no image files in this directory{hint}")
        elif os.path.lexists(arg) or not _GLOB_CHARS.search(arg):
            yield arg
        else:
            found, folders, loops = [], [], []
            for item in _glob(arg):
                if isinstance(item, ScanError):
                    loops.append(item)
                elif os.path.isdir(item):
                    folders.append(item)
                elif not (skipped and os.path.realpath(item).startswith(skipped)):
                    found.append(item)
            yield from sorted(set(found)) or [NoMatchError(arg, _no_match(arg, folders))]
            yield from loops


def _no_match(pattern: str, folders: list[str]) -> str:
    """Why glob ``pattern`` gives no file: it matches nothing, or only ``folders``, which a pattern does not scan."""
    if not folders:
        return "no files match this pattern"
    shown = ", ".join(sorted(set(folders))[:3]) + (", ..." if len(set(folders)) > 3 else "")
    return (f"no files match this pattern, only folders ({shown}), and a pattern's folders are not scanned: give "
            f"the folders themselves (with --recursive for their subfolders), or a pattern of their files such as "
            f"'{pattern.rstrip(os.sep)}{os.sep}*'")


def _glob(pattern: str) -> Iterator[str | ScanError]:
    """The paths ``glob.glob(pattern, recursive=True)`` gives, except through a symbolic link loop.

    ``**`` (a whole path component) matches any depth of folders, as in :mod:`glob`, but never
    descends into a folder it is already inside: a link back to a parent is yielded as a
    :class:`ScanError` and skipped, where :mod:`glob` follows it until the path is too long (one
    loop lists every file 40 times, two loops 2**40 times). Wildcards skip names that start with
    ``.`` unless the component does; a folder that cannot be read matches nothing. Paths may repeat
    when a pattern has ``**`` twice.
    """
    root = os.sep if pattern.startswith(os.sep) else ""
    parts = [part for part in pattern.split(os.sep) if part]
    yield from _glob_in(root, parts, frozenset())


def _glob_in(folder: str, parts: list[str], ancestors: frozenset[tuple[int, int]]) -> Iterator[str | ScanError]:
    """The paths below ``folder`` ('' for the working folder) that ``parts`` match (see :func:`_glob`)."""
    part, rest = parts[0], parts[1:]
    if part == "**":
        yield from _glob_deep(folder, rest, _with(ancestors, _identity(folder or os.curdir)))
    elif not _GLOB_CHARS.search(part):
        path = os.path.join(folder, part)
        if not rest:
            if os.path.lexists(path):
                yield path
        elif os.path.isdir(path):
            yield from _glob_in(path, rest, ancestors)
    else:
        for name, is_dir in _entries(folder):
            if (name.startswith(".") and not part.startswith(".")) or not fnmatch.fnmatchcase(name, part):
                continue
            if not rest:
                yield os.path.join(folder, name)
            elif is_dir:
                yield from _glob_in(os.path.join(folder, name), rest, ancestors)


def _glob_deep(folder: str, rest: list[str], inner: frozenset[tuple[int, int]]) -> Iterator[str | ScanError]:
    """``**`` at ``folder``: ``rest`` matched in it and in each folder below it, depth first with a stack
    (a tree of any depth), loops skipped (``inner``: the identities of ``folder`` and the folders it is
    inside), and a folder met again through another path (folder links) descended into once."""
    if rest:
        yield from _glob_in(folder, rest, inner)
    stack = [(folder, iter(_entries(folder)), inner)]
    walked: set[tuple[int, int]] = set()
    while stack:
        parent, entries, identities = stack[-1]
        item = next(entries, None)
        if item is None:
            stack.pop()
            continue
        name, is_dir = item
        if name.startswith("."):
            continue
        path = os.path.join(parent, name)
        if not rest:
            yield path
        if not is_dir:
            continue
        identity = _identity(path)
        if identity in identities:
            yield LinkLoopError(path, _LOOP)
            continue
        if identity is not None:
            if identity in walked:
                continue
            walked.add(identity)
        deeper = _with(identities, identity)
        if rest:
            yield from _glob_in(path, rest, deeper)
        stack.append((path, iter(_entries(path)), deeper))


def _with(identities: frozenset[tuple[int, int]], identity: tuple[int, int] | None) -> frozenset[tuple[int, int]]:
    """``identities`` and ``identity`` (one that could not be read adds nothing)."""
    return identities if identity is None else identities | {identity}


def _entries(folder: str) -> list[tuple[str, bool]]:
    """``(name, is a folder)`` of each entry of ``folder`` ('' for the working folder), in name order (so that
    of two paths to one folder the first in name order is the one walked), none if unreadable."""
    try:
        with os.scandir(folder or os.curdir) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return []
    listed = []
    for entry in entries:
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        listed.append((entry.name, is_dir))
    return listed
