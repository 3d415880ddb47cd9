"""Rebuild one of the two independent benchmark photo sets from Debian bookworm packages.

The quality benchmark's own photos are the validation photos (``../shared/photos/val``), which the
default model was chosen on. Two further sets check it on photos no model was selected on:

- ``second``: 14 wallpaper photos (``lomiri-wallpapers-16.04`` and ``-20.04``; ``/work/extra/bench2``
  on the development machine);
- ``third``: 19 photos from seven other packages (camera photos of ``forensics-samples-files``,
  backgrounds of ``zoph``, demo images of ``kodi-data``, ``python-kivy-examples`` and
  ``psychtoolbox-3-common``, test images of two Go imaging libraries; ``/work/extra/set3c``).

They live outside the repository because of their licences: each photo is under its package's
licence (CC-BY, CC-BY-SA, CC0, GPL-2+, Expat; the ``license`` column of the manifest), and this
project ships no photos, so only the manifests are in it:
``photo_sets/second.tsv`` and ``photo_sets/third.tsv`` next to this script, one row per photo (tab
separated; columns ``file``, ``package``, ``version``, ``path_in_package``, ``sha256``,
``width_x_height``, ``license``).

This script downloads each package at the manifest's version (``apt-get download``, no root
needed; Debian's archive must be in the apt sources), extracts the photos from it
(``dpkg-deb --fsys-tarfile``, no root needed), checks each one's SHA-256 against the manifest and
writes it to ``--out`` under its ``file`` name. Photos already there with the right hash are
skipped, so a rerun costs nothing; ``--debs DIR`` keeps the packages (and reuses those already
there) instead of downloading them into a temporary folder.

The quality benchmark then runs on the folder::

    python benchmarks/bench_quality.py --photos DIR --no-brisque --bundle ...

Usage:
    python benchmarks/photo_sets.py {second,third} --out DIR [--debs DIR]

stdout: one line per photo in DIR and verified (file, size in bytes, licence; tab separated).
Progress and errors go to stderr. Exit code 0 when every photo is there and verified, 1 when any
failed (the others are still written), 2 for usage errors.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from contrique_infer.bundle import sha256_file

HERE = Path(__file__).resolve().parent
MANIFESTS = {"second": HERE / "photo_sets" / "second.tsv", "third": HERE / "photo_sets" / "third.tsv"}
COLUMNS = ("file", "package", "version", "path_in_package", "sha256", "width_x_height", "license")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_SIZE = re.compile(r"[1-9][0-9]*x[1-9][0-9]*")
_CHUNK = 1 << 20

Download = Callable[[str, str, Path], None]
"""Fetch the .deb of (package, version) into a folder; raises :class:`PhotoSetError` when it cannot."""


class PhotoSetError(Exception):
    """A manifest that cannot be read, or a package that cannot be had."""


@dataclass(frozen=True)
class Photo:
    """One row of a photo set's manifest.

    Attributes:
        file: Its file name in the output folder (a plain name, no folder).
        package: The Debian package holding it.
        version: The package's version (with its epoch, if any: ``2:20.1+dfsg-1``).
        path_in_package: Where the package installs it (absolute: ``/usr/share/...``).
        sha256: The SHA-256 of its bytes (64 lowercase hex digits).
        width_x_height: Its size in pixels (``4352x2448``).
        license: Its licence (an SPDX-like name).
    """

    file: str
    package: str
    version: str
    path_in_package: str
    sha256: str
    width_x_height: str
    license: str

    def __post_init__(self) -> None:
        """Check every field.

        Raises:
            ValueError: A field is empty or malformed (the message says which and how).
        """
        for name in COLUMNS:
            if not getattr(self, name).strip():
                raise ValueError(f"{name} is empty")
        if "/" in self.file or "\\" in self.file or self.file in (".", "..") or self.file.startswith("."):
            raise ValueError(f"file {self.file!r} is not a plain, visible file name")
        if not self.path_in_package.startswith("/") or ".." in self.path_in_package.split("/"):
            raise ValueError(f"path_in_package {self.path_in_package!r} is not an absolute path in the package")
        if not _SHA256.fullmatch(self.sha256):
            raise ValueError(f"sha256 {self.sha256!r} is not 64 lowercase hex digits")
        if not _SIZE.fullmatch(self.width_x_height):
            raise ValueError(f"width_x_height {self.width_x_height!r} is not WIDTHxHEIGHT")

    @classmethod
    def from_dict(cls, row: Mapping[str, str | None]) -> Photo:
        """A photo from a manifest row (a mapping of :data:`COLUMNS` to strings).

        Raises:
            ValueError: A column is missing or a value is malformed.
        """
        missing = [name for name in COLUMNS if row.get(name) is None]
        if missing:
            raise ValueError(f"missing column(s) {', '.join(missing)}")
        return cls(**{name: str(row[name]).strip() for name in COLUMNS})

    @property
    def member(self) -> str:
        """Its name in the package's data archive (``usr/share/...``, without the leading ``./``)."""
        return self.path_in_package.lstrip("/")

    @property
    def where(self) -> str:
        """``file (package=version)``, for messages."""
        return f"{self.file} ({self.package}={self.version})"


