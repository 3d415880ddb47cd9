"""The staging folder every export is built in, and its publication as a bundle.

An export (:func:`contrique_export.exporter.export_bundle`, :func:`contrique_export.variants.derive_variants`)
refuses an unusable output before doing any work (:func:`check_output`: a non-empty folder, a file,
a symbolic link, a name ending in ``.`` or ``..``), builds the bundle in a fresh folder next to it
(:func:`staging_folder`, created before the work too, and removed if anything fails or the export
is interrupted), and ends with :func:`publish`: the model card and the final manifest are written,
every variant is loaded once more, and the folder is moved into place. :class:`Steps` reports the
steps on stderr.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

from contrique_infer.bundle import file_table, load_bundle
from contrique_infer.commands import printable, say
from contrique_infer.entry_points import EXPORT_PROG as PROG
from contrique_infer.manifest import Manifest, name_problem
from contrique_infer.paths import new_or_empty

from .card import write_card
from .errors import ExportError, OptionError


class Steps:
    """Reports named steps and their durations on stderr."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def note(self, message: str) -> None:
        """Print ``contrique-export: MESSAGE`` on stderr where enabled, best-effort (``commands.say``)."""
        if self.enabled:
            say(printable(f"{PROG}: {message}"))

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        self.note(f"{what} ...")
        start = time.perf_counter()
        yield
        self.note(f"{what}: done in {time.perf_counter() - start:.1f} s")


def check_output(out: Path) -> None:
    """Refuse an output that cannot become the bundle folder (before any work is done).

    A symbolic link is refused rather than followed (the bundle would replace the folder it points
    to, or land wherever a dangling one points), and so is a name ending in ``.`` or ``..`` (the
    current or parent folder cannot be replaced): name the folder itself.

    Raises:
        ExportError: ``out`` is a symbolic link, ends in ``.`` or ``..``, exists and is not an empty folder,
            or cannot be examined (e.g. its name is longer than the file system allows).
    """
    if out.name in ("", ".."):  # pathlib reads ".", "", "/" and "a/." without a last "." ("a/." is "a")
        raise ExportError(f"{out}: is the current, the parent or the root folder, which the bundle cannot replace; "
                          "name a new folder, e.g. ./bundle")
    try:  # a name longer than the file system allows fails here (File name too long)
        link = out.is_symlink()
        usable = link or new_or_empty(out)
    except OSError as exc:
        raise ExportError(f"{out}: cannot be examined ({exc.strerror or exc}); choose another output folder") from None
    if link:
        raise ExportError(f"{out}: is a symbolic link; name the folder itself ({os.path.realpath(out)}) or a new one")
    if not usable:
        raise ExportError(f"{out}: exists and is not an empty folder; choose a new output folder or remove it")


def check_bundle_name(name: str | None) -> None:
    """Refuse a bundle name the manifest cannot hold (:func:`contrique_infer.manifest.name_problem`), before any
    work is done; None or empty (the default name) passes.

    Raises:
        OptionError: ``name`` is longer than a manifest's ``name`` may be.
    """
    problem = name_problem(name) if name else None
    if problem is not None:
        raise OptionError(f"bundle name {problem}; choose a shorter --name")


@contextmanager
def staging_folder(out: Path) -> Iterator[Path]:
    """A fresh folder next to ``out`` (checked with :func:`check_output`) to build the bundle in,
    removed if the block fails or is interrupted (Ctrl-C, or SIGTERM under ``contrique-export``),
    with the missing parent folders of ``out`` it created.

    Raises:
        ExportError: The folder cannot be created next to ``out``.
    """
    created = [folder for folder in out.parents if not folder.exists()]
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    except OSError as exc:
        _remove_empty(created)
        raise ExportError(f"{out}: cannot create a folder next to it ({exc.strerror or exc}); choose an output "
                          "folder in a place you can write to") from None
    _note_left_staging(out, staging)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        _remove_empty(created)
        raise


def _note_left_staging(out: Path, ours: Path) -> None:
    """Say which staging folders of earlier exports to ``out`` lie beside it: left by exports that were
    killed (SIGKILL, a power cut), or another export to ``out`` at work now, which only its user can tell,
    so they are named, not removed."""
    try:
        left = sorted(entry.name for entry in os.scandir(out.parent)
                      if entry.name.startswith(f".{out.name}.partial-") and entry.name != ours.name)
    except OSError:
        return
    if left:
        say(printable(f"{PROG}: note: {', '.join(left)} beside {out}: the staging folder(s) of an earlier "
                      "export to it that was killed (or of one still running); remove them once no export to it "
                      "runs"))


def _remove_empty(folders: list[Path]) -> None:
    """Remove those of ``folders`` (deepest first) that exist and are empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # gone already, or holds something that is not ours
            pass


def publish(staging: Path, out: Path, manifest: Manifest, *, image_sets: dict[str, str], notes: str, log: Steps) -> Path:
    """Write the card and the final manifest, load every variant once more, and move ``staging`` to ``out``.

    Raises:
        BundleError: The final bundle does not load (a bug: please report it).
        ExportError: ``staging`` cannot be moved to ``out`` (it changed during the export: a file
            was put in it, or it was replaced); ``out`` is left as it is.
    """
    card = write_card(manifest, staging, image_sets=image_sets, notes=notes)
    manifest = dataclasses.replace(manifest, files=file_table(staging, [*manifest.files, card.name]))
    manifest.save(staging)
    with log.step("verifying the final manifest"):
        for variant in manifest.variants:
            load_bundle(staging, variant=variant)
    staging.chmod(0o755)  # mkdtemp creates it private; a bundle is meant to be shared
    try:
        if out.exists():
            out.rmdir()  # only an empty folder: one that gained a file is left as it is
        os.replace(staging, out)
    except OSError as exc:
        raise ExportError(f"{out}: cannot move the finished bundle there ({exc.strerror or exc}); it changed during "
                          "the export (is another program writing to it?); nothing was written: choose a new output "
                          "folder") from None
    log.note(f"bundle written to {out} ({', '.join(manifest.variants)}; {len(manifest.heads)} heads)")
    return out


def package_version() -> str:
    """This package's version, or ``unknown`` when it is not installed."""
    try:
        return metadata.version("contrique-infer")
    except metadata.PackageNotFoundError:
        return "unknown"
