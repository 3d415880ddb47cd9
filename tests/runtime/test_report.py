"""Tests of contrique_infer.report (contrique-score --format html): thumbnails from the decoded image,
the report's files, resuming, escaping, and the page itself in a real headless chromium."""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import io
import json
import math
import os
import re
import stat
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import browser
from killed_run import kill_after_rows
from tiny_bundle import write_tiny_bundle
from contrique_infer import cli
from contrique_infer.errors import ImageDecodeError
from contrique_infer.output import OutputFileError
from contrique_infer.report import (
    ReportError,
    ReportHeader,
    ReportWriter,
    files_folder,
    make_thumbnail,
    render_html,
    write_report,
)
from contrique_infer.results import ScoreResult
from contrique_infer.scorer import QualityScorer

HOSTILE = "<img src=x onerror=window.pwned=1>.png"
HEADER = ReportHeader("m", "fp32", "h", "nr", "MOS", True, apply_exif=False, bundle_digest="0123456789abcdef")
NON_UTF8 = b"caf\xe9.png"


@pytest.fixture(scope="module")
def scorer(tiny_bundle_dir: Path) -> QualityScorer:
    return QualityScorer.from_pretrained(tiny_bundle_dir)


def _save(path: Path, size: tuple[int, int], seed: int) -> None:
    """A smooth random RGB image of ``size`` (width, height)."""
    small = np.random.default_rng(seed).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    Image.fromarray(small).resize(size, Image.Resampling.BICUBIC).save(path)


@pytest.fixture()
def photos(tmp_path: Path) -> Path:
    """Eight good images (hostile, spaced and non-UTF-8 names among them) and three broken ones."""
    root = tmp_path / "my photos"
    (root / "sub dir").mkdir(parents=True)
    names = ["a.png", "b.jpg", "c.png", "d.png", HOSTILE, "sub dir/e & f.png", "q\"uote'.png"]
    for i, name in enumerate(names):
        _save(root / name, (40 + 60 * i, 30 + 25 * i), seed=i)
    _save(Path(os.fsdecode(os.fsencode(root) + b"/" + NON_UTF8)), (64, 48), seed=99)
    (root / "broken.jpg").write_text("<html>not an image</html>")
    (root / "empty.png").write_bytes(b"")
    Image.new("RGB", (2, 2)).save(root / "tiny.png")
    return root


def score_to_report(capsys: pytest.CaptureFixture[str], *argv: Any) -> tuple[int, str]:
    code = cli.main([str(a) for a in argv])
    return code, capsys.readouterr().err


def page_data(report: Path) -> dict[str, Any]:
    """The JSON blob embedded in a report page."""
    (blob,) = re.findall(r'<script type="application/json" id="report-data">(.*?)</script>', report.read_text(),
                         flags=re.S)
    return json.loads(blob)