@dataclass(frozen=True)
class Outcome:
    """What became of one photo.

    Attributes:
        photo: The photo.
        ok: Whether it is in the output folder with the manifest's hash.
        size: Its size in bytes when ``ok``.
        reason: Why it failed (empty when ``ok``).
    """

    photo: Photo
    ok: bool
    size: int = 0
    reason: str = ""


def read_manifest(path: Path) -> list[Photo]:
    """The photos of a manifest (tab-separated, header :data:`COLUMNS`), in its order.

    Args:
        path: The manifest.

    Returns:
        One photo per row.

    Raises:
        PhotoSetError: The file cannot be read, its header is not :data:`COLUMNS`, a row is
            malformed or a file name is repeated (the message names the line).
    """
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
            if tuple(reader.fieldnames or ()) != COLUMNS:
                raise PhotoSetError(f"{path}: the header is {reader.fieldnames}, not {list(COLUMNS)}")
            photos: list[Photo] = []
            seen: set[str] = set()
            for row in reader:
                try:
                    photo = Photo.from_dict(row)
                except ValueError as exc:
                    raise PhotoSetError(f"{path}, line {reader.line_num}: {exc}") from None
                if photo.file in seen:
                    raise PhotoSetError(f"{path}, line {reader.line_num}: file {photo.file} is listed twice")
                seen.add(photo.file)
                photos.append(photo)
    except OSError as exc:
        raise PhotoSetError(f"cannot read the manifest {path}: {exc}") from None
    return photos


def find_deb(debs: Path, package: str, version: str) -> Path | None:
    """The .deb of (package, version) in ``debs``, named as ``apt-get download`` names it, or None.

    ``apt-get download`` writes ``<package>_<version>_<arch>.deb`` with the epoch's colon written
    ``%3a``; a colon is accepted too.
    """
    for spelling in dict.fromkeys((version.replace(":", "%3a"), version)):
        found = sorted(debs.glob(f"{glob_escape(package)}_{glob_escape(spelling)}_*.deb"))
        if found:
            return found[0]
    return None


def glob_escape(text: str) -> str:
    """``text`` with the characters that ``Path.glob`` treats specially made literal."""
    return re.sub(r"([*?\[])", r"[\1]", text)


