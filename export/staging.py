"""The staging folder every export is built in, and its publication as a bundle.

An export (:func:`contrique_export.exporter.export_bundle`, :func:`contrique_export.variants.derive_variants`)
refuses a non-empty output folder before doing any work (:func:`check_output`), builds the bundle
in a fresh folder next to it (:func:`staging_folder`, removed if anything fails), and ends with
:func:`publish`: the model card and the final manifest are written, every variant is loaded once
more, and the folder is moved into place. :class:`Steps` reports the steps on stderr.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

from contrique_infer.bundle import file_table, load_bundle
from contrique_infer.manifest import Manifest

from .card import write_card
from .errors import ExportError


class Steps:
    """Reports named steps and their durations on stderr."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def note(self, message: str) -> None:
        if self.enabled:
            print(f"contrique-export: {message}", file=sys.stderr, flush=True)

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        self.note(f"{what} ...")
        start = time.perf_counter()
        yield
        self.note(f"{what}: done in {time.perf_counter() - start:.1f} s")


def check_output(out: Path) -> None:
    """Refuse an output that exists and is not an empty folder (before any work is done).

    Raises:
        ExportError: ``out`` exists and is not an empty folder.
    """
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ExportError(f"{out}: exists and is not an empty folder; choose a new output folder or remove it")


@contextmanager
def staging_folder(out: Path) -> Iterator[Path]:
    """A fresh folder next to ``out`` (checked with :func:`check_output`) to build the bundle in,
    removed if the block fails."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def publish(staging: Path, out: Path, manifest: Manifest, *, image_sets: dict[str, str], notes: str, log: Steps) -> Path:
    """Write the card and the final manifest, load every variant once more, and move ``staging`` to ``out``.

    Raises:
        BundleError: The final bundle does not load (a bug: please report it).
    """
    card = write_card(manifest, staging, image_sets=image_sets, notes=notes)
    manifest = dataclasses.replace(manifest, files=file_table(staging, [*manifest.files, card.name]))
    manifest.save(staging)
    with log.step("verifying the final manifest"):
        for variant in manifest.variants:
            load_bundle(staging, variant=variant)
    staging.chmod(0o755)  # mkdtemp creates it private; a bundle is meant to be shared
    if out.exists():
        out.rmdir()
    os.replace(staging, out)
    log.note(f"bundle written to {out} ({', '.join(manifest.variants)}; {len(manifest.heads)} heads)")
    return out


def package_version() -> str:
    """This package's version, or ``unknown`` when it is not installed."""
    try:
        return metadata.version("contrique-infer")
    except metadata.PackageNotFoundError:
        return "unknown"