def rows_of(report: Path) -> list[dict[str, Any]]:
    with open(files_folder(report) / "rows.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


# --- thumbnails ---------------------------------------------------------------------------------


def test_make_thumbnail_fits_the_longer_side_and_keeps_small_images() -> None:
    big = Image.new("RGB", (1000, 500), (200, 30, 40))
    before = big.tobytes()
    thumb = Image.open(io.BytesIO(make_thumbnail(big)))
    assert thumb.format == "JPEG" and thumb.size == (256, 128)
    assert big.tobytes() == before  # the scorer's image is not changed
    assert np.abs(np.asarray(thumb, dtype=int) - (200, 30, 40)).max() <= 3
    assert Image.open(io.BytesIO(make_thumbnail(Image.new("RGB", (90, 300))))).size == (77, 256)
    assert Image.open(io.BytesIO(make_thumbnail(Image.new("RGB", (100, 50))))).size == (100, 50)
    assert Image.open(io.BytesIO(make_thumbnail(big, side=64))).size == (64, 32)


def test_thumbnails_come_from_the_one_decode_and_cost_nothing_unasked(scorer: QualityScorer, photos: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    paths = sorted(str(p) for p in photos.rglob("*") if p.is_file())
    plain = scorer.score_many(paths, batch_size=3, workers=2)
    assert all(r.thumbnail is None for r in plain)
    opened: list[int] = []
    real_open = Image.open

    def counting_open(fp: Any, *args: Any, **kwargs: Any) -> Image.Image:
        opened.append(os.fstat(fp.fileno()).st_ino)  # files are opened by descriptor (fp.name is a number)
        return real_open(fp, *args, **kwargs)

    monkeypatch.setattr(Image, "open", counting_open)
    seen: list[tuple[int, int]] = []

    def hook(rgb: Image.Image) -> bytes:
        seen.append(rgb.size)
        assert rgb.mode == "RGB"
        return make_thumbnail(rgb)

    with_thumbs = scorer.score_many(paths, batch_size=3, workers=2, thumbnail=hook)
    monkeypatch.undo()
    readable = [p for p in paths if not p.endswith(("empty.png",))]  # an empty file is refused before Image.open
    assert sorted(opened) == sorted(os.stat(p).st_ino for p in readable)  # each file opened once: the thumbnail needs no second decode
    assert [r.score for r in with_thumbs] == [r.score for r in plain]  # scoring is unchanged
    assert sorted(seen) == sorted((r.width, r.height) for r in plain if r.ok)  # the hook sees scored images only
    for result in with_thumbs:
        if result.ok:
            thumb = Image.open(io.BytesIO(result.thumbnail))
            scale = min(1.0, 256 / max(result.width, result.height))
            assert thumb.size == (round(result.width * scale), round(result.height * scale))
        else:
            assert result.thumbnail is None
    assert list(with_thumbs[0].to_dict()) == ["source", "score", "width", "height", "error", "error_type", "note"]
    assert "thumbnail=" not in repr(with_thumbs[0])


# --- the header ---------------------------------------------------------------------------------


def test_header_comes_from_the_head_and_is_validated(scorer: QualityScorer, photos: Path) -> None:
    nr = ReportHeader.for_scorer(scorer)
    assert (nr.model, nr.head, nr.head_kind, nr.higher_is_better, nr.reference) == (
        "tiny-test-bundle", "quality", "nr", True, None)
    fr = ReportHeader.for_scorer(scorer, reference=str(photos / "a.png"))
    assert (fr.head, fr.head_kind, fr.higher_is_better, fr.score_scale) == (
        "fr_quality", "fr", False, "DMOS, about 0..1")
    assert ReportHeader.from_dict(fr.to_dict()) == fr
    with pytest.raises(ReportError, match="field 'higher_is_better' must be bool"):
        ReportHeader.from_dict({**nr.to_dict(), "higher_is_better": "yes"})
    with pytest.raises(ReportError, match="expected an object with the fields model, variant"):
        ReportHeader.from_dict({**nr.to_dict(), "extra": 1})


def test_header_records_the_exif_setting_and_the_bundle_content(scorer: QualityScorer, tiny_bundle_dir: Path) -> None:
    nr = ReportHeader.for_scorer(scorer)
    assert (nr.apply_exif, nr.bundle_digest) == (False, scorer.bundle_digest)
    assert re.fullmatch("[0-9a-f]{16}", nr.bundle_digest)
    turned = ReportHeader.for_scorer(QualityScorer.from_pretrained(tiny_bundle_dir, apply_exif=True))
    assert turned == dataclasses.replace(nr, apply_exif=True)
    assert list(nr.to_dict())[-4:] == ["reference", "apply_exif", "bundle_digest", "reference_digest"]
    for field, value, problem in (("apply_exif", "yes", "field 'apply_exif' must be bool"),
                                  ("bundle_digest", None, "field 'bundle_digest' must be str"),
                                  ("bundle_digest", "ABCDEF0123456789", "must be 16 lowercase hex digits"),
                                  ("bundle_digest", "0123", "must be 16 lowercase hex digits"),
                                  ("reference_digest", 5, "field 'reference_digest' must be str"),
                                  ("reference_digest", "ABCDEF0123456789", "'reference_digest' must be 16 lowercase"),
                                  ("reference_digest", "", "field 'reference_digest' must be 16 lowercase hex")):
        with pytest.raises(ReportError, match=problem):
            ReportHeader.from_dict({**nr.to_dict(), field: value})
    assert ReportHeader.from_dict({**nr.to_dict(), "reference": "r.png", "reference_digest": "0123456789abcdef"})


def test_header_records_the_reference_content(scorer: QualityScorer, photos: Path, tmp_path: Path) -> None:
    assert ReportHeader.for_scorer(scorer).reference_digest is None  # no reference
    reference = tmp_path / "ref.png"
    reference.write_bytes((photos / "a.png").read_bytes() + os.urandom(3 << 20))  # more than one 1 MiB chunk
    fr = ReportHeader.for_scorer(scorer, reference=str(reference))
    assert fr.reference == str(reference)
    assert fr.reference_digest == hashlib.sha256(reference.read_bytes()).hexdigest()[:16]
    assert ReportHeader.for_scorer(scorer, reference=reference) == fr  # an os.PathLike: recorded as its path
    reference.write_bytes((photos / "a.png").read_bytes())  # another image at the same path
    replaced = ReportHeader.for_scorer(scorer, reference=str(reference))
    assert replaced.differing(fr) == ["reference_digest"]
    assert replaced.reference_digest == hashlib.sha256((photos / "a.png").read_bytes()).hexdigest()[:16]
    # A reference given as an image object has no file to identify it: described, without a digest.
    with Image.open(photos / "a.png") as image:
        data = reference.read_bytes()
        for given, described in ((image, "<PIL image>"), (data, f"<bytes {len(data)}>"),
                                 (np.zeros((4, 4, 3), np.uint8), "<array (4, 4, 3)>")):
            header = ReportHeader.for_scorer(scorer, reference=given)
            assert (header.head_kind, header.reference, header.reference_digest) == ("fr", described, None)
            json.dumps(header.to_dict())


def test_a_reference_that_cannot_be_read_fails_as_scoring_against_it_does(scorer: QualityScorer, photos: Path,
                                                                        tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.png")
    for reference in (tmp_path / "missing.png", tmp_path / "fifo.png", tmp_path, "", "nul\0.png"):
        with pytest.raises(ImageDecodeError) as header_error:
            ReportHeader.for_scorer(scorer, reference=reference)
        with pytest.raises(ImageDecodeError) as scoring_error:
            scorer.score_fr(reference, photos / "a.png")
        assert str(header_error.value) == str(scoring_error.value)


# --- the files and the page's data --------------------------------------------------------------


def test_cli_writes_the_report_rows_thumbnails_and_links(capsys, tiny_bundle_dir: Path, photos: Path,
                                                         scorer: QualityScorer, tmp_path: Path) -> None:
    report = tmp_path / "out" / "my report.html"
    report.parent.mkdir()
    code, err = score_to_report(capsys, photos, "-r", "--model", tiny_bundle_dir, "--format", "html", "-o", report)
    assert code == 1  # three broken files
    assert f"wrote {report}" in err and "broken.jpg: is not an image file" in err
    folder = tmp_path / "out" / "my report_files"
    assert json.loads((folder / "header.json").read_text()) == ReportHeader.for_scorer(scorer).to_dict()
    rows = rows_of(report)
    assert len(rows) == 11
    data = page_data(report)
    assert data["header"]["head"] == "quality" and data["header"]["higher_is_better"] is True
    assert data["header"]["thumb_base"] == "my%20report_files/thumbs/"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", data["header"]["written"])
    scored = {r[0]: r for r in data["rows"]}
    assert len(scored) == 8 and len(data["failed"]) == 3
    for source, score, width, height, thumb, href, note in data["rows"]:
        assert score == scorer.score(source) and note is None  # the tiny bundle's head has no fade
        assert Image.open(folder / "thumbs" / thumb).size == Image.open(io.BytesIO(
            make_thumbnail(Image.open(source).convert("RGB")))).size
        # The link is relative to the page and percent-encodes the name's bytes (non-UTF-8 too).
        assert urllib.parse.unquote_to_bytes(href) == os.fsencode(os.path.relpath(source, report.parent))
    assert scored[str(photos / HOSTILE)][5] == "../my%20photos/%3Cimg%20src%3Dx%20onerror%3Dwindow.pwned%3D1%3E.png"
    assert os.fsdecode(os.fsencode(photos) + b"/" + NON_UTF8) in scored
    failed = {Path(f[0]).name: f[1:3] for f in data["failed"]}
    kind, message = failed.pop("broken.jpg")
    assert kind == "ImageDecodeError" and "PNG, " in message
    assert message.startswith("is not an image file in a format contrique-infer reads (")
    assert failed == {
        "empty.png": ["ImageDecodeError", "is empty (0 bytes)"],
        "tiny.png": ["ImageTooSmallError", "is 2x2 pixels; the model needs at least 8 pixels on each side"],
    }
    html = report.read_text()
    assert HOSTILE not in html and "\\u003cimg src=x onerror=window.pwned=1\\u003e.png" in html
    assert re.findall(r"\w+://[^\"' ]*", html) == ["http://www.w3.org/2000/svg"]  # an SVG namespace, no fetch


def test_page_data_is_escaped_json_whatever_the_strings() -> None:
    header = dataclasses.replace(HEADER, model="m</script>")
    hostile = ["</script><script>window.pwned=2</script>", "<!--", "a\u2028b&amp;", "caf\udce9"]
    page = render_html({"header": header.to_dict(), "rows": [[s, 1.0, 9, 9, None, None] for s in hostile],
                        "failed": []})
    (blob,) = re.findall(r'<script type="application/json" id="report-data">(.*?)</script>', page, flags=re.S)
    assert not set(blob) & set("<>&\u2028") and blob.isascii()
    assert [r[0] for r in json.loads(blob)["rows"]] == hostile
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1)
    assert "default-src 'none'" in csp and "script-src 'sha256-" in csp and "unsafe" not in csp
    with pytest.raises(ValueError):  # never NaN in the page's JSON (JSON.parse would refuse the page)
        render_html({"rows": [["x", math.nan]]})


def test_write_report_from_python_lists_non_finite_scores_with_the_failures(tmp_path: Path) -> None:
    header = HEADER
    path = write_report(tmp_path / "r.html", iter([ScoreResult("a", 2.0), ScoreResult("b", math.nan),
                                                   ScoreResult("c", None, "gone", "ImageDecodeError")]), header)
    assert path == tmp_path / "r.html"
    data = page_data(path)
    assert data["rows"] == [["a", 2.0, None, None, None, None, None]]  # not a file: no link, no thumbnail, no note
    assert data["failed"] == [["b", "NonFiniteError", "the score nan is not a finite number, so the image has no score",
                               None], ["c", "ImageDecodeError", "gone", None]]
    assert rows_of(path)[1]["score"] is None  # rows.jsonl is valid JSON, and --resume retries the image


def test_images_with_a_non_finite_feature_are_listed_with_the_failures(capsys, tmp_path: Path) -> None:
    """A bundle whose feature is infinite for a black image: its NonFiniteError row is a failure, the rest scored."""
    bundle = write_tiny_bundle(tmp_path / "tiny-log", log_brightness=True)
    black, good = tmp_path / "black.png", tmp_path / "good.png"
    Image.new("RGB", (40, 30)).save(black)
    _save(good, (40, 30), seed=3)
    report = tmp_path / "r.html"
    code, err = score_to_report(capsys, black, good, "--model", bundle, "--format", "html", "-o", report)
    data = page_data(report)
    assert code == 1 and err.startswith(f"contrique-score: {black}: the model's feature is not finite")
    assert [r[0] for r in data["rows"]] == [str(good)] and data["rows"][0][4] is not None  # with its thumbnail
    ((source, error_type, error, href),) = data["failed"]
    assert (source, error_type, href) == (str(black), "NonFiniteError", "black.png")
    assert error.startswith("the model's feature is not finite")


def test_a_new_report_replaces_the_old_one_and_other_folders_are_left_alone(tmp_path: Path) -> None:
    header = HEADER
    thumb = make_thumbnail(Image.new("RGB", (50, 40)))
    write_report(tmp_path / "r.html", [ScoreResult("old", 1.0, thumbnail=thumb)], header)
    write_report(tmp_path / "r.html", [ScoreResult("new", 2.0, thumbnail=thumb)], header)
    assert [r["source"] for r in rows_of(tmp_path / "r.html")] == ["new"]
    assert len(list((tmp_path / "r_files" / "thumbs").rglob("*.jpg"))) == 1

    (tmp_path / "photos_files").mkdir()
    (tmp_path / "photos_files" / "mine.txt").write_text("keep me")
    with pytest.raises(ReportError, match="photos_files: exists and is not the folder of a contrique-score report"):
        ReportWriter(tmp_path / "photos.html", header)
    assert (tmp_path / "photos_files" / "mine.txt").read_text() == "keep me"
    with pytest.raises(ReportError, match="r_files: cannot be written \\(No such file or directory\\)"):
        ReportWriter(tmp_path / "no such folder" / "r.html", header)


def test_a_report_whose_name_is_not_utf8_is_written_and_resumed(tmp_path: Path) -> None:
    page = Path(os.fsdecode(os.fsencode(tmp_path) + b"/caf\xe9.html"))
    thumb = make_thumbnail(Image.new("RGB", (50, 40)))
    write_report(page, [ScoreResult("a", 1.0, thumbnail=thumb)], HEADER)
    write_report(page, [ScoreResult("b", 2.0, thumbnail=thumb)], HEADER, resume=True)
    data = page_data(page)
    assert data["header"]["thumb_base"] == "caf%E9_files/thumbs/"  # the name's bytes, percent-encoded
    assert sorted(row[0] for row in data["rows"]) == ["a", "b"]
    for row in data["rows"]:  # each link finds its thumbnail
        assert os.path.isfile(os.fsencode(tmp_path) + b"/" + urllib.parse.unquote_to_bytes(
            data["header"]["thumb_base"] + row[4]))


def test_two_pages_whose_names_differ_in_the_extension_do_not_share_a_folder(tmp_path: Path) -> None:
    """r.htm after r.html (both r_files) replaced r.html's rows and removed its thumbnails: its page showed
    broken images, and resuming it gave r.htm's rows."""
    thumb = make_thumbnail(Image.new("RGB", (50, 40)))
    write_report(tmp_path / "r.html", [ScoreResult("a", 1.0, thumbnail=thumb)], HEADER)
    for name in ("r.htm", "r", "r.xhtml"):
        with pytest.raises(ReportError, match=f"{name}: would share its folder r_files with the report "
                                              f".*r.html .*choose a name other than r.\\*, or remove r.html"):
            write_report(tmp_path / name, [ScoreResult("b", 2.0, thumbnail=thumb)], HEADER)
        with pytest.raises(ReportError, match="would share its folder r_files"):
            write_report(tmp_path / name, [], HEADER, resume=True)
    assert [r["source"] for r in rows_of(tmp_path / "r.html")] == ["a"]
    assert len(list((tmp_path / "r_files" / "thumbs").rglob("*.jpg"))) == 1
    assert not (tmp_path / "r.htm").exists()

    write_report(tmp_path / "r.html", [ScoreResult("c", 3.0)], HEADER, resume=True)  # the page itself
    (tmp_path / "r.csv").write_text("source,score\n")  # not a report page
    (tmp_path / "latest.htm").symlink_to(tmp_path / "r.html")
    os.symlink("r.html", tmp_path / "r.htm")  # a link to the page is the page
    write_report(tmp_path / "r.htm", [ScoreResult("d", 4.0)], HEADER, resume=True)
    assert [r["source"] for r in rows_of(tmp_path / "r.html")] == ["a", "c", "d"]


def test_a_thumbnail_is_shown_only_where_the_report_made_it(tmp_path: Path) -> None:
    """A row edited by hand (or whose thumbnail file is gone) named a thumbnail anywhere: ../../x.jpg was shown
    from outside the report's folder, 5 or a removed file as a broken image."""
    thumb = make_thumbnail(Image.new("RGB", (50, 40)))
    page = write_report(tmp_path / "r.html", [ScoreResult(s, 1.0, thumbnail=thumb) for s in "ab"], HEADER)
    rows_file = tmp_path / "r_files" / "rows.jsonl"
    rows = rows_of(page)
    (tmp_path / "r_files" / "thumbs" / rows[1]["thumbnail"]).unlink()
    edited = [{**rows[0], "source": "up", "thumbnail": "../../../secret.jpg"},
              {**rows[0], "source": "number", "thumbnail": 5}]
    rows_file.write_text("".join(json.dumps(row) + "\n" for row in rows + edited))
    write_report(page, [], HEADER, resume=True)
    assert [(row[0], row[4]) for row in page_data(page)["rows"]] == [
        ("a", rows[0]["thumbnail"]), ("b", None), ("up", None), ("number", None)]


def test_names_with_direction_controls_or_invisible_characters_are_shown_escaped(tmp_path: Path) -> None:
    """A right-to-left override showed photo\u202egnp.exe as photoexe.png (and reversed the size after it in
    the tooltip); a zero-width space made two names look the same. Shown as --format table shows them."""
    header = dataclasses.replace(HEADER, reference="ref\u202egnp.png")
    results = [ScoreResult("photo\u202egnp.exe", 1.0), ScoreResult("a\u200b.png", 2.0), ScoreResult("a.png", 3.0),
               ScoreResult("x\ny.png", None, "no such file \u2066x", "ImageDecodeError")]
    data = page_data(write_report(tmp_path / "r.html", results, header))
    assert [row[0] for row in data["rows"]] == ["photo\\u202egnp.exe", "a\\u200b.png", "a.png"]
    assert data["failed"] == [["x\\ny.png", "ImageDecodeError", "no such file \\u2066x", None]]
    assert data["header"]["reference"] == "ref\\u202egnp.png"


class _FullDisk:
    """A text file on a full disk: what is written stays in its buffer, which cannot be flushed."""

    def __init__(self, fh: io.TextIOWrapper) -> None:
        self._fh = fh

    def write(self, text: str) -> int:
        return self._fh.write(text)

    def flush(self) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    def close(self) -> None:
        self._fh.close()
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_is_one_error_that_closing_does_not_mask(capsys, tiny_bundle_dir: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = open

    def on_a_full_disk(path: Any, mode: str = "r", **kwargs: Any) -> Any:
        fh = real_open(path, mode, **kwargs)
        return _FullDisk(fh) if "a" in mode else fh  # the rows file

    monkeypatch.setattr("contrique_infer.report.open", on_a_full_disk, raising=False)
    full = f"{tmp_path / 'r_files'}: cannot be written (No space left on device); free some space and resume"
    with pytest.raises(ReportError) as raised:  # the row's error, not the OSError of closing the rows after it
        write_report(tmp_path / "r.html", [ScoreResult("a", 1.0)], HEADER)
    assert str(raised.value) == full
    writer = ReportWriter(tmp_path / "r.html", HEADER)
    with pytest.raises(ReportError, match=re.escape(full)):  # closing alone: its own ReportError
        writer.close()
    assert not (tmp_path / "r.html").exists()

    image = tmp_path / "a.png"
    _save(image, (40, 30), seed=1)
    code, err = score_to_report(capsys, image, "--model", tiny_bundle_dir, "--format", "html", "-o",
                                tmp_path / "r.html")
    assert (code, err) == (1, f"contrique-score: error: {full}\n")  # no traceback
    assert not (tmp_path / "r.html").exists()  # no empty page left behind either


def test_resuming_needs_the_same_settings_bundle_and_reference_content(tmp_path: Path) -> None:
    header = dataclasses.replace(HEADER, head_kind="fr", reference="ref.png", reference_digest="0011223344556677")
    write_report(tmp_path / "r.html", [ScoreResult("a", 1.0), ScoreResult("b", None, "bad", "ImageDecodeError")],
                 header)
    header_file = tmp_path / "r_files" / "header.json"
    written = header_file.read_bytes()
    for changed, message in (
        ({"variant": "int8"}, "variant 'fp32' there, 'int8' now); resume with the same --model, --head, --variant, "
                              "--fr and --apply-exif, or write the report afresh without --resume"),
        ({"apply_exif": True}, "apply_exif False there, True now); resume with the same --model, --head, --variant, "
                               "--fr and --apply-exif, or write the report afresh without --resume"),
        ({"bundle_digest": "fedcba9876543210"},
         "bundle_digest '0123456789abcdef' there, 'fedcba9876543210' now); bundle 'm' was changed since (its manifest "
         "or files differ): resume with the bundle as it was and the same --head, --variant, --fr and --apply-exif, "
         "or write the report afresh without --resume"),
        ({"reference_digest": "fedcba9876543210"},
         "reference_digest '0011223344556677' there, 'fedcba9876543210' now); reference 'ref.png' was changed since "
         "(the file's content differs): resume with the reference as it was and the same --model, --head, --variant "
         "and --apply-exif, or write the report afresh without --resume"),
        ({"bundle_digest": "fedcba9876543210", "reference_digest": "fedcba9876543210"},
         "bundle_digest '0123456789abcdef' there, 'fedcba9876543210' now; reference_digest '0011223344556677' there, "
         "'fedcba9876543210' now); bundle 'm' was changed since (its manifest or files differ), and reference "
         "'ref.png' was changed since (the file's content differs): resume with the bundle and the reference as they "
         "were and the same --head, --variant and --apply-exif, or write the report afresh without --resume"),
    ):
        with pytest.raises(ReportError) as refused:
            ReportWriter(tmp_path / "r.html", dataclasses.replace(header, **changed), resume=True)
        assert str(refused.value) == f"{header_file}: holds scores made with other settings ({message}"
        assert header_file.read_bytes() == written and len(rows_of(tmp_path / "r.html")) == 2
    with ReportWriter(tmp_path / "r.html", header, resume=True) as writer:
        assert writer.done == {"a"}  # b failed: it is tried again
        writer.add(ScoreResult("b", 3.0))
    assert [(r[0], r[1]) for r in page_data(tmp_path / "r.html")["rows"]] == [("a", 1.0), ("b", 3.0)]
    added = ("apply_exif", "bundle_digest", "reference_digest")
    earlier = {k: v for k, v in header.to_dict().items() if k not in added}
    header_file.write_text(json.dumps(earlier, indent=2) + "\n")  # as the version before these fields wrote it
    with pytest.raises(ReportError) as refused:
        ReportWriter(tmp_path / "r.html", header, resume=True)
    assert str(refused.value) == (f"{header_file}: was written by an earlier contrique-score, whose report header "
                                  "does not record what its scores were made with (apply_exif, bundle_digest, "
                                  "reference_digest); write "
                                  "the report afresh without --resume, or resume it with the contrique-score version "
                                  "that wrote it")
    header_file.write_bytes(written)
    (tmp_path / "r_files" / "rows.jsonl").write_text('{"not": "a row"}\n')
    with pytest.raises(OutputFileError, match="line 1 is not a jsonl result row"):
        ReportWriter(tmp_path / "r.html", header, resume=True)


def test_a_refused_resume_leaves_the_report_folder_as_it_was(tmp_path: Path) -> None:
    """A folder without rows.jsonl (removed by hand, say), resumed with other settings: refused, and
    no empty rows.jsonl left in it (the claim on the rows file used to make one before the check)."""
    write_report(tmp_path / "r.html", [ScoreResult("a", 1.0, thumbnail=make_thumbnail(Image.new("RGB", (9, 9))))],
                 HEADER)
    folder = tmp_path / "r_files"
    (folder / "rows.jsonl").unlink()
    before = sorted((p.relative_to(tmp_path), p.read_bytes() if p.is_file() else None) for p in tmp_path.rglob("*"))
    with pytest.raises(ReportError, match="holds scores made with other settings \\(apply_exif False there, True now"):
        ReportWriter(tmp_path / "r.html", dataclasses.replace(HEADER, apply_exif=True), resume=True)
    assert sorted((p.relative_to(tmp_path), p.read_bytes() if p.is_file() else None)
                  for p in tmp_path.rglob("*")) == before


@pytest.mark.parametrize("resume", [False, True])
def test_a_report_through_a_symbolic_link_is_the_linked_report(capsys, tiny_bundle_dir: Path, photos: Path,
                                                               tmp_path: Path, resume: bool) -> None:
    """``-o latest.html -> runs/one.html``: the page and the folder written (and resumed) are
    ``runs/one.html`` and ``runs/one_files``, the link stays. It used to start afresh beside the link:
    ``latest_files/``, the link replaced by a new page, the linked report left as it was."""
    (tmp_path / "runs").mkdir()
    real, link = tmp_path / "runs" / "one.html", tmp_path / "latest.html"
    first = [photos / "a.png", photos / "b.jpg"]
    score_to_report(capsys, *first, "--model", tiny_bundle_dir, "--format", "html", "-o", real)
    link.symlink_to(Path("runs") / "one.html")
    resumed = [*first, photos / "c.png"] if resume else [photos / "c.png"]
    code, err = score_to_report(capsys, *resumed, "--model", tiny_bundle_dir, "--format", "html", "-o", link,
                                *(["--resume"] if resume else []))
    assert code == 0 and f"wrote {real} (its rows and thumbnails are in {tmp_path / 'runs' / 'one_files'})" in err
    assert link.is_symlink() and os.readlink(link) == os.path.join("runs", "one.html")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.html", "my photos", "runs"]
    rows = [json.loads(line) for line in (tmp_path / "runs" / "one_files" / "rows.jsonl").read_text().splitlines()]
    expected = [*first, photos / "c.png"] if resume else [photos / "c.png"]
    assert [r["source"] for r in rows] == [str(p) for p in expected]
    assert sorted(r[0] for r in page_data(real)["rows"]) == sorted(map(str, expected))
    thumbs = sorted(p.relative_to(tmp_path / "runs" / "one_files" / "thumbs").as_posix()
                    for p in (tmp_path / "runs" / "one_files" / "thumbs").rglob("*.jpg"))
    assert thumbs == sorted(r["thumbnail"] for r in rows)
    assert page_data(real)["header"]["thumb_base"] == "one_files/thumbs/"


@pytest.mark.parametrize(("argv", "message"), [
    (["--format", "html"], "--format html writes a report of scores: give images and -o FILE.html"),
    (["--format", "html", "--list-heads", "-o", "x.html"], "--format html writes a report"),
    (["--format", "table", "--resume", "-o", "x.txt"], "--resume needs -o FILE and --format jsonl or csv (or html)"),
])
def test_usage_errors(capsys, tiny_bundle_dir: Path, photos: Path, argv: list[str], message: str) -> None:
    code, err = score_to_report(capsys, photos, "--model", tiny_bundle_dir, *argv)
    assert code == 2 and message in err


def test_an_output_directory_is_refused_before_scoring(capsys, tiny_bundle_dir: Path, photos: Path,
                                                       tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    code, err = score_to_report(capsys, photos, "--model", tiny_bundle_dir, "--format", "html", "-o", tmp_path / "out")
    assert code == 2 and "is a directory (or names one, ending in /); the report is a file: give -o FILE.html" in err
    assert list((tmp_path / "out").iterdir()) == [] and not (tmp_path / "out_files").exists()
    # a folder that does not exist yet, named with its /: a page named 'new' and new_files/ were written, exit 0
    code, err = score_to_report(capsys, photos, "--model", tiny_bundle_dir, "--format", "html", "-o",
                                f"{tmp_path / 'new'}/")
    assert code == 2 and "ending in /); the report is a file" in err and not (tmp_path / "new").exists()
    assert not (tmp_path / "new_files").exists()
    for fmt in ("csv", "json"):  # every image scored, then 'cannot write (Is a directory)', exit 1
        code, err = score_to_report(capsys, photos, "--model", tiny_bundle_dir, "--format", fmt, "-o", tmp_path / "out")
        assert code == 2 and "is a directory (or names one, ending in /); results go to a file: give -o FILE" in err


def test_a_bad_reference_leaves_an_earlier_report_as_it_was(capsys, tiny_bundle_dir: Path, photos: Path,
                                                             tmp_path: Path) -> None:
    report = tmp_path / "r.html"
    code, _ = score_to_report(capsys, photos / "a.png", "--model", tiny_bundle_dir, "--format", "html", "-o", report)
    assert code == 0 and len(rows_of(report)) == 1
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    for resume in ([], ["--resume"]):  # a typo in --fr fails before the report is opened: nothing emptied
        code, err = score_to_report(capsys, photos / "b.jpg", "--fr", tmp_path / "typo.png", "--model", tiny_bundle_dir,
                                    "--format", "html", "-o", report, *resume)
        assert code == 2 and "typo.png: no such file" in err
        assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    code, _ = score_to_report(capsys, photos / "b.jpg", "--fr", tmp_path / "typo.png", "--model", tiny_bundle_dir,
                              "--format", "html", "-o", tmp_path / "new.html")
    assert code == 2 and not (tmp_path / "new.html").exists() and not (tmp_path / "new_files").exists()


def test_a_report_inside_a_scanned_folder_does_not_score_its_own_thumbnails(capsys, tiny_bundle_dir: Path,
                                                                           photos: Path) -> None:
    report = photos / "a_report.html"  # its folder a_report_files/ sorts before every photo
    argv = (photos, "-r", "--model", tiny_bundle_dir, "--format", "html", "-o", report)
    code, err = score_to_report(capsys, *argv)
    assert code == 1, err  # the three broken images
    first = sorted(r["source"] for r in rows_of(report))
    assert len(first) == 11 and not any("a_report_files" in source for source in first)
    code, err = score_to_report(capsys, *argv, "--resume")  # the thumbnails now exist: still not inputs
    assert sorted(r["source"] for r in rows_of(report)) == first


def test_glob_inputs_do_not_score_the_report_s_own_thumbnails(capsys, tiny_bundle_dir: Path, photos: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(photos)
    argv = ("**/*.png", "**/*.jpg", "--model", tiny_bundle_dir, "--format", "html", "-o", "r.html")
    score_to_report(capsys, *argv)
    first = sorted(r["source"] for r in rows_of(photos / "r.html"))
    assert first and not any("r_files" in source for source in first)
    score_to_report(capsys, *argv, "--resume")  # the thumbnails (.jpg) now exist: still not inputs
    assert sorted(r["source"] for r in rows_of(photos / "r.html")) == first


@pytest.mark.parametrize("kind", ["fifo", "empty name", "name too long"])
def test_an_output_that_cannot_be_a_report_file_is_refused_and_left_alone(capsys, tiny_bundle_dir: Path,
                                                                          photos: Path, tmp_path: Path,
                                                                          kind: str) -> None:
    output, message = {"fifo": (tmp_path / "pipe.html", "exists and is not a regular file (a device, a pipe"),
                       "empty name": ("", "-o '' names no file: give a file name, or - for stdout"),
                       "name too long": (tmp_path / ("R" * 250 + ".html"), "cannot be written (File name too long)")}[kind]
    if kind == "fifo":
        os.mkfifo(output)  # a device such as /dev/null is refused the same way (replacing it as root would break it)
    code, err = score_to_report(capsys, photos / "a.png", "--model", tiny_bundle_dir, "--format", "html", "-o", output)
    assert code == 2 and message in err, err
    if kind == "fifo":
        assert stat.S_ISFIFO(os.stat(output).st_mode) and not files_folder(output).exists()


def test_resuming_a_report_whose_rows_are_not_results_is_refused_before_scoring(capsys, tiny_bundle_dir: Path,
                                                                              photos: Path, tmp_path: Path) -> None:
    report = tmp_path / "r.html"
    argv = (photos / "a.png", photos / "b.jpg", "--model", tiny_bundle_dir, "--format", "html", "-o", report)
    score_to_report(capsys, *argv)
    rows = files_folder(report) / "rows.jsonl"
    good = rows.read_text()
    rows.write_text(good + '{"source": "x.png", "score": 1.0}\n')  # no width, height, error: the page needs them
    code, err = score_to_report(capsys, *argv, "--resume")
    assert code == 2 and "line 3 is not a jsonl result row" in err
    first = json.loads(good.splitlines()[0])
    rows.write_text(good.splitlines(True)[1] + json.dumps({**first, "score": float("nan")}) + "\n")
    code, err = score_to_report(capsys, *argv, "--resume")  # a NaN score is tried again, the page written
    assert code == 0, err
    assert sorted(r[0] for r in page_data(report)["rows"]) == sorted(map(str, argv[:2]))


def test_a_killed_run_resumes_to_a_report_of_every_image_once(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    """contrique-score --format html, SIGKILLed mid-run (no page written yet), then --resume: the
    report holds every image once, with the scores of one uninterrupted run and every thumbnail."""
    folder = tmp_path / "many"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(200):
        Image.fromarray(rng.integers(0, 256, (200 + i % 5 * 8, 256, 3), dtype=np.uint8)).save(folder / f"i{i:03d}.png")
    (folder / "i100-broken.png").write_bytes(b"not a png")
    command = [sys.executable, "-m", "contrique_infer", str(folder), "--model", str(tiny_bundle_dir), "-q",
               "--batch-size", "2", "--workers", "1", "--format"]
    whole = subprocess.run([*command, "jsonl"], capture_output=True, text=True, check=False, timeout=300)
    expected = {r["source"]: r for r in map(json.loads, whole.stdout.splitlines())}
    assert len(expected) == 201

    report = tmp_path / "report.html"
    rows_file = tmp_path / "report_files" / "rows.jsonl"
    at_kill = kill_after_rows([*command, "html", "-o", str(report)], rows_file, 20)
    assert 20 <= at_kill < 201, "the run ended before it could be killed"
    assert report.read_bytes() == b""  # the run's claim on the page (OutputLock): no page written yet
    with open(rows_file, "a", encoding="utf-8") as fh:  # what a kill in the middle of a write leaves
        fh.write('{"source": "')

    resumed = subprocess.run([*command, "html", "-o", str(report), "--resume"], capture_output=True, text=True,
                             check=False, timeout=300)
    assert resumed.returncode == 1 and resumed.stdout == ""
    data = page_data(report)
    sources = [r[0] for r in data["rows"]] + [f[0] for f in data["failed"]]
    assert sorted(sources) == sorted(expected)  # every image, once
    assert {r[0]: r[1] for r in data["rows"]} == {s: r["score"] for s, r in expected.items() if r["score"] is not None}
    assert [f[0] for f in data["failed"]] == [str(folder / "i100-broken.png")]
    for row in data["rows"]:
        assert Image.open(tmp_path / "report_files" / "thumbs" / row[4]).size == (256, row[3])


# --- the page, in a real browser ----------------------------------------------------------------


@pytest.fixture(scope="module")
def chrome() -> Any:
    reason = browser.chromium_missing()
    if reason is not None:
        pytest.skip(reason)
    driver = browser.launch()
    yield driver
    browser.close(driver)


def shown_paths(chrome: Any) -> list[str]:
    """The paths on the cards, in page order (well-formed: chromedriver cannot send lone surrogates)."""
    return chrome.execute_script(
        "return [...document.querySelectorAll('#grid .path')].map(e => e.textContent.toWellFormed())")


def failed_cells(chrome: Any) -> list[list[str]]:
    """The cells of the failed images' table, row by row."""
    return chrome.execute_script("return [...document.querySelectorAll('#failed tbody tr')]"
                                 ".map(tr => [...tr.cells].map(c => c.textContent.toWellFormed()))")


def text(chrome: Any, element_id: str) -> str:
    return chrome.execute_script("return document.getElementById(arguments[0]).textContent", element_id)


def set_field(chrome: Any, element_id: str, value: str) -> None:
    """Type ``value`` into a field, as a person would (each key sends an input event)."""
    field = chrome.find_element("id", element_id)
    field.clear()
    chrome.execute_script("arguments[0].dispatchEvent(new Event('input'))", field)
    field.send_keys(value)


def as_shown(source: str) -> str:
    """How a browser shows a name: a byte that is not UTF-8 (a lone surrogate here) is U+FFFD."""
    return re.sub("[\udc80-\udcff]", "\ufffd", source)


def test_the_page_in_chromium_orders_counts_filters_and_runs_no_script_from_names(
        capsys, chrome: Any, tiny_bundle_dir: Path, photos: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    code, _ = score_to_report(capsys, photos, "-r", "--model", tiny_bundle_dir, "--format", "html", "-o", report)
    assert code == 1
    rows = rows_of(report)
    scored = sorted((r for r in rows if r["score"] is not None), key=lambda r: (r["score"], r["source"]))
    failed = [r for r in rows if r["score"] is None]
    browser.open_report(chrome, report)

    worst_first = [as_shown(r["source"]) for r in scored]  # higher is better: lowest score first
    assert shown_paths(chrome) == worst_first
    assert text(chrome, "direction") == "Higher is better: the lowest scores are the worst images"
    assert (text(chrome, "count-total"), text(chrome, "count-scored"), text(chrome, "count-failed"),
            text(chrome, "count-shown")) == ("11", "8", "3", "8")
    assert chrome.execute_script("return [...document.querySelectorAll('#grid .rank')].map(e => e.textContent)") \
        == [f"#{i}" for i in range(1, 9)]
    assert chrome.execute_script("return window.pwned") is None
    assert chrome.execute_script("return document.querySelectorAll('#grid img[src=\"x\"], #grid script').length") == 0
    assert as_shown(str(photos / HOSTILE)) in shown_paths(chrome)  # the name is shown as text

    # The failed images, with their errors.
    cells = failed_cells(chrome)
    assert cells == [[r["source"], r["error_type"], r["error"]] for r in failed]

    # Thumbnails load from report_files/, and a click on one opens the original.
    from selenium.webdriver.support.ui import WebDriverWait

    sizes = WebDriverWait(chrome, 60).until(lambda c: c.execute_script(
        "const imgs = [...document.querySelectorAll('#grid img')];"
        "return imgs.every(i => i.complete && i.naturalWidth) && imgs.map(i => [i.naturalWidth, i.naturalHeight])"))
    assert sizes == [list(Image.open(io.BytesIO(make_thumbnail(Image.open(r["source"]).convert("RGB")))).size)
                     for r in scored]
    hrefs = chrome.execute_script("return [...document.querySelectorAll('#grid a.thumb')].map(a => a.href)")
    assert [urllib.parse.unquote_to_bytes(urllib.parse.urlsplit(h).path) for h in hrefs] == [
        os.fsencode(os.path.abspath(r["source"])) for r in scored]

    # Filter by a score range (inclusive), then search paths (case-insensitive), then sort by name.
    low, high = scored[2]["score"], scored[5]["score"]
    set_field(chrome, "min", repr(low))
    set_field(chrome, "max", repr(high))
    assert shown_paths(chrome) == worst_first[2:6] and text(chrome, "count-shown") == "4"
    set_field(chrome, "min", "")
    set_field(chrome, "max", "")
    set_field(chrome, "search", "SUB DIR")
    assert shown_paths(chrome) == [str(photos / "sub dir" / "e & f.png")] and text(chrome, "count-shown") == "1"
    set_field(chrome, "search", "no such name")
    assert shown_paths(chrome) == [] and text(chrome, "count-shown") == "0"
    set_field(chrome, "search", "")
    chrome.execute_script("const s = document.getElementById('sort'); s.value = 'best';"
                          "s.dispatchEvent(new Event('change'))")
    assert shown_paths(chrome) == worst_first[::-1]
    chrome.execute_script("const s = document.getElementById('sort'); s.value = 'name';"
                          "s.dispatchEvent(new Event('change'))")
    assert shown_paths(chrome) == sorted(worst_first)  # no astral characters: UTF-16 order is code point order
    chrome.find_element("id", "reset").click()
    assert shown_paths(chrome) == worst_first
    assert chrome.execute_script("return window.pwned") is None

    screenshot = tmp_path / "report.png"
    chrome.save_screenshot(str(screenshot))
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    print(f"screenshot of the report: {screenshot}")


def test_a_lower_is_better_head_still_shows_the_worst_first(capsys, chrome: Any, tiny_bundle_dir: Path,
                                                            photos: Path, tmp_path: Path) -> None:
    report = tmp_path / "fr.html"
    reference = photos / "a.png"
    code, _ = score_to_report(capsys, photos, "--fr", reference, "--model", tiny_bundle_dir, "--format", "html",
                              "-o", report)
    assert code == 1
    scored = [r for r in rows_of(report) if r["score"] is not None]
    assert page_data(report)["header"]["higher_is_better"] is False
    browser.open_report(chrome, report)
    worst_first = [as_shown(r["source"]) for r in sorted(scored, key=lambda r: (-r["score"], r["source"]))]
    assert shown_paths(chrome) == worst_first and worst_first[-1] == str(reference)  # a.png vs itself: the best
    assert text(chrome, "direction") == "Lower is better: the highest scores are the worst images"
    assert text(chrome, "axis-lo").startswith("\u2190 better") and text(chrome, "axis-hi").endswith("worse \u2192")
    assert "Reference" in text(chrome, "meta") and str(reference) in text(chrome, "meta")
    screenshot = tmp_path / "report-dmos.png"
    chrome.save_screenshot(str(screenshot))
    print(f"screenshot of the lower-is-better report: {screenshot}")


def test_hostile_strings_from_python_are_text_in_the_page(chrome: Any, tmp_path: Path) -> None:
    header = dataclasses.replace(HEADER, model="<b>model</b>", head="<i>head</i>")
    sources = ["</script><script>window.pwned=2</script>", "<!-- comment", "line\u2028sep & \"quotes'"]
    results = [ScoreResult(s, float(i)) for i, s in enumerate(sources)]
    results.append(ScoreResult("bad \udce9 name", None, "<img src=y onerror=window.pwned=3>", "ImageDecodeError"))
    report = write_report(tmp_path / "py.html", results, header)
    browser.open_report(chrome, report)
    assert shown_paths(chrome) == sources
    assert chrome.execute_script("return [...document.querySelectorAll('#grid .nothumb')].length") == 3
    assert chrome.execute_script("return document.querySelectorAll('#grid a').length") == 0  # not files: no links
    cells = failed_cells(chrome)
    assert cells == [["bad \ufffd name", "ImageDecodeError", "<img src=y onerror=window.pwned=3>"]]
    assert "<b>model</b>" in text(chrome, "meta") and "<i>head</i>" in text(chrome, "meta")
    assert chrome.execute_script("return window.pwned") is None
    assert chrome.execute_script("return document.querySelectorAll('#meta b, #meta i, img[src=y]').length") == 0


def test_a_faded_score_is_marked_with_its_note_in_the_page(chrome: Any, tmp_path: Path) -> None:
    """A score the head faded (ScoreResult.note) carries a "faded" mark whose tooltip is the note; the
    note is shown as text, never as markup."""
    note = "far outside the images head 'quality' was fitted on <b>x</b>"
    report = write_report(tmp_path / "faded.html", [ScoreResult("a", 2.0, note=note), ScoreResult("b", 50.0)], HEADER)
    assert [row[-1] for row in page_data(report)["rows"]] == [note, None]
    browser.open_report(chrome, report)
    assert shown_paths(chrome) == ["a", "b"]
    marks = chrome.execute_script(
        "return [...document.querySelectorAll('#grid figure')].map(f => [...f.querySelectorAll('.note')]"
        ".map(m => [m.textContent, m.title]))")
    assert marks == [[["faded", note]], []]
    assert chrome.execute_script("return document.querySelectorAll('#grid .note b').length") == 0


def test_failures_are_listed_a_few_hundred_at_a_time_and_tied_scores_make_one_bar(chrome: Any, tmp_path: Path) -> None:
    """The failures' table was built whole as the page loaded (100,000 failed images: 14 s before the page
    showed); scores that are all equal made 40 bars of width 1 from them ("5.00 to 6.00: 3 images")."""
    failed = [ScoreResult(f"/photos/{i:04d}.heic", None, "is not an image file", "ImageDecodeError") for i in range(1200)]
    tied = [ScoreResult(f"/photos/t{i}.jpg", 5.0) for i in range(3)]
    browser.open_report(chrome, write_report(tmp_path / "r.html", tied + failed, HEADER))
    listed = "return document.querySelectorAll('#failed tbody tr').length"
    assert chrome.execute_script(listed) == 500 and text(chrome, "count-failed-list") == "1200"
    chrome.find_element("id", "more-failed-button").click()
    assert chrome.execute_script(listed) == 1000
    chrome.find_element("id", "more-failed-button").click()
    assert chrome.execute_script(listed) == 1200
    assert failed_cells(chrome)[-1] == ["/photos/1199.heic", "ImageDecodeError", "is not an image file"]
    assert chrome.execute_script("return document.getElementById('more-failed').hidden") is True
    assert chrome.execute_script("return [...document.querySelectorAll('#histogram title')].map(t => t.textContent)") \
        == ["5.00 to 5.00: 3 images"]
