"""Readers for IQA datasets in the file layouts their authors publish, plus a generic CSV.

Every reader takes the dataset's root folder (the generic reader: the CSV file) and returns a
:class:`Dataset`: the image paths, the human scores, the content id of each image (its reference
image, for synthetic datasets; None for authentic ones), and the score convention. Readers check
that every image exists and raise :class:`~.errors.DatasetFileError` naming the missing file and
the layout expected. The layouts are listed in ``docs/evaluation.md`` and in :data:`DATASETS`.
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DatasetFileError, DatasetFormatError

SCORE_KINDS = ("MOS", "DMOS")
DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
"""A score as label files write it: a decimal number, with an optional exponent (not ``1_5``, ``inf``, ``0x1p3``)."""
MAX_SCORE = 1e12
"""The largest score magnitude read (opinion scores are small numbers; the statistics square and sum them)."""


@dataclass(frozen=True)
class Item:
    """One image of a dataset: its path, human score and content id (None when unknown)."""

    path: Path
    score: float
    content_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "score": self.score, "content_id": self.content_id}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Item:
        return cls(Path(data["path"]), float(data["score"]), data.get("content_id"))


@dataclass(frozen=True)
class Dataset:
    """A labelled image set.

    ``score_kind`` is the authors' name for the score (MOS or DMOS); ``higher_is_better`` says its
    direction (KADID-10k calls its scores DMOS but higher is better). ``scale`` describes the range,
    and goes into the ``score_scale`` of heads fitted on the dataset.
    """

    name: str
    items: tuple[Item, ...]
    score_kind: str
    higher_is_better: bool
    scale: str
    root: Path
    notes: str = ""

    def __post_init__(self) -> None:
        if self.score_kind not in SCORE_KINDS:
            raise DatasetFormatError(self.root, f"score_kind must be one of {SCORE_KINDS}, got {self.score_kind!r}")
        if not self.items:
            raise DatasetFormatError(self.root, f"dataset {self.name!r} has no items")
        bad = [it for it in self.items if not math.isfinite(it.score)]
        if bad:
            raise DatasetFormatError(self.root, f"{len(bad)} items have non-finite scores, e.g. {bad[0].path}")

    def __len__(self) -> int:
        return len(self.items)

    @property
    def paths(self) -> list[Path]:
        return [it.path for it in self.items]

    @property
    def scores(self) -> np.ndarray:
        return np.array([it.score for it in self.items], dtype=np.float64)

    @property
    def content_ids(self) -> list[str] | None:
        """The content ids, or None when the dataset has none (each image is then its own content)."""
        if all(it.content_id is None for it in self.items):
            return None
        return [it.content_id if it.content_id is not None else str(it.path) for it in self.items]

    def summary(self) -> dict[str, Any]:
        """The dataset's metadata and size, without the items (for reports)."""
        ids = self.content_ids
        return {
            "name": self.name,
            "root": str(self.root),
            "items": len(self.items),
            "contents": None if ids is None else len(set(ids)),
            "score_kind": self.score_kind,
            "higher_is_better": self.higher_is_better,
            "scale": self.scale,
            "score_range": [float(self.scores.min()), float(self.scores.max())],
            "notes": self.notes,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "root": str(self.root),
            "score_kind": self.score_kind,
            "higher_is_better": self.higher_is_better,
            "scale": self.scale,
            "notes": self.notes,
            "items": [it.to_dict() for it in self.items],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Dataset:
        return cls(
            name=str(data["name"]),
            items=tuple(Item.from_dict(d) for d in data["items"]),
            score_kind=str(data["score_kind"]),
            higher_is_better=bool(data["higher_is_better"]),
            scale=str(data["scale"]),
            root=Path(data["root"]),
            notes=str(data.get("notes", "")),
        )


# --- helpers ------------------------------------------------------------------------------------


class _Layout:
    """Finds a dataset's files, raising errors that name the file and the published layout."""

    def __init__(self, name: str, root: str | os.PathLike[str], layout: str) -> None:
        self.name, self.root, self.layout = name, Path(root), layout
        if not self.root.is_dir():
            raise DatasetFileError(self.root, f"{name} root folder not found; expected layout: {layout}")

    def missing(self, path: Path, what: str) -> DatasetFileError:
        return DatasetFileError(path, f"{what} not found; the {self.name} layout is: {self.layout}")

    def file(self, *candidates: str) -> Path:
        """The first candidate (relative to the root) that exists."""
        for rel in candidates:
            if (self.root / rel).is_file():
                return self.root / rel
        raise self.missing(self.root / candidates[0], f"{self.name} label file")

    def folder(self, rel: str) -> _ImageFolder:
        path = self.root / rel
        if not path.is_dir():
            raise self.missing(path, f"{self.name} image folder")
        return _ImageFolder(path, self)


class _ImageFolder:
    """Resolves image names inside one folder (exactly, else case-insensitively) and collects the missing."""

    def __init__(self, folder: Path, layout: _Layout) -> None:
        self.folder, self.layout = folder, layout
        self._lower: dict[str, str] | None = None
        self.absent: list[str] = []

    def __call__(self, name: str) -> Path:
        path = self.folder / name
        if path.is_file():
            return path
        if self._lower is None:
            self._lower = {}
            for dirpath, _, files in os.walk(self.folder):
                for f in files:
                    rel = os.path.relpath(os.path.join(dirpath, f), self.folder).replace(os.sep, "/")
                    self._lower.setdefault(rel.lower(), rel)
        found = self._lower.get(name.replace(os.sep, "/").lower())
        if found is None:
            self.absent.append("an empty path" if not name.strip() else f"{name} (a folder)" if path.is_dir() else name)
            return path
        return self.folder / found

    def check(self) -> None:
        """Raise if any image looked up was missing."""
        if self.absent:
            shown = ", ".join(self.absent[:5]) + (", ..." if len(self.absent) > 5 else "")
            raise DatasetFileError(
                self.folder,
                f"{len(self.absent)} {self.layout.name} images listed in the labels are missing from this folder, or "
                f"are no files ({shown}); the {self.layout.name} layout is: {self.layout.layout}",
            )


def _read_csv(path: Path, needed: Iterable[str]) -> tuple[list[str], list[dict[str, str]]]:
    """The header and rows of a CSV file whose header holds the ``needed`` columns."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = list(reader.fieldnames or [])
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetFormatError(path, f"cannot be read as CSV ({exc})") from exc
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:  # DictReader would keep the last column of a name and drop the others without a word
        raise DatasetFormatError(path, f"the header names column(s) {', '.join(map(repr, repeated))} more than "
                                       "once; give each column its own name")
    absent = [c for c in needed if c not in header]
    if absent:
        raise DatasetFormatError(path, f"missing column(s) {absent}; the header is {header}")
    for number, row in enumerate(rows, 2):
        # Values past the header's columns (DictReader keeps them under None; a trailing comma is no value).
        extra = any(v.strip() for v in row.get(None) or ())  # type: ignore[call-overload]
        if extra or None in row.values():  # or fewer values than columns
            raise DatasetFormatError(path, f"row {number} has {'more' if extra else 'fewer'} values than the "
                                           f"header's {len(header)} columns ({', '.join(header)}); fix the row")
    return header, rows


def _read_lines(path: Path) -> list[str]:
    """The lines of a text label file (TID2013's, CSIQ's), which must be UTF-8 (a byte-order mark is skipped).

    Raises:
        DatasetFormatError: The file cannot be read, or is not UTF-8 text.
    """
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise DatasetFormatError(path, f"is not UTF-8 text ({exc}); save it as UTF-8 (the published file is ASCII)") \
            from None
    except OSError as exc:
        raise DatasetFormatError(path, f"cannot be read ({exc.strerror or exc})") from exc


def _number(path: Path, where: str, value: Any) -> float:
    if isinstance(value, str) and not DECIMAL.fullmatch(value.strip()):  # float() takes 1_5 as 15
        raise DatasetFormatError(path, f"{where}: {value!r} is not a number; write each score as a decimal "
                                       "number such as 3.5 or 1e-2")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise DatasetFormatError(path, f"{where}: {value!r} is not a number") from None
    if not math.isfinite(out):
        raise DatasetFormatError(path, f"{where}: score {value!r} is not finite")
    if abs(out) > MAX_SCORE:  # squares and sums of such scores overflow to infinity in the statistics
        raise DatasetFormatError(path, f"{where}: score {value!r} is beyond +-{MAX_SCORE:g}; rescale the scores")
    return out


def _loadmat(path: Path, key: str) -> np.ndarray:
    from scipy.io import loadmat

    try:
        data = loadmat(path)
    except (OSError, ValueError, TypeError, NotImplementedError) as exc:
        raise DatasetFormatError(path, f"cannot be read as a MATLAB file ({exc})") from exc
    if key not in data:
        found = sorted(k for k in data if not k.startswith("__"))
        raise DatasetFormatError(path, f"has no variable {key!r} (variables: {found})")
    return data[key]


def _mat_strings(value: np.ndarray) -> list[str]:
    """The strings of a MATLAB cell array or char matrix, as loaded by scipy.io.loadmat."""
    if value.dtype.kind == "U":
        return [str(s).strip() for s in value.ravel()]
    out = []
    for element in value.ravel():
        while isinstance(element, np.ndarray):
            element = element.ravel()[0] if element.size else ""
        out.append(str(element).strip())
    return out


def _mat_numbers(path: Path, value: np.ndarray) -> np.ndarray:
    try:
        return np.asarray(value, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise DatasetFormatError(path, "expected a numeric array") from None


# --- readers ------------------------------------------------------------------------------------

KONIQ_LAYOUT = (
    "koniq10k_scores_and_distributions.csv (columns image_name, MOS, MOS_zscore, ...) and 1024x768/<image_name>"
)


def read_koniq(root: str | os.PathLike[str]) -> Dataset:
    """KonIQ-10k: the CSV of scores and the 1024x768 images.

    Scores are ``MOS_zscore`` (about 0..100, the scale of the official Koniq head) when the column
    exists, else ``MOS`` (1..5). Authentic images: no content ids.
    """
    layout = _Layout("KonIQ-10k", root, KONIQ_LAYOUT)
    path = layout.file("koniq10k_scores_and_distributions.csv")
    header, rows = _read_csv(path, ["image_name"])
    column = "MOS_zscore" if "MOS_zscore" in header else "MOS"
    if column not in header:
        raise DatasetFormatError(path, f"missing column 'MOS_zscore' or 'MOS'; the header is {header}")
    images = layout.folder("1024x768")
    items = tuple(
        Item(images(r["image_name"]), _number(path, f"row {i + 2}", r[column])) for i, r in enumerate(rows)
    )
    images.check()
    scale = "MOS z-score, about 0..100" if column == "MOS_zscore" else "MOS, 1..5"
    return Dataset("KonIQ-10k", items, "MOS", True, scale, layout.root, f"scores from column {column}")


SPAQ_LAYOUT = (
    "Annotations/MOS and Image attribute scores.xlsx (or at the root; columns 'Image name', 'MOS') "
    "and TestImage/<Image name>"
)


def read_spaq(root: str | os.PathLike[str]) -> Dataset:
    """SPAQ: the XLSX of MOS and attribute scores and the TestImage folder (full-size photos, used as is)."""
    layout = _Layout("SPAQ", root, SPAQ_LAYOUT)
    name = "MOS and Image attribute scores.xlsx"
    path = layout.file(f"Annotations/{name}", name)
    rows = _read_xlsx(path, ["Image name", "MOS"])
    images = layout.folder("TestImage")
    items = tuple(
        Item(images(str(r["Image name"])), _number(path, f"row of {r['Image name']}", r["MOS"])) for r in rows
    )
    images.check()
    return Dataset("SPAQ", items, "MOS", True, "MOS, 0..100", layout.root, "images used at full size")


def _read_xlsx(path: Path, needed: list[str], sheet: str | None = None) -> list[dict[str, Any]]:
    """Rows of an XLSX sheet as dicts, the header being the first row holding every needed column."""
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many unrelated types for a bad file
        raise DatasetFormatError(path, f"cannot be read as an XLSX workbook ({exc})") from exc
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise DatasetFormatError(path, f"has no sheet {sheet!r} (sheets: {book.sheetnames})")
        rows = list((book[sheet] if sheet is not None else book.worksheets[0]).iter_rows(values_only=True))
    finally:
        book.close()
    for i, row in enumerate(rows):
        cells = [str(c).strip() if c is not None else "" for c in row]
        if all(n in cells for n in needed):
            out = []
            for data in rows[i + 1 :]:
                record = {cells[j]: v for j, v in enumerate(data) if j < len(cells) and cells[j]}
                if all(record.get(n) is None for n in needed):
                    continue  # blank line
                out.append(record)
            return out
    raise DatasetFormatError(path, f"no header row with the columns {needed}")


CLIVE_LAYOUT = "Data/AllImages_release.mat, Data/AllMOS_release.mat and Images/<name> (trainingImages/ for the first 7)"


def read_clive(root: str | os.PathLike[str]) -> Dataset:
    """LIVE In the Wild Image Quality Challenge (CLIVE).

    The first 7 entries of the release are the challenge's training images (``Images/trainingImages``);
    as in the paper and most published code, they are excluded, leaving 1162 images.
    """
    layout = _Layout("CLIVE", root, CLIVE_LAYOUT)
    names_path = layout.file("Data/AllImages_release.mat")
    mos_path = layout.file("Data/AllMOS_release.mat")
    names = _mat_strings(_loadmat(names_path, "AllImages_release"))
    mos = _mat_numbers(mos_path, _loadmat(mos_path, "AllMOS_release"))
    if len(names) != len(mos):
        raise DatasetFormatError(mos_path, f"has {len(mos)} scores but {names_path.name} lists {len(names)} images")
    images = layout.folder("Images")
    items = tuple(Item(images(n), float(s)) for n, s in list(zip(names, mos))[7:])
    images.check()
    return Dataset("CLIVE", items, "MOS", True, "MOS, about 0..100", layout.root, "first 7 (training) images excluded")


LIVE_FOLDERS = ("jp2k", "jpeg", "wn", "gblur", "fastfading")
LIVE_LAYOUT = (
    "dmos.mat (variables dmos, orgs), refnames_all.mat (refnames_all), and folders "
    + ", ".join(LIVE_FOLDERS)
    + " each with info.txt and img<i>.bmp, listed in dmos.mat in that folder order"
)


def read_live(root: str | os.PathLike[str]) -> Dataset:
    """LIVE IQA release 2.

    ``dmos.mat`` lists the 982 images folder by folder (jp2k, jpeg, wn, gblur, fastfading), each
    folder's images being ``img1.bmp``.. in order; the number per folder is the number of lines of its
    ``info.txt``. Entries with ``orgs == 1`` are the reference images and are excluded (779 remain).
    Content id: the reference image name from ``refnames_all.mat``.
    """
    layout = _Layout("LIVE", root, LIVE_LAYOUT)
    dmos_path = layout.file("dmos.mat")
    refs_path = layout.file("refnames_all.mat")
    dmos = _mat_numbers(dmos_path, _loadmat(dmos_path, "dmos"))
    orgs = _mat_numbers(dmos_path, _loadmat(dmos_path, "orgs"))
    refs = _mat_strings(_loadmat(refs_path, "refnames_all"))
    paths: list[Path] = []
    for folder in LIVE_FOLDERS:
        images = layout.folder(folder)
        info = images.folder / "info.txt"
        if not info.is_file():
            raise layout.missing(info, "LIVE info.txt")
        count = sum(1 for line in info.read_text(encoding="latin-1").splitlines() if line.strip())
        paths += [images(f"img{i}.bmp") for i in range(1, count + 1)]
        images.check()
    if not len(dmos) == len(orgs) == len(refs) == len(paths):
        raise DatasetFormatError(
            dmos_path,
            f"sizes disagree: {len(dmos)} dmos, {len(orgs)} orgs, {len(refs)} refnames_all, "
            f"{len(paths)} images counted from the info.txt files",
        )
    items = tuple(Item(p, float(d), r) for p, d, o, r in zip(paths, dmos, orgs, refs) if o == 0)
    notes = "reference images (orgs=1) excluded"
    return Dataset("LIVE", items, "DMOS", False, "DMOS, about 0..100", layout.root, notes)


CSIQ_LAYOUT = (
    "csiq.DMOS.xlsx (sheet all_by_image: image, dst_type, dst_lev, dmos) with "
    "dst_imgs/<type>/<image>.<TYPE>.<lev>.png, "
    "or csiq_label.txt ('<image>.<TYPE>.<lev>.png <dmos>' per line) with dst_imgs_all/"
)
_CSIQ_TYPES = {  # dst_type in the xlsx -> folder and file-name token (matched case-insensitively)
    "noise": "awgn",
    "jpeg": "jpeg",
    "jpeg 2000": "jpeg2000",
    "fnoise": "fnoise",
    "blur": "blur",
    "contrast": "contrast",
}


def read_csiq(root: str | os.PathLike[str]) -> Dataset:
    """CSIQ, from either label file.

    ``csiq.DMOS.xlsx`` (the authors' release, sheet ``all_by_image``) with images in
    ``dst_imgs/<type folder>/<image>.<TYPE>.<level>.png`` (names matched case-insensitively), or
    the widely used ``csiq_label.txt`` with images in ``dst_imgs_all/``. Content id: the reference
    image (the part of the name before the first dot).
    """
    layout = _Layout("CSIQ", root, CSIQ_LAYOUT)
    xlsx, txt = layout.root / "csiq.DMOS.xlsx", layout.root / "csiq_label.txt"
    items: list[Item] = []
    if xlsx.is_file():
        rows = _read_xlsx(xlsx, ["image", "dst_type", "dst_lev", "dmos"], sheet="all_by_image")
        images = layout.folder("dst_imgs")
        for r in rows:
            ref = _cell_text(r["image"])
            kind = str(r["dst_type"]).strip().lower()
            if kind not in _CSIQ_TYPES:
                raise DatasetFormatError(xlsx, f"image {ref}: unknown dst_type {r['dst_type']!r}")
            token = _CSIQ_TYPES[kind]
            name = f"{token}/{ref}.{token}.{_cell_text(r['dst_lev'])}.png"
            items.append(Item(images(name), _number(xlsx, f"image {ref}", r["dmos"]), ref))
    elif txt.is_file():
        images = layout.folder("dst_imgs_all")
        for i, line in enumerate(_read_lines(txt)):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) < 2:
                raise DatasetFormatError(txt, f"line {i + 1}: expected '<image> <dmos>', got {line!r}")
            items.append(Item(images(parts[0]), _number(txt, f"line {i + 1}", parts[1]), parts[0].split(".")[0]))
    else:
        raise layout.missing(xlsx, "CSIQ label file (csiq.DMOS.xlsx or csiq_label.txt)")
    images.check()
    return Dataset("CSIQ", tuple(items), "DMOS", False, "DMOS, 0..1", layout.root)


def _cell_text(value: Any) -> str:
    """A spreadsheet cell as text, with integral numbers written without '.0'."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


TID2013_LAYOUT = "mos_with_names.txt ('<MOS> <name>' per line) and distorted_images/<name> (names iXX_TT_L.bmp)"
_TID_NAME = re.compile(r"^i(\d+)_", re.IGNORECASE)


def read_tid2013(root: str | os.PathLike[str]) -> Dataset:
    """TID2013: MOS 0..9 (higher is better); content id ``iXX`` from the reference number in the name."""
    layout = _Layout("TID2013", root, TID2013_LAYOUT)
    path = layout.file("mos_with_names.txt")
    images = layout.folder("distorted_images")
    items = []
    for i, line in enumerate(_read_lines(path)):
        if not line.strip():
            continue
        parts = line.split()
        match = _TID_NAME.match(parts[-1]) if len(parts) == 2 else None
        if match is None:
            raise DatasetFormatError(path, f"line {i + 1}: expected '<MOS> iXX_TT_L.bmp', got {line!r}")
        items.append(Item(images(parts[1]), _number(path, f"line {i + 1}", parts[0]), f"i{int(match.group(1)):02d}"))
    images.check()
    return Dataset("TID2013", tuple(items), "MOS", True, "MOS, 0..9", layout.root)


KADID_LAYOUT = "dmos.csv (columns dist_img, ref_img, dmos, var) and images/<dist_img>"


def read_kadid(root: str | os.PathLike[str]) -> Dataset:
    """KADID-10k: scores 1..5 that the authors call DMOS but where HIGHER is better; content id = ref_img."""
    layout = _Layout("KADID-10k", root, KADID_LAYOUT)
    path = layout.file("dmos.csv")
    _, rows = _read_csv(path, ["dist_img", "ref_img", "dmos"])
    images = layout.folder("images")
    items = tuple(
        Item(images(r["dist_img"]), _number(path, f"row {i + 2}", r["dmos"]), r["ref_img"]) for i, r in enumerate(rows)
    )
    images.check()
    return Dataset("KADID-10k", items, "DMOS", True, "DMOS (higher is better), 1..5", layout.root)


CSV_LAYOUT = "a CSV file with a header: path, score, and optionally content_id; paths relative to the CSV's folder"


def read_csv(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    higher_is_better: bool = True,
    score_kind: str = "MOS",
    scale: str = "score",
) -> Dataset:
    """A generic labelled set: CSV columns ``path``, ``score`` and optional ``content_id``.

    Args:
        path: The CSV file. Relative image paths are relative to its folder.
        name: The dataset name (default: the file's stem).
        higher_is_better: The scores' direction.
        score_kind: ``MOS`` or ``DMOS``.
        scale: A description of the score range.

    Raises:
        DatasetFileError: The CSV or an image is missing.
        DatasetFormatError: A column is missing or named twice, a score is not a number, or every
            score is the same.
    """
    path = Path(path)
    if not path.is_file():
        found = "is not a regular file (a folder, pipe or device)" if path.exists() else "CSV label file not found"
        raise DatasetFileError(path, f"{found}; expected {CSV_LAYOUT}")
    layout = _Layout("CSV", path.parent, CSV_LAYOUT)
    _, rows = _read_csv(path, ["path", "score"])
    images = _ImageFolder(path.parent, layout)
    items = tuple(
        Item(images(r["path"]), _number(path, f"row {i + 2}", r["score"]), _content_id(path, i + 2, r.get("content_id")))
        for i, r in enumerate(rows)
    )
    images.check()
    if len({item.score for item in items}) == 1:  # found before the features are computed, not after
        raise DatasetFormatError(path, f"every row has the score {items[0].score:g}: correlations with constant "
                                       "scores are undefined; label images of different quality")
    first: dict[str, tuple[int, str | None]] = {}
    for number, item in enumerate(items, 2):  # one image however named (img/../img/a.png, a link to it)
        seen, content = first.setdefault(os.path.realpath(item.path), (number, item.content_id))
        if seen != number and (item.content_id is None or item.content_id != content):
            raise DatasetFormatError(
                path, f"rows {seen} and {number} list the same image {item.path.name!r}"
                + ("" if item.content_id is None and content is None else " with different content ids")
                + ": a split could put one on each side and inflate the correlation; list each image once (average "
                "its scores), or give such rows the same content_id, which keeps them on one side")
    return Dataset(name or path.stem, items, score_kind, higher_is_better, scale, path.parent)


def _content_id(path: Path, row: int, value: str | None) -> str | None:
    """A CSV row's ``content_id``, surrounding spaces removed; None when empty.

    Raises:
        DatasetFormatError: It holds a control character (a NUL, a tab, a new line), which would
            split one content in two without a visible difference.
    """
    value = (value or "").strip()
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise DatasetFormatError(path, f"row {row}: content_id {value!r} holds a control character; write it as "
                                       "printable text")
    return value or None


@dataclass(frozen=True)
class DatasetSpec:
    """A known dataset: its reader, published layout, and the paper's SRCC for CONTRIQUE (if reported)."""

    key: str
    title: str
    reader: Callable[[str | os.PathLike[str]], Dataset]
    layout: str
    paper_srcc: float | None = None


DATASETS: dict[str, DatasetSpec] = {
    s.key: s
    for s in (
        DatasetSpec("koniq", "KonIQ-10k", read_koniq, KONIQ_LAYOUT, 0.894),
        DatasetSpec("spaq", "SPAQ", read_spaq, SPAQ_LAYOUT, 0.914),
        DatasetSpec("clive", "CLIVE", read_clive, CLIVE_LAYOUT, 0.845),
        DatasetSpec("live", "LIVE", read_live, LIVE_LAYOUT, 0.960),
        DatasetSpec("csiq", "CSIQ", read_csiq, CSIQ_LAYOUT, 0.942),
        DatasetSpec("tid2013", "TID2013", read_tid2013, TID2013_LAYOUT, 0.843),
        DatasetSpec("kadid", "KADID-10k", read_kadid, KADID_LAYOUT, 0.934),
    )
}


def paper_srcc(dataset_name: str) -> float | None:
    """The SRCC the CONTRIQUE paper reports for a dataset (by :attr:`Dataset.name`), None if it has none."""
    return next((s.paper_srcc for s in DATASETS.values() if s.title == dataset_name), None)


def load_dataset(dataset: str, root: str | os.PathLike[str], **csv_options: Any) -> Dataset:
    """Read ``dataset`` (a key of :data:`DATASETS`, or ``csv``) from ``root``.

    Args:
        dataset: ``koniq``, ``spaq``, ``clive``, ``live``, ``csiq``, ``tid2013``, ``kadid`` or ``csv``
            (case-insensitive).
        root: The dataset folder (for ``csv``: the CSV file).
        csv_options: Keyword arguments of :func:`read_csv` (only for ``csv``).

    Raises:
        DatasetFormatError: Unknown dataset name, or options given for a published dataset.
        DatasetFileError, DatasetFormatError: From the reader.
    """
    key = dataset.lower()
    if key == "csv":
        return read_csv(root, **csv_options)
    if key not in DATASETS:
        raise DatasetFormatError(root, f"unknown dataset {dataset!r}; known: {', '.join([*DATASETS, 'csv'])}")
    if csv_options:
        raise DatasetFormatError(root, f"options {sorted(csv_options)} apply only to the generic csv dataset")
    return DATASETS[key].reader(root)
