"""Reliability: bad, odd and hostile image files, through the public API and contrique-score.

Every input is generated here (no binary fixtures). For each one the library either raises a
specific :class:`~contrique_infer.errors.ImageError` subclass whose message names the file and
says what is wrong, or scores it exactly as the pixels it stands for; contrique-score reports
each failure on its row and on stderr, scores every other file of the same run and exits 1.
The outcomes are tabulated in docs/reliability.md.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import os
import re
import shutil
import socket
import struct
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from image_fixtures import png_bytes, tiff_bytes
from PIL import Image, ImageCms, ImageFile, ImageOps
from tiny_bundle import write_tiny_bundle

from contrique_infer import cli
from contrique_infer import decoding
from contrique_infer import preprocessing
from contrique_infer.bundle import file_table
from contrique_infer.errors import ImageDecodeError, ImageError, ImageTooLargeError, ImageTooSmallError, NonFiniteError
from contrique_infer.manifest import InputContract, Manifest
from contrique_infer.scorer import QualityScorer


@pytest.fixture(scope="module")
def scorer(tiny_bundle_dir: Path) -> QualityScorer:
    return QualityScorer.from_pretrained(tiny_bundle_dir)


def noise(w: int, h: int, seed: int) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8))


def encoded(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def decoded(path: Path, convert: Callable[[Image.Image], Image.Image] = lambda im: im.convert("RGB")) -> Image.Image:
    with Image.open(path) as im:
        return convert(im)


# --- the inputs ---------------------------------------------------------------------------------


@dataclass
class Case:
    """One input file and what must happen to it.

    ``error``/``reason``: the ImageError subclass and a fragment of its reason; else ``pixels``
    builds the RGB image whose score the file must have.
    """

    path: Path
    error: type[ImageError] | None = None
    reason: str = ""
    pixels: Callable[[], Image.Image] | None = None


def gray16_png(path: Path) -> Callable[[], Image.Image]:
    gray8 = np.random.default_rng(3).integers(0, 256, (40, 48), dtype=np.uint8)
    Image.fromarray(gray8.astype(np.uint16) * 257).save(path)  # mode I;16
    return lambda: Image.fromarray(gray8).convert("RGB")


def rgb16_png(path: Path) -> Callable[[], Image.Image]:
    """16-bit RGB: Pillow reads the high byte of each sample (v >> 8); documented."""
    values = np.random.default_rng(4).integers(0, 65536, (40, 48, 3)).astype(">u2")
    path.write_bytes(png_bytes(48, 40, 16, 2, b"".join(b"\0" + row.tobytes() for row in values)))
    return lambda: Image.fromarray((values >> 8).astype(np.uint8))


def palette_png(path: Path) -> Callable[[], Image.Image]:
    img = noise(40, 36, 5).quantize(16)
    img.save(path, transparency=bytes(range(0, 256, 16)))
    return lambda: decoded(path, lambda im: im.convert("RGBA").convert("RGB"))


def rgba_png(path: Path) -> Callable[[], Image.Image]:
    img = noise(40, 36, 6).convert("RGBA")
    img.putalpha(Image.fromarray(np.random.default_rng(7).integers(0, 256, (36, 40), dtype=np.uint8)))
    img.save(path)
    return lambda: img.convert("RGB")  # alpha dropped: transparent pixels keep their stored colour


def frames() -> list[Image.Image]:
    return [noise(40, 32, 20 + i) for i in range(3)]


def animated_gif(path: Path) -> Callable[[], Image.Image]:
    first, *rest = frames()
    first.save(path, save_all=True, append_images=rest, duration=40, loop=0)
    return lambda: decoded(path)  # a fresh open is at frame 0: the first frame alone


def multipage_tiff(path: Path) -> Callable[[], Image.Image]:
    pages = frames()
    pages[0].save(path, save_all=True, append_images=pages[1:])
    return lambda: pages[0]


def exif_jpeg(path: Path) -> Callable[[], Image.Image]:
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    noise(48, 32, 8).save(path, quality=95, exif=exif.tobytes())
    return lambda: decoded(path)  # not rotated: the official code ignores EXIF orientation


def jpeg_bomb() -> bytes:
    """A 16x16 JPEG whose frame header (SOF0) declares 65000 x 65000 pixels."""
    data = bytearray(encoded(noise(16, 16, 9), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 65000, 65000)
    return bytes(data)


def height0_jpeg() -> bytes:
    """A 16x16 JPEG whose frame header (SOF0) says height 0 (Pillow's JPEG plugin cannot open it)."""
    data = bytearray(encoded(noise(16, 16, 14), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 7] = struct.pack(">H", 0)
    return bytes(data)


def can_read(path: Path) -> bool:
    try:
        path.open("rb").close()
    except PermissionError:
        return False
    return True


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Case]:
    root = tmp_path_factory.mktemp("inputs")
    jpeg = encoded(noise(64, 48, 1), "JPEG", quality=90)
    png = encoded(noise(64, 48, 2), "PNG")
    files = {
        "empty.jpg": b"",
        "truncated.jpg": jpeg[: len(jpeg) // 2],
        "truncated.png": png[: len(png) // 2],
        "page.jpg": b"<!DOCTYPE html>\n<html><body><h1>404 Not Found</h1></body></html>\n",
        "notes.jpg": "just some text, not a picture\n".encode(),
        "1x1.png": encoded(noise(1, 1, 0), "PNG"),
        "2x2.png": encoded(noise(2, 2, 0), "PNG"),
        "1x5000.png": encoded(noise(1, 5000, 0), "PNG"),
        "5000x1.png": encoded(noise(5000, 1, 0), "PNG"),
        # Declared sizes only: almost no pixel data behind them.
        "bomb.png": png_bytes(100_000, 100_000, 8, 2, b"\0" * 16),
        "bomb.jpg": jpeg_bomb(),
        "36mp.png": png_bytes(6000, 6000, 8, 2, b"\0" * 16),
        "height0.jpg": height0_jpeg(),
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    c = {
        "empty.jpg": Case(root / "empty.jpg", ImageDecodeError, "is empty (0 bytes)"),
        "truncated.jpg": Case(root / "truncated.jpg", ImageDecodeError, "the file is truncated or corrupt"),
        "truncated.png": Case(root / "truncated.png", ImageDecodeError, "the file is truncated or corrupt"),
        "page.jpg": Case(root / "page.jpg", ImageDecodeError, "is not an image file in a format contrique-infer reads"),
        "notes.jpg": Case(root / "notes.jpg", ImageDecodeError,
                          "is not an image file in a format contrique-infer reads"),
        "1x1.png": Case(root / "1x1.png", ImageTooSmallError, "is 1x1 pixels; the model needs at least 8 pixels"),
        "2x2.png": Case(root / "2x2.png", ImageTooSmallError, "is 2x2 pixels; the model needs at least 8 pixels"),
        "1x5000.png": Case(root / "1x5000.png", ImageTooSmallError, "is 1x5000 pixels; the model needs at least 8"),
        "5000x1.png": Case(root / "5000x1.png", ImageTooSmallError, "is 5000x1 pixels; the model needs at least 8"),
        "bomb.png": Case(root / "bomb.png", ImageTooLargeError, "max_pixels"),
        "bomb.jpg": Case(root / "bomb.jpg", ImageTooLargeError, "max_pixels"),
        "36mp.png": Case(root / "36mp.png", ImageTooLargeError, "is 6000x6000 = 36000000 pixels, more than max_pixels"),
        # was "is not an image file in a format contrique-infer reads (..., JPEG, ...)"
        "height0.jpg": Case(root / "height0.jpg", ImageDecodeError,
                            "is a JPEG file (by its first bytes) whose header cannot be read: it gives no image size, "
                            "a size of 0, or no colour mode; the file is damaged"),
        "missing.png": Case(root / "missing.png", ImageDecodeError, "no such file"),
        "folder.jpg": Case(root / "folder.jpg", ImageDecodeError, "is a directory, not an image file"),
        "loop.jpg": Case(root / "loop.jpg", ImageDecodeError, "cannot be opened (Too many levels of symbolic links)"),
    }
    (root / "folder.jpg").mkdir()
    (root / "loop.jpg").symlink_to(root / "loop.jpg")
    # Files that are not regular files: opening a FIFO waits for a writer (for ever), a character
    # device may never end. They are refused before they are opened.
    os.mkfifo(root / "fifo.jpg")
    c["fifo.jpg"] = Case(root / "fifo.jpg", ImageDecodeError, "is a named pipe (FIFO), not a regular file")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(root / "socket.png"))
    c["socket.png"] = Case(root / "socket.png", ImageDecodeError, "is a socket, not a regular file")
    (root / "zero.jpg").symlink_to("/dev/zero")
    c["zero.jpg"] = Case(root / "zero.jpg", ImageDecodeError, "is a character device, not a regular file")
    for name, make in {
        "gray16.png": gray16_png, "rgb16.png": rgb16_png, "palette.png": palette_png, "rgba.png": rgba_png,
        "animated.gif": animated_gif, "multipage.tiff": multipage_tiff, "exif.jpg": exif_jpeg,
    }.items():
        c[name] = Case(root / name, pixels=make(root / name))
    noise(40, 30, 10).convert("L").save(root / "gray.jpg", quality=95)
    noise(40, 30, 11).convert("CMYK").save(root / "cmyk.jpg", quality=95)
    c["gray.jpg"] = Case(root / "gray.jpg", pixels=lambda: decoded(root / "gray.jpg"))
    c["cmyk.jpg"] = Case(root / "cmyk.jpg", pixels=lambda: decoded(root / "cmyk.jpg"))
    # A file name that is not UTF-8: on Linux, Python holds its bytes as lone surrogates.
    latin1 = root / os.fsdecode(b"caf\xe9.png")
    noise(40, 30, 12).save(latin1)
    c["caf\\xe9.png"] = Case(latin1, pixels=lambda: noise(40, 30, 12))
    locked = root / "locked.png"
    noise(40, 30, 13).save(locked)
    locked.chmod(0)
    c["locked.png"] = (
        Case(locked, pixels=lambda: noise(40, 30, 13)) if can_read(locked)  # root ignores permissions
        else Case(locked, ImageDecodeError, "cannot be opened (Permission denied)")
    )
    return c


CASE_NAMES = [
    "empty.jpg", "truncated.jpg", "truncated.png", "page.jpg", "notes.jpg", "1x1.png", "2x2.png", "1x5000.png",
    "5000x1.png", "bomb.png", "bomb.jpg", "36mp.png", "height0.jpg", "missing.png", "folder.jpg", "loop.jpg", "fifo.jpg",
    "socket.png", "zero.jpg", "gray16.png",
    "rgb16.png", "palette.png", "rgba.png", "animated.gif", "multipage.tiff", "exif.jpg", "gray.jpg", "cmyk.jpg",
    "caf\\xe9.png", "locked.png",
]


# --- the library --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CASE_NAMES)
def test_library_outcome(scorer: QualityScorer, cases: dict[str, Case], name: str) -> None:
    case = cases[name]
    if case.error is None:
        assert case.pixels is not None
        assert scorer.score(case.path) == scorer.score(case.pixels())
        assert scorer.score(str(case.path)) == scorer.score(case.pixels())
        return
    with pytest.raises(case.error) as info:
        scorer.score(case.path)
    assert type(info.value) is case.error
    assert info.value.source == str(case.path) and case.reason in info.value.reason
    assert str(info.value) == f"{case.path}: {info.value.reason}"


def test_every_case_is_checked(cases: dict[str, Case]) -> None:
    assert sorted(cases) == sorted(CASE_NAMES)


def test_bombs_are_refused_before_any_pixel_is_decoded(
    scorer: QualityScorer, cases: dict[str, Case], monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[object] = []
    real_load = ImageFile.ImageFile.load

    def counting_load(self):  # noqa: ANN001, ANN202 - Pillow's signature
        loads.append(self)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", counting_load)
    for name in ("bomb.png", "bomb.jpg", "36mp.png"):
        with pytest.raises(ImageTooLargeError):
            scorer.score(cases[name].path)
    assert loads == []
    scorer.score(cases["gray.jpg"].path)  # the instrumentation does see decoding
    assert loads and all(im is loads[0] for im in loads)  # one image (convert calls load again: then a no-op)


def test_first_frame_is_not_another_frame(scorer: QualityScorer, cases: dict[str, Case]) -> None:
    for name in ("animated.gif", "multipage.tiff"):
        with Image.open(cases[name].path) as im:
            assert im.n_frames == 3
            im.seek(1)
            second = im.convert("RGB")
        assert scorer.score(cases[name].path) != scorer.score(second)


def test_exif_orientation_is_applied_only_on_request(
    tiny_bundle_dir: Path, scorer: QualityScorer, cases: dict[str, Case]
) -> None:
    path = cases["exif.jpg"].path
    stored = decoded(path)
    upright = decoded(path, ImageOps.exif_transpose)
    assert upright.size == (stored.height, stored.width)
    turned = QualityScorer.from_pretrained(tiny_bundle_dir, apply_exif=True)
    assert scorer.score(path) == scorer.score(stored) != scorer.score(upright)
    assert turned.score(path) == scorer.score(upright)


def test_paths_as_bytes_are_image_data_not_names(scorer: QualityScorer, cases: dict[str, Case]) -> None:
    """``bytes`` are image contents; a non-UTF-8 name is passed as ``os.fsdecode(raw)`` or a Path."""
    raw = os.fsencode(cases["caf\\xe9.png"].path)
    assert raw.endswith(b"caf\xe9.png")
    with pytest.raises(ImageDecodeError, match="not an image file"):
        scorer.score(raw)
    assert scorer.score(os.fsdecode(raw)) == scorer.score(cases["caf\\xe9.png"].pixels())


def test_unreadable_file_with_permissions(scorer: QualityScorer, cases: dict[str, Case]) -> None:
    path = cases["locked.png"].path
    if can_read(path):
        pytest.skip("running as root (or with CAP_DAC_OVERRIDE): chmod 000 does not stop reading")
    with pytest.raises(ImageDecodeError, match=r"locked\.png: cannot be opened \(Permission denied\)"):
        scorer.score(path)


def test_unreadable_file_simulated(scorer: QualityScorer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same failure as chmod 000 where permissions cannot be tested (root): open() refuses."""
    path = tmp_path / "secret.png"
    noise(40, 30, 14).save(path)

    def refuse(file, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        raise PermissionError(13, "Permission denied", os.fspath(file))

    monkeypatch.setattr(decoding, "open_regular", refuse)
    with pytest.raises(ImageDecodeError, match=r"secret\.png: cannot be opened \(Permission denied\)"):
        scorer.score(path)
    result = scorer.score_many([path, noise(40, 30, 15)])
    assert result[0].error_type == "ImageDecodeError" and result[1].ok


def test_score_many_reports_each_bad_file_and_scores_the_rest(scorer: QualityScorer, cases: dict[str, Case]) -> None:
    names = CASE_NAMES
    results = scorer.score_many([cases[n].path for n in names], batch_size=4, workers=2)
    for name, result in zip(names, results):
        case = cases[name]
        assert result.source == str(case.path)
        if case.error is None:
            assert result.ok and result.score == scorer.score(case.pixels())  # type: ignore[misc]
        else:
            assert (result.score, result.error_type) == (None, case.error.__name__)
            assert case.reason in result.error  # type: ignore[operator]


# --- contrique-score ----------------------------------------------------------------------------


def test_cli_scores_everything_else_and_reports_every_failure(
    tiny_bundle_dir: Path, cases: dict[str, Case], tmp_path: Path, scorer: QualityScorer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """All the inputs plus two good files in one run, stdout with a strict UTF-8 encoder (as under
    PYTHONIOENCODING=utf-8) and stderr with Python's own backslashreplace."""
    good = tmp_path / "good.png"
    noise(50, 40, 30).save(good)
    tree = tmp_path / "tree"  # scanned with --recursive: a good photo and two symbolic-link loops
    (tree / "sub").mkdir(parents=True)
    noise(44, 36, 31).save(tree / "sub" / "photo.jpg", quality=95)
    (tree / "sub" / "back").symlink_to(tree, target_is_directory=True)
    (tree / "self.jpg").symlink_to(tree / "self.jpg")
    os.mkfifo(tree / "pipe.jpg")  # met while scanning: its row, and every row after it
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", newline="")
    stderr = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace", newline="")
    monkeypatch.setattr(sys, "stdout", stdout)
    monkeypatch.setattr(sys, "stderr", stderr)
    argv = [str(good), *(str(cases[n].path) for n in CASE_NAMES), str(tree)]
    code = cli.main([*argv, "--model", str(tiny_bundle_dir), "--format", "csv", "--recursive"])
    stdout.flush()
    stderr.flush()
    out = stdout.buffer.getvalue().decode("utf-8", "surrogateescape")  # names as their file-system bytes
    err = stderr.buffer.getvalue().decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 1

    # Expected rows, in order: the inputs, then what the scan of the tree found.
    expected: list[tuple[str, str | None, str, Callable[[], Image.Image] | None]] = [
        (str(good), None, "", lambda: noise(50, 40, 30))
    ]
    for name in CASE_NAMES:
        case = cases[name]
        if name == "folder.jpg":  # a directory argument is scanned, not decoded
            expected.append((str(case.path), "NoMatchError", "no image files in this directory", None))
        else:
            error = None if case.error is None else case.error.__name__
            expected.append((str(case.path), error, case.reason, case.pixels))
    expected += [
        (str(tree / "pipe.jpg"), "ImageDecodeError", "is a named pipe (FIFO), not a regular file", None),
        (str(tree / "self.jpg"), "ImageDecodeError", "cannot be opened (Too many levels of symbolic links)", None),
        (str(tree / "sub" / "back"), "LinkLoopError", "symbolic link loop: the directory contains itself; skipped", None),
        (str(tree / "sub" / "photo.jpg"), None, "", lambda: decoded(tree / "sub" / "photo.jpg")),
    ]
    assert [r["source"] for r in rows] == [e[0] for e in expected]
    failed = 0
    for row, (source, error_type, reason, pixels) in zip(rows, expected):
        if error_type is None:
            assert pixels is not None and row["error"] == "" and float(row["score"]) == scorer.score(pixels())
        else:
            failed += 1
            assert (row["score"], row["error_type"]) == ("", error_type) and reason in row["error"]
            assert f"contrique-score: {source}: {row['error']}" in err.splitlines()
    assert len(err.splitlines()) == failed
    assert "caf\xe9.png".encode("latin-1") in stdout.buffer.getvalue()  # the name's own bytes


def test_cli_non_utf8_names_in_every_format_and_in_files(
    tiny_bundle_dir: Path, cases: dict[str, Case], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = cases["caf\\xe9.png"].path
    raw = os.fsencode(path)
    for fmt in ("table", "csv", "jsonl", "json"):
        stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict", newline="")
        monkeypatch.setattr(sys, "stdout", stdout)
        assert cli.main([str(path), "--model", str(tiny_bundle_dir), "--format", fmt]) == 0
        stdout.flush()
        written = stdout.buffer.getvalue()
        # Text formats carry the name's bytes; JSON escapes them (\udce9), as json.dumps does.
        assert (raw in written) if fmt in ("table", "csv") else (b"caf\\udce9.png" in written)
    target = tmp_path / "out.csv"
    assert cli.main([str(path), "--model", str(tiny_bundle_dir), "--format", "csv", "-o", str(target)]) == 0
    assert raw in target.read_bytes()


# --- features and scores that are not finite ----------------------------------------------------


@pytest.fixture(scope="module")
def log_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny bundle whose feature holds log(mean brightness): infinite for a black image, as the
    natural-scene statistics of bundles exported before they were floored are for flat images."""
    return write_tiny_bundle(tmp_path_factory.mktemp("log") / "tiny-log", log_brightness=True)


def flat(colour: tuple[int, int, int], w: int = 40, h: int = 30) -> Image.Image:
    return Image.new("RGB", (w, h), colour)


def test_a_non_finite_feature_is_an_error_of_that_image(log_bundle: Path, tmp_path: Path) -> None:
    scorer = QualityScorer.from_pretrained(log_bundle)
    black = tmp_path / "black.png"
    flat((0, 0, 0)).save(black)
    reason = "the model's feature is not finite (16 of 16 values are NaN or infinite, the first at index 0)"
    for call in (scorer.score, scorer.features, lambda image: scorer.score_fr(image, noise(40, 30, 1)),
                 lambda image: scorer.score_fr(noise(40, 30, 1), image)):
        with pytest.raises(NonFiniteError, match=rf"^{re.escape(str(black))}: {re.escape(reason)}.*re-export"):
            call(black)
    results = scorer.score_many([noise(40, 30, 2), black, noise(40, 30, 3)], batch_size=3)
    assert [r.ok for r in results] == [True, False, True]
    assert (results[1].source, results[1].error_type, results[1].score) == (str(black), "NonFiniteError", None)
    assert results[1].error.startswith(reason)  # type: ignore[union-attr]
    assert results[0].score == scorer.score(noise(40, 30, 2))  # the others are scored as alone
    features = scorer.features_many([black, noise(40, 30, 2)])
    assert features[0].error_type == "NonFiniteError" and np.isfinite(features[1].feature).all()  # type: ignore[arg-type]


def test_cli_reports_non_finite_rows_and_writes_valid_json(capsys, log_bundle: Path, tmp_path: Path) -> None:
    black, good = tmp_path / "black.png", tmp_path / "good.png"
    flat((0, 0, 0)).save(black)
    noise(40, 30, 4).save(good)
    for fmt in ("jsonl", "json"):
        code = cli.main([str(black), str(good), "--model", str(log_bundle), "--format", fmt])
        out, err = capsys.readouterr()
        rows = json.loads(out)["results"] if fmt == "json" else [json.loads(line) for line in out.splitlines()]
        json.loads(out if fmt == "json" else out.splitlines()[0], parse_constant=_refuse)  # no NaN, no Infinity
        assert code == 1 and [r["error_type"] for r in rows] == ["NonFiniteError", None]
        assert err.startswith(f"contrique-score: {black}: the model's feature is not finite")


def _refuse(constant: str) -> None:
    raise AssertionError(f"{constant} in JSON output")


def test_a_head_that_overflows_is_an_error_of_that_image(tiny_bundle_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "huge"
    shutil.copytree(tiny_bundle_dir, folder)
    head_path = folder / "heads" / "quality.json"
    head = json.loads(head_path.read_text())
    head["coef"] = [1e308] * len(head["coef"])
    head_path.write_text(json.dumps(head))
    manifest = Manifest.load(folder)
    dataclasses.replace(manifest, files=file_table(folder, manifest.files)).save(folder)
    scorer = QualityScorer.from_pretrained(folder)
    with pytest.raises(NonFiniteError, match=r"^<array \(30, 40, 3\)>: head 'quality' gives a score that is not "
                                             r"finite \(inf\) for this image's finite feature.*refit the head"):
        scorer.score(np.asarray(noise(40, 30, 5)))
    (result,) = scorer.score_many([np.asarray(noise(40, 30, 5))])
    assert (result.score, result.error_type) == (None, "NonFiniteError")


def test_flat_images_with_the_packaged_default_model(tmp_path: Path) -> None:
    """Images of one flat colour, several sizes: a finite score, or (bundles exported before the
    natural-scene statistics were floored, as the packaged default of 0.1.0) a NonFiniteError;
    never NaN, and the other images of the batch are scored."""
    scorer = QualityScorer.from_pretrained(head="quality")
    images = [flat(c, w, h) for c, (w, h) in zip([(0, 0, 0), (255, 255, 255), (128, 128, 128), (255, 0, 0)],
                                                  [(64, 48), (40, 300), (97, 65), (32, 32)])]
    dot = np.zeros((48, 64, 3), np.uint8)
    dot[20, 30] = 255  # black with one pixel changed
    photo = noise(64, 48, 6)
    results = scorer.score_many([*images, dot, photo])
    assert results[-1].ok and np.isfinite(results[-1].score)  # type: ignore[arg-type]
    for result in results[:-1]:
        assert (result.ok and np.isfinite(result.score)) or (  # type: ignore[arg-type]
            result.error_type == "NonFiniteError" and result.error.startswith("the model's feature is not finite")  # type: ignore[union-attr]
        )


# --- found by hostile testing (2026-12-06, sixth round) -----------------------------------------

_TURNS = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
          5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
          8: Image.Transpose.ROTATE_270}
"""For each EXIF orientation, the transpose that makes a stored image of an upright one."""


@pytest.mark.parametrize("orientation", range(2, 9))
@pytest.mark.parametrize("fmt", ["TIFF", "PNG", "WEBP", "JPEG"])
def test_every_format_decodes_an_oriented_image_upright_with_apply_exif(tmp_path: Path, fmt: str,
                                                                        orientation: int) -> None:
    """Pillow turns a TIFF upright itself as it loads it (and reports the upright size on opening it):
    with ``apply_exif`` it must not be turned, or its size swapped, a second time (it was squashed)."""
    upright = noise(150, 90, 30).resize((600, 360), Image.Resampling.BICUBIC)  # smooth, for the JPEG
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / f"o{orientation}.{fmt.lower()}"
    kw = {"quality": 95} if fmt == "JPEG" else {"lossless": True} if fmt == "WEBP" else {}
    upright.transpose(_TURNS[orientation]).save(path, fmt, exif=exif.tobytes(), **kw)
    expected = decoded(path, ImageOps.exif_transpose)  # Pillow's own upright image of the file
    assert expected.size == (600, 360)
    got = decoding.decode_rgb(path, apply_exif=True)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(expected))
    if fmt != "JPEG":
        np.testing.assert_array_equal(np.asarray(got), np.asarray(upright))
    prepared = preprocessing.prepare(path, InputContract(min_size=8, max_side=120), apply_exif=True)
    assert (prepared.width, prepared.height) == (600, 360) and prepared.scales[0].shape == (3, 72, 120)
    small = decoding.decode_rgb(path, apply_exif=True, max_side=120)  # a JPEG: decoded whole, then downscaled
    assert small.size == (120, 72)
    if fmt != "JPEG":
        want = upright.resize((120, 72), Image.Resampling.BICUBIC)
        np.testing.assert_array_equal(np.asarray(small), np.asarray(want))


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_without_apply_exif_a_tiff_is_decoded_as_pillow_turns_it_as_the_official_code_gets_it(
        tmp_path: Path, orientation: int) -> None:
    """The documented exception to 'scored as stored': Pillow always applies a TIFF's orientation, so
    ``Image.open(path).convert('RGB')`` (the official code) gets the upright image; so do we."""
    upright = noise(50, 30, 31)
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "o.tif"
    upright.transpose(_TURNS[orientation]).save(path, exif=exif.tobytes())
    got = decoding.decode_rgb(path)
    np.testing.assert_array_equal(np.asarray(got), np.asarray(decoded(path)))
    np.testing.assert_array_equal(np.asarray(got), np.asarray(upright))
    assert decoding.decode_rgb(path, max_side=25).size == (25, 15)


def test_an_uncompressed_16_bit_tiff_stored_plane_by_plane_is_refused(scorer: QualityScorer, tmp_path: Path) -> None:
    """Pillow unpacks it as 8-bit planes: wrong pixels (up to 252 levels off), once scored without a word."""
    rgb8 = np.random.default_rng(32).integers(0, 256, (36, 40, 3), dtype=np.uint8)
    planar = tmp_path / "planar16.tif"
    planar.write_bytes(tiff_bytes(rgb8.astype(np.uint16) * 257, planar=True))
    with pytest.raises(ImageDecodeError) as refused:
        decoding.decode_rgb(planar)
    assert str(refused.value) == (
        f"{planar}: is an uncompressed TIFF of 16-bit samples stored plane by plane (PlanarConfiguration 2), which "
        "Pillow decodes to wrong pixels; convert it to an interleaved TIFF (libtiff's tiffcp -p contig in.tif out.tif) "
        "or to a PNG, and score that")
    (result,) = scorer.score_many([planar])
    assert (result.score, result.error_type) == (None, "ImageDecodeError")
    readable = {"interleaved16.tif": tiff_bytes(rgb8.astype(np.uint16) * 257, planar=False),
                "planar8.tif": tiff_bytes(rgb8, planar=True),
                "planar16_deflate.tif": tiff_bytes(rgb8.astype(np.uint16) * 257, planar=True, deflate=True),
                "interleaved8.tif": tiff_bytes(rgb8, planar=False)}
    for name, data in readable.items():  # Pillow reads these right (a compressed file goes through libtiff)
        (tmp_path / name).write_bytes(data)
        np.testing.assert_array_equal(np.asarray(decoding.decode_rgb(tmp_path / name)), rgb8, err_msg=name)
    assert scorer.score(tmp_path / "planar8.tif") == scorer.score(rgb8)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "TIFF"])
def test_a_colour_profile_is_not_applied(scorer: QualityScorer, fmt: str) -> None:
    """An embedded ICC profile is ignored, as by the official code's convert("RGB"): a file scores as the same
    file without it, whatever the profile says (sRGB, or the XYZ profile, which colour management would turn
    into other RGB values). Documented in the README's inputs and docs/reliability.md (fifteenth round)."""
    img = noise(48, 40, 15)
    plain = scorer.score(encoded(img, fmt))
    for space in ("sRGB", "XYZ"):
        profile = ImageCms.ImageCmsProfile(ImageCms.createProfile(space)).tobytes()
        data = encoded(img, fmt, icc_profile=profile)
        assert Image.open(io.BytesIO(data)).info["icc_profile"] == profile
        assert scorer.score(data) == plain