def apt_download(package: str, version: str, folder: Path) -> None:
    """Download the .deb of ``package=version`` into ``folder`` with ``apt-get download`` (no root needed).

    Args:
        package: The package name.
        version: Its exact version.
        folder: Where to write it.

    Raises:
        PhotoSetError: apt-get is missing or failed (its last error line is in the message).
    """
    command = ["apt-get", "download", f"{package}={version}"]
    try:
        done = subprocess.run(command, cwd=folder, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise PhotoSetError(f"cannot run apt-get ({exc}): this needs Debian's apt; or put the .deb "
                            f"in --debs DIR yourself") from None
    if done.returncode != 0:
        lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        last = lines[-1] if lines else "no output"
        raise PhotoSetError(f"{' '.join(command)} failed (exit {done.returncode}: {last}); "
                            f"is Debian bookworm in the apt sources and 'apt-get update' run? or put the .deb "
                            f"in --debs DIR yourself")


def extract(deb: Path, photos: Sequence[Photo], out: Path, log: Callable[[str], None]) -> list[Outcome]:
    """Extract ``photos`` from ``deb`` into ``out``, each checked against its SHA-256.

    The data archive is read as a stream (``dpkg-deb --fsys-tarfile``, no root needed) and stops
    once every photo is found. A photo is written to a temporary name and renamed only when its
    hash matches, so a failed photo leaves nothing under its name.

    Args:
        deb: The package file.
        photos: Photos of that package.
        out: The output folder (exists).
        log: Where progress lines go.

    Returns:
        One outcome per photo, in the order of ``photos``.
    """
    wanted = {photo.member: photo for photo in photos}
    results: dict[str, Outcome] = {}
    with tempfile.TemporaryFile() as dpkg_stderr:
        try:
            process = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE,
                                       stderr=dpkg_stderr)
        except OSError as exc:
            reason = f"cannot run dpkg-deb ({exc}): this needs Debian's dpkg-deb (apt-get install dpkg)"
            return [Outcome(photo, False, reason=reason) for photo in photos]
        assert process.stdout is not None
        archive_error = ""
        try:
            with tarfile.open(fileobj=process.stdout, mode="r|") as archive:
                for info in archive:
                    photo = wanted.get(_member_name(info.name))
                    if photo is None or photo.file in results:
                        continue
                    results[photo.file] = _write_member(archive, info, photo, out, log)
                    if len(results) == len(wanted):
                        break  # the rest is not needed: dpkg-deb ends on the closed pipe
        except (tarfile.TarError, EOFError, OSError) as exc:
            archive_error = f"cannot read the data archive of {deb.name} ({exc})"
            while process.stdout.read(_CHUNK):  # let dpkg-deb finish, so that its exit code is its own
                pass
        finally:
            process.stdout.close()
            returncode = process.wait()
        if len(results) < len(wanted) and returncode != 0:
            dpkg_stderr.seek(0)
            message = [line for line in dpkg_stderr.read().decode(errors="replace").splitlines() if line.strip()]
            archive_error = (f"dpkg-deb --fsys-tarfile {deb.name} failed (exit {returncode}"
                             + (f": {message[-1].strip()})" if message else ")"))
    outcomes = []
    for photo in photos:
        if photo.file in results:
            outcomes.append(results[photo.file])
        else:
            reason = archive_error or f"missing member: {photo.path_in_package} is not in {deb.name}"
            outcomes.append(Outcome(photo, False, reason=reason))
    return outcomes


def _member_name(name: str) -> str:
    """A data-archive member's name without its leading ``./`` or ``/``."""
    while name.startswith(("./", "/")):
        name = name[2:] if name.startswith("./") else name[1:]
    return name


def _write_member(archive: tarfile.TarFile, info: tarfile.TarInfo, photo: Photo, out: Path,
                  log: Callable[[str], None]) -> Outcome:
    """Write one archive member to ``out/photo.file`` if its SHA-256 is the manifest's."""
    if not info.isfile():
        kind = f"a link to {info.linkname}" if info.issym() or info.islnk() else "not a regular file"
        return Outcome(photo, False, reason=f"{photo.path_in_package} is {kind} in the package, not the photo")
    source = archive.extractfile(info)
    if source is None:
        return Outcome(photo, False, reason=f"{photo.path_in_package} cannot be read from the package")
    part = out / f".{photo.file}.part"
    digest = hashlib.sha256()
    try:
        with part.open("wb") as target:
            while chunk := source.read(_CHUNK):
                digest.update(chunk)
                target.write(chunk)
        got = digest.hexdigest()
        if got != photo.sha256:
            return Outcome(photo, False, reason=f"sha256 mismatch: the package's {photo.path_in_package} has {got}, "
                                                f"the manifest says {photo.sha256}; not written (another build of "
                                                f"the package? check the .deb, or correct the manifest)")
        os.replace(part, out / photo.file)
    except OSError as exc:
        return Outcome(photo, False, reason=f"cannot write {out / photo.file} ({exc})")
    finally:
        part.unlink(missing_ok=True)
    log(f"  wrote {photo.file} ({info.size} bytes, sha256 verified)")
    return Outcome(photo, True, size=info.size)


