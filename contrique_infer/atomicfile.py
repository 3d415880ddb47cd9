"""Writing a file so that a reader, or the next run after a crash or a full disk, finds either the old
file or the new one, never a part of the new one: the bytes go to a new temporary file beside it,
which then replaces it (``os.replace``, atomic on one file system). The new file keeps the permission
bits of the file it replaces (a private 0600 file stays private); a file that did not exist is created
as any new file is (the umask applies), unless :func:`replace_file` is given a ``mode``. The temporary
file is removed if writing or replacing fails."""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def stage(path: str | os.PathLike[str], write: Callable[[BinaryIO], object]) -> Path:
    """Write a new temporary file in ``path``'s folder with ``write(fh)``, for :func:`os.replace` onto ``path``.

    Args:
        path: The file the temporary one is for.
        write: Writes the contents to the binary file it is given.

    Returns:
        The temporary file's path.

    Raises:
        OSError: It cannot be written (nothing is left behind); whatever ``write`` raises, likewise.
    """
    path = Path(path)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(temporary, "xb") as fh:
            write(fh)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return temporary


def remove_staged(path: str | os.PathLike[str]) -> list[str]:
    """Remove the temporary files :func:`stage` left beside ``path`` for writers that were killed (SIGKILL,
    a power cut) before they replaced it; call it only where no other writer of ``path`` can be at work
    (its :class:`~contrique_infer.output.OutputLock` held).

    Returns:
        The names removed (none where the folder cannot be read).
    """
    path = Path(path)
    prefix = f".{path.name}."
    try:
        names = os.listdir(path.parent)
    except OSError:
        return []
    removed = []
    for name in sorted(names):
        middle = name[len(prefix):-len(".tmp")]
        if (name.startswith(prefix) and name.endswith(".tmp") and len(middle) == 8
                and all(c in "0123456789abcdef" for c in middle)):
            try:
                (path.parent / name).unlink()
            except OSError:  # gone already, or not ours to remove
                continue
            removed.append(name)
    return removed


def link_target(path: str | os.PathLike[str]) -> str:
    """The file to write in place of ``path`` so that a symbolic link stays one: the file the link
    points to (followed to the end, also one that does not exist yet), else ``path`` itself."""
    path = os.fspath(path)
    return os.path.realpath(path) if os.path.islink(path) else path


def replace_file(path: str | os.PathLike[str], data: bytes | Callable[[BinaryIO], object], *,
                 mode: int | None = None) -> Path:
    """Write ``path`` atomically: :func:`stage`, then replace it.

    Args:
        path: The file to write.
        data: Its contents, or a function that writes them to the binary file it is given.
        mode: The new file's permission bits (``0o640``: what :func:`os.chmod` takes); None: those of
            the file it replaces, or of any new file where there is none (the umask applies).

    Returns:
        ``path``.

    Raises:
        OSError: It cannot be written; ``path`` is then as it was, and no temporary file is left.
    """
    write = data if callable(data) else (lambda fh: fh.write(data))
    if mode is None:
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except OSError:  # a new file (or one that cannot be read: writing it says why)
            mode = None
    staged = stage(path, write)
    try:
        if mode is not None:
            os.chmod(staged, mode)
        os.replace(staged, path)
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    return Path(path)
