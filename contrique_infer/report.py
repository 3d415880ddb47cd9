"""An HTML report of scored images: thumbnails worst first, filters, a histogram, the failures.

``contrique-score photos/ -r --format html -o report.html`` writes it; from Python::

    from contrique_infer.report import ReportHeader, make_thumbnail, write_report

    results = scorer.iter_scores(paths, thumbnail=make_thumbnail)
    write_report("report.html", results, ReportHeader.for_scorer(scorer))

On disk a report is ``report.html`` and a sibling folder ``report_files/`` holding
``header.json`` (what the scores are made with: model, head, direction, ...; :class:`ReportHeader`),
``rows.jsonl`` (one result per line, written and flushed as each image is done: the result fields of
``contrique-score --format jsonl``, whose rows also repeat what header.json records) and
``thumbs/`` (one small JPEG per scored image, made from the image the scorer decoded). The
HTML is (re)written from every row of ``rows.jsonl`` when the report is closed, so a run killed
and resumed (``resume=True``, ``--resume``) gives a report that holds every image once.

The page needs no network (no CDN, fonts or external scripts; its Content-Security-Policy
refuses every connection and every script but its own). Its data is one JSON blob in a
``<script type="application/json">`` with ``<``, ``>`` and ``&`` escaped, and its script builds
the page with ``textContent``: a file name such as ``<img src=x onerror=alert(1)>.jpg`` is text.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import os
import re
import shutil
import urllib.parse
import uuid
from collections.abc import Iterable
from dataclasses import KW_ONLY, asdict, dataclass, fields
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from PIL import Image

from .atomicfile import link_target, replace_file
from .bundle import sha256_file
from .commands import printable
from .decoding import check_header, describe
from .errors import ContriqueError, ImageDecodeError, NonFiniteError, PathError
from .jsonfile import read_json
from .manifest import DIGEST_LENGTH
from .output import OutputLock
from .resume import resume as resume_rows
from .results import ScoreResult

if TYPE_CHECKING:
    from .decoding import ImageInput
    from .scorer import QualityScorer

THUMBNAIL_SIDE = 256
"""The longer side of a thumbnail, in pixels (smaller images are kept at their size)."""
THUMBNAIL_QUALITY = 80
"""The JPEG quality of thumbnails."""
HEADER_NAME = "header.json"
ROWS_NAME = "rows.jsonl"
THUMBS_NAME = "thumbs"


class ReportError(PathError):
    """A report cannot be written or resumed: ``path`` names the file or folder, ``reason`` says why."""


EARLIER_FIELDS: tuple[tuple[str, ...], ...] = (
    (),
    ("model", "variant", "head", "head_kind", "score_scale", "higher_is_better", "reference"),
)
"""What the csv and jsonl rows (and report headers) of earlier contrique-score versions record, oldest
first: nothing, then the fields before ``apply_exif``, ``bundle_digest`` and ``reference_digest``. Files of
those versions are refused by ``--resume`` as such (:meth:`ReportHeader.unrecorded`). (The fields up to
``bundle_digest``, without ``reference_digest``, were never released: such files are refused as not
contrique-score output.)"""
_DIGEST = re.compile(f"[0-9a-f]{{{DIGEST_LENGTH}}}")
_BOOLS = ("higher_is_better", "apply_exif")
_NULLABLE = ("reference", "reference_digest")
_THUMBNAIL = re.compile(r"[0-9a-f]{2}/[0-9a-f]{16}\.jpg")  # a thumbnail's name in its row, as ReportWriter.add makes it
_OPTIONS = ("--model", "--head", "--variant", "--fr", "--apply-exif")
"""The options of contrique-score that set the fields, as a refusal names them."""


@dataclass(frozen=True)
class ReportHeader:
    """What a report's scores come from: shown in its header, and checked when a report is resumed.

    The fields are those of ``contrique-score --format json`` beside ``results``, and the last
    columns of every csv and jsonl row, in this order.

    Attributes:
        model: The bundle's name.
        variant: The encoder variant (``fp32``, ``fp16``, ``int8``).
        head: The head's name.
        head_kind: ``nr`` (no-reference) or ``fr`` (full-reference).
        score_scale: What the scores measure, e.g. ``MOS, 0..100``.
        higher_is_better: False for DMOS heads: the worst images then have the highest scores.
        reference: The reference image of a full-reference run (its path as given; for a reference given
            as an image object, its description, ``<PIL image>``, ``<bytes 123>``...), else None.
        apply_exif: Whether images' EXIF orientation was applied before scoring (``--apply-exif``).
        bundle_digest: The identity of the bundle's content (:attr:`QualityScorer.bundle_digest
            <contrique_infer.scorer.QualityScorer.bundle_digest>`): the first 16 hex digits of the
            sha256 of its manifest's canonical JSON, ``json.dumps(manifest.to_dict(), sort_keys=True,
            separators=(",", ":"))`` as ASCII. The manifest lists the sha256 and size of every file
            (encoder variants, heads) and the input contract, so a bundle changed in place under the
            same name (new weights, heads, preprocessing, or any other manifest edit) has another
            digest; the same manifest gives the same digest wherever the bundle is (a folder, the
            Hub), however its file is laid out. Keyword-only, as are ``apply_exif`` and ``reference_digest``.
        reference_digest: The identity of the reference file's content, so that a reference replaced by
            another image at the same path is told apart: the first 16 hex digits of the sha256 of the
            file's bytes (read in 1 MiB chunks). None without a reference, and for a reference given as
            an image object rather than a path (there is no file to identify it by; its
            :attr:`reference` is a description).
    """

    model: str
    variant: str
    head: str
    head_kind: str
    score_scale: str
    higher_is_better: bool
    reference: str | None = None
    _: KW_ONLY
    apply_exif: bool
    bundle_digest: str
    reference_digest: str | None = None

    @classmethod
    def for_scorer(cls, scorer: QualityScorer, head: str | None = None,
                   reference: ImageInput | None = None) -> ReportHeader:
        """The header of scores from ``scorer`` with ``head`` (None: the head it scores with),
        against ``reference`` for a full-reference head.

        A ``reference`` path (``str`` or ``os.PathLike``) is recorded as given, with the digest of the
        file's content (:attr:`reference_digest`: the file is read through here, so build the header
        when the scores are made); another reference (bytes, a file object, a PIL image, an array) is
        recorded by its description, without a digest.

        Raises:
            HeadNotFoundError, HeadKindError: See :meth:`QualityScorer.resolve_head`.
            ImageDecodeError: The reference path cannot be read (missing, not a regular file, no
                permission), with the message scoring against it gives.
        """
        info = scorer.resolve_head(head, kind="nr" if reference is None else "fr")
        named, digest = None, None
        if isinstance(reference, (str, os.PathLike)):
            named, digest = os.fspath(reference), _reference_digest(reference)
        elif reference is not None:
            named = describe(reference)
        return cls(scorer.manifest.name, scorer.variant, info.name, info.kind, info.score_scale,
                   info.higher_is_better, named, apply_exif=scorer.apply_exif,
                   bundle_digest=scorer.bundle_digest, reference_digest=digest)

    @classmethod
    def from_dict(cls, data: Any, path: str = "<header>") -> ReportHeader:
        """The header held by ``data`` (parsed JSON).

        Raises:
            ReportError: ``data`` is not an object with exactly these fields and types.
        """
        problem = cls.problem(data)
        if problem:
            raise ReportError(path, f"is not a report header: {problem}")
        return cls(**data)

    @classmethod
    def problem(cls, data: Any) -> str | None:
        """Why ``data`` (parsed JSON) is not a header, in words, or None if it is one."""
        names = [f.name for f in fields(cls)]
        if not isinstance(data, dict) or sorted(data) != sorted(names):
            return f"expected an object with the fields {', '.join(names)}"
        for name in names:
            value = data[name]
            wanted = bool if name in _BOOLS else str
            if not (isinstance(value, wanted) or (name in _NULLABLE and value is None)):
                return f"field {name!r} must be {wanted.__name__}"
        for name in ("bundle_digest", "reference_digest"):
            if data[name] is not None and not _DIGEST.fullmatch(data[name]):
                return f"field {name!r} must be {DIGEST_LENGTH} lowercase hex digits"
        return None

    @classmethod
    def from_csv(cls, cells: Iterable[str]) -> dict[str, Any]:
        """The fields a csv row records, read back as they were written.

        An empty cell is None in a field that may be None (``reference``, ``reference_digest``: None is
        written as an empty cell) and the empty text in another (a bundle whose name is ``""``, which
        the manifest allows); ``True`` and ``False`` are bools in a bool field.

        Args:
            cells: The row's last cells, one per field, in field order.

        Returns:
            The fields by name; what is not what contrique-score writes stays text, for :meth:`problem` to refuse.
        """
        found: dict[str, Any] = {}
        for f, cell in zip(fields(cls), cells):
            if f.name in _NULLABLE and cell == "":
                found[f.name] = None
            elif f.name in _BOOLS:
                found[f.name] = {"True": True, "False": False}.get(cell, cell)
            else:
                found[f.name] = cell
        return found

    @classmethod
    def unrecorded(cls, recorded: Iterable[str]) -> list[str] | None:
        """The fields that an earlier contrique-score did not record, if ``recorded`` (field names, in
        order) is what its rows or headers held (:data:`EARLIER_FIELDS`); else None."""
        recorded = tuple(recorded)
        if recorded not in EARLIER_FIELDS:
            return None
        return [f.name for f in fields(cls) if f.name not in recorded]

    @staticmethod
    def same(name: str, recorded: Any, wanted: Any) -> bool:
        """Whether a recorded field ``name`` is ``wanted``; the ``--fr`` reference is the same file
        however spelt (``ref.png``, ``./ref.png``, absolute), relative paths taken from the current
        folder as a row's ``source`` is; a bool field must be a bool (``0`` or ``1.0`` is not one)."""
        if name == "reference" and isinstance(recorded, str) and isinstance(wanted, str):
            # the same spelling is the same file: no file-system lookups for the rows of a resumed file
            return recorded == wanted or os.path.realpath(recorded) == os.path.realpath(wanted)
        if isinstance(wanted, bool):  # strictly: 0, 0.0 and 1 equal False and True in Python
            return recorded is wanted
        return bool(recorded == wanted)

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-ready data."""
        return asdict(self)

    def describe(self) -> str:
        """The model, variant, head and reference in words, for messages."""
        against = f" against {self.reference}" if self.reference else ""
        return f"model {self.model!r} ({self.variant}), head {self.head!r}{against}"

    def recorded_by(self, found: dict[str, Any]) -> bool:
        """Whether ``found`` (a result row's fields, parsed) records every field as this header's (:meth:`same`)."""
        return all(name in found and self.same(name, found[name], value) for name, value in self.to_dict().items())

    def differing(self, earlier: ReportHeader) -> list[str]:
        """The fields whose values in ``earlier`` are not this header's (:meth:`same`)."""
        return [f.name for f in fields(self) if not self.same(f.name, getattr(earlier, f.name), getattr(self, f.name))]

    def refusal(self, earlier: ReportHeader, otherwise: str) -> str:
        """Why scores made with this header cannot be added to those of ``earlier``: each field that
        differs, and what to do (``otherwise``: the way out besides resuming with the same settings)."""
        names = self.differing(earlier)
        changes = "; ".join(f"{name} {getattr(earlier, name)!r} there, {getattr(self, name)!r} now" for name in names)
        in_place = []  # what was changed since under the same name: (what, its option, the sentence saying so)
        if "bundle_digest" in names and self.model == earlier.model:
            in_place.append(("bundle", "--model",
                             f"bundle {self.model!r} was changed since (its manifest or files differ)"))
        if "reference_digest" in names and "reference" not in names and self.reference is not None:
            in_place.append(("reference", "--fr",
                             f"reference {self.reference!r} was changed since (the file's content differs)"))
        kept = [option for option in _OPTIONS if option not in {c[1] for c in in_place}]
        same = f"the same {', '.join(kept[:-1])} and {kept[-1]}"
        advice = f"resume with {same}"
        if in_place:
            what = " and the ".join(c[0] for c in in_place)
            was = "it was" if len(in_place) == 1 else "they were"
            advice = f"{', and '.join(c[2] for c in in_place)}: resume with the {what} as {was} and {same}"
        return f"holds scores made with other settings ({changes}); {advice}, or {otherwise}"


def make_thumbnail(rgb: Image.Image, side: int = THUMBNAIL_SIDE) -> bytes:
    """A JPEG of ``rgb`` whose longer side is at most ``side`` pixels (the hook that
    :meth:`QualityScorer.iter_scores` takes as ``thumbnail``; ``rgb`` is not changed).

    Args:
        rgb: A decoded RGB image.
        side: The longest side of the thumbnail.

    Returns:
        The JPEG file's bytes (quality :data:`THUMBNAIL_QUALITY`).
    """
    w, h = rgb.size
    scale = min(1.0, side / max(w, h))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = rgb if size == rgb.size else rgb.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    buffer = io.BytesIO()
    small.save(buffer, "JPEG", quality=THUMBNAIL_QUALITY)
    return buffer.getvalue()


def report_page(path: str | os.PathLike[str]) -> Path:
    """The page that report ``path`` is written to: ``path``, or for a symbolic link the file it points
    to (:func:`~contrique_infer.atomicfile.link_target`: the link stays, as a csv or jsonl ``-o`` link does).

    Raises:
        ReportError: ``path`` names no file (``''``, ``.``, ``dir/..``).
    """
    name = Path(path).name
    if not name or name in (".", ".."):
        raise ReportError(os.fspath(path) or "''", "is not a file name; give the report's file, e.g. report.html")
    return Path(link_target(path))


def files_folder(path: str | os.PathLike[str]) -> Path:
    """The folder beside report ``path``'s page (:func:`report_page`) that holds its rows and thumbnails
    (``report.html`` -> ``report_files``).

    Raises:
        ReportError: ``path`` names no file (``''``, ``.``, ``dir/..``).
    """
    page = report_page(path)
    return page.with_name(page.stem + "_files")


class ReportWriter:
    """Writes a report as results come: each result's thumbnail and row at once, the HTML on :meth:`close`.

    Args:
        path: The HTML file to write (its folder must exist); a symbolic link is followed
            (:func:`report_page`).
        header: What the scores come from.
        resume: Keep the rows of an earlier run of the same report (rows with an error are
            dropped, so that those images are tried again; a half-written last row is cut off);
            :attr:`done` then names the images that already have a score. Without ``resume``,
            an earlier report's rows and thumbnails are removed.

    Attributes:
        path: The page written (:func:`report_page` of ``path``).
        folder: The folder beside it (:func:`files_folder`).
        done: The sources that the report already holds a score for (empty unless resuming).

    Raises:
        ReportError: ``path`` names no file; the folder beside it cannot be made, holds something other than a
            report, or (resuming) holds the scores of another model, head, variant or reference.
        OutputFileError: Resuming, its ``rows.jsonl`` holds something other than result rows; or
            another run is writing the report (:class:`~contrique_infer.output.OutputLock`).
    """

    def __init__(self, path: str | os.PathLike[str], header: ReportHeader, *, resume: bool = False) -> None:
        self.folder = files_folder(path)
        self.path = report_page(path)
        self.header = header
        header_file = self.folder / HEADER_NAME
        rows_file = self.folder / ROWS_NAME
        self.done: frozenset[str] = frozenset()
        self._lock: OutputLock | None = None
        try:
            if os.path.exists(self.path) and not os.path.isfile(self.path):
                raise ReportError(self.path, "exists and is not a regular file (a device, a pipe or a folder); the "
                                             "report is written as a new file that replaces it: choose another name")
            if self.folder.exists() and not header_file.is_file() and _non_empty(self.folder):
                raise ReportError(self.folder, "exists and is not the folder of a contrique-score report; "
                                               "move it away or choose another report name")
            other = _other_page(self.path)
            if other is not None:
                raise ReportError(self.path, f"would share its folder {self.folder.name} with the report {other} (a "
                                             "report's folder is named after its page's name without the extension), "
                                             f"whose thumbnails and rows it would replace: choose a name other than "
                                             f"{self.path.stem}.*, or remove {other.name} and its folder first")
            resuming = resume and header_file.is_file()
            if resuming:  # checked before anything is made or changed: a refused resume leaves the folder as it was
                earlier = _read_header(header_file)
                if header.differing(earlier):
                    raise ReportError(header_file, header.refusal(earlier, "write the report afresh without --resume"))
            self.folder.mkdir(exist_ok=True)
            self._lock = OutputLock(rows_file)  # a second run writing this report is refused here
            if resuming:
                self.done = resume_rows(str(rows_file), "jsonl").done
                self._lock.follow()  # the rows may be a new file now, without the failed ones
            else:
                rows_file.write_bytes(b"")  # the same file (the lock is on it), emptied
                shutil.rmtree(self.folder / THUMBS_NAME, ignore_errors=True)
            (self.folder / THUMBS_NAME).mkdir(exist_ok=True)
            replace_file(header_file, (json.dumps(header.to_dict(), indent=2) + "\n").encode())
            self._rows: IO[str] | None = open(rows_file, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        except OSError as exc:
            self._release()
            raise ReportError(self.folder, f"cannot be written ({exc.strerror or exc})") from exc
        except ContriqueError:
            self._release()
            raise

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()

    def add(self, result: ScoreResult) -> None:
        """Write ``result``'s thumbnail (if it has one) and its row. A score that is not finite (NaN or
        infinity, in a result made by hand: the scorer gives those a :class:`NonFiniteError`) is
        written as that error's row, so the page lists it with the failures and ``--resume`` retries it.

        Raises:
            ReportError: The report's folder cannot be written (a full disk); the rows written
                so far stay, and the report can be resumed.
        """
        if self._rows is None:
            raise ValueError("this report is closed")
        if result.score is not None and not math.isfinite(result.score):  # as the scorer reports one
            result = ScoreResult.failed(NonFiniteError(result.source, f"the score {result.score} is not a finite "
                                                                       "number, so the image has no score"))
        row: dict[str, Any] = {**result.to_dict(), "thumbnail": None}
        try:
            if result.thumbnail is not None:
                name = uuid.uuid4().hex[:16]
                row["thumbnail"] = f"{name[:2]}/{name}.jpg"
                target = self.folder / THUMBS_NAME / name[:2] / f"{name}.jpg"
                target.parent.mkdir(exist_ok=True)
                target.write_bytes(result.thumbnail)
            self._rows.write(json.dumps(row) + "\n")
            self._rows.flush()
        except OSError as exc:
            raise self._unwritable(exc) from exc

    def _unwritable(self, exc: OSError) -> ReportError:
        """The error of a thumbnail or row that cannot be written (``exc``): the rows written so far stay."""
        return ReportError(self.folder, f"cannot be written ({exc.strerror or exc}); free some space and resume")

    def close(self) -> Path:
        """Write the HTML from every row the report holds (also those of resumed runs); returns its path.

        Raises:
            ReportError: The rows cannot be closed (a full disk: the last rows are lost, and the report can
                be resumed), or the HTML cannot be written.
        """
        try:
            if self._rows is not None:
                rows, self._rows = self._rows, None
                try:
                    rows.close()  # closed even where its last flush fails
                except OSError as exc:
                    raise self._unwritable(exc) from exc
            with open(self.folder / ROWS_NAME, encoding="utf-8") as fh:
                document = _document(self.header, self.folder, (json.loads(line) for line in fh))
            replace_file(self.path, render_html(document).encode())
        except OSError as exc:
            raise ReportError(self.path, f"cannot be written ({exc.strerror or exc})") from exc
        finally:
            self._release()
        return self.path

    def __enter__(self) -> ReportWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        """:meth:`close`; where the ``with`` block raised, its exception is the one that comes out
        (a full disk that stopped a row also stops the page: its first error says what to do)."""
        try:
            self.close()
        except ReportError:
            if exc_type is None:
                raise


def write_report(path: str | os.PathLike[str], results: Iterable[ScoreResult], header: ReportHeader, *,
                 resume: bool = False) -> Path:
    """Write the HTML report of ``results`` (and its ``_files`` folder) to ``path``.

    Results with a ``thumbnail`` (``iter_scores(..., thumbnail=make_thumbnail)``) show it; the
    others show their score without a picture.

    Args:
        path: The HTML file.
        results: The results, e.g. :meth:`QualityScorer.iter_scores` (consumed once, as a stream).
        header: What the scores come from (:meth:`ReportHeader.for_scorer`).
        resume: Add to the report's earlier rows instead of starting afresh (see :class:`ReportWriter`);
            skip the results whose source is in :attr:`ReportWriter.done` yourself, or they appear twice.

    Returns:
        The page written, as a :class:`~pathlib.Path`: ``path``, or the file it links to (:func:`report_page`).

    Raises:
        ReportError: See :class:`ReportWriter`.
    """
    with ReportWriter(path, header, resume=resume) as writer:
        for result in results:
            writer.add(result)
    return writer.path


def render_html(document: dict[str, Any]) -> str:
    """The report page for ``document`` (see :func:`_document`): the template with the data
    embedded as escaped JSON."""
    data = json.dumps(document, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    # Inside <script> nothing may close the element or open a comment: escape <, > and & as JSON does.
    data = data.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    page, csp = _template()
    return page.replace("__CSP__", csp, 1).replace("__DATA__", data, 1)


# --- internals ----------------------------------------------------------------------------------


@cache
def _template() -> tuple[str, str]:
    """The page template and its Content-Security-Policy (hashes of its own style and script)."""
    page = resources.files(__package__).joinpath("report_template.html").read_text(encoding="utf-8")
    hashes = {}
    for tag in ("style", "script"):
        (body,) = re.findall(rf"<{tag}>(.*?)</{tag}>", page, flags=re.S)  # the one without a type attribute
        digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode("ascii")
        hashes[tag] = f"'sha256-{digest}'"
    csp = (f"default-src 'none'; script-src {hashes['script']}; style-src {hashes['style']}; "
           "img-src 'self' file: data:; base-uri 'none'; form-action 'none'")
    return page, csp


def _document(header: ReportHeader, folder: Path, rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """What the page shows: the header, the scored rows and the failures, with links relative to the page.

    Names, errors and the header's text are shown :func:`~contrique_infer.commands.printable`, as
    ``--format table`` shows them: a right-to-left override or a zero-width space in a name is seen
    (``\\u202e``), not obeyed; the links are made from the names as they are."""
    from . import __version__

    base = folder.parent.resolve()
    scored, failed = [], []
    for row in rows:
        source, score = row["source"], row["score"]
        href, shown = _href(source, base), printable(source)
        if score is not None:
            thumbnail = row.get("thumbnail")
            if not (isinstance(thumbnail, str) and _THUMBNAIL.fullmatch(thumbnail)
                    and (folder / THUMBS_NAME / thumbnail).is_file()):
                thumbnail = None  # removed, or not one the report made (a row edited by hand): "no preview"
            scored.append([shown, score, row["width"], row["height"], thumbnail, href, row.get("note")])
        else:
            failed.append([shown, row["error_type"], printable(row["error"] or ""), href])
    info = {
        **{name: printable(value) if isinstance(value, str) else value for name, value in header.to_dict().items()},
        "written": datetime.now().astimezone().isoformat(timespec="seconds"),
        "generator": f"contrique-infer {__version__}",
        "thumb_base": f"{urllib.parse.quote(os.fsencode(folder.name))}/{THUMBS_NAME}/",  # as _href: any name
        "thumbnail_side": THUMBNAIL_SIDE,
    }
    return {"header": info, "rows": scored, "failed": failed}


def _href(source: str, base: Path) -> str | None:
    """A link from the page's folder ``base`` to the file ``source`` (percent-encoded from the name's
    bytes), or None if ``source`` is not a file (``<bytes 12>``, a missing file)."""
    if not os.path.isfile(source):
        return None
    target = os.path.abspath(source)
    try:
        relative = os.path.relpath(target, base)
    except ValueError:  # another drive (Windows)
        return Path(target).as_uri()
    return urllib.parse.quote(os.fsencode(relative.replace(os.sep, "/")))


def _read_header(path: Path) -> ReportHeader:
    """The header of a report being resumed.

    Raises:
        ReportError: It cannot be read, is not a header, or is the header of an earlier contrique-score
            (which does not record every field).
    """
    try:
        data = read_json(path, ReportError)
    except ReportError as exc:
        raise ReportError(path, f"{exc.reason} (a report header); write the report afresh without --resume") from None
    missing = ReportHeader.unrecorded(data) if isinstance(data, dict) and data else None
    if missing:
        raise ReportError(path, f"was written by an earlier contrique-score, whose report header does not record what "
                                f"its scores were made with ({', '.join(missing)}); write the report afresh without "
                                "--resume, or resume it with the contrique-score version that wrote it")
    return ReportHeader.from_dict(data, str(path))


def _reference_digest(path: str | os.PathLike[str]) -> str:
    """:attr:`ReportHeader.reference_digest` of the reference file ``path``, read in chunks.

    Raises:
        ImageDecodeError: It cannot be read: the error scoring against it gives (the decoder says why).
    """
    try:
        return sha256_file(path)[:DIGEST_LENGTH]
    except (OSError, ValueError) as exc:  # ValueError: a NUL character in the path
        check_header(path, max_pixels=None)  # raises the decoder's own error for a file it cannot open
        raise ImageDecodeError(os.fspath(path), f"cannot be read ({getattr(exc, 'strerror', None) or exc})") from exc


def _other_page(page: Path) -> Path | None:
    """Another report page beside ``page`` whose folder is ``page``'s (``r.htm`` beside ``r.html``: both
    ``r_files``), or None. Only contrique-score's pages count (they begin as its template does); a link to
    ``page`` is ``page``."""
    opening = _template()[0].split("__CSP__", 1)[0].encode()
    try:
        with os.scandir(page.parent) as entries:
            names = [e.name for e in entries if e.name != page.name and Path(e.name).stem == page.stem]
    except OSError:
        return None
    for name in sorted(names):
        other = page.parent / name
        try:
            if other.is_file() and not (page.exists() and os.path.samefile(other, page)):
                with open(other, "rb") as fh:
                    if fh.read(len(opening)) == opening:
                        return other
        except OSError:
            continue
    return None


def _non_empty(folder: Path) -> bool:
    try:
        with os.scandir(folder) as entries:
            return next(entries, None) is not None
    except OSError:
        return True