def fetch_set(photos: Sequence[Photo], out: Path, debs: Path, download: Download | None = None,
              log: Callable[[str], None] | None = None) -> list[Outcome]:
    """Put every photo of a set into ``out``, verified, fetching the packages that are missing.

    Photos already in ``out`` with the manifest's hash are kept as they are; a package is looked
    for in ``debs`` first (:func:`find_deb`) and only downloaded when it is not there.

    Args:
        photos: The set's photos (:func:`read_manifest`).
        out: The output folder (made if missing).
        debs: Where the .deb files are, and where missing ones are downloaded to.
        download: Fetches one package into ``debs`` (default :func:`apt_download`; tests pass their own).
        log: Where progress lines go (default: stderr).

    Returns:
        One outcome per photo, in the order of ``photos``.

    Raises:
        OSError: ``out`` cannot be made.
    """
    log = log or _stderr
    download = download or apt_download
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, Outcome] = {}
    needed: dict[tuple[str, str], list[Photo]] = {}
    for photo in photos:
        path = out / photo.file
        if path.is_file() and sha256_file(path) == photo.sha256:
            log(f"  {photo.file} already there (sha256 verified), skipped")
            results[photo.file] = Outcome(photo, True, size=path.stat().st_size)
        else:
            if path.exists():
                log(f"  {photo.file} is there with another sha256: extracting it again")
            needed.setdefault((photo.package, photo.version), []).append(photo)
    for (package, version), group in needed.items():
        for outcome in _fetch_package(package, version, group, out, debs, download, log):
            results[outcome.photo.file] = outcome
    return [results[photo.file] for photo in photos]


def _fetch_package(package: str, version: str, group: Sequence[Photo], out: Path, debs: Path,
                   download: Download, log: Callable[[str], None]) -> list[Outcome]:
    """The photos of one package: find or download its .deb, then :func:`extract` them."""
    deb = find_deb(debs, package, version)
    if deb is None:
        log(f"{package}={version}: downloading into {debs}")
        try:
            download(package, version, debs)
        except PhotoSetError as exc:
            return [Outcome(photo, False, reason=str(exc)) for photo in group]
        deb = find_deb(debs, package, version)
        if deb is None:
            reason = f"no {package}_{version.replace(':', '%3a')}_*.deb in {debs} after the download"
            return [Outcome(photo, False, reason=reason) for photo in group]
    log(f"{package}={version}: extracting {len(group)} photo(s) from {deb}")
    return extract(deb, group, out, log)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def report(outcomes: Iterable[Outcome], name: str, out: Path) -> int:
    """Print the verified photos to stdout and the failures and a summary to stderr.

    Args:
        outcomes: What :func:`fetch_set` returned.
        name: The set's name.
        out: The output folder.

    Returns:
        The exit code: 0 when every photo is verified, else 1.
    """
    done = list(outcomes)
    failed = [outcome for outcome in done if not outcome.ok]
    for outcome in done:
        if outcome.ok:
            print(f"{outcome.photo.file}\t{outcome.size}\t{outcome.photo.license}")
    for outcome in failed:
        _stderr(f"error: {outcome.photo.where}: {outcome.reason}")
    _stderr(f"{name}: {len(done) - len(failed)} of {len(done)} photos in {out}, verified"
            + (f"; {len(failed)} failed (see the errors above)" if failed else ""))
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """Rebuild a photo set (the command line of the module docstring).

    Args:
        argv: The arguments (default: ``sys.argv[1:]``).

    Returns:
        The exit code: 0 all verified, 1 any photo failed or the manifest is unreadable, 2 usage errors.
    """
    parser = argparse.ArgumentParser(prog="photo_sets.py", description=__doc__.splitlines()[0])
    parser.add_argument("set", choices=sorted(MANIFESTS), help="which photo set")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the photos to (made if missing)")
    parser.add_argument("--debs", type=Path, default=None,
                        help="folder of .deb files: used where present, missing ones downloaded into it "
                             "(default: a temporary folder, deleted afterwards)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 after --help
        return exc.code if isinstance(exc.code, int) else 2
    if args.out.exists() and not args.out.is_dir():
        parser.print_usage(sys.stderr)
        _stderr(f"error: --out {args.out} exists and is not a folder")
        return 2
    if args.debs is not None and not args.debs.is_dir():
        parser.print_usage(sys.stderr)
        _stderr(f"error: --debs {args.debs} is not a folder: make it, or leave --debs out to download into a "
                f"temporary folder")
        return 2
    try:
        photos = read_manifest(MANIFESTS[args.set])
    except PhotoSetError as exc:
        _stderr(f"error: {exc}")
        return 1
    _stderr(f"{args.set}: {len(photos)} photos from {len({p.package for p in photos})} package(s) into {args.out}")
    try:
        if args.debs is not None:
            return report(fetch_set(photos, args.out, args.debs), args.set, args.out)
        with tempfile.TemporaryDirectory(prefix="photo-sets-debs-") as tmp:
            return report(fetch_set(photos, args.out, Path(tmp)), args.set, args.out)
    except OSError as exc:
        _stderr(f"error: {exc} (can --out {args.out} be written to?)")
        return 1


if __name__ == "__main__":
    sys.exit(main())
